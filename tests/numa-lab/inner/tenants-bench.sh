#!/bin/sh
# Inner benchmark tenants-bench: two tenants, red and blue, with two VM-like
# processes (lab-ksm-vm, 8 MiB) each, all four from one image family (half
# of each VM's pages alike: the same guest image in both tenants).  red-a
# and blue-a start on the first node with memory, red-b and blue-b on the
# second, so both nodes mix tenants.  Side by side:
#   no guarantee: merge_across_nodes=1, KSM to the end; numaksm audit
#     --tenants finds the frames red and blue share (exit 1);
#   per-node merging alone (merge_across_nodes=0, tenants still mixed on
#     each node): the audit still finds them;
#   the guarantee by placement: place --plan-fleet --config (the tenants)
#     --apply parts the tenants onto nodes of their own, merge_across_nodes=0,
#     KSM to the end; the audit finds no frame shared between tenants (exit
#     0), and every page is on its VM's node;
# with the saving each way and what the guarantee costs.  KSM's knobs are
# put back.
#
# Exit: 0 pass, 1 fail, 77 fewer than two nodes with memory, or no KSM.
. lab-ksm-lib.sh
lab_bench_start tenants-bench

first=$(echo "$list" | sed -n 1p)
second=$(echo "$list" | sed -n 2p)
for vm in red-a:$first blue-a:$first red-b:$second blue-b:$second; do
	name=${vm%:*}
	lab-ksm-vm "$name" 8 "${vm#*:}" 1 > "$t/$name" &
	pids="$pids $!"
	echo "$!" > "$t/$name.pid"
	names="$names $name"
done
for _ in $(seq 100); do
	[ "$(cat "$t"/red-? "$t"/blue-? | grep -c ready)" = 4 ] && break
	sleep 0.1
done
cat > "$t/tenants.conf" << 'EOF2'
[vm "red-*"]
tenant = red
[vm "blue-*"]
tenant = blue
EOF2
vm_pids=$(cat "$t"/*.pid)
# audit NAME: numaksm audit --tenants of the four; prints its exit status.
audit() {
	# shellcheck disable=SC2086
	"$numaksm" audit --tenants --config "$t/tenants.conf" $vm_pids --json > "$t/$1.json" \
		2> "$t/$1.err"
	echo $?
}
field() { # NAME KEY: a count of the audit's document
	tr -d ' \n' < "$t/$1.json" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"
}

across=$(ksm_merge 1) || fail "KSM across nodes"
across_local=$(local_share $names)
rc=$(audit across)
[ "$rc" = 1 ] || fail "audit across nodes: exit $rc, expected 1: $(cat "$t/across.err")"
across_cross=$(field across cross_frame_count)
across_ksm=$(field across cross_ksm_frame_count)
[ "${across_cross:-0}" -ge 1000 ] && [ "$across_cross" = "$across_ksm" ] ||
	fail "audit across nodes: $across_cross frames shared between tenants ($across_ksm KSM), expected the image's 1024"

# Per-node merging alone: red-a and blue-a share node 0, so they share pages.
pernode=$(ksm_merge 0) || fail "KSM per node, tenants mixed"
pernode_local=$(local_share $names)
rc=$(audit pernode)
pernode_cross=$(field pernode cross_frame_count)
[ "$rc" = 1 ] && [ "${pernode_cross:-0}" -ge 1000 ] ||
	fail "audit per node with the tenants mixed: exit $rc, $pernode_cross frames shared between tenants"
# The plan moves the VMs' own pages: nothing merged while they move.
echo 2 > $ksm/run
echo 0 > $ksm/run
"$numaksm" place --plan-fleet --config "$t/tenants.conf" --apply > "$t/plan" 2>&1 ||
	fail "plan --apply: $(cat "$t/plan")"
grep -q "Tenants: each node holds one tenant's VMs after the moves" "$t/plan" ||
	fail "the plan did not part the tenants: $(cat "$t/plan")"
guarded=$(ksm_merge 0) || fail "KSM per node, tenants apart"
guarded_local=$(local_share $names)
rc=$(audit guarded)
[ "$rc" = 0 ] || fail "audit with the tenants apart: exit $rc, expected 0: $(cat "$t/guarded.err")"
guarded_cross=$(field guarded cross_frame_count)
guarded_within=$(field guarded within_frame_count)
[ "$guarded_cross" = 0 ] || fail "$guarded_cross frames shared between tenants"
[ "${guarded_within:-0}" -ge 2000 ] ||
	fail "only $guarded_within frames shared within tenants: red's and blue's images were not merged"

echo "| placement | merge_across_nodes | saved pages | pages on their VM's node | frames shared between tenants |"
echo "|---|---|---:|---:|---:|"
echo "| tenants mixed on each node | 1 | $across | $across_local% | $across_cross |"
echo "| tenants mixed on each node | 0 | $pernode | $pernode_local% | $pernode_cross |"
echo "| place --plan-fleet --config --apply (tenants apart) | 0 | $guarded | $guarded_local% | $guarded_cross |"
echo "$across $guarded" | awk '{ printf "saving lost to the guarantee: %d pages (%.1f%% of the across-node saving)\n",
	$1 - $2, $1 ? 100 * ($1 - $2) / $1 : 0 }'
sed 's/^/  /' "$t/plan"
[ "$guarded_local" = "100.0" ] || fail "pages not all local with the tenants apart: $guarded_local%"
[ $failed = 0 ] && echo "tenants-bench: passed"
exit $failed
