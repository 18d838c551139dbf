#!/bin/sh
# Inner benchmark plan-fleet-bench: six VM-like processes (lab-ksm-vm) of
# three image families (each family's first half alike), placed round the
# nodes with memory so that no node holds two of a family.  KSM (fast) is
# run to the end three ways, side by side, with each way's saving and the
# share of the VMs' pages on their own node:
#   round-robin, merge_across_nodes=1  (KSM merges across nodes)
#   round-robin, merge_across_nodes=0  (every page local, nothing shared)
#   place --plan-fleet --apply, merge_across_nodes=0
# Target: the planned per-node saving >= 97% of the across-node saving,
# with every page local.  KSM's knobs are put back.
#
# Exit: 0 pass, 1 fail, 77 fewer than two nodes with memory, or no KSM.
numaksm=${NUMAKSM:-numaksm}
command -v "$numaksm" > /dev/null || { echo "plan-fleet-bench: no numaksm"; exit 77; }
command -v lab-ksm-vm > /dev/null || { echo "plan-fleet-bench: no lab-ksm-vm"; exit 77; }
ksm=/sys/kernel/mm/ksm
[ -w $ksm/run ] || { echo "plan-fleet-bench: no KSM"; exit 77; }
nodes=$(cat /sys/devices/system/node/has_memory)
list=$(echo "$nodes" | awk -F, '{ for (i = 1; i <= NF; i++) { n = split($i, r, "-");
	if (n == 1) print r[1]; else for (j = r[1]; j <= r[2]; j++) print j } }')
count=$(echo "$list" | wc -l)
[ "$count" -ge 2 ] || { echo "plan-fleet-bench: one node with memory"; exit 77; }

t=$(mktemp -d) || exit 1
pids=""
failed=0
fail() { echo "FAIL: $*"; failed=1; }
saved=""
for k in merge_across_nodes pages_to_scan sleep_millisecs run; do
	saved="$saved $k=$(cat $ksm/$k)"
done
cleanup() {
	for p in $pids; do "$numaksm" place --undo "$p" > /dev/null 2>&1; done
	for p in $pids; do kill "$p" 2> /dev/null; done
	wait 2> /dev/null
	"$numaksm" ksm set --unmerge $saved > /dev/null 2>&1 || echo "cannot put KSM back:$saved"
	rm -rf "$t"
}
trap cleanup EXIT
advisor=""
[ -e $ksm/advisor_mode ] && advisor=advisor_mode=none

# Round the nodes: VM k of family f on node (2 * (f - 1) + k) mod count,
# so the two of a family land on different nodes.
i=0
for f in 1 2 3; do
	for k in a b; do
		node=$(echo "$list" | sed -n "$((i % count + 1))p")
		lab-ksm-vm "fam$f-$k" 8 "$node" "$f" > "$t/fam$f-$k" &
		pids="$pids $!"
		echo "$!" > "$t/fam$f-$k.pid"
		i=$((i + 1))
	done
done
for _ in $(seq 100); do
	[ "$(cat "$t"/fam*-? | grep -c ready)" = 6 ] && break
	sleep 0.1
done

# KSM to the end: three full scans, then pages_sharing the same for 2 s.
merge() { # MERGE_ACROSS_NODES: prints the saving in pages
	"$numaksm" ksm set --unmerge $advisor merge_across_nodes="$1" pages_to_scan=5000 \
		sleep_millisecs=0 run=1 > "$t/set" 2>&1 || { cat "$t/set" >&2; return 1; }
	scans0=$(cat $ksm/full_scans)
	last=-1 same=0
	for _ in $(seq 240); do
		sleep 0.5
		now=$(cat $ksm/pages_sharing)
		if [ $(($(cat $ksm/full_scans) - scans0)) -ge 3 ] && [ "$now" = "$last" ]; then
			same=$((same + 1))
			[ $same -ge 4 ] && break
		else
			same=0
		fi
		last=$now
	done
	echo "$now"
}
# The share of the six VMs' guest RAM on the node they are bound to.
local_share() {
	total=0 here=0
	for f in 1 2 3; do
		for k in a b; do
			pid=$(cat "$t/fam$f-$k.pid")
			line=$(grep " anon=2048 " "/proc/$pid/numa_maps" | head -n 1)
			node=$(echo "$line" | sed -n 's/.*bind:\([0-9]*\).*/\1/p')
			mems=$(awk '/^Mems_allowed_list/ { print $2 }' "/proc/$pid/status")
			case $mems in *[-,]*) ;; *) node=$mems ;; esac
			on=$(echo "$line" | tr ' ' '\n' | sed -n "s/^N$node=//p")
			total=$((total + 2048))
			here=$((here + ${on:-0}))
		done
	done
	echo "$here $total" | awk '{ printf "%.1f", 100 * $1 / $2 }'
}

across=$(merge 1) || fail "KSM across nodes"
across_local=$(local_share)
pernode_rr=$(merge 0) || fail "KSM per node"
rr_local=$(local_share)
"$numaksm" place --plan-fleet --apply > "$t/plan" 2>&1 || fail "plan --apply: $(cat "$t/plan")"
planned=$(merge 0) || fail "KSM per node, planned"
planned_local=$(local_share)

echo "| placement | merge_across_nodes | saved pages | pages on their VM's node |"
echo "|---|---|---:|---:|"
echo "| round-robin | 1 | $across | $across_local% |"
echo "| round-robin | 0 | $pernode_rr | $rr_local% |"
echo "| place --plan-fleet --apply | 0 | $planned | $planned_local% |"
ratio=$(echo "$planned $across" | awk '{ printf "%.3f", $2 ? $1 / $2 : 0 }')
echo "planned per-node saving / across-node saving: $ratio (target >= 0.97), every page local: $planned_local%"
sed 's/^/  /' "$t/plan"
awk -v r="$ratio" 'BEGIN { exit !(r >= 0.97) }' || fail "planned per-node saving below 97% of the across-node saving"
[ "$planned_local" = "100.0" ] || fail "planned pages not all local: $planned_local%"
[ $failed = 0 ] && echo "plan-fleet-bench: passed"
exit $failed
