#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Inner test vmm-console: numaksm-vmm's --console modes and its boot
# failures, with the kernel the lab carries (one vCPU, 128M of 2M pages).
#   socket  two clients of --console socket:PATH in turn (lab-console-client):
#           the first reads until the guest is ready and leaves, the second
#           sends a command and reads its answer; the socket is 0600 and gone
#           with the VMM, and nothing of the guest's goes to stdout; vm info
#           and vm list (from the registry entry) show it
#   pty     --console pty, on a devpts mounted here (the lab's /dev has
#           none): the pty's path is logged and in vm list, a command written
#           to it runs and its answer is read from it
#   file    --console file:PATH has the boot lines (loglevel=7; the file
#           0600); a symlink is refused
#   fault   a bzImage whose 64-bit entry triple-faults: exit 1 naming it
#   silent  a bzImage whose entry halts, --boot-timeout 5: exit 1 after 5 s,
#           the log naming where vCPU 0 stopped (its RIP, interrupts off)
# Every VM's runtime directory entries are gone at the end.  A guest that
# hangs in early boot (nested under TCG, now and then) is booted again once.
#
# Exit: 0 pass, 1 fail, 77 no numaksm-vmm, numaksm, /dev/kvm or kernel, or
# one host node.
. lab-linux-lib.sh
linux_start vmm-console
[ -d /sys/devices/system/node/node1 ] || { echo "vmm-console: one host node"; exit 77; }
command -v lab-console-client > /dev/null || { echo "vmm-console: no lab-console-client"; exit 77; }
trap '' PIPE

cat > $t/init << 'EOF'
#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
echo GUEST-UP
if grep -q waitcmd /proc/cmdline; then
	echo GUEST-READY
	if read -t 200 -r cmd; then
		echo "GUEST-IN $(eval "$cmd")"
	fi
fi
poweroff -f
EOF
linux_initramfs $t/init $t/initrd.cpio || { echo "cpio failed"; exit 1; }

# start NAME NODE CONSOLE KERNEL CMDLINE-EXTRA [OPTIONS...]
start() {
	name=$1 node=$2 console=$3 image=$4 extra=$5
	shift 5
	numaksm-vmm --name $name --runtime-dir $t/run \
		--memory size=128M,hugepages=2M,policy=bind,nodes=$node \
		--kernel $image --initrd $t/initrd.cpio --cpuid-pv off --console $console \
		--cmdline "console=ttyS0 reboot=acpi panic=-1 nokaslr loglevel=4 $extra" "$@" \
		< /dev/null > $t/$name.raw 2> $t/$name.log &
	echo $! > $t/$name.pid
}

# finish NAME SECS: wait for the VMM's end; $rc its status, $took its seconds.
finish() {
	pid=$(cat $t/$1.pid)
	linux_gone $pid $2 || { fail "$1: still running after $2 s"; kill $pid; }
	wait $pid
	rc=$?
	took=$(($(date +%s) - $(stat -c %Y $t/$1.pid)))
	echo "$1: numaksm-vmm exited $rc after $took s"
	linux_clean $t/run $1
}

# hung NAME OUT: the guest NAME, whose console is read into OUT, hung in
# early boot (nested under TCG, now and then: at the RTC read): say so,
# stop it, and let it be booted again once.
hung() {
	echo "$1: the guest hung in early boot (nested under TCG); its last lines:"
	tr -d '\r' < $2 | tail -n 5
	kill $(cat $t/$1.pid) 2> /dev/null
	wait $(cat $t/$1.pid)
}

# ---- socket -------------------------------------------------------------------
# The first client has no input (it shuts its sending side at once) and
# reads until the guest is ready; then it goes.  @return 0 when it was.
sock_boot() {
	rm -f $t/client1.out
	start sock 0 socket:$t/con.sock $kernel waitcmd --boot-timeout 300
	sock=$(cat $t/sock.pid)
	i=0
	while [ ! -S $t/con.sock ] && kill -0 $sock 2> /dev/null && [ $i -lt 120 ]; do
		sleep 1
		i=$((i + 1))
	done
	[ -S $t/con.sock ] || { fail "sock: no socket $t/con.sock"; return 0; }
	[ "$(stat -c %a $t/con.sock)" = 600 ] ||
		fail "sock: the socket's mode is $(stat -c %a $t/con.sock)"
	lab-console-client $t/con.sock < /dev/null > $t/client1.out 2>&1 &
	client=$!
	linux_wait $t/client1.out GUEST-READY $client 180
	ready=$?
	kill $client 2> /dev/null
	wait $client 2> /dev/null
	[ $ready -eq 0 ] && return 0
	hung sock $t/client1.out
	return 1
}
sock_boot || sock_boot || fail "sock: the first client saw no GUEST-READY"
out=$(numaksm vm info sock --runtime-dir $t/run 2>&1)
echo "$out" | grep "^Console"
echo "$out" | grep -q "^Console: socket $t/con.sock" || fail "sock: vm info has no console"
# vm list reads the console from the VM's registry entry.
out=$(numaksm vm list --runtime-dir $t/run 2>&1)
echo "$out" | grep "^sock "
echo "$out" | grep -q "^sock .* socket:$t/con.sock$" ||
	fail "sock: vm list has no console from the registry entry: $out"

# The second client's line goes to the guest; the answer comes back.
mkfifo $t/client2.in
lab-console-client $t/con.sock < $t/client2.in > $t/client2.out 2>&1 &
client=$!
exec 4> $t/client2.in
echo 'echo $((6 * 7))' >&4
linux_wait $t/client2.out "GUEST-IN" $client 200 || fail "sock: no answer on the second client"
exec 4>&-
finish sock 120
wait $client
tr -d '\r' < $t/client2.out | grep '^GUEST-IN'
[ $rc -eq 0 ] || fail "sock: numaksm-vmm exited $rc"
tr -d '\r' < $t/client2.out | grep -q '^GUEST-IN 42$' || fail "sock: the command did not run"
grep -q "console on $t/con.sock" $t/sock.log || fail "sock: no 'console on' in its log"
! grep -q GUEST $t/sock.raw || fail "sock: the guest's output went to stdout"
[ ! -e $t/con.sock ] || fail "sock: $t/con.sock is left"

# ---- pty ------------------------------------------------------------------------
# The lab's /dev has no devpts: /dev/ptmx needs one on /dev/pts.
if ! grep -q "^devpts /dev/pts " /proc/mounts; then
	mkdir -p /dev/pts
	mount -t devpts -o ptmxmode=0666 devpts /dev/pts || echo "vmm-console: cannot mount devpts"
fi
[ -e /dev/ptmx ] || mknod /dev/ptmx c 5 2
# @return 0 when the guest is ready, as read from its pty.
pty_boot() {
	start pty 1 pty $kernel waitcmd
	pty=$(cat $t/pty.pid)
	linux_wait $t/pty.log "console on /dev/pts/" $pty 120 ||
		{ fail "pty: no 'console on' in its log"; return 0; }
	pts=$(sed -n 's|.*console on \(/dev/pts/[0-9]*\).*|\1|p' $t/pty.log)
	echo "pty: the console is $pts"
	cat "$pts" > $t/pty.out 2>&1 &
	reader=$!
	linux_wait $t/pty.out GUEST-READY $pty 180 && return 0
	for task in /proc/$pty/task/*; do
		echo "pty: thread $(cat $task/comm): $(cut -d' ' -f3 $task/stat) $(cat $task/wchan)"
	done
	hung pty $t/pty.out
	kill $reader 2> /dev/null
	return 1
}
pty_boot || pty_boot || fail "pty: no GUEST-READY read from $pts"
numaksm vm list --runtime-dir $t/run 2>&1 | grep -q "^pty .* pty:$pts$" ||
	fail "pty: vm list does not show $pts from the registry entry"
echo 'echo $((6 * 9))' > "$pts"
linux_wait $t/pty.out GUEST-IN $pty 200 || fail "pty: no answer from $pts"
finish pty 120
kill $reader 2> /dev/null
tr -d '\r' < $t/pty.out | grep '^GUEST-IN'
[ $rc -eq 0 ] || fail "pty: numaksm-vmm exited $rc"
tr -d '\r' < $t/pty.out | grep -q '^GUEST-IN 54$' || fail "pty: the command did not run"
[ $failed -eq 0 ] || { echo "--- pty: what was read from $pts"; tr -d '\r' < $t/pty.out | tail -n 20; }

# ---- file -------------------------------------------------------------------
ln -s $t/con.log $t/link
numaksm-vmm --name link --runtime-dir $t/run --memory size=128M --kernel $kernel \
	--console file:$t/link > /dev/null 2> $t/link.log
rc=$?
cat $t/link.log
[ $rc -eq 2 ] || fail "link: numaksm-vmm exited $rc, not 2"
grep -q "symbolic link" $t/link.log || fail "link: the refusal does not name the symlink"
[ ! -e $t/con.log ] || fail "link: the symlink's target was created"
# @return 0 when the guest came up (it then powers off by itself).
file_boot() {
	start file 0 file:$t/con.log $kernel loglevel=7 --boot-timeout 300
	linux_wait $t/con.log GUEST-UP $(cat $t/file.pid) 180 && return 0
	hung file $t/con.log
	return 1
}
file_boot || file_boot || fail "file: no GUEST-UP in $t/con.log"
finish file 200
[ $rc -eq 0 ] || fail "file: numaksm-vmm exited $rc"
grep -q "Linux version" $t/con.log || fail "file: no boot lines in $t/con.log"
[ "$(stat -c %a $t/con.log)" = 600 ] || fail "file: $t/con.log's mode is $(stat -c %a $t/con.log)"
! grep -q GUEST $t/file.raw || fail "file: the guest's output went to stdout"
echo "file: $(grep -c . $t/con.log) lines in $t/con.log"

# ---- boot failures: the kernel's 64-bit entry patched -------------------------
# patch OUT BYTES: the kernel with BYTES (printf's octal) at its 64-bit
# entry, 0x200 into the protected-mode part after the setup sectors: the
# decompressor's, so these boot with --kernel-cache off.
patch() {
	setup=$(od -An -tu1 -j 497 -N1 $kernel | tr -d ' ')
	[ "$setup" -gt 0 ] || setup=4
	cp $kernel $1
	printf "$2" | dd of=$1 bs=1 seek=$(((setup + 1) * 512 + 512)) conv=notrunc 2> /dev/null
}
# lidt [rip+2] of a null IDT, ud2: #UD, #GP, #DF, shutdown.
patch $t/fault.bz '\017\001\035\002\000\000\000\017\013\000\000\000\000\000\000\000\000\000\000'
start fault 0 stdio $t/fault.bz "" --kernel-cache off
finish fault 120
cat $t/fault.log
[ $rc -eq 1 ] || fail "fault: numaksm-vmm exited $rc, not 1"
grep -q "the guest triple-faulted (KVM_EXIT_SHUTDOWN) at RIP .*: a kernel that does not fit" \
	$t/fault.log || fail "fault: the log does not name the triple fault"

# hlt; jmp back: a guest that never writes a byte.
patch $t/silent.bz '\364\353\375'
start silent 0 stdio $t/silent.bz "" --boot-timeout 5 --kernel-cache off
finish silent 120
cat $t/silent.log
[ $rc -eq 1 ] || fail "silent: numaksm-vmm exited $rc, not 1"
[ $took -ge 5 ] || fail "silent: stopped after $took s, before its --boot-timeout of 5 s"
grep -q "the guest wrote nothing to its console in 5 s: is console=ttyS0 on its command line?" \
	$t/silent.log || fail "silent: the log does not say the guest was silent"
grep -q "vCPU 0 stopped at RIP 0x[0-9a-f]* (RSP 0x[0-9a-f]*, RFLAGS 0x[0-9a-f]*: interrupts off;" \
	$t/silent.log || fail "silent: the log does not say where vCPU 0 stopped"

linux_end vmm-console sock pty file fault silent
