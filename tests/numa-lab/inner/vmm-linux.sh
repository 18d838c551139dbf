#!/bin/sh
# Inner test vmm-linux: numaksm-vmm boots Linux (the kernel the lab carries
# in /lab/files/vmlinuz) with an initramfs built here from the lab's static
# busybox.  The guest has two nodes, one vCPU each, their zones bound to
# host nodes 0 and 1; its init prints a marker, nproc, and per node the
# CPUs, memory and distances from /sys/devices/system/node, runs a command
# it reads from the serial port (the VMM's stdin), and powers off.
# What it prints must match --numa, and the VMM must exit 0 on the power-off
# with nothing left in its runtime directory.
#
# Guest RAM is 2M hugepages (the lab's pools: 64 pages a node), as the
# project's VMs have it. The guest runs nested in the lab's TCG guest: about
# a minute. KVM's paravirtual CPUID leaves are hidden (--cpuid-pv off): a
# nested guest stalls a few seconds into boot with them.
#
# Exit: 0 pass, 1 fail, 77 no numaksm-vmm, no /dev/kvm, no kernel, or fewer
# than two host nodes.
kernel=/lab/files/vmlinuz
command -v numaksm-vmm > /dev/null || { echo "vmm-linux: no numaksm-vmm"; exit 77; }
[ -c /dev/kvm ] || { echo "vmm-linux: no /dev/kvm"; exit 77; }
[ -r $kernel ] || { echo "vmm-linux: no $kernel (lab run --file KERNEL:$kernel)"; exit 77; }
[ -d /sys/devices/system/node/node1 ] || { echo "vmm-linux: one host node"; exit 77; }

t=$(mktemp -d) || exit 1
trap 'rm -rf "$t"' EXIT
# A VMM gone before its input is written: an error to report, not SIGPIPE.
trap '' PIPE
failed=0
fail() { echo "FAIL: $*"; failed=1; }

# The guest's initramfs: busybox, /dev/console, and an init that reports.
root=$t/root
mkdir -p $root/bin $root/dev $root/proc $root/sys
cp /bin/busybox $root/bin/busybox
ln -s busybox $root/bin/sh
mknod $root/dev/console c 5 1
cat > $root/init << 'EOF'
#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "GUEST-UP"
echo "GUEST nproc $(nproc)"
echo "GUEST nodes $(ls -d /sys/devices/system/node/node[0-9]* | wc -l)"
for d in /sys/devices/system/node/node[0-9]*; do
	kb=$(awk '/MemTotal/ { print $4 }' $d/meminfo)
	echo "GUEST ${d##*/} cpus=$(cat $d/cpulist) mem_kb=$kb distance=$(cat $d/distance | tr ' ' ,)"
done
echo "GUEST-DONE"
# A command from the VMM's standard input, through the serial port.
echo "GUEST-READY"
if read -t 120 -r cmd; then
	echo "GUEST-IN $(eval "$cmd")"
fi
poweroff -f
EOF
chmod 755 $root/init
(cd $root && find . | cpio -o -H newc > $t/initrd.cpio 2> /dev/null) || { echo "cpio failed"; exit 1; }

# A guest run: its console (CRs of the serial line dropped) in $t/console,
# the VMM's log in $t/log; once the guest says GUEST-READY, a command goes
# to the VMM's standard input (a FIFO).  @return the VMM's exit status.
boot() {
	start=$(date +%s)
	rm -f $t/in
	mkfifo $t/in || return 1
	timeout 240 numaksm-vmm --name linux2 --runtime-dir $t/run \
		--memory-zone id=z0,size=128M,hugepages=2M,policy=bind,nodes=0 \
		--memory-zone id=z1,size=128M,hugepages=2M,policy=bind,nodes=1 \
		--numa guest_node=0,cpus=0,zones=z0 --numa guest_node=1,cpus=1,zones=z1 \
		--cpus count=2 --kernel $kernel --initrd $t/initrd.cpio --cpuid-pv off \
		--kernel-cache $t/kcache --cmdline "console=ttyS0 reboot=acpi panic=-1 nokaslr loglevel=4" \
		< $t/in > $t/console.raw 2> $t/log &
	vmm=$!
	exec 3> $t/in
	while kill -0 $vmm 2> /dev/null && ! grep -q GUEST-READY $t/console.raw; do
		sleep 1
	done
	echo 'echo $((6 * 7))' >&3 || echo "vmm-linux: cannot write to numaksm-vmm's input"
	wait $vmm
	rc=$?
	exec 3>&-
	tr -d '\r' < $t/console.raw > $t/console
	echo "numaksm-vmm exited $rc after $(($(date +%s) - start)) s"
	return $rc
}

boot
rc=$?
# Nested under TCG, a guest now and then takes an interrupt with interrupts
# disabled and panics (panic=-1 resets it) or hangs: say so, and try once
# more.  Seen on 4K-page guest RAM, first entering user mode; not (yet) on
# 2M pages.
if { grep -q "the guest rebooted" $t/log && grep -q "Kernel panic" $t/console; } ||
	[ $rc -eq 124 ]; then
	echo "vmm-linux: the guest panicked or hung (nested under TCG); its last lines:"
	grep -B2 -A3 "Kernel panic" $t/console | head -n 12
	tail -n 5 $t/console
	boot
	rc=$?
fi
grep '^GUEST' $t/console

[ $rc -eq 0 ] || fail "numaksm-vmm exited $rc"
grep -q "the guest powered off" $t/log || fail "no power-off in the VMM's log"
# The bzImage's kernel inflated by the VMM, kept in --kernel-cache, and
# started at its vmlinux entry, without the kernel's decompressor.
grep -q "the kernel boots at its vmlinux entry" $t/log || fail "not booted at the vmlinux entry"
ls $t/kcache/vmlinux-* > /dev/null 2>&1 || fail "nothing kept in --kernel-cache"
grep -q '^GUEST-UP' $t/console || fail "the guest's init did not run"
# Where the guest's exits went. The lab's CPU is AMD family 0xf: Linux
# looks for an AGP bridge twice, 16000 writes to the PCI address port
# (0xcf8) and as many reads of 0xcfc. The writes end in KVM (an ioeventfd):
# only the reads come to the VMM.
exits=$(sed -n 's/.*the guest.s exits to numaksm-vmm: \([0-9]*\) (serial \([0-9]*\), .*other ports \([0-9]*\),.*/\1 \2 \3/p' $t/log)
echo "exits (all, serial, other ports): ${exits:-none logged}"
set -- $exits
{ [ $# -eq 3 ] && [ "$2" -gt 0 ] && [ "$3" -lt 24000 ]; } ||
	fail "exits: ${exits:-none logged}, not serial ones and fewer than 24000 to other ports"
grep -q '^GUEST-DONE' $t/console || fail "the guest's init did not finish"
grep -q '^GUEST-IN 42$' $t/console || fail "the command sent to the serial port did not run"
grep -q '^GUEST nproc 2$' $t/console || fail "nproc is not 2"
grep -q '^GUEST nodes 2$' $t/console || fail "the guest has not 2 nodes"
# Host nodes 0 and 1 are 20 apart (kvm.topo): so are the guest's.
grep -q '^GUEST node0 cpus=0 .* distance=10,20$' $t/console || fail "node0: not vCPU 0, 10,20"
grep -q '^GUEST node1 cpus=1 .* distance=20,10$' $t/console || fail "node1: not vCPU 1, 20,10"
# Each node's memory: its zone, less what the kernel keeps (at most 64M;
# the kernel's image is on node 0, nokaslr).
for n in 0:128 1:128; do
	kb=$(sed -n "s/^GUEST node${n%:*} .*mem_kb=\([0-9]*\) .*/\1/p" $t/console)
	max=$((${n#*:} * 1024))
	{ [ -n "$kb" ] && [ "$kb" -le $max ] && [ "$kb" -ge $((max - 65536)) ]; } ||
		fail "node${n%:*}: ${kb:-no} kB, not within 64M below its zone's ${n#*:}M"
done
# The socket and the registry entry go with the VMM (pins.json, the host's
# pin state, stays).
for f in $t/run/linux2.sock $t/run/vm/linux2.json; do
	[ ! -e $f ] || fail "left in the runtime directory: $f"
done

if [ $failed -ne 0 ]; then
	echo "--- numaksm-vmm's log"
	cat $t/log
	echo "--- the guest's console"
	cat $t/console
	exit 1
fi
echo "vmm-linux: passed"
