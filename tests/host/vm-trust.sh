#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Nothing a local user can forge makes numaksm act: a user's program that
# calls itself qemu-system-x86_64 and names itself like a VM is a
# look-alike.  With a stand-in run by root and one run by an unprivileged
# user under the same name:
#   - status NAME finds root's; status lists the user's apart (trust none)
#   - place and pin apply refuse the look-alike by name, changing nothing;
#     by its PID (the caller's word) pin apply works
#   - the tuner's [vm] rules skip it, and place root's (dry run)
#   - names are escaped: no escape sequence or line break of a user's
#     command line reaches the terminal
#
# Usage: vm-trust.sh NUMAKSM FAKE_VMM
set -u
numaksm=$1
fake=$2
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
user=65534 # nobody
t=$(mktemp -d)
chmod 0755 "$t"
export NUMAKSM_RUNTIME_DIR="$t/run"
pids=""
failed=0
checks=0
only=""
cleanup() {
	# Had a look-alike been placed, its cgroup goes (the test has failed).
	[ -n "$only" ] && "$numaksm" place --undo "$only" > /dev/null 2>&1
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

check() {
	checks=$((checks + 1))
	"$@" || fail "$*"
}

# start UID KIND NAME: a stand-in run by UID; sets $pid.
started=0
start() {
	started=$((started + 1))
	ready="$t/ready.$started"
	setpriv --reuid="$1" --regid="$1" --clear-groups "$fake" "$2" 1 "$3" > "$ready" &
	pid=$!
	pids="$pids $pid"
	for _ in $(seq 100); do
		grep -q ready "$ready" 2> /dev/null && return 0
		sleep 0.05
	done
	echo "stand-in $2 '$3' (uid $1) did not start"
	exit 1
}

# json_of PID FILE: the trust and owner of PID in status --json output FILE.
json_of() {
	python3 - "$1" "$2" << 'PY'
import json, sys
pid, doc = int(sys.argv[1]), json.load(open(sys.argv[2]))
vm = [v for v in doc["vms"] if v["pid"] == pid]
print(f"{vm[0]['trust']} {vm[0]['trusted']} {vm[0]['owner_uid']}" if vm else "absent")
PY
}

start 0 qemu trust-db1
root_vm=$pid
start $user qemu trust-db1
lookalike=$pid
start $user qemu trust-only
only=$pid

# ---- status -------------------------------------------------------------------------
"$numaksm" status trust-db1 --json > "$t/one.json" 2> "$t/err"
check [ "$(json_of "$root_vm" "$t/one.json")" = "owner True 0" ]
check [ "$(json_of "$lookalike" "$t/one.json")" = "absent" ]
"$numaksm" status --json > "$t/all.json" 2> /dev/null
check [ "$(json_of "$lookalike" "$t/all.json")" = "none False $user" ]
check [ "$(json_of "$only" "$t/all.json")" = "none False $user" ]
check [ "$(json_of "$root_vm" "$t/all.json")" = "owner True 0" ]
"$numaksm" status --long > "$t/all.txt" 2> /dev/null
check grep -q "^trust-db1: qemu, PID $root_vm (qemu-system-x86), .*; run by root$" "$t/all.txt"
check grep -q "look-alikes: named like a VMM, but no KVM VM, not registered, not run by root" \
	"$t/all.txt"
check grep -q "^  trust-db1: qemu, PID $lookalike (qemu-system-x86), uid $user$" "$t/all.txt"
check grep -q "^  trust-only: qemu, PID $only (qemu-system-x86), uid $user$" "$t/all.txt"
if grep -q "^trust-only: " "$t/all.txt"; then fail "the look-alike is listed among the VMs"; fi
# A line each: the root's VM, never a look-alike.
"$numaksm" status > "$t/table.txt" 2> /dev/null
check grep -Eq "^trust-db1 +qemu +$root_vm +" "$t/table.txt"
check [ "$(grep -c "^trust-db1 " "$t/table.txt")" = 1 ]
if grep -q "^trust-only " "$t/table.txt"; then fail "the look-alike is in the table"; fi

# ---- place and pin apply refuse it by name, change nothing -----------------------
cgroups_before=$(cat "/proc/$only/cgroup")
affinity_before=$(grep Cpus_allowed_list "/proc/$only/task/$only/status")
"$numaksm" place trust-only --nodes 0 > "$t/out" 2>&1
check [ $? = 1 ]
check grep -q "refusing to place trust-only (PID $only, uid $user): it is named like a qemu" \
	"$t/out"
check grep -q "give its PID ($only) instead of its name" "$t/out"
check [ "$(cat "/proc/$only/cgroup")" = "$cgroups_before" ]
"$numaksm" pin apply trust-only --policy shared > "$t/out" 2>&1
check [ $? = 1 ]
check grep -q "refusing to pin trust-only (PID $only, uid $user)" "$t/out"
check [ "$(grep Cpus_allowed_list "/proc/$only/task/$only/status")" = "$affinity_before" ]
# By its PID: the caller vouches for it.
"$numaksm" pin apply "$only" --policy shared > "$t/out" 2>&1
check [ $? = 0 ]
check grep -q "Applied and verified" "$t/out"

# ---- the tuner's rules ------------------------------------------------------------
cat > "$t/conf" << 'EOF'
[vm "trust-*"]
nodes = 0
EOF
"$numaksm" tuned --dry-run --once --config "$t/conf" > "$t/tuned" 2>&1
check grep -q "not placing trust-only (PID $only, uid $user) by \[vm \"trust-\*\"\]" "$t/tuned"
check grep -q "not placing trust-db1 (PID $lookalike, uid $user)" "$t/tuned"
check grep -q "(dry run) would place trust-db1 (PID $root_vm)" "$t/tuned"
if grep -q "would place trust-only" "$t/tuned"; then fail "the tuner would place a look-alike"; fi

# ---- names are escaped -----------------------------------------------------------
esc=$(printf '\033')
start 0 qemu "evil${esc}[2Jred
forged: line"
evil=$pid
"$numaksm" status "$evil" > "$t/evil.txt" 2>&1
check grep -qF 'evil\x1b[2Jred\x0aforged: line: qemu, PID' "$t/evil.txt"
check [ "$(grep -c "$esc" "$t/evil.txt")" = 0 ]
if grep -q "^forged: line" "$t/evil.txt"; then fail "a line break reached the terminal"; fi
"$numaksm" status "$evil" --json > "$t/evil.json" 2>&1
check grep -qF '"name": "evil\\x1b[2Jred\\x0aforged: line"' "$t/evil.json"

echo "$checks checks, $failed failed"
[ $failed = 0 ]
