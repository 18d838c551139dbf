#!/bin/sh
# /init of the NUMA lab guest (busybox sh). The runner (./lab) packs it into
# the initramfs with /lab/mode, /lab/topology, /lab/tests.list and /lab/bin,
# and, when the topology lists modules, /lab/modules.list and /lab/modules/.
#
# Everything the runner reads from the console is framed by "@@LAB" lines:
#   @@LAB BOOTED
#   @@LAB BEGIN <test>   ...output...   @@LAB END <test> rc=<N>
#   @@LAB GATHER BEGIN   ...base64 of a .tar.gz...   @@LAB GATHER END
#   @@LAB DONE
# A line with an unknown or missing frame means the guest died there.

/bin/busybox --install -s /bin
export PATH=/lab/bin:/bin HOME=/root TERM=${TERM:-vt100} LD_LIBRARY_PATH=/lab/lib

lab_fail() {
	echo "@@LAB SETUP-FAILED $*"
	poweroff -f
}

mount -t proc proc /proc || lab_fail "mount proc"
mount -t sysfs sysfs /sys || lab_fail "mount sysfs"
mount -t devtmpfs devtmpfs /dev || lab_fail "mount devtmpfs"
chmod 1777 /tmp
mkdir -p /dev/hugepages /root
mount -t hugetlbfs hugetlbfs /dev/hugepages || lab_fail "mount hugetlbfs"
# Pure cgroup v2, with the controllers numaksm drives handed to children.
mount -t cgroup2 cgroup2 /sys/fs/cgroup || lab_fail "mount cgroup2"
for c in cpuset cpu memory hugetlb pids; do
	echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || lab_fail "enable cgroup controller $c"
done

# The topology's kernel modules, in its order: /lab/modules.list has
# "NAME FILE" lines, FILE in /lab/modules.
loaded=
if [ -f /lab/modules.list ]; then
	while read -r name file; do
		if ! insmod "/lab/modules/$file"; then
			dmesg | tail -n 5
			lab_fail "insmod $name (/lab/modules/$file)"
		fi
		loaded="$loaded${loaded:+,}$name"
	done </lab/modules.list
fi

mode=$(cat /lab/mode)
test_timeout=$(cat /lab/test-timeout 2>/dev/null || echo 60)
echo "@@LAB BOOTED mode=$mode kernel=$(uname -r) nodes=$(cat /sys/devices/system/node/online)${loaded:+ modules=$loaded}"

run_tests() {
	# One test per line: NAME COMMAND...; COMMAND is run by sh -c.
	while read -r name cmd; do
		case "$name" in '' | '#'*) continue ;; esac
		# A test's own timeout comes first: "timeout=SECS COMMAND".
		t=$test_timeout
		case "$cmd" in timeout=*)
			t=${cmd%% *}
			t=${t#timeout=}
			cmd=${cmd#* }
			;;
		esac
		echo "@@LAB BEGIN $name"
		# busybox timeout stops a hung test so the others still run.
		timeout -s KILL "$t" sh -c "$cmd" </dev/null 2>&1
		rc=$?
		[ $rc -eq 137 ] && echo "lab: $name killed (timeout ${t}s or SIGKILL)"
		echo "@@LAB END $name rc=$rc"
	done </lab/tests.list
}

gather() {
	# The project's own gather-host-tree, the one used on real hosts.
	gather-host-tree /tmp/gather || echo "@@LAB SETUP-FAILED gather-host-tree exited $?"
	echo "@@LAB GATHER BEGIN"
	tar -czf - -C /tmp/gather . | base64
	echo "@@LAB GATHER END"
}

case "$mode" in
run)
	run_tests
	;;
gather)
	gather
	;;
shell)
	cat /lab/motd
	# cttyhack gives the shell a controlling tty, so ^C reaches the shell's jobs.
	setsid cttyhack sh -l
	;;
*)
	echo "@@LAB SETUP-FAILED unknown mode '$mode'"
	;;
esac
echo "@@LAB DONE"
poweroff -f
