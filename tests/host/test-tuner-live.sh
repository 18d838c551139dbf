#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The KSM tuner on the live kernel, with processes holding mergeable memory:
# it converges; a second tuner (even with another runtime directory) and
# `ksm set` are refused while it runs; SIGHUP reloads the policy (a bad one
# is kept out) and never stops it; it restores the settings on SIGTERM, and
# after kill -9 at the next start or with `numaksm ksm restore`; --dry-run
# writes nothing; the scan-time advisor is switched off while it runs and
# back on after; a knob another program writes is noticed and left alone.  KSM's knobs are put back as they were found, whatever
# happens (trap on EXIT).
#   test-tuner-live.sh NUMAKSM TEST-TUNER-FLEET
set -u
numaksm=$1
fleet=$2
ksm=/sys/kernel/mm/ksm
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
[ -w $ksm/run ] || { echo "no KSM"; exit 77; }
if pgrep -x ksmtuned > /dev/null; then echo "ksmtuned runs: KSM is not ours"; exit 77; fi
if "$numaksm" ksm show --json | grep -q '"running": true'; then
	echo "a numaksm tuner or KSM benchmark runs: KSM is not ours now"; exit 77
fi

t=$(mktemp -d)
export NUMAKSM_RUNTIME_DIR=$t/run
# KSM's lock and saved knobs are host-wide, whatever the runtime directory.
state=/run/numaksm/ksm.state
tuner=
fleet_pid=
knobs="advisor_mode sleep_millisecs pages_to_scan run"
for k in $knobs; do
	[ -e $ksm/$k ] && sed 's/.*\[\(.*\)\].*/\1/' $ksm/$k > "$t/saved.$k"
done
restore() {
	[ -n "$tuner" ] && kill -9 "$tuner" 2> /dev/null
	[ -n "$fleet_pid" ] && kill "$fleet_pid" 2> /dev/null
	# advisor_mode first: switching it resets pages_to_scan.
	for k in $knobs; do
		[ -e "$t/saved.$k" ] && cat "$t/saved.$k" > $ksm/$k 2> /dev/null
	done
	rm -rf "$t"
}
trap restore EXIT
trap 'exit 1' INT TERM HUP
failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
knob() { sed 's/.*\[\(.*\)\].*/\1/' $ksm/$1; }

start_tuner() {
	"$numaksm" tuned --config "$t/conf" 2>> "$t/log" &
	tuner=$!
}
# wait_log TEXT SECONDS: until the tuner's log holds TEXT.
wait_log() {
	i=0
	while ! grep -q -- "$1" "$t/log"; do
		i=$((i + 1))
		[ $i -gt $(($2 * 10)) ] && return 1
		sleep 0.1
	done
}
# stop_tuner SIGNAL: and wait for it to end.
stop_tuner() {
	kill "-$1" "$tuner"
	wait "$tuner" 2> /dev/null
	rc=$?
	tuner=
	return $rc
}

# Four processes of 64 MiB; half of each process's pages are in all four:
# merging saves 3 x 8192 pages.
"$fleet" 4 64 > "$t/fleet" &
fleet_pid=$!
i=0
until grep -q ready "$t/fleet"; do
	i=$((i + 1)); [ $i -gt 600 ] && { fail "the fleet did not start"; exit 1; }
	sleep 0.1
done
want=$((3 * 8192 * 95 / 100))

printf '[ksm]\ncpu_budget = 50%%\n' > "$t/conf"
echo none > $ksm/advisor_mode 2> /dev/null
echo 123 > $ksm/pages_to_scan
echo 45 > $ksm/sleep_millisecs
echo 2 > $ksm/run # a clean start: nothing merged
echo 0 > $ksm/run
before=$(($(cat $ksm/pages_sharing) + $(cat $ksm/ksm_zero_pages)))
[ $before -lt $want ] || fail "$before pages merged before the tuner started"

# 1. It converges, refuses company, settles, and restores on SIGTERM.
start_tuner
wait_log "converging at 50% of a CPU" 10 || fail "no start in the log"
busy="KSM's knobs are another program's now: numaksm tuned (PID $tuner) holds /run/numaksm/ksm.lock"
"$numaksm" tuned --config "$t/conf" 2> "$t/second"
[ $? = 1 ] && grep -qF "$busy" "$t/second" ||
	{ fail "a second tuner was not refused"; cat "$t/second"; }
# Another runtime directory is no way around it: KSM's knobs are host-wide.
NUMAKSM_RUNTIME_DIR=$t/other "$numaksm" tuned --config "$t/conf" 2> "$t/third"
[ $? = 1 ] && grep -qF "$busy" "$t/third" ||
	{ fail "a tuner with another runtime directory was not refused"; cat "$t/third"; }
"$numaksm" ksm set pages_to_scan=1 2> "$t/set"
[ $? = 1 ] && grep -qF "$busy" "$t/set" && grep -q "or pass --force" "$t/set" ||
	{ fail "ksm set was not refused"; cat "$t/set"; }
[ -s "$state" ] || fail "no state file while running"
grep -q "^pages_to_scan=123$" "$state" || fail "state file lacks the original"
grep -q "^program=numaksm tuned$" "$state" || fail "state file does not say whose it is"
# SIGHUP: the policy again, the tuner goes on; a bad policy is kept out.
printf '[ksm]\ncpu_budget = 60%%\n' > "$t/conf"
kill -HUP "$tuner"
wait_log "policy reloaded: mode .*, ksmd CPU budget 60% of one CPU" 10 ||
	fail "SIGHUP did not reload the policy"
printf '[ksm]\ncpu_budget = lots\n' > "$t/conf"
kill -HUP "$tuner"
wait_log "SIGHUP: keeping the running policy" 10 || fail "a bad policy was not refused"
kill -0 "$tuner" 2> /dev/null || fail "the tuner ended on SIGHUP"
printf '[ksm]\ncpu_budget = 50%%\n' > "$t/conf"
i=0
while [ $(($(cat $ksm/pages_sharing) + $(cat $ksm/ksm_zero_pages))) -lt $want ]; do
	i=$((i + 1)); [ $i -gt 600 ] && { fail "saved $(cat $ksm/pages_sharing) < $want pages in 60 s"; break; }
	sleep 0.1
done
echo "converged: $(cat $ksm/pages_sharing) pages sharing after ~$((i / 10)) s"
wait_log "scans stopped paying" 60 || fail "it never settled"
[ "$(cat $ksm/run)" = 1 ] || fail "run is $(cat $ksm/run) while settled"
# The exporter shows the tuner: settled, its rounds and decisions, its budget
# (60%: the policy reloaded, the bad one kept out).
"$numaksm" exporter --textfile "$t/metrics.prom" || fail "exporter --textfile"
grep -q '^numaksm_tuner_phase{phase="settled"} 1$' "$t/metrics.prom" &&
	grep -q '^numaksm_tuner_phase{phase="converging"} 0$' "$t/metrics.prom" &&
	grep -q '^numaksm_tuner_cpu_budget_ratio 0.6$' "$t/metrics.prom" &&
	grep -Eq '^numaksm_tuner_decisions_total [1-9][0-9]*$' "$t/metrics.prom" &&
	grep -Eq '^numaksm_tuner_rounds_total [1-9][0-9]*$' "$t/metrics.prom" &&
	grep -q "^numaksm_ksm_owner_info{program=\"numaksm tuned\",pid=\"$tuner\"} 1$" "$t/metrics.prom" ||
	fail "the exporter does not show the tuner: $(grep '^numaksm_tuner\|owner' "$t/metrics.prom")"
# Another program writes a knob (as virsh node-memory-tune does): the tuner
# says so and leaves it alone instead of fighting over it.
echo 777 > $ksm/sleep_millisecs
wait_log "KSM's knobs changed outside the tuner: sleep_millisecs is 777, not the" 30 ||
	fail "the tuner did not notice an outside write: $(tail -3 "$t/log")"
grep -q "the tuner leaves them alone for 60 s rather than fight" "$t/log" ||
	fail "the tuner did not say what it does about the outside write"
sleep 3
[ "$(knob sleep_millisecs)" = 777 ] || fail "the tuner fought the outside write: sleep_millisecs $(knob sleep_millisecs)"
stop_tuner TERM || fail "exit status $? after SIGTERM"
[ -e /run/numaksm/tuner.status ] && fail "tuner.status is left after SIGTERM"
grep -q "tuner stopped: KSM settings restored" "$t/log" || fail "no restore in the log"
[ "$(knob pages_to_scan)/$(knob sleep_millisecs)/$(knob run)" = 123/45/0 ] ||
	fail "after SIGTERM: $(knob pages_to_scan)/$(knob sleep_millisecs)/$(knob run), expected 123/45/0"
[ -e "$state" ] && fail "the state file is left after SIGTERM"

# 2. kill -9: the settings stay; the next start restores them first.
: > "$t/log"
start_tuner
wait_log "converging" 10 || fail "no second start"
sleep 1
stop_tuner 9
[ "$(knob pages_to_scan)" != 123 ] || fail "the tuner changed nothing before kill -9"
grep -q "^pid=" "$state" || fail "no state file after kill -9"
start_tuner
wait_log "restored the settings numaksm tuned (PID" 10 || fail "the restart did not restore"
stop_tuner TERM || fail "exit status $? after the restart"
[ "$(knob pages_to_scan)/$(knob sleep_millisecs)/$(knob run)" = 123/45/0 ] ||
	fail "after kill -9 and a restart: $(knob pages_to_scan)/$(knob sleep_millisecs)/$(knob run)"

# 3. kill -9, then `numaksm ksm restore`.
: > "$t/log"
start_tuner
wait_log "converging" 10 || fail "no third start"
stop_tuner 9
"$numaksm" ksm restore > "$t/restore" || fail "ksm restore failed"
grep -q "restored the KSM settings" "$t/restore" || fail "ksm restore: $(cat "$t/restore")"
[ "$(knob pages_to_scan)/$(knob sleep_millisecs)/$(knob run)" = 123/45/0 ] ||
	fail "after ksm restore: $(knob pages_to_scan)/$(knob sleep_millisecs)/$(knob run)"
"$numaksm" ksm restore | grep -q "nothing to restore" || fail "a second ksm restore did something"

# 4. --dry-run writes nothing: no knob, no state, no lock holder.
"$numaksm" tuned --dry-run --once --config "$t/conf" > "$t/dry" 2>&1 || fail "dry run failed"
grep -q "converging: run=1" "$t/dry" || { fail "dry run decided nothing"; cat "$t/dry"; }
[ "$(knob pages_to_scan)/$(knob sleep_millisecs)/$(knob run)" = 123/45/0 ] || fail "--dry-run wrote"
[ -e "$state" ] && fail "--dry-run left a state file"

# 5. The scan-time advisor: off while the tuner runs, on again after.
if [ -e $ksm/advisor_mode ]; then
	echo scan-time > $ksm/advisor_mode
	: > "$t/log"
	start_tuner
	wait_log "switching the scan-time advisor off" 10 || fail "the advisor was not switched off"
	wait_log "converging" 10
	[ "$(knob advisor_mode)" = none ] || fail "advisor_mode is $(knob advisor_mode) while tuning"
	stop_tuner TERM || fail "exit status $?"
	[ "$(knob advisor_mode)/$(knob run)" = scan-time/0 ] ||
		fail "after the advisor round: $(knob advisor_mode)/$(knob run)"
fi

[ $failed = 0 ] && echo "tuner on live KSM: all checks passed"
[ $failed = 0 ] || { echo "--- tuner log"; cat "$t/log"; }
exit $failed
