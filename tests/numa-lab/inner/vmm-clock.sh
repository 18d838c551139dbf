#!/bin/sh
# Inner test vmm-clock: a Linux guest on numaksm-vmm keeps a sane clock, and
# `numaksm vm pause` really stops it.  The guest (two vCPUs, 128M of 2M
# hugepages on host node 0) runs the commands it reads from its serial port
# (the VMM's standard input, a FIFO here).
#   boot: the guest's time, read from the CMOS RTC at boot, is the lab's
#     within a few seconds; its RTC (rtc0) reads the lab's time too
#   pause: a command sent while the guest is paused gets no answer, not a
#     byte of output, for 10 s
#   resume: the answer comes, and the guest's time never went back; its
#     kernel logged no clocksource marked unstable, no soft or hard lockup,
#     no RCU stall and no other splat since the pause; its clocksource is
#     the one it had before; a few seconds on, its clock has kept the lab's
#     pace
# What the guest's time is after resume depends on its clocksource:
#   tsc, kvm-clock: they run on while the guest is paused, so its time is
#     still the lab's within a few seconds
#   acpi_pm: nested under TCG the kernel can calibrate no TSC (and does not
#     trust it when told its frequency), and counts time with the ACPI PM
#     timer, whose 24 bits wrap every 4.7 s: a guest paused longer cannot
#     know for how long.  It is then behind the lab's time by at most the
#     pause (and a few seconds).
# A guest that panics (nested under TCG, one now and then takes an
# interrupt with interrupts disabled) is booted once more and the checks
# run again.
# The guest powers off: the VMM exits 0, nothing left in its runtime
# directory.  Nested under TCG: a few minutes.
#
# Exit: 0 pass, 1 fail, 77 no numaksm-vmm, numaksm, /dev/kvm or kernel.
. lab-linux-lib.sh
linux_start vmm-clock
trap '' PIPE
# How far the guest's time may be from the lab's, in seconds: the RTC's
# whole seconds, timers nested under TCG, the console's polling.
skew=5
pause=10

linux_init_shell $t/init
linux_initramfs $t/init $t/initrd.cpio || { echo "cpio failed"; exit 1; }
# The guests' serial input: fd 3 writes to it.
linux_input=$t/in
mkfifo $linux_input || exit 1

# ask CMD: send a command line to the guest.
ask() {
	echo "$1" >&3 || fail "$vm: cannot write to numaksm-vmm's input"
}

# answer MARKER SECS: wait for the guest's line "MARKER VALUE"; its VALUE
# in $answer (empty: none came).
answer() {
	answer=
	linux_wait $t/$vm.raw "^$1 " "$(cat $t/$vm.pid)" $2 &&
		answer=$(tr -d '\r' < $t/$vm.raw | sed -n "s/^$1 //p" | tail -n 1)
}

# timed MARKER: wait for the guest's "MARKER TIME", the answer to a command
# sent at the lab's time $sent: the guest's time in $answer (0: none came),
# the lab's when the answer was seen in $seen.  The guest read its clock
# at a lab time within [$sent, $seen]: a loaded lab sees answers late.
timed() {
	answer $1 60
	seen=$(date +%s)
	case $answer in '' | *[!0-9]*) fail "$vm: no time from the guest ($1)"; answer=0 ;; esac
}

# lag WHAT MIN MAX: the guest's time less the lab's, somewhere within
# [$lo, $hi] (from timed), must be able to be within [MIN, MAX].
lag() {
	lo=$((answer - seen))
	hi=$((answer - sent))
	echo "$vm: $1: the guest's time is the lab's $lo to $hi s"
	[ $hi -ge $2 ] && [ $lo -le $3 ] ||
		fail "$vm: $1: the guest's time is the lab's $lo to $hi s, not within [$2, $3]"
}

# clock NAME VCPUS: one guest, checked; $panicked says whether it panicked.
clock() {
	vm=$1
	panicked=0
	if ! linux_boot $vm 300 --runtime-dir $t/run --cpus count=$2 \
		--memory size=128M,hugepages=2M,policy=bind,nodes=0 \
		--kernel $kernel --initrd $t/initrd.cpio --cpuid-pv off \
		--cmdline "console=ttyS0 reboot=acpi panic=-1 nokaslr loglevel=4"; then
		fail "$vm: the guest did not come up"
		return
	fi

	ask "dmesg | grep -i -E 'tsc|clocksource|rtc' | sed 's/^/GUEST-BOOT /'; echo GUEST-BOOT-END ."
	answer GUEST-BOOT-END 60
	tr -d '\r' < $t/$vm.raw | sed -n "s/^GUEST-BOOT /$vm: boot: /p"
	ask 'echo "GUEST-CLOCKSOURCE $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"'
	answer GUEST-CLOCKSOURCE 60
	clocksource=$answer
	echo "$vm: the guest's clocksource: $clocksource"
	ask 'echo "GUEST-DMESG-LINES $(dmesg | wc -l)"'
	answer GUEST-DMESG-LINES 60
	lines=$answer
	case $lines in '' | *[!0-9]*) lines=0 ;; esac

	# At boot: the time the kernel read from the RTC, and rtc0's own.
	sent=$(date +%s)
	ask 'echo "GUEST-TIME $(date +%s)"'
	timed GUEST-TIME
	lag boot -$skew $skew
	before=$answer
	sent=$(date +%s)
	ask 'echo "GUEST-RTC $(cat /sys/class/rtc/rtc0/since_epoch)"'
	timed GUEST-RTC
	lag rtc0 -$skew $skew

	# Paused: a command gets no answer, and nothing else comes out either.
	out=$(numaksm vm pause $vm --runtime-dir $t/run 2>&1) || fail "$vm: numaksm vm pause: $out"
	size=$(wc -c < $t/$vm.raw)
	ask 'echo "GUEST-AFTER $(date +%s)"'
	sleep $pause
	! grep -q '^GUEST-AFTER' $t/$vm.raw || fail "$vm: the guest answered while paused"
	now=$(wc -c < $t/$vm.raw)
	[ $now -eq $size ] || fail "$vm: the guest wrote $((now - size)) bytes while paused"
	echo "$vm: paused $pause s: $((now - size)) bytes from the guest"

	# Resumed: the answer comes, with the guest's time of now.
	sent=$(date +%s)
	out=$(numaksm vm resume $vm --runtime-dir $t/run 2>&1) || fail "$vm: numaksm vm resume: $out"
	timed GUEST-AFTER
	[ $answer -ge $before ] || fail "$vm: the guest's time went back from $before to $answer"
	if [ "$clocksource" = acpi_pm ]; then
		lag resume $((-pause - skew)) $skew
	else
		lag resume -$skew $skew
	fi
	resumed_lo=$lo
	resumed_hi=$hi

	# A few seconds on (the clocksource watchdog has run): the same lag
	# within 2 s, and what the kernel logged since the pause.
	sent=$(date +%s)
	ask 'sleep 5; echo "GUEST-LATER $(date +%s)"'
	timed GUEST-LATER
	lag later $((resumed_lo - 2)) $((resumed_hi + 2))
	ask "dmesg | tail -n +$((lines + 1)) | sed 's/^/GUEST-DMESG /'; echo GUEST-DMESG-END ."
	answer GUEST-DMESG-END 60
	tr -d '\r' < $t/$vm.raw | grep '^GUEST-DMESG ' > $t/$vm.dmesg
	echo "$vm: the guest's kernel since the pause: $(wc -l < $t/$vm.dmesg) lines"
	sed "s/^GUEST-DMESG /$vm:   /" $t/$vm.dmesg
	# (The clocksource watchdog skipping a check over the pause is no
	# complaint.)
	if grep -v 'Long readout interval, skipping watchdog check' $t/$vm.dmesg |
		grep -E -i 'unstable|lockup|rcu.*stall|stall.*rcu|watchdog|BUG:|WARNING:|Call Trace'; then
		fail "$vm: the guest's kernel complained after the pause"
	fi
	ask 'echo "GUEST-CLOCKSOURCE-NOW $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"'
	answer GUEST-CLOCKSOURCE-NOW 60
	[ "$answer" = "$clocksource" ] ||
		fail "$vm: the guest's clocksource was $clocksource before the pause, ${answer:-none} after"

	linux_poweroff $vm
	! { grep -q "the guest rebooted" $t/$vm.log && grep -q "Kernel panic" $t/$vm.raw; } ||
		panicked=1
}

clock clock 2
if [ $panicked -eq 1 ]; then
	echo "clock: the guest panicked (nested under TCG); its last lines:"
	tr -d '\r' < $t/clock.raw | grep -A3 "Kernel panic" | head -n 8
	echo "clock: once more"
	failed=0
	clock clock 2
fi

linux_end vmm-clock clock
