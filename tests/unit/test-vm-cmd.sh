#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `numaksm vm` without KVM: usage errors (exit 2), an empty runtime
# directory, a VM that does not exist (exit 1), and the control protocol
# against stand-in VMMs (fake-vmm): what the CLI prints, the requests it
# sends, and a refusal's error and hint printed once (exit 1).
#
# Usage: test-vm-cmd.sh NUMAKSM FAKE_VMM
set -u
numaksm=$1
fake=$2
t=$(mktemp -d)
pids=
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$t"' EXIT
# Never the real /run/numaksm.
run=$t/run
export NUMAKSM_RUNTIME_DIR="$run"
. "$(dirname "$0")/test-pin-lib.sh"

# vm ARGS...: run `numaksm vm ARGS`, keeping the exit code in $rc and the
# output in $t/out and $t/err.
vm() {
	"$numaksm" vm "$@" > "$t/out" 2> "$t/err"
	rc=$?
}

# has FILE TEXT: the last vm's stdout (out) or stderr (err) holds TEXT.
has() {
	if grep -qF -- "$2" "$t/$1"; then
		passed=$((passed + 1))
	else
		fail "'$2' not in the $1 of the last vm command:"
		cat "$t/out" "$t/err"
	fi
}

lacks() {
	if grep -qF -- "$2" "$t/$1"; then
		fail "'$2' in the $1 of the last vm command"
	else
		passed=$((passed + 1))
	fi
}

# exits CODE: the last vm exited CODE; an error is printed once.
exits() {
	if [ "$rc" != "$1" ]; then
		fail "exit $rc, expected $1:"
		cat "$t/out" "$t/err"
		return
	fi
	passed=$((passed + 1))
	errors=$(grep -c '^numaksm vm: ' "$t/err")
	want=1
	[ "$1" = 0 ] && want=0
	if [ "$errors" != "$want" ]; then
		fail "$errors error lines for exit $1:"
		cat "$t/err"
	fi
}

# sent LOG REQUEST: the last request the fake VMM logged in LOG (keys sorted).
sent() {
	last=$(tail -n 1 "$1" 2> /dev/null)
	if [ "$last" = "$2" ]; then
		passed=$((passed + 1))
	else
		fail "the VM got '$last', expected '$2'"
	fi
}

# Usage errors: exit 2, the problem named, nothing sent.
expect 2 "vm needs a command: list, info, pause, resume, stop, ksm or migrate" vm
expect 2 "Usage: numaksm vm list [--json]" vm
expect 0 "numaksm vm migrate NAME ZONE --nodes LIST" vm --help
expect 0 "Usage: numaksm vm info NAME [--json] [--runtime-dir DIR]" vm info --help
expect 0 "Usage: numaksm vm ksm NAME ZONE on|off [--runtime-dir DIR]" vm ksm --help
expect 0 "--nodes LIST" vm migrate --help
expect 2 "unknown vm command 'bogus': expected list, info, pause, resume, stop, ksm or migrate" vm bogus
expect 2 "vm info needs NAME" vm info
expect 2 "see 'numaksm vm info --help'" vm info
expect 2 "unexpected argument 'b'" vm info a b
expect 2 "unexpected argument 'x'" vm list x
expect 2 "vm ksm needs NAME ZONE on|off" vm ksm vm1 z0
expect 2 "invalid KSM setting 'maybe': expected on or off" vm ksm vm1 z0 maybe
expect 2 "vm migrate needs --nodes LIST" vm migrate vm1 z0
expect 2 "vm migrate needs NAME ZONE --nodes LIST" vm migrate vm1 --nodes 1
expect 2 "invalid --nodes '0-x': expected a node list such as 0-3,6" vm migrate vm1 z0 --nodes 0-x
expect 2 "option '--nodes' needs a value" vm migrate vm1 z0 --nodes
expect 2 "vm list takes no --nodes" vm list --nodes 1
expect 2 "vm stop takes no --json" vm stop vm1 --json
expect 2 "unknown option '--frobnicate'" vm pause vm1 --frobnicate
expect 2 "see 'numaksm vm pause --help'" vm pause vm1 --frobnicate
expect 2 "option '--runtime-dir' needs a value" vm list --runtime-dir
expect 2 "'bad name' is not a VM name" vm info "bad name"

# No VMs: nothing listed, exit 0; an unknown VM: exit 1, named.
vm list
exits 0
if [ "$(grep -vc '^NAME ' "$t/out")" != 0 ]; then
	fail "vm list without VMs printed more than a header:"
	cat "$t/out"
fi
vm list --json
exits 0
[ "$(tr -d ' \n' < "$t/out")" = '{"schema_version":1,"command":"vmlist","vms":[]}' ] ||
	fail "vm list --json without VMs: $(cat "$t/out")"
vm list --runtime-dir "$t/nonexistent"
exits 0
vm info nosuch
exits 1
has err "no VM named 'nosuch'"
has err "hint: 'numaksm vm list' shows the running VMs"
vm stop nosuch --runtime-dir "$t/elsewhere"
exits 1
has err "no VM named 'nosuch' (no runtime directory $t/elsewhere)"

# Stand-ins: vm1 answers, its entry recording a pty console; gone holds its
# entry without a socket; dying exits at its first request.  Only vm1 is
# listed, without an error.
pid=$("$fake" "$run" vm1 "$t/log" serve '{"mode": "pty", "path": "/dev/pts/7"}') ||
	fail "fake-vmm vm1 did not start"
pids="$pids $pid"
gone=$("$fake" "$run" gone "$t/log-gone" nosock) || fail "fake-vmm gone did not start"
pids="$pids $gone"
dying=$("$fake" "$run" dying "$t/log-dying" die) || fail "fake-vmm dying did not start"
pids="$pids $dying"
vm list
exits 0
has out "KSM-MERGING"
if ! grep -Eq "^vm1 +$pid +running +2 +1.5 GiB +2048 +pty:/dev/pts/7$" "$t/out"; then
	fail "vm list: no row 'vm1 $pid running 2 1.5 GiB 2048 pty:/dev/pts/7':"
	cat "$t/out"
fi
lacks out "gone"
lacks out "dying"
sent "$t/log" '{"command":"info","version":2}'
sent "$t/log-dying" '{"command":"info","version":2}'
vm list --json
exits 0
has out '"name": "vm1"'
has out "\"pid\": $pid"
has out '"state": "running"'
has out '"vcpu_count": 2'
has out '"guest_ram_bytes": 1610612736'
has out '"ksm_merging_page_count": 2048'
has out '"mode": "pty",'
has out '"path": "/dev/pts/7"'
has out '"command": "vm list"'
lacks out "gone"

# A registry entry whose console fails its checks (a path with an escape
# sequence): the VM is listed, its console is not, with a warning.
bad=$("$fake" "$run" badcon "$t/log-bad" serve \
	'{"mode": "file", "path": "/tmp/\u001b[2Jx"}') || fail "fake-vmm badcon did not start"
pids="$pids $bad"
vm list
exits 0
has err "numaksm: warning: refusing $run/vm/badcon.json: its console path holds a control character"
if ! grep -Eq "^badcon +$bad +running +2 +1.5 GiB +2048 +-$" "$t/out"; then
	fail "vm list: no row 'badcon $bad running 2 1.5 GiB 2048 -':"
	cat "$t/out"
fi
vm list --json
exits 0
has out '"console": null'
has err "\"log\":{\"level\":\"warning\",\"message\":\"refusing $run/vm/badcon.json: its console"
kill "$bad"
vm info gone
exits 1
has err "no VM named 'gone'"

# info: the summary and the VM's own object.
vm info vm1
exits 0
has out "VM vm1: running, PID $pid, up 12.5 s, 2 guest nodes, socket $run/vm1.sock"
has out "Zones (1.5 GiB of guest RAM):"
has out "z0: guest address 0x0, 1 GiB, backing hugetlb (2 MiB pages), policy bind, nodes 0, guest node 0"
has out "resident (exact): node0 1 GiB; 0 B not present"
has out "mergeable yes, KSM 8 MiB"
has out "z1: guest address 0x100000000, 512 MiB, backing 4k (4 KiB pages), policy interleave, nodes 0-1"
has out "resident (sampled): node0 256 MiB node1 256 MiB"
has out "mergeable no, KSM n/a"
has out "0: TID $((pid + 1)), running, planned CPUs 2, affinity 2 (verified), host node 0"
has out "passes 40, verified pages 1024, errors 0"
has out "passes 41, verified pages 0, errors 3 (first at guest address 0x100042000)"
has out "error: guest reported 3 wrong pages"
has out "Workload: write over 512 pages, passes until stopped, period 100 ms, verified"
has out "zero 20%, shared 50%, unique 30% (8 patterns), redirty 0.5%, seed 0x0000000000000001, salt 0x000000000000004d"
has out "Fill: 4096 pages written by the host in 0.250 s"
has out "Load: /srv/images/blob.bin at guest address 0x400000, 1 MiB"
has out "KSM (process): rmap items 4096, merging 2048 pages, zero pages 16; saves 6 MiB of 1 GiB mergeable"
has out "Migration of zone z1 to nodes 0: running, 1 GiB of 4 GiB gone through, 768 MiB moved, 0 pages failed, 1.500 s"
sent "$t/log" '{"command":"info","version":2}'
vm info vm1 --json
exits 0
has out '"command": "vm info"'
has out '"guest_address_end": 6442450944'
has out '"first_bad_guest_address": 4295237632'
has out '"ksm_bytes": null'
has out '"pass_checksum": "0x0000000000abcdef"'
# --runtime-dir wins over $NUMAKSM_RUNTIME_DIR.
NUMAKSM_RUNTIME_DIR=$t/elsewhere vm info vm1 --runtime-dir "$run"
exits 0
has out "VM vm1: running"

# pause, resume.
vm pause vm1
exits 0
has out "VM vm1: paused"
sent "$t/log" '{"command":"pause","version":2}'
vm list
has out "paused"
vm resume vm1
exits 0
has out "VM vm1: running"
sent "$t/log" '{"command":"resume","version":2}'

# ksm: set-mergeable with a boolean.
vm ksm vm1 z0 off
exits 0
has out "VM vm1 zone z0: KSM merging off"
sent "$t/log" '{"command":"set-mergeable","mergeable":false,"version":2,"zone":"z0"}'
vm info vm1
has out "mergeable no, KSM 8 MiB"
vm ksm vm1 z1 on
exits 0
has out "VM vm1 zone z1: KSM merging on"
sent "$t/log" '{"command":"set-mergeable","mergeable":true,"version":2,"zone":"z1"}'

# A refusal: the VM's error and hint, printed once, exit 1.
vm ksm vm1 bad on
exits 1
has err "numaksm vm: VM 'vm1': zone bad: the kernel refuses this"
has err "  hint: zone bad always refuses, for the tests"
sent "$t/log" '{"command":"set-mergeable","mergeable":true,"version":2,"zone":"bad"}'
vm migrate vm1 nosuch --nodes 1
exits 1
has err "VM 'vm1': no such zone in this VM"

# migrate: nodes as a string; the counts and the rate.
vm migrate vm1 z0 --nodes 1
exits 0
has out "VM vm1 zone z0 to nodes 1: 300 pages moved, 200 already there, 2 failed, 10 absent; 0.500 s, 1234.5 MB/s"
sent "$t/log" '{"command":"migrate","nodes":"1","version":2,"zone":"z0"}'
vm migrate vm1 bad --nodes 0-1
exits 1
has err "zone bad: the kernel refuses this"
has err "hint: zone bad always refuses"
sent "$t/log" '{"command":"migrate","nodes":"0-1","version":2,"zone":"bad"}'

# Usage errors never reach the VM.
requests=$(wc -l < "$t/log")
expect 2 "invalid KSM setting 'of'" vm ksm vm1 z0 of
expect 2 "invalid --nodes 'x'" vm migrate vm1 z0 --nodes x
expect 2 "vm pause takes no --nodes" vm pause vm1 --nodes 1
[ "$(wc -l < "$t/log")" = "$requests" ] || fail "a usage error sent a request"

# stop: the VM exits and is no longer listed.
vm stop vm1
exits 0
has out "VM vm1: stopping"
sent "$t/log" '{"command":"stop","version":2}'
for i in $(seq 50); do
	[ -e "$run/vm/vm1.json" ] || break
	sleep 0.1
done
vm list
exits 0
lacks out "vm1"
vm info vm1
exits 1
has err "no VM named 'vm1'"

finish
