#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Time to a running guest, run inside the NUMA lab's kvm guest (nested KVM):
# from the VMM's process start to the guest's first userland line, for
# numaksm-vmm and for QEMU (-accel kvm) booting the same kernel, initramfs
# and command line, 1 vCPU, 128 MiB of 2M hugepages bound to node 0,
# preallocated (numaksm-vmm: prefault=on; QEMU: memory-backend-memfd,
# hugetlb=on, prealloc=on). The sides alternate, ROUNDS rounds (default 3);
# each guest's init prints its marker and powers off. Prints every run, the
# medians side by side, the median of each round's own numaksm-vmm/QEMU
# ratio (steadier when the machine is shared: a round's sides run within a
# minute), numaksm-vmm's split: zones (allocation and prefault), the rest of
# its setup, and the guest's own boot; its guest's exits; and how many
# boots of each side hung.
#
#   boot-time-lab.sh [ROUNDS]     (benchmarks/boot-in-lab runs it)
#
# QEMU comes from the lab's --bin, its firmware from /lab/files/qemu.
# Exit: 0 done, 1 a side never reached userland, 77 nothing to run.
. lab-linux-lib.sh
linux_start boot-time
rounds=${1:-3}
qemu=$(command -v qemu-system-x86_64) || { echo "boot-time: no qemu-system-x86_64"; exit 77; }
[ -r /lab/files/qemu/bios-256k.bin ] || { echo "boot-time: no /lab/files/qemu firmware"; exit 77; }
cmdline="console=ttyS0 reboot=acpi panic=-1 nokaslr loglevel=4"

cat > $t/init << 'EOF2'
#!/bin/sh
echo GUEST-USERLAND
/bin/busybox poweroff -f
EOF2
linux_initramfs $t/init $t/initrd.cpio || { echo "cpio failed"; exit 1; }

uptime_s() { cut -d' ' -f1 /proc/uptime; }

# run SIDE ROUND COMMAND...: seconds from start to the marker in $t/secs
# ("-" when it never came), the VMM's stderr in $t/SIDE.ROUND.err. Nested
# under TCG, a guest now and then hangs in early boot, whichever VMM runs
# it: one that has not reached userland in 120 s is stopped, counted in
# $t/SIDE.hung and booted once more.
run() {
	side=$1 round=$2
	shift 2
	for try in 1 2; do
		rm -f $t/mark
		t0=$(uptime_s)
		timeout 120 "$@" < /dev/null 2> $t/$side.$round.err | while IFS= read -r line; do
			case "$line" in
			*GUEST-USERLAND*) [ -e $t/mark ] || uptime_s > $t/mark ;;
			esac
		done
		[ ! -e $t/mark ] || break
		echo "round $round: $side hung (try $try); its stderr:"
		tail -n 3 $t/$side.$round.err | sed 's/^/  /'
		echo x >> $t/$side.hung
	done
	if [ -e $t/mark ]; then
		awk -v a="$t0" -v b="$(cat $t/mark)" 'BEGIN { printf "%.2f\n", b - a }' > $t/secs
	else
		echo - > $t/secs
	fi
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); else print "-" }'; }

failed=0
: > $t/vmm
: > $t/qemu
: > $t/vmm-bz
: > $t/setup
: > $t/ratio
: > $t/zones
# vmm_boot SIDE ROUND [OPTION...]: numaksm-vmm booting the guest.
vmm_boot() {
	side=$1 round=$2
	shift 2
	run $side $round numaksm-vmm --name boot$round --runtime-dir $t/run \
		--memory size=128M,hugepages=2M,prefault=on,policy=bind,nodes=0 \
		--kernel $kernel --initrd $t/initrd.cpio --cpuid-pv off --cmdline "$cmdline" "$@"
}
# numaksm-vmm inflates the bzImage's kernel once and keeps it: one boot,
# not timed, fills its cache; "vmm" boots from it, "vmm-bz" (--kernel-cache
# off) through the kernel's own decompressor, as QEMU does.
vmm_boot warm 0 --kernel-cache $t/kcache
echo "first boot, filling the cache: $(cat $t/secs) s; $(sed -n 's/.*info: \(the kernel boots.*\)/\1/p' $t/warm.0.err)"
r=1
while [ $r -le $rounds ]; do
	# The order turns each round.
	case $((r % 3)) in
	1) order="vmm vmm-bz qemu" ;;
	2) order="vmm-bz qemu vmm" ;;
	0) order="qemu vmm vmm-bz" ;;
	esac
	for side in $order; do
		if [ $side = vmm ]; then
			vmm_boot vmm $r --kernel-cache $t/kcache
			split=$(sed -n 's/.*started in \([0-9.]*\) s: zones (allocation, prefault) \([0-9.]*\) s.*/\1 \2/p' \
				$t/vmm.$r.err)
			echo "${split% *}" >> $t/setup
			echo "${split#* }" >> $t/zones
		elif [ $side = vmm-bz ]; then
			vmm_boot vmm-bz $r --kernel-cache off
		else
			run qemu $r "$qemu" -L /lab/files/qemu -nodefaults -no-user-config -display none \
				-no-reboot -accel kvm -cpu host,kvm=off -smp 1 -m 128M \
				-object memory-backend-memfd,id=ram,size=128M,hugetlb=on,hugetlbsize=2M,prealloc=on,policy=bind,host-nodes=0 \
				-machine pc,memory-backend=ram -serial stdio \
				-kernel $kernel -initrd $t/initrd.cpio -append "$cmdline"
		fi
		s=$(cat $t/secs)
		echo "$s" > $t/$side.now
		echo "round $r: $side $s s"
		if [ "$s" = - ]; then
			failed=1
			echo "  $side never reached userland; its stderr:"
			tail -n 5 $t/$side.$r.err | sed 's/^/  /'
		else
			echo "$s" >> $t/$side
		fi
	done
	# This round's ratio: the sides ran within a minute of each other.
	awk -v a="$(cat $t/vmm.now)" -v b="$(cat $t/qemu.now)" \
		'BEGIN { if (a != "-" && b != "-" && b > 0) printf "%.3f\n", a / b }' >> $t/ratio
	r=$((r + 1))
done

vmm=$(median < $t/vmm)
bz=$(median < $t/vmm-bz)
qemu=$(median < $t/qemu)
setup=$(median < $t/setup)
zones=$(median < $t/zones)
echo
echo "time to the guest's first userland line, median of $rounds (seconds):"
printf "  %-32s %8s\n" "numaksm-vmm (vmlinux, cached)" "$vmm" "numaksm-vmm (bzImage, --kernel-cache off)" "$bz" qemu "$qemu"
awk -v a="$vmm" -v b="$qemu" 'BEGIN { if (a != "-" && b != "-" && b > 0) printf "  numaksm-vmm/qemu %.2f\n", a / b }'
awk -v a="$bz" -v b="$qemu" 'BEGIN { if (a != "-" && b != "-" && b > 0) printf "  numaksm-vmm (bzImage)/qemu %.2f\n", a / b }'
echo "  numaksm-vmm/qemu, median of the rounds' own ratios $(median < $t/ratio | awk '{ printf "%.2f", $1 }') ($(tr '\n' ' ' < $t/ratio))"
awk -v t="$vmm" -v s="$setup" -v z="$zones" 'BEGIN { if (t != "-" && s != "") printf "  numaksm-vmm: zones (allocation, prefault) %.3f s, the rest of its setup %.3f s, the guest %.2f s\n", z, s - z, t - s }'
echo "  numaksm-vmm, last round: $(sed -n 's/.*info: \(the guest.s exits.*\)/\1/p' $t/vmm.$rounds.err)"
for side in vmm vmm-bz qemu; do
	echo "  $side: $(cat $t/$side.hung 2> /dev/null | wc -l) boots hung in early boot and were run again"
done
exit $failed
