#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The runtime directory from the command line: whichever command creates it
# (pin apply, place, the VMM registry's vm commands reading it), it is
# mode 0700 and root's; one left 0755 by an older version becomes 0700; a
# symbolic link, another user's directory or one others may write to is
# refused by every command with a message saying why, and nothing is
# written through it.
#
# Usage: rundir-cli.sh NUMAKSM FAKE_VMM
set -u
numaksm=$1
fake=$2
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
t=$(mktemp -d)
failed=0
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2> /dev/null
	wait 2> /dev/null
	rm -rf "$t"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
	echo "FAIL: $*"
	failed=$((failed + 1))
}

mode_owner() {
	stat -c '%a %u' "$1"
}

# run EXPECTED_EXIT TEXT DIR ARGS...: numaksm with NUMAKSM_RUNTIME_DIR=DIR.
run() {
	want=$1 text=$2 dir=$3
	shift 3
	NUMAKSM_RUNTIME_DIR=$dir "$numaksm" "$@" > "$t/out" 2>&1
	rc=$?
	[ "$rc" = "$want" ] || fail "numaksm $* (runtime dir $dir): exit $rc, expected $want: $(cat "$t/out")"
	grep -qF -- "$text" "$t/out" || fail "numaksm $* (runtime dir $dir): no '$text' in: $(cat "$t/out")"
}

# ---- created by different commands: the same mode --------------------------
"$fake" qemu 1 rundir-vm > "$t/ready" &
pid=$!
for _ in $(seq 100); do grep -q ready "$t/ready" && break; sleep 0.05; done

run 0 "Applied and verified" "$t/by-pin/run" pin apply rundir-vm --policy shared
[ "$(mode_owner "$t/by-pin/run")" = "700 0" ] || fail "pin apply made $(mode_owner "$t/by-pin/run")"
[ "$(mode_owner "$t/by-pin/run/pins.json")" = "600 0" ] || fail "pins.json is $(mode_owner "$t/by-pin/run/pins.json")"

run 0 "" "$t/by-place/run" place rundir-vm --nodes 0
run 0 "" "$t/by-place/run" place --undo rundir-vm
[ "$(mode_owner "$t/by-place/run")" = "700 0" ] ||
	fail "place made $(mode_owner "$t/by-place/run")"

# Reading creates nothing.
run 0 "" "$t/by-list/run" vm list
[ ! -e "$t/by-list/run" ] || fail "vm list created the runtime directory"
run 0 "" "$t/by-show/run" pin show rundir-vm
[ ! -e "$t/by-show/run" ] || fail "pin show created the runtime directory"

# One an older version left 0755 is set to 0700.
mkdir -m 0755 "$t/old"
run 0 "" "$t/old" pin apply rundir-vm --policy shared
[ "$(mode_owner "$t/old")" = "700 0" ] || fail "an existing 0755 one stayed $(mode_owner "$t/old")"

# ---- refused: a link, another user's, writable by others --------------------
mkdir -m 0700 "$t/real"
ln -s "$t/real" "$t/link"
mkdir -m 0700 "$t/theirs"
chown 65534:65534 "$t/theirs"
mkdir -m 0700 "$t/open"
chmod 0777 "$t/open"
mkdir -m 0777 "$t/shared"

for args in "place rundir-vm --nodes 0" "pin apply rundir-vm --policy shared" "vm list" "vm info x"; do
	# shellcheck disable=SC2086
	run 1 "refusing runtime directory $t/link: it is a symbolic link" "$t/link" $args
	# shellcheck disable=SC2086
	run 1 "refusing runtime directory $t/theirs: it belongs to uid 65534" "$t/theirs" $args
	# shellcheck disable=SC2086
	run 1 "refusing runtime directory $t/open: other users may write to it" "$t/open" $args
done
# shellcheck disable=SC2086
run 1 "$t/shared is writable by other users and not sticky" "$t/shared/run" pin apply rundir-vm --policy shared
[ -z "$(ls -A "$t/real")" ] || fail "something was written through the link: $(ls -A "$t/real")"
[ ! -e "$t/shared/run" ] || fail "a runtime directory was made below a world-writable one"
[ "$(mode_owner "$t/open")" = "777 0" ] || fail "a refused directory was changed"

# ---- files planted inside: never followed --------------------------------
mkdir -m 0700 "$t/planted"
echo precious > "$t/target"
ln -s "$t/target" "$t/planted/pins.json"
ln -s "$t/target" "$t/planted/pins.lock"
run 1 "refusing $t/planted/pins.lock: it is a symbolic link" "$t/planted" pin apply rundir-vm --policy shared
[ "$(cat "$t/target")" = precious ] || fail "a planted link's target was written"
mkdir -m 0700 "$t/planted/vm"
mkfifo "$t/planted/vm/fifo.json"
timeout 10 env NUMAKSM_RUNTIME_DIR="$t/planted" "$numaksm" vm list > "$t/out" 2>&1
rc=$?
[ $rc = 0 ] || fail "vm list with a FIFO in vm/: exit $rc (124: it hung): $(cat "$t/out")"
grep -q "not a regular file" "$t/out" || fail "vm list did not say why it skipped the FIFO"

echo "runtime directory: $failed failure(s)"
[ $failed = 0 ]
