#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `numaksm pin apply` and `pin show --json` end to end on stand-in VMMs
# (QEMU, Cloud Hypervisor and Firecracker, under their program names and
# command lines): the affinities the tool reports are the kernel's, a
# second VM never gets the first one's
# CPU, a VM that does not fit is refused with nothing changed, and a VM's
# CPUs are free again once its process is gone.
#
# Usage: test-pin-cli.sh NUMAKSM FAKE_VMM
set -u
numaksm=$1
fake=$2
command -v python3 > /dev/null || { echo "needs python3"; exit 77; }
ncpu=$(getconf _NPROCESSORS_ONLN)
[ "$ncpu" -ge 2 ] || { echo "needs 2 CPUs"; exit 77; }
t=$(mktemp -d)
export NUMAKSM_RUNTIME_DIR="$t/run"
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2> /dev/null; done
	wait 2> /dev/null
	rm -rf "$t"
}
trap cleanup EXIT
. "$(dirname "$0")/../unit/test-pin-lib.sh"

# An empty state of this boot, so that it is not rebuilt from whatever
# else runs on the host (other tests' stand-in VMMs).
mkdir -p "$NUMAKSM_RUNTIME_DIR"
printf '{ "numaksm_pins": 1, "boot_id": "%s", "entries": [ ] }\n' \
	"$(cat /proc/sys/kernel/random/boot_id)" > "$NUMAKSM_RUNTIME_DIR/pins.json"

# Only CPUs 0 and 1 for VMs, whatever the host has: the rest housekeeping.
if [ "$ncpu" -gt 2 ]; then
	hk="--housekeeping 2-$((ncpu - 1))"
else
	hk=""
fi

# start KIND N NAME: run a stand-in VMM, wait until its threads are named.
start() {
	"$fake" "$1" "$2" "$3" > "$t/$3.ready" &
	pid=$!
	pids="$pids $pid"
	for _ in $(seq 100); do
		grep -q ready "$t/$3.ready" 2> /dev/null && return 0
		sleep 0.05
	done
	echo "stand-in VMM $3 did not start"
	exit 1
}

# check_json FILE PID: the threads in FILE are those of PID, with the
# affinities and last CPUs the kernel shows in /proc; prints the vCPU CPUs.
check_json() {
	python3 - "$1" "$2" << 'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
pid = int(sys.argv[2])
assert doc["vm"]["pid"] == pid, doc["vm"]
def cpulist(text):
    cpus = set()
    for part in filter(None, text.split(",")):
        a, _, b = part.partition("-")
        cpus.update(range(int(a), int(b or a) + 1))
    return cpus
plan = doc.get("plan")
vcpu_cpus = []
for th in doc["threads"]:
    status = open(f"/proc/{pid}/task/{th['tid']}/status").read()
    kernel = [l.split(":", 1)[1].strip() for l in status.splitlines() if l.startswith("Cpus_allowed_list")][0]
    assert cpulist(th["affinity_cpus"]) == cpulist(kernel), (th, kernel)
    assert th["last_cpu"] is not None and th["last_node"] is not None, th
    # Right after a pin the last CPU predates it: not judged.
    assert (th["last_cpu_in_affinity"] is None) == (doc["command"] == "pin apply"), th
    if th["vcpu"] is not None:
        vcpu_cpus.append(th["affinity_cpus"])
        if plan:
            assert th["affinity_cpus"] == plan["vcpus"][th["vcpu"]]["cpus"], th
    elif plan:
        assert th["affinity_cpus"] == plan["emulator_cpus"], th
print(" ".join(vcpu_cpus))
PY
}

affinity_of() { # PID: the affinities of all its threads, one line
	for task in /proc/"$1"/task/*; do
		awk '/^Cpus_allowed_list/ { printf "%s ", $2 }' "$task/status"
	done
}

# A QEMU-like VM, found by its name: pinned, verified, recorded.
start qemu 1 vm-one
one=$pid
if expect 0 '"command": "pin apply"' pin apply vm-one --json $hk; then
	cpu_one=$(check_json "$t/out" "$one") || fail "apply --json disagrees with /proc"
	echo "vm-one ($one) pinned to CPU $cpu_one"
	grep -q "\"pid\": $one" "$NUMAKSM_RUNTIME_DIR/pins.json" || fail "vm-one not in pins.json"
fi
expect 0 '"command": "pin show"' pin show "$one" --json &&
	{ [ "$(check_json "$t/out" "$one")" = "$cpu_one" ] || fail "show --json disagrees"; }
expect 0 "CPU 0/KVM" pin show vm-one

# A Cloud Hypervisor-like VM by PID: the other CPU.
start ch 1 vm-two
two=$pid
if expect 0 "Applied and verified" pin apply "$two" $hk; then
	expect 0 '"kind": "cloud-hypervisor"' pin show "$two" --json
	cpu_two=$(check_json "$t/out" "$two")
	[ "$cpu_two" != "$cpu_one" ] || fail "vm-two got vm-one's CPU $cpu_one"
fi

# A Firecracker-like third VM does not fit: refused, its threads untouched.
start fc 1 vm-three
three=$pid
before=$(affinity_of "$three")
expect 1 "does not fit" pin apply vm-three $hk
[ "$(affinity_of "$three")" = "$before" ] || fail "refused apply changed vm-three"
# Nor on CPUs the plan may not use, nor with a topology that is not this host.
expect 1 "not this system" pin apply "$three" --synthetic "pack:1 numa:1 core:4 pu:1"
expect 1 "has 1 vCPU threads" pin apply "$three" --vcpus 2 $hk
[ "$(affinity_of "$three")" = "$before" ] || fail "refused apply changed vm-three"

# vm-one ends: its CPU is free again for vm-three.
kill "$one"
wait "$one" 2> /dev/null
if expect 0 '"command": "pin apply"' pin apply vm-three --json $hk; then
	[ "$(check_json "$t/out" "$three")" = "$cpu_one" ] || fail "vm-three did not get CPU $cpu_one"
	grep -q "\"pid\": $one" "$NUMAKSM_RUNTIME_DIR/pins.json" && fail "vm-one still in pins.json"
fi

# Re-pinning a VM keeps its own CPU available to it.
expect 0 "Applied and verified" pin apply "$two" $hk

# Refusals: not a VMM, no such process, a captured host tree.
expect 1 "is not a VMM" pin apply $$ $hk
expect 1 "is not a VMM" pin show $$
expect 1 "no process 999999999" pin show 999999999
expect 1 "no VM named 'no-such-vm'" pin show no-such-vm
expect 1 "captured tree" pin apply "$two" --root "$(dirname "$0")/../fixtures/debian12-hybrid-1node"

finish
