#!/bin/sh
# Inner test json-outputs: the --json documents of numaksm (and, where the
# topology has /dev/kvm, of numaksm-vmm and of numaksm about its running VM)
# on a host with several nodes, per-node hugepage pools and cgroup v2.
#
# The guest has no JSON Schema validator: each document is framed on the
# console,
#   @@JSON BEGIN SCHEMA doc|lines WHAT
#   ...
#   @@JSON END
# and "@@JSON COUNT N" after the last; the host validates them against
# docs/schema/ and checks that all N arrived (the CTest test
# numa-lab/<topology>/json-valid: tests/validate-json.py --framed).  This
# test fails when a command exits other than expected or prints nothing.
#
# $NUMAKSM and $NUMAKSM_VMM override the programs found on the PATH.
numaksm=${NUMAKSM:-numaksm}
vmm=${NUMAKSM_VMM:-numaksm-vmm}
command -v "$numaksm" > /dev/null || { echo "json-outputs: numaksm is not in this lab build"; exit 77; }

t=$(mktemp -d) || exit 1
export NUMAKSM_RUNTIME_DIR="$t/run"
mkdir -m 0700 "$NUMAKSM_RUNTIME_DIR"
vm_pid=""
cleanup() {
	[ -n "$vm_pid" ] && kill "$vm_pid" 2> /dev/null && wait "$vm_pid"
	rm -rf "$t"
}
trap cleanup EXIT
failed=0
count=0

# frame SCHEMA doc|lines WHAT FILE
frame() {
	if [ ! -s "$4" ]; then
		echo "FAIL: $3: printed nothing"
		failed=$((failed + 1))
		return
	fi
	echo "@@JSON BEGIN $1 $2 $3"
	cat "$4"
	echo "@@JSON END"
	count=$((count + 1))
}

# json SCHEMA EXITS PROGRAM ARGS...: PROGRAM exits one of EXITS ("0", "0|1")
# with a document of SCHEMA on stdout, and log lines, if any, on stderr.
json() {
	schema=$1 want=$2
	shift 2
	"$@" > "$t/out" 2> "$t/err"
	rc=$?
	if ! echo "|$want|" | grep -q "|$rc|"; then
		echo "FAIL: $* exited $rc, expected $want"
		cat "$t/err"
		failed=$((failed + 1))
		return 1
	fi
	frame "$schema" doc "$*" "$t/out"
	[ -s "$t/err" ] && frame numaksm-log lines "$* (stderr)" "$t/err"
	return 0
}

# error EXIT PROGRAM ARGS...: an error line, last on stderr, exit EXIT.
error() {
	want=$1
	shift
	"$@" > "$t/out" 2> "$t/err"
	rc=$?
	if [ "$rc" != "$want" ] || [ -s "$t/out" ]; then
		echo "FAIL: $* exited $rc (expected $want) or printed on stdout"
		failed=$((failed + 1))
		return
	fi
	tail -n 1 "$t/err" > "$t/error"
	frame numaksm-error lines "$* (error)" "$t/error"
	sed '$d' "$t/err" > "$t/log"
	[ -s "$t/log" ] && frame numaksm-log lines "$* (stderr)" "$t/log"
	return 0
}

last=$(ls -d /sys/devices/system/node/node* | sed 's/.*node//' | sort -n | tail -n 1)

# ---- the host --------------------------------------------------------------------
# check exits 1 where a check fails (no KVM under TCG).
json numaksm-check "0|1" "$numaksm" check --json
json numaksm-hugepages 0 "$numaksm" hugepages --json
# A 2M zone on a node whose pool has room, else the refusal (2node has no pools).
pool=""
for d in /sys/devices/system/node/node*/hugepages/hugepages-2048kB; do
	[ "$(cat "$d/free_hugepages")" -ge 4 ] && pool=${d#/sys/devices/system/node/node} && pool=${pool%%/*} && break
done
if [ -n "$pool" ]; then
	json numaksm-zone-try 0 "$numaksm" zone try "size=8M,hugepages=2M,policy=bind,nodes=$pool,prefault=on" --json
else
	error 1 "$numaksm" zone try "size=8M,hugepages=2M,policy=bind,nodes=$last" --json
fi
json numaksm-zone-try 0 "$numaksm" zone try "size=8M,policy=interleave,nodes=0-$last,prefault=on" --json
json numaksm-pin-plan 0 "$numaksm" pin plan --vcpus 1 --json
json numaksm-ksm-show 0 "$numaksm" ksm show --json
json numaksm-status "0|1" "$numaksm" status --json
error 1 "$numaksm" zone try "size=64G,hugepages=2M,policy=bind,nodes=$last" --json
error 2 "$numaksm" pin plan --vcpus 0 --json

# ---- VM-like processes: estimate, audit, place --plan-fleet --------------------------
if command -v lab-ksm-vm > /dev/null; then
	first=$(sed 's/[-,].*//' /sys/devices/system/node/has_memory)
	lab-ksm-vm json-a 4 "$first" 1 > "$t/ksm-a" &
	ksm_a=$!
	lab-ksm-vm json-b 4 "$first" 1 > "$t/ksm-b" &
	ksm_b=$!
	for _ in $(seq 100); do
		[ "$(cat "$t/ksm-a" "$t/ksm-b" | grep -c ready)" = 2 ] && break
		sleep 0.1
	done
	json numaksm-estimate 0 "$numaksm" estimate "$ksm_a" "$ksm_b" --json
	json numaksm-audit "0|1" "$numaksm" audit "$ksm_a" "$ksm_b" --json
	json numaksm-place-plan-fleet 0 "$numaksm" place --plan-fleet --json
	kill "$ksm_a" "$ksm_b"
	wait "$ksm_a" "$ksm_b" 2> /dev/null
fi

# ---- a numaksm-vmm VM, where there is KVM ---------------------------------------
if [ -c /dev/kvm ] && command -v "$vmm" > /dev/null; then
	name=jsonvm
	"$vmm" --name "$name" --memory "size=16M,policy=bind,nodes=$last,mergeable=on" \
		--cpus count=1 --workload "size=256K,passes=0,period=50ms,verify=on" --hold --json \
		> "$t/vmm.out" 2> "$t/vmm.err" &
	vm_pid=$!
	up=0 tries=0
	while [ $tries -lt 600 ]; do
		tries=$((tries + 1))
		if "$numaksm" vm info "$name" --json 2> /dev/null | grep -q '"verified_page_count": [1-9]'; then
			up=1
			break
		fi
		if ! kill -0 "$vm_pid" 2> /dev/null; then
			wait "$vm_pid"
			echo "numaksm-vmm exited $?"
			vm_pid=""
			break
		fi
		sleep 0.5
	done
	if [ "$up" != 1 ]; then
		echo "FAIL: numaksm-vmm did not run its guest program ($tries tries):"
		cat "$t/vmm.err" "$t/vmm.out"
		"$numaksm" vm info "$name" --json
		failed=$((failed + 1))
	else
		frame numaksm-vmm doc "numaksm-vmm --json" "$t/vmm.out"
		json numaksm-vm-list 0 "$numaksm" vm list --json
		json numaksm-vm-info 0 "$numaksm" vm info "$name" --json
		json numaksm-status 0 "$numaksm" status "$name" --json
		# It holds a KVM VM: trusted as one on that, not on its name.
		grep -q '"trust": "kvm"' "$t/out" ||
			{ echo "FAIL: status does not say the VM holds a KVM VM"; failed=$((failed + 1)); }
		json numaksm-pin-show 0 "$numaksm" pin show "$name" --json
		json numaksm-place 0 "$numaksm" place "$name" --nodes "$last" --json
		json numaksm-place 0 "$numaksm" place --undo "$name" --json
		error 1 "$numaksm" vm info nosuch --json
		"$numaksm" vm stop "$name" > /dev/null
		wait "$vm_pid"
		rc=$?
		vm_pid=""
		[ "$rc" = 0 ] || { echo "FAIL: numaksm-vmm exited $rc after vm stop"; failed=$((failed + 1)); }
		# Its log lines under --json ("running: ...", "stopping").
		frame numaksm-log lines "numaksm-vmm --json (stderr)" "$t/vmm.err"
	fi
	error 2 "$vmm" --json --name "bad name"
fi

echo "@@JSON COUNT $count"
echo "json-outputs: $count documents framed, $failed failures"
[ "$failed" = 0 ]
