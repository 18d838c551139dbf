#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by the lab's KSM benchmarks (plan-fleet-bench, tenants-bench):
#   lab_bench_start NAME exit 77 without numaksm, lab-ksm-vm, KSM or two nodes
#                        with memory; else sets $numaksm, $ksm, $t (a scratch
#                        directory), $pids, $names, $failed and fail(), and on
#                        exit undoes and ends the VMs in $pids and puts KSM's
#                        knobs back
#   lab_nodes            the nodes with memory, one a line, in $list; $count of them
#   ksm_merge MAN        KSM run to the end with merge_across_nodes=MAN (fast:
#                        three full scans, then pages_sharing the same for 2 s);
#                        prints pages_sharing; fails when that takes over 300 s
#   local_share NAME...  the share (percent, one decimal) of the guest RAM of
#                        the lab-ksm-vm VMs NAME (8 MiB each, pid in $t/NAME.pid)
#                        on the node it is bound to
ksm=/sys/kernel/mm/ksm
advisor=""
[ -e $ksm/advisor_mode ] && advisor=advisor_mode=none

lab_bench_start() {
	numaksm=${NUMAKSM:-numaksm}
	command -v "$numaksm" > /dev/null || { echo "$1: no numaksm"; exit 77; }
	command -v lab-ksm-vm > /dev/null || { echo "$1: no lab-ksm-vm"; exit 77; }
	[ -w $ksm/run ] || { echo "$1: no KSM"; exit 77; }
	lab_nodes
	[ "$count" -ge 2 ] || { echo "$1: one node with memory"; exit 77; }
	t=$(mktemp -d) || exit 1
	pids=""
	names=""
	failed=0
	saved=""
	for k in merge_across_nodes pages_to_scan sleep_millisecs run; do
		saved="$saved $k=$(cat $ksm/$k)"
	done
	trap lab_bench_cleanup EXIT
}
fail() { echo "FAIL: $*"; failed=1; }
lab_bench_cleanup() {
	for p in $pids; do "$numaksm" place --undo "$p" > /dev/null 2>&1; done
	for p in $pids; do kill "$p" 2> /dev/null; done
	wait 2> /dev/null
	"$numaksm" ksm set --unmerge $saved > /dev/null 2>&1 || echo "cannot put KSM back:$saved"
	rm -rf "$t"
}

lab_nodes() {
	list=$(awk -F, '{ for (i = 1; i <= NF; i++) { n = split($i, r, "-");
		if (n == 1) print r[1]; else for (j = r[1]; j <= r[2]; j++) print j } }' \
		/sys/devices/system/node/has_memory)
	count=$(echo "$list" | wc -l)
}

ksm_merge() {
	"$numaksm" ksm set --unmerge $advisor merge_across_nodes="$1" pages_to_scan=5000 \
		sleep_millisecs=0 run=1 > "$t/set" 2>&1 || { cat "$t/set" >&2; return 1; }
	scans0=$(cat $ksm/full_scans)
	last=-1 same=0
	for _ in $(seq 600); do
		sleep 0.5
		now=$(cat $ksm/pages_sharing)
		if [ $(($(cat $ksm/full_scans) - scans0)) -ge 3 ] && [ "$now" = "$last" ]; then
			same=$((same + 1))
			[ $same -ge 4 ] && { echo "$now"; return 0; }
		else
			same=0
		fi
		last=$now
	done
	echo "KSM did not settle in 300 s: merge_across_nodes $(cat $ksm/merge_across_nodes)," \
		"$(($(cat $ksm/full_scans) - scans0)) full scans, pages_sharing $now" >&2
	echo "$now"
	return 1
}

local_share() {
	total=0 here=0
	for name in "$@"; do
		pid=$(cat "$t/$name.pid")
		line=$(grep " anon=2048 " "/proc/$pid/numa_maps" | head -n 1)
		node=$(echo "$line" | sed -n 's/.*bind:\([0-9]*\).*/\1/p')
		mems=$(awk '/^Mems_allowed_list/ { print $2 }' "/proc/$pid/status")
		case $mems in *[-,]*) ;; *) node=$mems ;; esac
		on=$(echo "$line" | tr ' ' '\n' | sed -n "s/^N$node=//p")
		total=$((total + 2048))
		here=$((here + ${on:-0}))
	done
	echo "$here $total" | awk '{ printf "%.1f", 100 * $1 / $2 }'
}
