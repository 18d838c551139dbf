#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Every --json output of numaksm validates against its schema in
# docs/schema/ (tests/validate-json.py), and so do the error and log lines
# it prints on stderr under --json.
#
#   unit  no host needed: check, hugepages, ksm show and status on the
#         captured trees of tests/fixtures and its odd ones (--root), pin show on a captured
#         QEMU, pin plan on XML and synthetic topologies, vm list with no VM
#         and with a stand-in numaksm-vmm (FAKE_VMM, tests/unit/fake-vmm.c)
#         and that stand-in's registry entry,
#         vm info of that VM,
#         error lines (usage errors, refusals)
#   host  the same, then this host: check, hugepages, zone try, pin plan
#         (live, and hwloc's environment with its warning as a log line), pin
#         show and pin apply on a stand-in VMM (PIN_VMM,
#         tests/host/test-pin-fake-vmm.c), ksm show, status once and with
#         --watch, place and place --undo (needs root), error lines
#
# Both modes check numaksm-vmm's error lines too (its usage errors; the
# document it prints once a VM runs is checked where /dev/kvm is, in the
# NUMA lab's kvm guest).
#
# Usage: json-outputs.sh unit|host NUMAKSM NUMAKSM_VMM FAKE_VMM [PIN_VMM]
set -u
mode=$1
numaksm=$2
numaksm_vmm=$3
fake=$4
pin_vmm=${5:-}
here=$(cd "$(dirname "$0")" && pwd)
fixtures=$here/fixtures
topologies=$fixtures/topologies
validate="$here/validate-json.py --quiet"
command -v python3 > /dev/null || { echo "needs python3"; exit 77; }
python3 -c 'import jsonschema' 2> /dev/null ||
	{ echo "FAIL: needs python3-jsonschema (scripts/setup installs it)"; exit 1; }
if [ "$mode" = host ]; then
	[ -n "$pin_vmm" ] || { echo "host needs PIN_VMM"; exit 2; }
fi
t=$(mktemp -d)
export NUMAKSM_RUNTIME_DIR="$t/run"
mkdir -p "$NUMAKSM_RUNTIME_DIR"
pids=""
placed=""
cleanup() {
	for p in $placed; do "$numaksm" place --undo "$p" > /dev/null 2>&1; done
	for p in $pids; do kill "$p" 2> /dev/null; done
	wait 2> /dev/null
	rm -rf "$t"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
failed=0
passed=0

fail() {
	echo "FAIL: $*"
	failed=$((failed + 1))
}

# run EXIT ARGS...: run numaksm into $t/out and $t/err; its exit must be
# EXIT ("0|1": either; status exits 1 when a VM of the host could not be read).
run() {
	want=$1
	shift
	"${program:-$numaksm}" "$@" > "$t/out" 2> "$t/err"
	rc=$?
	if ! echo "|$want|" | grep -q "|$rc|"; then
		fail "${program:-numaksm} $* exited $rc, expected $want"
		cat "$t/err"
		return 1
	fi
}

# valid SCHEMA FILE [--lines]: FILE holds documents of SCHEMA (one per line
# with --lines), to be validated by validate_all: a copy is kept, with what
# made it, in $t/docs.
mkdir -p "$t/docs"
n_docs=0
valid() {
	if [ ! -s "$2" ]; then
		fail "$what: no output to validate against $1"
		return 1
	fi
	n_docs=$((n_docs + 1))
	cp "$2" "$t/docs/$n_docs.json"
	printf '%s\t%s\t%s\n' "$1" "${3:-}" "$what" > "$t/docs/$n_docs.what"
}

# Validate what valid() kept, with one validate-json.py per schema.
validate_all() {
	cat "$t"/docs/*.what | cut -f1,2 | sort -u > "$t/groups"
	while IFS="$(printf '\t')" read -r schema lines; do
		files=$(grep -l "^$schema	$lines	" "$t"/docs/*.what | sed 's/\.what$/.json/')
		# shellcheck disable=SC2086 # the file names have no spaces
		rc=0
		$validate $lines "$schema" $files > "$t/invalid" 2>&1 || rc=$?
		named=0
		for f in $files; do
			if grep -q "^$f" "$t/invalid"; then
				fail "$(cut -f3 "${f%.json}.what"): not valid against $schema:"
				grep "^$f" "$t/invalid"
				cat "$f"
				named=1
			else
				passed=$((passed + 1))
			fi
		done
		# A validator that failed without naming a document (a crash, an
		# unknown schema) fails the whole group.
		[ "$rc" = 0 ] || [ "$named" = 1 ] ||
			fail "validate-json.py $lines $schema exited $rc: $(cat "$t/invalid")"
	done < "$t/groups"
}

# json EXIT SCHEMA ARGS...: numaksm ARGS exits EXIT with one document of
# SCHEMA on stdout and, on stderr, nothing but valid log lines.
json() {
	want=$1 schema=$2
	shift 2
	what="${program:-numaksm} $*"
	run "$want" "$@" || return 1
	valid "$schema" "$t/out" || return 1
	if [ -s "$t/err" ]; then
		valid log "$t/err" --lines
	fi
	return 0
}

# error EXIT ARGS...: numaksm ARGS exits EXIT, prints nothing on stdout and
# one valid error line last on stderr, with that exit status.
error() {
	want=$1
	shift
	what="${program:-numaksm} $* (error)"
	run "$want" "$@" || return 1
	[ -s "$t/out" ] && fail "$what printed on stdout: $(cat "$t/out")"
	tail -n 1 "$t/err" > "$t/error"
	valid error "$t/error" || return 1
	grep -q "\"exit_status\":$want," "$t/error" || fail "$what: exit_status is not $want"
	head -n -1 "$t/err" > "$t/log"
	[ -s "$t/log" ] && valid log "$t/log" --lines
	return 0
}

# ---- captured trees ------------------------------------------------------------
# A kernel built without KSM: a captured tree without /sys/kernel/mm/ksm.
cp -a "$fixtures/lab-4node" "$t/noksm"
rm -rf "$t/noksm/sys/kernel/mm/ksm"
for tree in "$fixtures"/*/ "$fixtures"/procs/*/ "$fixtures"/odd/*/ "$t/noksm"; do
	tree=${tree%/}
	[ -d "$tree/sys" ] || [ -d "$tree/proc" ] || continue
	rc=0
	"$numaksm" check --root "$tree" > /dev/null 2>&1 || rc=$?
	json "$rc" check check --json --root "$tree"
	json 0 hugepages hugepages --json --root "$tree"
	[ -e "$tree/sys/kernel/mm/ksm/run" ] && json 0 "ksm show" ksm show --json --root "$tree"
	json 0 status status --json --root "$tree"
done
# A captured QEMU guest: its threads.
json 0 "pin show" pin show 14042 --json --root "$fixtures/procs/qemu-tcg"

# ---- plans on topologies that are not this host ------------------------------------
json 0 "pin plan" pin plan --vcpus 4 --synthetic "pack:2 numa:2 core:4 pu:2" --json
json 0 "pin plan" pin plan --vcpus 4 --policy shared --synthetic "pack:2 numa:2 core:4 pu:2" --json
json 0 "pin plan" pin plan --vcpus 10 --nodes 2 --spill --topology "$topologies/2pack-4node-smt.xml" --json
json 0 "pin plan" pin plan --vcpus 4 --nodes 2 --topology "$topologies/memonly.xml" --json
json 0 "pin plan" pin plan --vcpus 2 --nodes 2 --root "$topologies/trees/memonly-initiators" --json

# ---- vm list: no VM, and a stand-in numaksm-vmm ---------------------------------------
json 0 "vm list" vm list --json
grep -q '"vms": \[' "$t/out" || fail "vm list --json without VMs: $(cat "$t/out")"
vm=json-$$
pid=$("$fake" "$NUMAKSM_RUNTIME_DIR" "$vm" "$t/vm.log" serve \
	'{"mode": "socket", "path": "/run/json.console"}') || fail "fake-vmm $vm did not start"
pids="$pids $pid"
if json 0 "vm list" vm list --json; then
	grep -q "\"name\": \"$vm\"" "$t/out" || fail "vm list --json lacks $vm"
	grep -q '"path": "/run/json.console"' "$t/out" || fail "vm list --json lacks the console"
fi
# The registry entry as numaksm-vmm writes it (the stand-in writes the same).
what="registry entry $NUMAKSM_RUNTIME_DIR/vm/$vm.json"
valid "vmm-entry" "$NUMAKSM_RUNTIME_DIR/vm/$vm.json"
json 0 "vm info" vm info "$vm" --json
"$numaksm" vm stop "$vm" > /dev/null 2>&1

# ---- error lines ----------------------------------------------------------------
error 2 bogus --json
error 2 --json
error 2 check --json --bogus
error 2 check --json --root /nonexistent
error 2 zone --json try
error 2 pin plan --vcpus 0 --json
error 2 vm stop "$vm" --json
error 1 pin plan --vcpus 10 --nodes 2 --topology "$topologies/2pack-4node-smt.xml" --json
error 1 place 1 --nodes 0 --json --root "$fixtures/lab-4node"
error 1 status no-such-vm-$$ --json
error 1 vm info no-such-vm-$$ --json
# numaksm-vmm's own: usage errors, before any VM exists.
program=$numaksm_vmm
error 2 --json --bogus
error 2 --json --name "bad name"
error 2 --json --name ok --memory size=1G --cpus count=0
program=

if [ "$mode" != host ]; then
	validate_all
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit
fi

# ---- this host ------------------------------------------------------------------
rc=0
"$numaksm" check > /dev/null 2>&1 || rc=$?
json "$rc" check check --json
json 0 hugepages hugepages --json
json 0 "ksm show" ksm show --json
json 0 "zone try" zone try size=4M --json
json 0 "zone try" zone try size=4M,prefault=off,mergeable=on,policy=bind,nodes=0 --json
json "0|1" status status --json
what="numaksm status --json --watch 0.2"
timeout 10 "$numaksm" status --json --watch 0.2 2> "$t/err" | head -n 2 > "$t/out"
[ "$(wc -l < "$t/out")" = 2 ] || fail "$what: $(wc -l < "$t/out") lines, expected 2"
valid status "$t/out" --lines
grep -q '"round":1' "$t/out" || fail "$what: no second round"

# pin: plans around an empty assignment state, of this boot.
printf '{ "numaksm_pins": 1, "boot_id": "%s", "entries": [ ] }\n' \
	"$(cat /proc/sys/kernel/random/boot_id)" > "$NUMAKSM_RUNTIME_DIR/pins.json"
json 0 "pin plan" pin plan --vcpus 1 --json
# hwloc told by its environment: not this system, and a warning as a log line.
what="numaksm pin plan in hwloc's environment"
HWLOC_SYNTHETIC="pack:1 core:2 pu:1" "$numaksm" pin plan --vcpus 1 --policy shared --json \
	> "$t/out" 2> "$t/err" || fail "$what exited $?"
valid "pin plan" "$t/out"
valid log "$t/err" --lines
grep -q '"source": "environment"' "$t/out" || fail "$what: not from the environment"
grep -q '"level":"warning"' "$t/err" || fail "$what: no warning"

# A stand-in QEMU: shown, pinned, shown again.
ncpu=$(getconf _NPROCESSORS_ONLN)
hk=""
[ "$ncpu" -gt 2 ] && hk="--housekeeping 2-$((ncpu - 1))"
vm=json-qemu-$$
"$pin_vmm" qemu 1 "$vm" > "$t/vm.ready" &
pids="$pids $!"
qemu=$!
for _ in $(seq 100); do
	grep -q ready "$t/vm.ready" 2> /dev/null && break
	sleep 0.05
done
json 0 "pin show" pin show "$vm" --json
json 0 "pin apply" pin apply "$vm" --json --name "$vm" $hk
json 0 "pin show" pin show "$qemu" --json
error 1 pin apply "$vm" --json --vcpus 2 $hk

# place and undo, of a process that runs and of one that is gone.
if [ "$(id -u)" != 0 ]; then
	echo "place: not run (needs root)"
else
	parent=numaksm-json-$$
	if json 0 place place "$vm" --nodes 0 --migrate --memory-max 1G --parent "$parent" --json; then
		placed="$qemu"
		grep -q '"action": "place"' "$t/out" || fail "place: action is not place"
		json 0 place place --undo "$vm" --json && placed=""
		grep -q '"applied": null' "$t/out" || fail "place --undo: applied is not null"
	fi
	if json 0 place place "$qemu" --nodes 0 --parent "$parent" --no-pin --json; then
		placed="$qemu"
		kill "$qemu"
		wait "$qemu" 2> /dev/null
		json 0 place place --undo "$qemu" --json && placed=""
		grep -q '"previous_cgroups": null' "$t/out" ||
			fail "place --undo of a process gone: previous_cgroups is not null"
	fi
	error 1 place "$qemu" --nodes 0 --json
fi

validate_all
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
