#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# numaksm top in a terminal (tmux): the table of the stand-in VMs redrawn
# in place, sorted by the key pressed (n name, r RSS, l locality, s saved),
# q quits and the terminal is as it was (echo, canonical mode); --batch
# prints frames one after the other.
#
# Usage: top-tmux.sh NUMAKSM FAKE_VMM
set -u
numaksm=$1
fake=$2
command -v tmux > /dev/null || { echo "needs tmux"; exit 77; }
t=$(mktemp -d)
export NUMAKSM_RUNTIME_DIR=$t/run
session=numaksm-top-$$
# A server of its own: no one else's tmux (a user's, another test's) can
# end it or be ended by it.
tmux() { command tmux -L "numaksm-top-$$" "$@"; }
pids=""
failed=0
fail() { echo "FAIL: $*"; failed=1; }
cleanup() {
	tmux kill-server 2> /dev/null
	for p in $pids; do kill "$p" 2> /dev/null; done
	wait 2> /dev/null
	rm -rf "$t"
}
trap cleanup EXIT

for name in top-b top-a; do
	"$fake" qemu 1 "$name" > "$t/$name.ready" &
	pids="$pids $!"
done
for _ in $(seq 50); do
	grep -q ready "$t/top-a.ready" && grep -q ready "$t/top-b.ready" && break
	sleep 0.1
done

# The pane runs top, then records the terminal's modes once it quits.
tmux new-session -d -s "$session" -x 160 -y 40 \
	"NUMAKSM_RUNTIME_DIR=$NUMAKSM_RUNTIME_DIR '$numaksm' top --interval 0.3; echo exit=\$? > '$t/exit'; stty -a > '$t/stty'; sleep 30"
screen() { tmux capture-pane -p -t "$session"; }
# until SECONDS TEXT: wait for TEXT on the screen
until_shown() {
	for _ in $(seq $(($1 * 10))); do
		screen > "$t/screen"
		grep -qF -- "$2" "$t/screen" && return 0
		sleep 0.1
	done
	fail "not shown in $1 s: '$2'"
	cat "$t/screen"
	return 1
}
# order: the line of top-a before top-b?
a_first() {
	a=$(grep -n "^top-a " "$t/screen" | cut -d: -f1)
	b=$(grep -n "^top-b " "$t/screen" | cut -d: -f1)
	[ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ]
}

until_shown 10 "sorted by KSM saved"
until_shown 10 "top-a"
grep -Eq "^top-a +qemu +[0-9]+ " "$t/screen" || fail "no line for top-a: $(cat "$t/screen")"
grep -Eq "^top-b +qemu +[0-9]+ " "$t/screen" || fail "no line for top-b"
[ "$(grep -c "^numaksm top - " "$t/screen")" = 1 ] || fail "not redrawn in place: $(cat "$t/screen")"
tmux send-keys -t "$session" n
until_shown 5 "sorted by name" && { a_first || fail "sorted by name, but top-b comes first"; }
tmux send-keys -t "$session" r
until_shown 5 "sorted by RSS"
tmux send-keys -t "$session" l
until_shown 5 "sorted by locality"
sleep 1
screen > "$t/screen"
grep -q "merged" "$t/screen" || fail "no KSM rate after two frames: $(head -n 3 "$t/screen")"
tmux send-keys -t "$session" q
for _ in $(seq 50); do
	[ -s "$t/stty" ] && break
	sleep 0.1
done
[ "$(cat "$t/exit" 2> /dev/null)" = "exit=0" ] || fail "top: $(cat "$t/exit" 2> /dev/null)"
grep -q -- " icanon " "$t/stty" && grep -q -- " echo " "$t/stty" ||
	fail "the terminal was not put back: $(grep -o -- '-\?icanon\|-\?echo ' "$t/stty" | tr '\n' ' ')"

# The one-line view of status on a terminal: a line each, no wrapping.
# Its session is made before top's goes: a server left with no session
# exits, and a new session asked of it then would fail.
tmux new-session -d -s "$session-status" -x 120 -y 40 \
	"NUMAKSM_RUNTIME_DIR=$NUMAKSM_RUNTIME_DIR '$numaksm' status; sleep 30"
tmux kill-session -t "$session" 2> /dev/null
session=$session-status
until_shown 10 "PINNED"
grep -Eq "^top-a +qemu +[0-9]+ +[0-9.]+ [KMG]?i?B +[^ ]+ +(n/a|node[0-9]+ [0-9]+%).* no$" "$t/screen" ||
	fail "status on a terminal: no one-line top-a: $(cat "$t/screen")"

# Batch: frames one after the other, every VM in each.
"$numaksm" top --batch --iterations 2 --interval 0.2 --sort name > "$t/batch" || fail "top --batch"
[ "$(grep -c "^numaksm top - " "$t/batch")" = 2 ] || fail "top --batch: not 2 frames"
[ "$(grep -c "^top-a " "$t/batch")" = 2 ] || fail "top --batch: top-a not in both frames"
grep -q "sorted by name" "$t/batch" || fail "top --batch --sort name"
"$numaksm" top --sort size > /dev/null 2> "$t/err"
[ $? = 2 ] && grep -q "expected saved, rss, locality or name" "$t/err" || fail "--sort size: $(cat "$t/err")"
# status --watch --csv: one header, a row per VM and round; the plot of
# numaksm-status(1) draws from it.
"$numaksm" status --watch 0.3 --csv > "$t/csv" 2> "$t/csv.err" &
csv=$!
sleep 1.5
kill -INT $csv
wait $csv || fail "status --watch --csv: exit $?: $(cat "$t/csv.err")"
[ "$(grep -c '^time,vm,kind,pid,' "$t/csv")" = 1 ] || fail "--csv: not one header: $(head -n 3 "$t/csv")"
rows=$(grep -c '^[0-9.]*,"top-a",qemu,' "$t/csv")
[ "$rows" -ge 2 ] || fail "--csv: $rows rows of top-a in 1.5 s: $(cat "$t/csv")"
if command -v gnuplot > /dev/null; then
	gnuplot -e "set datafile separator ','; set terminal dumb 80 20; set xdata time; set timefmt '%s';
		plot '$t/csv' using 1:(strcol(2) eq 'top-a' ? \$5 : 1/0) with lines title 'top-a RSS'" \
		> "$t/plot" 2>&1 || fail "gnuplot: $(cat "$t/plot")"
	grep -q "top-a RSS" "$t/plot" && ! grep -qi "no valid points\|error" "$t/plot" ||
		fail "gnuplot did not plot the CSV: $(cat "$t/plot")"
fi
[ $failed = 0 ] && echo "top in tmux: passed"
exit $failed
