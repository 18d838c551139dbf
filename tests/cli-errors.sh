#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Bad input gets a message naming the value and what was expected, and the
# documented exit code (2 for usage errors, 1 for other failures).
set -u
numaksm=$1
fixtures=$2
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
failed=0
passed=0

# expect EXIT SUBSTRING ARGS...: run numaksm, check the exit code and that
# stderr (or stdout for exit 0) holds SUBSTRING.
expect() {
	want=$1 text=$2
	shift 2
	"$numaksm" "$@" > "$t/out" 2> "$t/err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		echo "FAIL: numaksm $* exited $rc, expected $want"; cat "$t/err"
		failed=$((failed + 1)); return
	fi
	if ! grep -qF -- "$text" "$t/err" "$t/out"; then
		echo "FAIL: numaksm $*: output lacks '$text':"; cat "$t/err" "$t/out"
		failed=$((failed + 1)); return
	fi
	passed=$((passed + 1))
}

fixture=$fixtures/debian12-hybrid-1node
expect 2 "Usage: numaksm"
expect 2 "unknown command 'bogus'" bogus
expect 2 "unknown command 'stauts': did you mean 'status'?" stauts
expect 2 "did you mean '--long'? see 'numaksm status --help'" status --lnog
expect 2 "did you mean '--force'? see 'numaksm zone --help'" zone try size=1M --forse
expect 0 "Usage: numaksm status" help status
expect 0 "numaksm ksm set [--unmerge]" help ksm set
expect 0 "help COMMAND [SUBCOMMAND]" help
# --runtime-dir after any command, with the store's own refusals.
rm -rf "$t/rd" && mkdir -p "$t/rd" && ln -s "$t" "$t/rd/link"
expect 1 "refusing runtime directory $t/rd/link: it is a symbolic link" place --undo x --runtime-dir "$t/rd/link"
expect 1 "refusing runtime directory $t/rd/link: it is a symbolic link" place --undo x --runtime-dir="$t/rd/link"
expect 2 "option '--runtime-dir' needs a value" pin show 1 --runtime-dir
expect 2 "--runtime-dir: an empty path" status --runtime-dir ""
# A --root that is not a tree is a bad command line for every reporting command.
for cmd in status hugepages "ksm show" "pin show 1" "exporter --textfile $t/x.prom"; do
	# shellcheck disable=SC2086
	expect 2 "/nonexistent/tree" $cmd --root /nonexistent/tree
done
expect 2 "unknown command 'stuff'" help stuff
expect 2 "invalid value 'maybe' for 'mergeable': expected on or off (yes/no, true/false, 1/0)" zone try size=1M,mergeable=maybe
expect 2 "unknown option '--frobnicate'" --frobnicate check
expect 0 "Usage: numaksm check" check --help
expect 0 "numaksm " --version
expect 2 "unknown option '--bogus'" check --bogus
expect 2 "see 'numaksm check --help'" check --bogus
expect 2 "option '--root' needs a value" check --root
expect 2 "unexpected argument 'extra'" check extra
expect 2 "cannot open host root '/nonexistent/tree'" check --root /nonexistent/tree
expect 2 "not a captured host tree" check --root "$t"
expect 0 "captured: live probes skipped" check --root "$fixture"
expect 0 '"live": false' check --json --root "$fixture"

# A zone larger than the host (or its node) can give is refused before it
# is mapped: nothing is created, the prefault never meets the OOM killer.
huge=$(($(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo) * 4 / 1048576 + 1))G
expect 1 "the host can give" zone try "size=$huge"
expect 1 "${huge%G} GiB needed" zone try "size=$huge,shared=on"
expect 1 "pass --force to map it anyway" zone try "size=$huge,thp=on"
expect 1 "zone zone1: node 0 can give" zone try "size=$huge,policy=bind,nodes=0"

# A tree whose files are malformed: a report all the same, the file named
# and what it leaves unknown, no crash.
cp -r "$fixture" "$t/broken"
echo "10 oops" > "$t/broken/sys/devices/system/node/node0/distance"
expect 0 "node0/distance is malformed: the distances from node 0 are unknown" check --root "$t/broken"
cp "$fixture/sys/devices/system/node/node0/distance" "$t/broken/sys/devices/system/node/node0/distance"
echo "0-x" > "$t/broken/sys/devices/system/node/online"
expect 0 "/sys/devices/system/node/online is malformed ('0-x'): the nodes are those with a directory" check --root "$t/broken"

# Firmware NUMA tables that contradict themselves are a WARN naming the
# CPUs and nodes; one flat distance row is not flat distances.
cp -r "$fixtures/lab-4node" "$t/overlap"
echo "2-5" > "$t/overlap/sys/devices/system/node/node1/cpulist"
echo "10 10 10 10" > "$t/overlap/sys/devices/system/node/node3/distance"
expect 0 "WARN  numa.cpus                CPUs 4-5 belong to more than one node (nodes 1-2)" check --root "$t/overlap"
expect 0 "INFO  numa.distances           distances: 10 12 20 20 | 12 10 20 20 | 21 21 10 12 | 10 10 10 10" check --root "$t/overlap"

# A kernel lacking files is reported, never a crash; a tree lacking the
# mount table is not a host without cgroups.
mkdir -p "$t/bare/proc"
echo "MemTotal: 1024 kB" > "$t/bare/proc/meminfo"
expect 0 "KSM is not available" check --root "$t/bare"
expect 0 "no NUMA information" check --root "$t/bare"
expect 0 "cgroup mounts unknown" check --root "$t/bare"
mkdir -p "$t/bare/proc/self"
echo "proc /proc proc rw 0 0" > "$t/bare/proc/self/mounts"
expect 0 "no cgroup filesystem mounted" check --root "$t/bare"

# Under --json an error is one JSON line on stderr, nothing on stdout; the
# command as typed, the exit status, the errno by name and number, the hint.
json_error() {
	want=$1 text=$2
	shift 2
	"$numaksm" "$@" > "$t/out" 2> "$t/err"
	rc=$?
	if [ "$rc" != "$want" ] || [ -s "$t/out" ] || [ "$(wc -l < "$t/err")" != 1 ] ||
		! grep -qF -- "$text" "$t/err"; then
		echo "FAIL: numaksm $*: exit $rc, expected $want and one line holding '$text':"
		cat "$t/out" "$t/err"
		failed=$((failed + 1)); return
	fi
	passed=$((passed + 1))
}
json_error 2 '{"schema_version":1,"command":"check","exit_status":2,"error":{"code":"EINVAL","errno":22,"message":"unknown option '"'--bogus'"'","hint":"see '"'numaksm check --help'"'"}}' check --json --bogus
json_error 2 '"command":"check","exit_status":2,"error":{"code":"ENOENT","errno":2' check --json --root /nonexistent/tree
json_error 2 '"command":"numaksm","exit_status":2,"error":{"code":"EINVAL","errno":22,"message":"unknown command '"'bogus'"'"' bogus --json
json_error 2 '"command":"zone try","exit_status":2' zone --json try
json_error 2 '"command":"pin plan","exit_status":2' pin plan --json --vcpus 0
json_error 1 '"command":"place","exit_status":1,"error":{"code":"EROFS"' place 1 --nodes 0 --json --root "$fixture"
# "--json" after "--" is not an option.
expect 2 "numaksm: unknown command 'bogus'" bogus -- --json

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
