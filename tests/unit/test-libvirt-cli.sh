#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `numaksm libvirt apply` through libvirt's own test driver (test:///FILE,
# in-process, no daemon): the plan merged into a domain keeps its other
# settings and keeps off the CPUs another domain pins (golden XML,
# NUMAKSM_UPDATE_GOLDEN=1 rewrites it); libvirt defines the result; a
# missing domain, an unreachable libvirtd and bad options are errors that
# change nothing.
#
# Usage: test-libvirt-cli.sh NUMAKSM LIBVIRT_FIXTURES GOLDEN_FILE
set -u
numaksm=$1
fixtures=$2
golden=$3
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
export NUMAKSM_RUNTIME_DIR="$t/run"
. "$(dirname "$0")/test-pin-lib.sh"

uri="test://$fixtures/host.xml"
syn="pack:1 numa:2 core:8 pu:1"

expect 2 "Usage: numaksm libvirt apply DOMAIN" libvirt
expect 0 "--dry-run" libvirt --help
expect 2 "unknown libvirt command 'define': expected apply" libvirt define
expect 2 "missing DOMAIN: the name or UUID of a libvirt domain" libvirt apply --connect "$uri"
expect 2 "unknown option '--json'" libvirt apply web1 --json
expect 2 "--live pins the running domain on this host: it plans on the host's own topology, not --synthetic" \
	libvirt apply db1 --connect "$uri" --synthetic "$syn" --live
expect 2 "invalid --hugepages '2Q'" libvirt apply web1 --connect "$uri" --hugepages 2Q
expect 1 "no libvirt domain 'nosuch' at $uri" libvirt apply nosuch --connect "$uri"
expect 1 "'virsh list --all' lists the defined domains" libvirt apply nosuch --connect "$uri"
expect 1 "cannot connect to libvirt at qemu+unix:///system?socket=$t/none: Failed to connect socket" \
	libvirt apply web1 --connect "qemu+unix:///system?socket=$t/none"
expect 1 "is libvirtd running?" libvirt apply web1 --connect "qemu+unix:///system?socket=$t/none"
# db1 runs pinned to CPUs 0-1: web1's 4 vCPUs do not fit on node 0's other two.
expect 1 "guest node 0 (4 dedicated vCPUs) does not fit on host node 0" \
	libvirt apply web1 --connect "$uri" --synthetic "pack:1 numa:2 core:4 pu:1" --nodes 0
expect 1 "CPUs taken by other libvirt domains: 'db1' (0-1)" \
	libvirt apply web1 --connect "$uri" --synthetic "pack:1 numa:2 core:4 pu:1" --nodes 0
expect 1 "--live: domain 'web1' is not running" libvirt apply web1 --connect "$uri" --live
# libvirt takes the merged definition.
expect 0 "Domain 'web1': defined with this plan (it takes effect when the domain starts)" \
	libvirt apply web1 --connect "$uri" --synthetic "$syn" --nodes 0,1 --hugepages 2M
expect 0 '<vcpupin vcpu="3" cpuset="9"/>' \
	libvirt apply web1 --connect "$uri" --synthetic "$syn" --nodes 0,1 --hugepages 2M

# The merged XML, whole: description, shares, the VNC password, ACPI, the
# CPU topology and cell 0's memAccess kept; CPUs 0-1 (db1's) left alone.
: > "$t/plans"
apply() {
	echo "\$ numaksm libvirt apply $*" >> "$t/plans"
	"$numaksm" libvirt apply "$@" >> "$t/plans" 2>&1
	echo "exit $?" >> "$t/plans"
}
apply web1 --connect "$uri" --synthetic "$syn" --nodes 0,1 --hugepages 2M --dry-run
apply web1 --connect "$uri" --synthetic "$syn" --policy shared --memory 2G --dry-run
sed -i "s|$fixtures|FIXTURES|g" "$t/plans"
compare_golden "$golden"
finish
