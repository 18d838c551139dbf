#!/bin/sh
# Inner test check-topology: numaksm must report the topology that a lab
# topology file expects (see check-topology.c).
#
#   check-topology.sh [TOPOLOGY [ROOT]]
#
# In the guest: /lab/topology, against the live system (and /dev/kvm when
# the topology's modules include kvm). On the host, with
# ROOT, against a captured tree (numaksm --root), e.g. tests/fixtures/lab-4node.
# $NUMAKSM and $LAB_CHECK_TOPOLOGY override the programs found on the PATH.
topology=${1:-/lab/topology}
numaksm=${NUMAKSM:-numaksm}
checker=${LAB_CHECK_TOPOLOGY:-lab-check-topology}

if ! command -v "$numaksm" >/dev/null; then
	echo "check-topology: numaksm is not in this lab build (no numaksm-cli target)"
	exit 77
fi
json=$(mktemp) || exit 1
trap 'rm -f "$json"' EXIT
"$numaksm" check --json ${2:+--root "$2"} >"$json"
rc=$?
# Exit 1 means some check FAILed (under TCG there is no KVM, except in a
# topology that loads kvm); only the topology matters here.
if [ $rc -gt 1 ]; then
	echo "check-topology: 'numaksm check --json${2:+ --root $2}' exited $rc"
	exit 1
fi
"$checker" "$topology" "$json"
rc=$?
if [ $rc -ne 0 ]; then
	echo "--- numaksm check --json${2:+ --root $2} ---"
	cat "$json"
fi
exit $rc
