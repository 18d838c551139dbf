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
. lab-ksm-lib.sh
lab_bench_start plan-fleet-bench

# Round the nodes: VM k of family f on node (2 * (f - 1) + k) mod count,
# so the two of a family land on different nodes.
i=0
for f in 1 2 3; do
	for k in a b; do
		node=$(echo "$list" | sed -n "$((i % count + 1))p")
		lab-ksm-vm "fam$f-$k" 8 "$node" "$f" > "$t/fam$f-$k" &
		pids="$pids $!"
		echo "$!" > "$t/fam$f-$k.pid"
		names="$names fam$f-$k"
		i=$((i + 1))
	done
done
for _ in $(seq 100); do
	[ "$(cat "$t"/fam*-? | grep -c ready)" = 6 ] && break
	sleep 0.1
done

across=$(ksm_merge 1) || fail "KSM across nodes"
across_local=$(local_share $names)
pernode_rr=$(ksm_merge 0) || fail "KSM per node"
rr_local=$(local_share $names)
"$numaksm" place --plan-fleet --apply > "$t/plan" 2>&1 || fail "plan --apply: $(cat "$t/plan")"
planned=$(ksm_merge 0) || fail "KSM per node, planned"
planned_local=$(local_share $names)

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
