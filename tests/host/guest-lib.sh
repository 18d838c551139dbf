# SPDX-License-Identifier: GPL-2.0-or-later
# Shell helpers of the host tests that boot a tiny guest (sourced): this
# host's kernel and an initramfs of a static busybox built here.

# guest_prereqs: set $kernel and $busybox, or exit 77 naming what is missing.
guest_prereqs() {
	kernel=$(ls /boot/vmlinuz-* 2> /dev/null | sort -V | tail -n 1)
	[ -n "$kernel" ] || { echo "needs a kernel in /boot"; exit 77; }
	busybox=$(command -v busybox) || { echo "needs busybox-static"; exit 77; }
	file -L "$busybox" 2> /dev/null | grep -q "statically linked" ||
		{ echo "needs a static busybox (busybox-static)"; exit 77; }
}

# guest_initramfs DIR: DIR/initrd.gz, whose init mounts /proc and /sys,
# prints "numaksm-guest-up nodes=N" (the NUMA nodes the guest sees) on the
# console and idles.
guest_initramfs() {
	mkdir -p "$1/initrd/bin"
	cp "$busybox" "$1/initrd/bin/busybox"
	cat > "$1/initrd/init" << 'EOF_INIT'
#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
echo "numaksm-guest-up nodes=$(/bin/busybox ls -d /sys/devices/system/node/node* | /bin/busybox wc -l)"
while :; do /bin/busybox sleep 3600; done
EOF_INIT
	chmod +x "$1/initrd/init"
	(cd "$1/initrd" && find . | cpio -o -H newc 2> /dev/null | gzip > "$1/initrd.gz")
}
