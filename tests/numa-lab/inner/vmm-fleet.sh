#!/bin/sh
# Inner test vmm-fleet: a fleet of four small Linux guests on numaksm-vmm
# (one vCPU, 128M of 4K pages, mergeable=on, --cpuid-pv off), booted one
# after another to a shell that sleeps. With KSM run fast (numaksm ksm
# set), what the guest kernels share (the kernel image, the initramfs, page
# cache) merges: `numaksm status NAME --json` must show each guest's KSM
# saving above 0.
# The guests are then stopped (numaksm vm stop: their power button, then
# by force after --stop-timeout), every VMM exits 0 with nothing left in
# the runtime directory, and KSM's knobs are put back.
#
# KSM cannot merge hugetlb pages, so the guests are on 4K pages, where a
# guest nested under TCG now and then panics first entering user mode (its
# panic=-1 resets it, and the VMM ends) or hangs in early boot: such a guest
# is booted again, and the boots again are counted in the output.  Nested
# under TCG: five minutes or more.
#
# The zones are left to the default policy: numaksm binds a mergeable zone
# to every node with memory, which keeps it out of NUMA balancing. Before
# that, KSM merged nothing here (pages_unshared 1, every other page
# "volatile"): NUMA balancing maps idle guest pages PROT_NONE, and in the
# lab's 6.1 kernel one such page in KSM's unstable tree keeps every page
# compared with it out of the tree. The test checks that numa_balancing is
# on, so that it keeps covering this.
# Exit: 0 pass, 1 fail, 77 no numaksm-vmm, numaksm, /dev/kvm, kernel or KSM.
. lab-linux-lib.sh
linux_start vmm-fleet
# numaksm status names the VMs from their registry entries there.
export NUMAKSM_RUNTIME_DIR=$t/run
linux_ksm_save vmm-fleet
trap '' PIPE
vms="fleet-1 fleet-2 fleet-3 fleet-4"
cleanup() {
	for vm in $vms; do
		[ -s $t/$vm.pid ] && kill "$(cat $t/$vm.pid)" 2> /dev/null
	done
	wait 2> /dev/null
	linux_ksm_restore vmm-fleet
	rm -rf "$t"
}
trap cleanup EXIT

linux_init $t/init
linux_initramfs $t/init $t/initrd.cpio || { echo "cpio failed"; exit 1; }

[ "$(cat /proc/sys/kernel/numa_balancing 2>/dev/null)" = 1 ] ||
	echo "vmm-fleet: note: NUMA balancing is off here"
# One after another: booted all at once, nested guests here hang in early
# boot more often than not.
begin=$(date +%s)
for vm in $vms; do
	linux_boot $vm 240 --memory size=128M,mergeable=on,prefault=off \
		--kernel $kernel --initrd $t/initrd.cpio --cpuid-pv off --stop-timeout 60 \
		--cmdline "console=ttyS0 reboot=acpi panic=-1 nokaslr loglevel=4" ||
		{ fail "$vm: the guest did not come up in 3 boots"; break; }
done
echo "vmm-fleet: 4 guests booted in $(($(date +%s) - begin)) s, $reboots boots again"
[ $failed -eq 0 ] || linux_end vmm-fleet $vms

# KSM, fast, until every guest saves something (or 300 s).
numaksm ksm set pages_to_scan=20000 sleep_millisecs=10 run=1 > /dev/null ||
	{ fail "numaksm ksm set refused"; exit 1; }
saving() {
	numaksm status "$1" --json 2> /dev/null | tr -d ' \n' | grep -o '"vms":\[.*' |
		grep -o '"ksm":{[^}]*}' | head -n 1 | sed -n 's/.*"saved_bytes":\([0-9]*\).*/\1/p'
}
end=$(($(date +%s) + 300))
while :; do
	all=1
	for vm in $vms; do
		s=$(saving $vm)
		[ "${s:-0}" -gt 0 ] || all=0
	done
	[ $all -eq 1 ] || [ "$(date +%s)" -ge $end ] && break
	sleep 5
done
for vm in $vms; do
	s=$(saving $vm)
	echo "vmm-fleet: $vm saves ${s:-?} bytes"
	[ "${s:-0}" -gt 0 ] || fail "$vm: no KSM saving in numaksm status"
done
numaksm status | sed 's/^/  /'
echo "vmm-fleet: KSM pages_sharing $(cat $ksm/pages_sharing), pages_shared $(cat $ksm/pages_shared)"

for vm in $vms; do
	out=$(numaksm vm stop $vm 2>&1) || fail "$vm: numaksm vm stop: $out"
done
for vm in $vms; do
	pid=$(cat $t/$vm.pid)
	linux_gone $pid 120 || { fail "$vm: still running 120 s after stop"; kill $pid; }
	wait $pid
	rc=$?
	[ $rc -eq 0 ] || fail "$vm: numaksm-vmm exited $rc"
	echo "vmm-fleet: $vm: $(grep -o 'the guest powered off\|did not power off.*' $t/$vm.log)"
	linux_clean $t/run $vm
	: > $t/$vm.pid
done

linux_end vmm-fleet $vms
