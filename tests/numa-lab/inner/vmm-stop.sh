#!/bin/sh
# Inner test vmm-stop: `numaksm vm stop` asks a Linux guest on numaksm-vmm
# to power off. Two guests boot one after the other (one vCPU, 128M of 2M
# hugepages, one on each host node; one that does not come up is booted
# again, twice at most); their init prints GUEST-READY and sleeps.
#   listening: its init loads the ACPI button and evdev modules the lab
#     carries and powers off when the power button's input device reports:
#     stop must power it off (the VMM logs the power-off) well within
#     --stop-timeout 120
#   deaf: its init does not listen ("nobutton" on its command line): stop
#     must end it after --stop-timeout 5, not before, and say so
# Both VMMs exit 0 with nothing left in their runtime directory. Nested
# under TCG: about two minutes.
#
# Exit: 0 pass, 1 fail, 77 no numaksm-vmm, numaksm, /dev/kvm, kernel or
# button.ko/evdev.ko, or fewer than two host nodes.
. lab-linux-lib.sh
linux_start vmm-stop
[ -r /lab/files/button.ko ] && [ -r /lab/files/evdev.ko ] ||
	{ echo "vmm-stop: no /lab/files/button.ko and evdev.ko (lab run --file)"; exit 77; }
[ -d /sys/devices/system/node/node1 ] || { echo "vmm-stop: one host node"; exit 77; }
trap '' PIPE

linux_init $t/init
linux_initramfs $t/init $t/initrd.cpio || { echo "cpio failed"; exit 1; }

# boot NAME NODE STOP_TIMEOUT EXTRA_CMDLINE: the guest up, its VMM in the
# background.
boot() {
	linux_boot $1 300 --runtime-dir $t/run \
		--memory size=128M,hugepages=2M,policy=bind,nodes=$2 \
		--kernel $kernel --initrd $t/initrd.cpio --cpuid-pv off --stop-timeout $3 \
		--cmdline "console=ttyS0 reboot=acpi panic=-1 nokaslr loglevel=4 $4" ||
		fail "$1: the guest did not come up"
}

# stop NAME SECS_MAX: `numaksm vm stop`, then wait for the VMM; sets $rc and
# $took (seconds from the stop to the VMM's end).
stop() {
	pid=$(cat $t/$1.pid)
	s=$(date +%s)
	out=$(numaksm vm stop $1 --runtime-dir $t/run 2>&1) || fail "$1: numaksm vm stop: $out"
	echo "$1: $out"
	linux_gone $pid $2 || { fail "$1: still running $2 s after stop"; kill $pid; }
	wait $pid
	rc=$?
	took=$(($(date +%s) - s))
	tr -d '\r' < $t/$1.raw > $t/$1.console
	echo "$1: numaksm-vmm exited $rc, $took s after stop"
	grep -o "stop requested.*\|the guest powered off\|the guest did not power off.*" $t/$1.log |
		sed "s/^/$1: /"
}

# One after the other: booted together, nested guests hang in early boot
# more often.
boot listening 0 120 ""
boot deaf 1 5 nobutton
grep -q GUEST-LISTENING $t/listening.raw || fail "listening: its init found no power button"
# The guest's button driver must have enabled the event before it is pressed.
sleep 2

stop listening 100
[ $rc -eq 0 ] || fail "listening: numaksm-vmm exited $rc"
grep -q '^GUEST-POWER-BUTTON' $t/listening.console || fail "listening: no power button event"
grep -q "pressed the guest's power button;" $t/listening.log ||
	fail "listening: the VMM did not press the power button (or the guest had not enabled it)"
grep -q "the guest powered off" $t/listening.log || fail "listening: no power-off in the log"
! grep -q "did not power off" $t/listening.log || fail "listening: stopped by force"
linux_clean $t/run listening

stop deaf 60
[ $rc -eq 0 ] || fail "deaf: numaksm-vmm exited $rc"
[ $took -ge 5 ] || fail "deaf: stopped after $took s, before its --stop-timeout of 5 s"
grep -q "did not power off within 5 s of its power button: stopping it" $t/deaf.log ||
	fail "deaf: the VMM did not say it stopped the guest by force"
! grep -q GUEST-POWER-BUTTON $t/deaf.console || fail "deaf: the guest heard the button"
linux_clean $t/run deaf

linux_end vmm-stop listening deaf
