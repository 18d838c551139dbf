#!/bin/sh
# Inner test status-ksm-nodes: two VM-like processes (lab-ksm-vm), one's
# guest RAM bound to the first node with memory, the other's to the last,
# half of it alike.  With merge_across_nodes=1 KSM keeps one copy of each
# shared page, on one node or the other, so a VM has KSM pages off its own
# node: `numaksm status` must count them apart (JSON per_node ksm_bytes; a
# "+N% KSM" in the table, with the note pointing at merge_across_nodes=0),
# not as misplaced pages.  With merge_across_nodes=0 each node keeps its own
# copy: every page of both on their own node, no "+N% KSM".
#
# Exit: 0 pass, 1 fail, 77 fewer than two nodes with memory, or no KSM.
numaksm=${NUMAKSM:-numaksm}
command -v "$numaksm" > /dev/null || { echo "status-ksm-nodes: no numaksm in this lab build"; exit 77; }
command -v lab-ksm-vm > /dev/null || { echo "status-ksm-nodes: no lab-ksm-vm"; exit 77; }
ksm=/sys/kernel/mm/ksm
[ -w $ksm/run ] || { echo "status-ksm-nodes: no KSM"; exit 77; }
nodes=$(cat /sys/devices/system/node/has_memory)
first=$(echo "$nodes" | tr ',-' '\n\n' | head -n 1)
last=$(echo "$nodes" | tr ',-' '\n\n' | tail -n 1)
[ "$first" != "$last" ] || { echo "status-ksm-nodes: one node with memory"; exit 77; }

t=$(mktemp -d) || exit 1
pids=""
failed=0
fail() { echo "FAIL: $*"; failed=1; }
# KSM as it was, put back at the end.
saved=""
for k in merge_across_nodes pages_to_scan sleep_millisecs run; do
	saved="$saved $k=$(cat $ksm/$k)"
done
cleanup() {
	for p in $pids; do kill "$p" 2> /dev/null; done
	wait 2> /dev/null
	"$numaksm" ksm set --unmerge $saved > /dev/null 2>&1 || echo "cannot put KSM back:$saved"
	rm -rf "$t"
}
trap cleanup EXIT

# KSM, fast, across nodes.
advisor=""
[ -e $ksm/advisor_mode ] && advisor=advisor_mode=none
"$numaksm" ksm set --unmerge $advisor merge_across_nodes=1 pages_to_scan=5000 sleep_millisecs=0 \
	run=1 > "$t/set" 2>&1 || { cat "$t/set"; exit 1; }

lab-ksm-vm ksm-a 32 "$first" > "$t/a" &
pids="$pids $!"
lab-ksm-vm ksm-b 32 "$last" > "$t/b" &
pids="$pids $!"
for _ in $(seq 100); do
	grep -q ready "$t/a" && grep -q ready "$t/b" && break
	sleep 0.1
done

# settle: wait until KSM has scanned everything twice since (what merges
# has merged: two VMs' alike halves, 4096 pages, across nodes; nothing with
# merge_across_nodes=0), then stop it (run=0 keeps what it merged) so that
# status reads it still.
settle() {
	scans=$(cat $ksm/full_scans)
	for _ in $(seq 200); do
		[ "$(cat $ksm/full_scans)" -ge $((scans + 2)) ] && break
		sleep 0.2
	done
	echo 0 > $ksm/run
	echo "KSM: $(cat $ksm/pages_shared) shared, $(cat $ksm/pages_sharing) sharing after" \
		"$(($(cat $ksm/full_scans) - scans)) full scans"
}

# numbers VM: its JSON per_node as "node:resident:ksm" words
per_node() {
	"$numaksm" status "$1" --json --exact > "$t/json" 2> "$t/err" || { cat "$t/err"; return; }
	tr -d ' \n' < "$t/json" | grep -o '"placement":{[^[]*"per_node":\[[^]]*\]' | head -n 1 |
		grep -o '{[^}]*}' | sed 's/.*"node":\([0-9]*\).*"resident_bytes":\([0-9]*\).*"ksm_bytes":\([0-9a-z]*\).*/\1:\2:\3/'
}

settle
"$numaksm" status > "$t/table" 2>&1
cat "$t/table"
ksm_off=0
for vm in ksm-a ksm-b; do
	own=$([ $vm = ksm-a ] && echo "$first" || echo "$last")
	words=$(per_node $vm)
	echo "$vm (bound to node $own): $words"
	[ -n "$words" ] || fail "$vm: no placement"
	for w in $words; do
		node=${w%%:*} rest=${w#*:}
		resident=${rest%%:*} ksmb=${rest#*:}
		[ "$ksmb" = null ] && fail "$vm: KSM pages not told apart on node $node"
		# Off its node only KSM pages may be (its own pages are bound).
		if [ "$node" != "$own" ]; then
			[ "$ksmb" = "$resident" ] || fail "$vm: $resident bytes on node $node, only $ksmb of them KSM pages"
			ksm_off=$((ksm_off + ksmb))
		fi
	done
done
# KSM keeps each shared page on one of the two nodes: 16 MiB off one VM's
# node or the other's (to within the pages not merged).
[ "$ksm_off" -ge $((12 << 20)) ] || fail "only $ksm_off bytes of KSM pages off the VMs' nodes"
grep -Eq "^ksm-[ab] +qemu +[0-9]+ +32 MiB +.* node[0-9]+ [0-9]+% \+[0-9]+% KSM" "$t/table" ||
	fail "no '+N% KSM' in the table"
grep -q "merge_across_nodes=0" "$t/table" || fail "the note does not point at merge_across_nodes=0"

# Per node: every page on its VM's node.
"$numaksm" ksm set --unmerge merge_across_nodes=0 run=1 > "$t/set" 2>&1 ||
	{ cat "$t/set"; fail "merge_across_nodes=0"; }
settle
"$numaksm" status > "$t/table" 2>&1
cat "$t/table"
for vm in ksm-a ksm-b; do
	own=$([ $vm = ksm-a ] && echo "$first" || echo "$last")
	words=$(per_node $vm)
	echo "$vm (bound to node $own): $words"
	for w in $words; do
		[ "${w%%:*}" = "$own" ] || fail "$vm: pages on node ${w%%:*} with merge_across_nodes=0"
	done
done
grep -q "% KSM" "$t/table" && fail "'+N% KSM' with merge_across_nodes=0"
[ $failed = 0 ] && echo "status-ksm-nodes: passed"
exit $failed
