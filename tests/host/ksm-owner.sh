#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# KSM's knobs are never left changed, however a program that changes them
# ends:
#   1. fault injection: the tuner (tuned --once) is killed with SIGKILL
#      before each knob write of its sequence in turn; every time, the next
#      start restores the original settings first, and `numaksm ksm
#      restore` (itself killed before each of its writes, then run again)
#      brings back exactly the originals;
#   2. a program with no loop of its own (as the benchmarks): SIGTERM,
#      SIGINT and SIGHUP put the knobs back and remove the saved state;
#      after SIGKILL, `numaksm ksm restore` does;
#   3. one owner per host: while it runs, the tuner and `ksm set` are
#      refused whatever runtime directory they are given;
#   4. a slow placement by the tuner's [vm] rule does not hold its stop:
#      SIGTERM restores KSM at once, the placement finishes after.
# KSM's knobs as found are put back at the end (trap on EXIT).
#   ksm-owner.sh NUMAKSM TEST-KSM-OWNER FAKE_VMM
set -u
numaksm=$1
owner=$2
fake=$3
. "$(dirname "$0")/ksm-lib.sh"
state=/run/numaksm/ksm.state
ksm_require_free

t=$(mktemp -d)
export NUMAKSM_RUNTIME_DIR=$t/run
ksm_save "$t" "advisor_mode sleep_millisecs pages_to_scan use_zero_pages smart_scan stable_node_chains_prune_millisecs run"
holder=""
vm=""
tuner=""
restore() {
	[ -n "$holder" ] && kill -9 "$holder" 2> /dev/null
	[ -n "$tuner" ] && kill -TERM "$tuner" 2> /dev/null && wait "$tuner"
	[ -n "$vm" ] && kill -9 "$vm" 2> /dev/null && "$numaksm" place --undo slowplace > /dev/null 2>&1
	rm -f "$state"
	ksm_put_back "$t"
	rm -rf "$t"
}
trap restore EXIT
trap 'exit 1' INT TERM HUP
failed=0
checks=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
knob() { sed 's/.*\[\(.*\)\].*/\1/' $ksm/$1; }
# The knobs the tests change, on one line.
now() {
	line=""
	for k in $present; do line="$line $k=$(knob "$k")"; done
	echo "$line"
}
# expect WHAT: the knobs are the originals again.
expect() {
	checks=$((checks + 1))
	[ "$(now)" = "$original" ] || fail "$1: $(now), expected$original"
}

# The originals: KSM stopped, the tuner's knobs off their defaults.
[ -e $ksm/advisor_mode ] && echo none > $ksm/advisor_mode
echo 0 > $ksm/run
echo 123 > $ksm/pages_to_scan
echo 45 > $ksm/sleep_millisecs
[ -e $ksm/use_zero_pages ] && echo 0 > $ksm/use_zero_pages
[ -e $ksm/smart_scan ] && echo 1 > $ksm/smart_scan
[ -e $ksm/stable_node_chains_prune_millisecs ] && echo 2000 > $ksm/stable_node_chains_prune_millisecs
original=$(now)
# A policy that sets three knobs besides those the tuner drives.
cat > "$t/conf" << 'EOF'
[ksm]
mode = on
use_zero_pages = 1
smart_scan = 0
stable_node_chains_prune_millisecs = 3000
EOF

# ---- 1. SIGKILL before each write ------------------------------------------------
killed=0
n=1
while [ $n -le 20 ]; do
	NUMAKSM_TEST_KILL_AT_KSM_WRITE=$n "$numaksm" tuned --once --config "$t/conf" \
		> "$t/once" 2> "$t/once.log"
	rc=$?
	[ $rc = 0 ] && break # the whole sequence ran: past the last write
	checks=$((checks + 1))
	[ $rc = 137 ] || { fail "write $n: tuned exited $rc, not killed"; cat "$t/once.log"; break; }
	killed=$((killed + 1))
	checks=$((checks + 1))
	grep -q "^pid=" "$state" || fail "write $n: no saved state after SIGKILL"
	# The next start puts the originals back first, then tunes.
	"$numaksm" tuned --once --config "$t/conf" > /dev/null 2> "$t/next.log" ||
		fail "write $n: the next start failed: $(cat "$t/next.log")"
	checks=$((checks + 1))
	grep -q "restored the settings numaksm tuned (PID [0-9]*) left without restoring them" \
		"$t/next.log" || fail "write $n: the next start did not restore: $(cat "$t/next.log")"
	# ksm restore, killed before each of its own writes, then whole.
	m=1
	while [ $m -le 20 ]; do
		NUMAKSM_TEST_KILL_AT_KSM_WRITE=$m "$numaksm" ksm restore > /dev/null 2>&1
		[ $? = 137 ] || break
		m=$((m + 1))
	done
	"$numaksm" ksm restore > "$t/restore" 2>&1
	checks=$((checks + 1))
	grep -q "nothing to restore" "$t/restore" || fail "write $n: ksm restore: $(cat "$t/restore")"
	expect "killed before write $n, restarted, restored"
	[ -e "$state" ] && fail "write $n: the state is left after ksm restore"
	n=$((n + 1))
done
"$numaksm" ksm restore > /dev/null 2>&1
expect "after the whole sequence and ksm restore"
echo "fault injection: the tuner killed before each of its $killed knob writes; restored every time"
checks=$((checks + 1))
[ $killed -ge 4 ] || fail "only $killed kill points: the sequence is shorter than expected"

# ---- 2. a program without a loop: signals, then SIGKILL --------------------------
start_owner() {
	"$owner" pages_to_scan=999 sleep_millisecs=7 run=1 > "$t/owner" 2> "$t/owner.err" &
	holder=$!
	i=0
	until grep -q ready "$t/owner"; do
		i=$((i + 1))
		[ $i -gt 100 ] && { fail "test-ksm-owner did not start: $(cat "$t/owner.err")"; return 1; }
		sleep 0.05
	done
}
for sig in TERM INT HUP; do
	start_owner || break
	checks=$((checks + 1))
	[ "$(knob pages_to_scan)/$(knob run)" = 999/1 ] || fail "SIG$sig: the owner wrote nothing"
	kill -$sig "$holder"
	wait "$holder" 2> /dev/null
	holder=""
	expect "SIG$sig"
	checks=$((checks + 1))
	[ -e "$state" ] && fail "SIG$sig: the saved state is left"
done
start_owner
kill -9 "$holder"
wait "$holder" 2> /dev/null
holder=""
checks=$((checks + 1))
[ "$(knob pages_to_scan)" = 999 ] || fail "SIGKILL: the knobs changed back by themselves"
"$numaksm" ksm restore > "$t/restore" 2>&1
checks=$((checks + 1))
grep -q "restored the KSM settings a program saved" "$t/restore" || fail "ksm restore: $(cat "$t/restore")"
expect "SIGKILL, then ksm restore"

# ---- 3. one owner per host -------------------------------------------------------
start_owner
busy="KSM's knobs are another program's now: test-ksm-owner (PID $holder) holds /run/numaksm/ksm.lock"
for dir in "$t/run" "$t/elsewhere"; do
	NUMAKSM_RUNTIME_DIR=$dir "$numaksm" tuned --once --config "$t/conf" > /dev/null 2> "$t/busy"
	rc=$?
	checks=$((checks + 1))
	[ $rc = 1 ] && grep -qF "$busy" "$t/busy" ||
		fail "a tuner (runtime dir $dir) was not refused: $(cat "$t/busy")"
	NUMAKSM_RUNTIME_DIR=$dir "$numaksm" ksm set pages_to_scan=5 > /dev/null 2> "$t/busy"
	rc=$?
	checks=$((checks + 1))
	[ $rc = 1 ] && grep -qF "$busy" "$t/busy" ||
		fail "ksm set (runtime dir $dir) was not refused: $(cat "$t/busy")"
done
"$numaksm" ksm show > "$t/show"
checks=$((checks + 1))
grep -q "^Owner of the knobs: test-ksm-owner (PID $holder)$" "$t/show" || fail "ksm show: $(grep Owner "$t/show")"
kill "$holder"
wait "$holder" 2> /dev/null
holder=""
expect "the owner stopped"

# ---- 4. a slow placement does not hold the tuner's stop ---------------------------
"$fake" qemu 1 slowplace > "$t/vm.ready" &
vm=$!
i=0
until grep -q ready "$t/vm.ready" 2> /dev/null; do
	i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.05
done
printf '[ksm]\nmode = on\n[vm "slowplace"]\nnodes = 0\n' > "$t/slow.conf"
NUMAKSM_TEST_PLACE_DELAY_S=4 "$numaksm" tuned --config "$t/slow.conf" 2> "$t/slow.log" &
tuner=$!
i=0
until grep -q "tuner started" "$t/slow.log" 2> /dev/null; do
	i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.05
done
sleep 1 # the placement worker is waiting now
checks=$((checks + 1))
[ "$(knob pages_to_scan)/$(knob run)" != "123/0" ] || fail "the tuner changed nothing"
before=$(date +%s%N)
kill -TERM "$tuner"
i=0
until grep -q "tuner stopped: KSM settings restored" "$t/slow.log"; do
	i=$((i + 1)); [ $i -gt 200 ] && break; sleep 0.01
done
took_ms=$((($(date +%s%N) - before) / 1000000))
echo "SIGTERM during a placement: KSM restored after $took_ms ms"
checks=$((checks + 1))
[ $took_ms -lt 1000 ] || fail "KSM was restored $took_ms ms after SIGTERM"
expect "SIGTERM during a placement"
wait "$tuner"
rc=$?
tuner=""
checks=$((checks + 1))
[ $rc = 0 ] || fail "the tuner exited $rc"
checks=$((checks + 1))
grep -q "placed slowplace (PID $vm)" "$t/slow.log" ||
	fail "the placement did not finish: $(tail -n 3 "$t/slow.log")"
"$numaksm" place --undo slowplace > /dev/null 2>&1 || fail "cannot undo the placement"
kill "$vm"
wait "$vm" 2> /dev/null
vm=""

echo "$checks checks, $failed failed"
[ $failed = 0 ]
