#!/bin/sh
# Inner test vmm-hugepages-linux: a Linux guest on numaksm-vmm whose RAM is
# one zone of hugepages, booted twice: 128M of 2M pages bound to host node
# 0 (the node's whole pool), then 1G in one 1G page bound to node 1 (the
# lab's only one).  Each time the guest (one vCPU; it runs the commands it
# reads from its serial port) must come up and see its RAM, MemTotal within
# 64M below the zone; the VMM's smaps and numa_maps must show the guest RAM
# as one mapping of pages of the zone's size, all faulted in (prefault=on),
# all on the zone's node, and the node's pool of that size must have given
# them; once the guest powers off, the pools are back to their free counts.
# Nested under TCG: a few minutes.
#
# Exit: 0 pass, 1 fail, 77 no numaksm-vmm, numaksm, /dev/kvm or kernel, or
# not the lab's pools (64 free 2M pages on node 0, a free 1G page on node 1).
. lab-linux-lib.sh
linux_start vmm-hugepages-linux
trap '' PIPE

# free NODE PAGE_KB: the node's free hugepages of that size.
free_pages() {
	cat /sys/devices/system/node/node$1/hugepages/hugepages-$2kB/free_hugepages 2> /dev/null ||
		echo 0
}
[ "$(free_pages 0 2048)" -ge 64 ] && [ "$(free_pages 1 1048576)" -ge 1 ] || {
	echo "vmm-hugepages-linux: no 64 free 2M pages on node 0 and 1G page on node 1"
	exit 77
}

linux_init_shell $t/init
linux_initramfs $t/init $t/initrd.cpio || { echo "cpio failed"; exit 1; }
# The guests' serial input: fd 3 writes to it.
linux_input=$t/in
mkfifo $linux_input || exit 1

# boot NAME SIZE_MB PAGE_KB NODE: one guest, checked.
boot() {
	name=$1
	zone_kb=$(($2 * 1024))
	page_kb=$3
	node=$4
	pages=$((zone_kb / page_kb))
	spec=size=$2M,hugepages=$((page_kb / 1024))M,policy=bind,nodes=$node,prefault=on
	[ $page_kb -lt 1048576 ] || spec=size=$(($2 / 1024))G,hugepages=1G,policy=bind,nodes=$node,prefault=on
	pools="$(free_pages 0 2048) $(free_pages 1 2048) $(free_pages 0 1048576) $(free_pages 1 1048576)"
	free=$(free_pages $node $page_kb)
	echo "$name: --memory $spec; free 2M pages on nodes 0 and 1, 1G: $pools"
	if ! linux_boot $name 300 --runtime-dir $t/run --memory $spec \
		--kernel $kernel --initrd $t/initrd.cpio --cpuid-pv off \
		--cmdline "console=ttyS0 reboot=acpi panic=-1 nokaslr loglevel=4"; then
		fail "$name: the guest did not come up"
		return
	fi
	pid=$(cat $t/$name.pid)

	echo 'echo "GUEST-MEM $(awk '"'"'/^MemTotal:/ { print $2 }'"'"' /proc/meminfo)"' >&3
	linux_wait $t/$name.raw '^GUEST-MEM ' $pid 60
	kb=$(tr -d '\r' < $t/$name.raw | sed -n 's/^GUEST-MEM //p')
	echo "$name: the guest's MemTotal: ${kb:-none} kB of $zone_kb"
	{ [ -n "$kb" ] && [ "$kb" -le $zone_kb ] && [ "$kb" -ge $((zone_kb - 65536)) ]; } ||
		fail "$name: MemTotal ${kb:-none} kB, not within 64M below the zone's $zone_kb kB"

	# smaps: each hugepage mapping's size, page size and hugetlb kB.
	awk '/^[0-9a-f]+-[0-9a-f]+ / { if (n) print size, kps, huge; n = 1; size = kps = huge = 0 }
		/^Size:/ { size = $2 } /^KernelPageSize:/ { kps = $2 }
		/^(Private|Shared)_Hugetlb:/ { huge += $2 }
		END { if (n) print size, kps, huge }' /proc/$pid/smaps | awk '$2 > 4' > $t/$name.smaps
	sed "s/^/$name: smaps: size, page size, hugetlb kB: /" $t/$name.smaps
	grep -q "^$zone_kb $page_kb $zone_kb\$" $t/$name.smaps ||
		fail "$name: no mapping of $zone_kb kB in $page_kb kB pages, all present, in smaps"
	# numa_maps: the hugepage mappings' pages per node.
	grep "kernelpagesize_kB=$page_kb" /proc/$pid/numa_maps |
		awk '{ s = ""; for (i = 1; i <= NF; i++) if ($i ~ /^N[0-9]+=/) s = s " " $i; print s }' \
			> $t/$name.numa
	sed "s/^/$name: numa_maps, $page_kb kB pages per node:/" $t/$name.numa
	grep -q "^ N$node=$pages\$" $t/$name.numa ||
		fail "$name: numa_maps has not the guest RAM's $pages pages all on node $node"
	now=$(free_pages $node $page_kb)
	echo "$name: free $page_kb kB pages on node $node: $free before, $now while it runs"
	[ "$now" -eq $((free - pages)) ] ||
		fail "$name: node $node's pool gave $((free - now)) pages, not $pages"

	# It powers off; the pages go back to the pools.
	linux_poweroff $name
	after="$(free_pages 0 2048) $(free_pages 1 2048) $(free_pages 0 1048576) $(free_pages 1 1048576)"
	[ "$after" = "$pools" ] || fail "$name: free pages after the guest: $after, not $pools"
}

boot huge2m 128 2048 0
boot huge1g 1024 1048576 1

linux_end vmm-hugepages-linux huge2m huge1g
