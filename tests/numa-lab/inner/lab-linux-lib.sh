#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by the lab's tests of numaksm-vmm Linux guests (vmm-stop, vmm-console,
# vmm-clock, vmm-hugepages-linux, vmm-fleet) and by benchmarks/ksm-linux-lab.sh,
# which boot the kernel the lab carries in /lab/files/vmlinuz:
#   linux_start NAME    exit 77 without numaksm-vmm, numaksm, /dev/kvm or the
#                       kernel; else sets $kernel, $t (a scratch directory,
#                       removed on exit), $failed and fail()
#   linux_initramfs INIT OUT
#                       an initramfs OUT with the lab's static busybox, the
#                       kernel modules the lab carries (/lab/files/*.ko, in
#                       /lib) and INIT as /init (scripts/guest-initramfs)
#   linux_init FILE     write guest-initramfs's init to FILE: it prints
#                       GUEST-READY and sleeps; unless "nobutton" is on the
#                       kernel command line it first loads the button and
#                       evdev modules and powers off when the ACPI power
#                       button reports (printing GUEST-LISTENING, then
#                       GUEST-POWER-BUTTON)
#   linux_init_shell FILE
#                       write an init to FILE that prints GUEST-READY and runs
#                       the lines it reads from the serial port (the VMM's
#                       standard input, not echoed) as shell commands (a
#                       serial line has no end: send "poweroff -f")
#   linux_poweroff NAME send "poweroff -f" to guest NAME (booted with
#                       $linux_input, fd 3 its input), wait for its VMM and
#                       close fd 3: fail() unless the VMM exits 0 within
#                       120 s, on the guest's power-off, leaving nothing in
#                       its runtime directory
#   linux_wait FILE MARKER PID SECS
#                       wait until FILE (a guest's console) has a line with
#                       MARKER, PID has exited or SECS have passed; @return 0
#                       when the marker came
#   linux_boot NAME SECS ARG...
#                       start `numaksm-vmm --name NAME ARG...` in the background
#                       (console $t/NAME.raw, log $t/NAME.log, PID in
#                       $t/NAME.pid) and wait SECS for the guest's
#                       GUEST-READY; a guest that hangs or ends first (nested
#                       under TCG, one now and then does) is booted again,
#                       twice at most, each counted in $reboots; @return 0
#                       when it is up.  With $linux_input, a FIFO, the VMM
#                       reads it (the guest's serial input) and fd 3 is then
#                       opened to write to it; else it reads /dev/null
#   linux_gone PID SECS wait until PID has exited, SECS at most; @return 0
#                       when it did (its status is for `wait`)
#   linux_clean RUNDIR NAME
#                       fail() when the VM's socket or registry entry is left
#   linux_end TEST NAME...
#                       the end: "TEST: passed", or, when a check failed, each
#                       VM's log ($t/NAME.log) and the end of its console
#                       ($t/NAME.raw), and exit 1
#   linux_ksm_save NAME exit 77 when KSM's knobs cannot be written
#                       ($ksm/run, $ksm being KSM's sysfs directory); else
#                       keep pages_to_scan, sleep_millisecs and run for
#                       linux_ksm_restore
#   linux_ksm_restore NAME
#                       put back the knobs linux_ksm_save kept (numaksm ksm
#                       set; nothing when none were kept), saying so when
#                       that fails: for the caller's exit trap
kernel=/lab/files/vmlinuz
ksm=/sys/kernel/mm/ksm
ksm_saved=""

linux_start() {
	command -v numaksm-vmm > /dev/null || { echo "$1: no numaksm-vmm"; exit 77; }
	command -v numaksm > /dev/null || { echo "$1: no numaksm"; exit 77; }
	[ -c /dev/kvm ] || { echo "$1: no /dev/kvm"; exit 77; }
	[ -r $kernel ] || { echo "$1: no $kernel (lab run --file KERNEL:$kernel)"; exit 77; }
	t=$(mktemp -d) || exit 1
	trap 'rm -rf "$t"' EXIT
	failed=0
}
fail() { echo "FAIL: $*"; failed=1; }

linux_initramfs() {
	guest-initramfs --init "$1" --modules /lab/files "$2"
}

linux_init() {
	guest-initramfs --print-init > "$1"
}

linux_init_shell() {
	cat > "$1" << 'EOF'
#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
stty -echo
echo GUEST-READY
while read -r cmd; do
	eval "$cmd"
done
EOF
}

linux_poweroff() {
	lp_pid=$(cat $t/$1.pid)
	echo 'poweroff -f' >&3 || fail "$1: cannot write to numaksm-vmm's input"
	linux_gone $lp_pid 120 || { fail "$1: still running 120 s after poweroff"; kill $lp_pid; }
	exec 3>&-
	wait $lp_pid
	lp_rc=$?
	echo "$1: numaksm-vmm exited $lp_rc"
	[ $lp_rc -eq 0 ] || fail "$1: numaksm-vmm exited $lp_rc"
	grep -q "the guest powered off" $t/$1.log || fail "$1: no power-off in the VMM's log"
	linux_clean $t/run $1
}

linux_wait() {
	end=$(($(date +%s) + $4))
	while [ "$(date +%s)" -lt $end ]; do
		grep -q "$2" "$1" 2> /dev/null && return 0
		kill -0 "$3" 2> /dev/null || { grep -q "$2" "$1" 2> /dev/null; return; }
		sleep 1
	done
	return 1
}

reboots=0
linux_boot() {
	name=$1 secs=$2
	shift 2
	tries=0
	while :; do
		at=$(date +%s)
		numaksm-vmm --name "$name" "$@" < "${linux_input:-/dev/null}" \
			> $t/$name.raw 2> $t/$name.log &
		echo $! > $t/$name.pid
		[ -z "$linux_input" ] || exec 3> "$linux_input"
		if linux_wait $t/$name.raw GUEST-READY $! "$secs"; then
			echo "$name: up after $(($(date +%s) - at)) s"
			return 0
		fi
		kill "$(cat $t/$name.pid)" 2> /dev/null && echo "$name: hangs"
		wait "$(cat $t/$name.pid)"
		echo "$name: did not reach its shell; its last lines:"
		tr -d '\r' < $t/$name.raw | grep -A3 "Kernel panic" | head -n 4
		tr -d '\r' < $t/$name.raw | tail -n 2
		reboots=$((reboots + 1))
		tries=$((tries + 1))
		[ $tries -le 2 ] || return 1
	done
}

linux_gone() {
	end=$(($(date +%s) + $2))
	while kill -0 "$1" 2> /dev/null; do
		[ "$(date +%s)" -lt $end ] || return 1
		sleep 1
	done
	return 0
}

linux_clean() {
	for f in "$1/$2.sock" "$1/vm/$2.json"; do
		[ ! -e "$f" ] || fail "left in the runtime directory: $f"
	done
}

linux_end() {
	test=$1
	shift
	if [ $failed -eq 0 ]; then
		echo "$test: passed"
		return
	fi
	for vm in "$@"; do
		echo "--- $vm: numaksm-vmm's log"
		cat $t/$vm.log
		echo "--- $vm: the guest's console"
		tr -d '\r' < $t/$vm.raw | tail -n 40
	done
	exit 1
}

linux_ksm_save() {
	[ -w $ksm/run ] || { echo "$1: no KSM"; exit 77; }
	ksm_saved=""
	for k in pages_to_scan sleep_millisecs run; do
		ksm_saved="$ksm_saved $k=$(cat $ksm/$k)"
	done
}

linux_ksm_restore() {
	[ -n "$ksm_saved" ] || return 0
	# shellcheck disable=SC2086
	numaksm ksm set $ksm_saved > /dev/null || echo "$1: cannot put KSM's knobs back:$ksm_saved"
}
