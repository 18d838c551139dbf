#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# One VM model: every command resolves a VM the same way.  For a stand-in
# of every kind the kind table knows (numaksm-vmm, QEMU, libvirt's QEMU,
# Cloud Hypervisor, Firecracker, crosvm, and a plain process), each way of
# naming it (its name, its PID, its comm, its program) finds the same
# process with the same kind in `numaksm status` and `numaksm pin show`
# (pin apply and place resolve names with the same call), and a name that
# is ambiguous or unknown is refused by both with the same error.  Real VMs
# of this host that run the same program (a QEMU of the NUMA lab) make the
# program's name ambiguous: then both commands must refuse it.
#
# Usage: vm-lookup.sh NUMAKSM FAKE_VMM
set -u
numaksm=$1
fake=$2
command -v python3 > /dev/null || { echo "needs python3"; exit 77; }
t=$(mktemp -d)
export NUMAKSM_RUNTIME_DIR="$t/run"
pids=""
failed=0
checks=0
cleanup() {
	for p in $pids; do kill "$p" 2> /dev/null; done
	wait 2> /dev/null
	rm -rf "$t"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
	echo "FAIL: $*"
	failed=$((failed + 1))
}

# start KIND NAME: run a stand-in of KIND with one vCPU; sets $pid.
start() {
	"$fake" "$1" 1 "$2" > "$t/$2.ready" &
	pid=$!
	pids="$pids $pid"
	for _ in $(seq 100); do
		grep -q ready "$t/$2.ready" 2> /dev/null && return 0
		sleep 0.05
	done
	echo "stand-in $1 $2 did not start"
	exit 1
}

# found COMMAND SELECTOR PID KIND: COMMAND (status or pin) finds SELECTOR
# as process PID of KIND.
found() {
	checks=$((checks + 1))
	case $1 in
	status) "$numaksm" status "$2" --json > "$t/out" 2> "$t/err" ;;
	pin) "$numaksm" pin show "$2" --json > "$t/out" 2> "$t/err" ;;
	esac
	rc=$?
	if [ $rc != 0 ]; then
		fail "numaksm $1 '$2' exited $rc: $(cat "$t/err")"
		return
	fi
	python3 - "$1" "$t/out" "$3" "$4" << 'PY' || fail "numaksm $1 '$2' found another VM"
import json, sys
command, path, pid, kind = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
doc = json.load(open(path))
if command == "status":
    vms = doc["vms"]
    assert len(vms) == 1, vms
    got = (vms[0]["pid"], vms[0]["kind"])
else:
    got = (doc["vm"]["pid"], doc["vm"]["kind"])
assert got == (pid, kind), f"{got} != {(pid, kind)}"
PY
}

# both SELECTOR PID KIND: status and pin agree on SELECTOR.
both() {
	found status "$1" "$2" "$3"
	found pin "$1" "$2" "$3"
}

# others PROGRAM PID...: how many processes but PID... run as PROGRAM (by
# comm or by the first word of the command line): real VMs of this host
# that share a stand-in's program name.
others() {
	prog=$1
	shift
	{
		pgrep -x "$prog" 2> /dev/null
		pgrep -f "^([^ ]*/)?$prog( |\$)"
	} | sort -u | grep -cvxF "$(printf '%s\n' "$@")"
}

# by_program PROGRAM PID KIND: found by its program name when it is the only
# process of that program; else refused as ambiguous, naming PID.
by_program() {
	if [ "$(others "$1" "$2")" = 0 ]; then
		both "$1" "$2" "$3"
	else
		refused "$1" "VMs are named '$1'"
		refused "$1" "$2"
	fi
}

# refused SELECTOR MESSAGE: status and pin both refuse SELECTOR, saying MESSAGE.
refused() {
	for cmd in "status" "pin show"; do
		checks=$((checks + 1))
		# shellcheck disable=SC2086
		"$numaksm" $cmd "$1" > "$t/out" 2>&1 && fail "$cmd '$1' succeeded"
		grep -qF "$2" "$t/out" || fail "$cmd '$1': $(cat "$t/out")"
	done
}

for kind in numaksm qemu libvirt cloud-hypervisor firecracker crosvm process; do
	name="lookup-$kind"
	start "$kind" "$name"
	both "$pid" "$pid" "$kind"
	comm=$(cat "/proc/$pid/comm")
	[ "$kind" = process ] || by_program "$comm" "$pid" "$kind"
	case $kind in
	cloud-hypervisor | crosvm)
		# No name on their command line: found by program name.
		by_program "$kind" "$pid" "$kind"
		;;
	process)
		# Not a VMM by its program: found by its PID only, by both.
		[ "$comm" = "$name" ] || fail "the plain process is called '$comm'"
		refused "$comm" "no VM named '$comm'"
		;;
	*)
		both "$name" "$pid" "$kind"
		;;
	esac
	kill "$pid"
	wait "$pid" 2> /dev/null
done

# Two stand-ins of one program: its name is ambiguous to every command.
start qemu lookup-qemu-1
first=$pid
start qemu lookup-qemu-2
n=$(($(others qemu-system-x86_64 "$first" "$pid") + 2))
refused qemu-system-x86_64 "$n VMs are named 'qemu-system-x86_64'"
refused no-such-vm "no VM named 'no-such-vm'"

echo "$checks checks, $failed failed"
[ $failed = 0 ]
