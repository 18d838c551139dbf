#!/bin/sh
# Inner test plan-fleet: four VM-like processes (lab-ksm-vm) of two
# families, each family's first half alike, laid out across the first and
# last nodes with memory so that no node holds two of a family: per-node
# merging saves nothing.  `numaksm place --plan-fleet` must fingerprint them
# and plan one family per node: the saving of two shared halves (16 MiB),
# by moving or swapping VMs, each move printed with the place command that
# makes it.  With --apply the moves are made (place --migrate): each
# family's pages end on one node, and a new plan finds nothing to move.
#
# Exit: 0 pass, 1 fail, 77 fewer than two nodes with memory.
numaksm=${NUMAKSM:-numaksm}
command -v "$numaksm" > /dev/null || { echo "plan-fleet: no numaksm in this lab build"; exit 77; }
command -v lab-ksm-vm > /dev/null || { echo "plan-fleet: no lab-ksm-vm"; exit 77; }
nodes=$(cat /sys/devices/system/node/has_memory)
first=$(echo "$nodes" | tr ',-' '\n\n' | head -n 1)
last=$(echo "$nodes" | tr ',-' '\n\n' | tail -n 1)
[ "$first" != "$last" ] || { echo "plan-fleet: one node with memory"; exit 77; }

t=$(mktemp -d) || exit 1
pids=""
failed=0
fail() { echo "FAIL: $*"; failed=1; }
cleanup() {
	for p in $pids; do "$numaksm" place --undo "$p" > /dev/null 2>&1; done
	for p in $pids; do kill "$p" 2> /dev/null; done
	wait 2> /dev/null
	rm -rf "$t"
}
trap cleanup EXIT

# 16 MiB each: 2048 pages alike within a family, 2048 of its own.
start() { # NAME NODE FAMILY
	lab-ksm-vm "$1" 16 "$2" "$3" > "$t/$1" &
	pids="$pids $!"
	echo $! > "$t/$1.pid"
}
start fam1-a "$first" 1
start fam2-a "$first" 2
start fam1-b "$last" 1
start fam2-b "$last" 2
for _ in $(seq 100); do
	[ "$(cat "$t"/fam* | grep -c ready)" = 4 ] && break
	sleep 0.1
done

"$numaksm" place --plan-fleet --nodes "$first,$last" > "$t/plan" 2>&1 || fail "plan: exit $?"
cat "$t/plan"
grep -q "saves 0 B with the VMs where they are, 16 MiB with this plan (+16 MiB)" "$t/plan" ||
	fail "not the saving of one family per node"
# The plan: each family on one node.
node_after() { # NAME: its node after the plan
	m=$(grep "^  $1 (PID" "$t/plan" | sed 's/.*-> node \([0-9]*\),.*/\1/')
	if [ -n "$m" ]; then echo "$m"; else echo "$2"; fi
}
a1=$(node_after fam1-a "$first")
b1=$(node_after fam1-b "$last")
a2=$(node_after fam2-a "$first")
b2=$(node_after fam2-b "$last")
[ "$a1" = "$b1" ] && [ "$a2" = "$b2" ] && [ "$a1" != "$a2" ] ||
	fail "families not together: fam1 on $a1 and $b1, fam2 on $a2 and $b2"
moves=$(grep -c -- "--migrate$" "$t/plan")
[ "$moves" = 2 ] || fail "$moves moves, not the two of one swap"
grep -q "numaksm place [0-9]* --nodes [0-9]* --migrate" "$t/plan" || fail "no place command"

# Applied: the moves made, every page of each VM on its planned node.
"$numaksm" place --plan-fleet --nodes "$first,$last" --apply > "$t/apply" 2>&1 ||
	fail "apply: exit $?: $(cat "$t/apply")"
[ "$(grep -c "^Moved " "$t/apply")" = 2 ] || fail "not two moves made: $(cat "$t/apply")"
on_node() { # NAME NODE: all its guest RAM on NODE (numa_maps of the 16 MiB mapping)
	pid=$(cat "$t/$1.pid")
	line=$(grep "N[0-9]*=" "/proc/$pid/numa_maps" | grep " anon=4096 " | head -n 1)
	echo "$line" | grep -q " N$2=4096" || fail "$1 not all on node $2: $line"
}
on_node fam1-a "$a1"
on_node fam1-b "$b1"
on_node fam2-a "$a2"
on_node fam2-b "$b2"
"$numaksm" place --plan-fleet --nodes "$first,$last" > "$t/again" 2>&1 || fail "plan again: exit $?"
grep -q "saves 16 MiB with the VMs where they are" "$t/again" && grep -q "No move gains a page" "$t/again" ||
	fail "after the moves: $(cat "$t/again")"

# Mistakes: a node that is not there, a VM named, --apply alone.
"$numaksm" place --plan-fleet --nodes 63 > "$t/out" 2>&1
[ $? = 2 ] && grep -q "node 63 is not a node of this host" "$t/out" || fail "--nodes 63: $(cat "$t/out")"
"$numaksm" place --plan-fleet fam1-a > "$t/out" 2>&1
[ $? = 2 ] && grep -q "plans every VM" "$t/out" || fail "a VM named: $(cat "$t/out")"

"$numaksm" place fam1-a --apply > "$t/out" 2>&1
[ $? = 2 ] && grep -q "goes with --plan-fleet" "$t/out" || fail "--apply alone: $(cat "$t/out")"

[ $failed = 0 ] && echo "plan-fleet: passed"
exit $failed
