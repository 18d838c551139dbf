#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# KSM on real guests, run inside the NUMA lab's kvm guest (nested KVM):
# VMS Linux guests (default 4) of 256 MiB on numaksm-vmm, 4K pages,
# mergeable, one vCPU each, booted one after another to a shell that
# sleeps; then numaksm-bench ksm --attach times KSM driven by the kernel's
# defaults, by Debian's ksmtuned and by numaksm's tuner on those same
# guests (KSM unmerges them between strategies): time to 50/90/95% of the
# saving their pages allow, and ksmd's CPU.  Last, KSM runs to the end once
# more, and numaksm status shows what each guest saves.
#
#   ksm-linux-lab.sh [VMS] [LIMIT]     (benchmarks/ksm-in-lab runs it)
#
# ksmtuned (a bash script) and bash come from the lab's --bin.
# Exit: 0 done, 1 a guest never came up or the benchmark failed, 77
# nothing to run.
. lab-linux-lib.sh
linux_start ksm-linux
vms=${1:-4}
limit=${2:-600}
export NUMAKSM_RUNTIME_DIR=$t/run
command -v numaksm-bench > /dev/null || { echo "ksm-linux: no numaksm-bench"; exit 77; }
strategies=defaults,numaksm
if command -v ksmtuned > /dev/null && command -v bash > /dev/null; then
	# Its #!/bin/bash is not where the lab keeps bash.
	printf '#!/bin/sh\nexec bash %s "$@"\n' "$(command -v ksmtuned)" > $t/ksmtuned
	chmod 755 $t/ksmtuned
	strategies=defaults,ksmtuned,numaksm
fi
linux_ksm_save ksm-linux
names=""
cleanup() {
	for vm in $names; do numaksm vm stop "$vm" > /dev/null 2>&1; done
	wait 2> /dev/null
	linux_ksm_restore ksm-linux
	rm -rf "$t"
}
trap cleanup EXIT

linux_init $t/init
linux_initramfs $t/init $t/initrd.cpio || { echo "cpio failed"; exit 1; }
begin=$(date +%s)
for i in $(seq 1 "$vms"); do
	linux_boot guest-$i 300 --memory size=256M,mergeable=on,prefault=off \
		--kernel $kernel --initrd $t/initrd.cpio --cpuid-pv off --stop-timeout 0 \
		--cmdline "console=ttyS0 reboot=acpi panic=-1 nokaslr loglevel=4 nobutton" ||
		{ echo "ksm-linux: guest-$i did not come up in 3 boots"; exit 1; }
	names="$names guest-$i"
done
echo "ksm-linux: $vms guests booted in $(($(date +%s) - begin)) s, $reboots boots again"
# Let the guests settle before the first strategy.
sleep 20
list=$(echo $names | tr ' ' ',')
# Its progress lines go to a file: the report is what matters here.
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
