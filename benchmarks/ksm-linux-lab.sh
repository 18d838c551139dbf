#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# KSM on real guests, run inside the NUMA lab's kvm guest (nested KVM):
# VMS Linux guests (default 4) of 256 MiB on numaksm-vmm, 4K pages,
# mergeable, one vCPU each, booted one after another to a shell that
# sleeps; then `# Its progress lines go to a file: the report is what matters here.
numaksm-bench ksm --attach "$list" --strategies $strategies --ksmtuned $t/ksmtuned \
	--numaksm "$(command -v numaksm)" --window 30s --limit "${limit}s" --out $t/out \
	2> $t/progress || { tail -n 20 $t/progress; echo "ksm-linux: numaksm-bench failed"; exit 1; }
grep -v '^\[' $t/progress | grep . || true

# The benchmark unmerged everything at its end: KSM again, fast, for what
# each guest saves (numaksm status), until the sharing settles.
numaksm ksm set pages_to_scan=5000 sleep_millisecs=10 run=1 > /dev/null
last=-1
for i in $(seq 1 60); do
	sleep 5
	now=$(cat $ksm/pages_sharing)
	[ "$now" = "$last" ] && break
	last=$now
done
echo
echo "What each guest saves with KSM run to the end (numaksm status):"
numaksm status | sed -n '/^NAME/,$p'
