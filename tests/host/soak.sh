#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Soak: the tuner (with a [vm] rule that places VMs), status --watch and
# the exporter (scraped each round) run while VM-like processes come and go, processes with mergeable memory
# come and go, and zones are made and released.  At the end both long
# runners exit 0 (under AddressSanitizer: no leak), the tuner and the
# exporter have as many descriptors as after their first rounds and, unless
# built with ASan (whose quarantine holds freed memory), an RSS that did not
# grow; every
# placement is undone, the knobs are back, nothing is left behind.
#
# Usage: soak.sh NUMAKSM FAKE_VMM FLEET   ($NUMAKSM_SOAK_SECONDS, default 45)
set -u
numaksm=$1
fake=$2
fleet=$3
seconds=${NUMAKSM_SOAK_SECONDS:-45}
. "$(dirname "$0")/ksm-lib.sh"
ksm_require_free

t=$(mktemp -d)
export NUMAKSM_RUNTIME_DIR=$t/run
ksm_save "$t" "advisor_mode sleep_millisecs pages_to_scan run"
tuner=""
watch=""
exporter=""
pids=""
names=""
failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
cleanup() {
	for p in $pids; do kill -9 "$p" 2> /dev/null; done
	[ -n "$tuner" ] && kill -9 "$tuner" 2> /dev/null
	[ -n "$watch" ] && kill -9 "$watch" 2> /dev/null
	[ -n "$exporter" ] && kill -9 "$exporter" 2> /dev/null
	wait 2> /dev/null
	for n in $names; do "$numaksm" place --undo "$n" > /dev/null 2>&1; done
	"$numaksm" ksm restore > /dev/null 2>&1
	ksm_put_back "$t"
	rm -rf "$t"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fds() { ls "/proc/$1/fd" 2> /dev/null | wc -l; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2> /dev/null; }

cat > "$t/conf" << 'EOF'
[ksm]
mode = on
interval_min = 100ms
interval_max = 500ms

[vm "soak-*"]
nodes = 0
cpus = shared
EOF
"$numaksm" tuned --config "$t/conf" 2> "$t/tuner.log" &
tuner=$!
"$numaksm" status --watch 0.5 --json > "$t/watch.json" 2> "$t/watch.err" &
watch=$!
port=$((20000 + $$ % 20000))
"$numaksm" exporter --listen "127.0.0.1:$port" 2> "$t/exporter.log" &
exporter=$!
# scrape: GET /metrics (bash's /dev/tcp is not in sh: a tiny python)
scrape() {
	python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=30).read().decode())' "$port"
}

start=$(date +%s)
round=0
fds0=""
while [ $(($(date +%s) - start)) -lt "$seconds" ]; do
	round=$((round + 1))
	name=soak-$round
	"$fake" qemu 2 "$name" > "$t/ready.$round" &
	vm=$!
	"$fleet" 2 16 > "$t/fleet.$round" &
	merge=$!
	pids="$vm $merge"
	names="$names $name"
	"$numaksm" zone try "id=soak$round,size=32M,mergeable=on" > /dev/null 2>&1 ||
		fail "round $round: zone try failed"
	sleep 2
	"$numaksm" status "$name" > /dev/null 2>&1 || fail "round $round: status $name failed"
	scrape > "$t/metrics" 2> "$t/scrape.err" || fail "round $round: scrape: $(cat "$t/scrape.err")"
	grep -q "^numaksm_vm_info{vm=\"$name\"" "$t/metrics" || fail "round $round: $name not scraped"
	kill "$vm" "$merge"
	wait "$vm" "$merge" 2> /dev/null
	pids=""
	# The VM is gone; its group goes with the undo.
	"$numaksm" place --undo "$name" > /dev/null 2>&1
	kill -0 "$tuner" 2> /dev/null || { fail "the tuner died in round $round"; break; }
	kill -0 "$watch" 2> /dev/null || { fail "status --watch died in round $round"; break; }
	kill -0 "$exporter" 2> /dev/null || { fail "the exporter died in round $round"; break; }
	if [ $round = 3 ]; then
		fds0=$(fds "$tuner")
		rss0=$(rss_kb "$tuner")
		xfds0=$(fds "$exporter")
		xrss0=$(rss_kb "$exporter")
	fi
done
[ -n "$fds0" ] || fail "fewer than 3 rounds in $seconds s"
fds1=$(fds "$tuner")
rss1=$(rss_kb "$tuner")
asan=no
grep -q libasan "/proc/$tuner/maps" 2> /dev/null && asan=yes
echo "$round rounds in $seconds s; tuner: fds $fds0 -> $fds1, RSS ${rss0:-?} -> ${rss1:-?} kB (ASan: $asan)"
[ "$fds1" = "$fds0" ] || fail "the tuner's descriptors went from $fds0 to $fds1"
if [ $asan = no ] && [ -n "${rss0:-}" ] && [ $((rss1 - rss0)) -gt 4096 ]; then
	fail "the tuner's RSS grew by $((rss1 - rss0)) kB"
fi
xfds1=$(fds "$exporter")
xrss1=$(rss_kb "$exporter")
echo "exporter: fds ${xfds0:-?} -> $xfds1, RSS ${xrss0:-?} -> ${xrss1:-?} kB"
[ "$xfds1" = "${xfds0:-}" ] || fail "the exporter's descriptors went from ${xfds0:-?} to $xfds1"
if [ $asan = no ] && [ -n "${xrss0:-}" ] && [ $((xrss1 - xrss0)) -gt 4096 ]; then
	fail "the exporter's RSS grew by $((xrss1 - xrss0)) kB"
fi
grep -q "placed soak-" "$t/tuner.log" || fail "the tuner placed no VM: $(tail -n 5 "$t/tuner.log")"

kill -TERM "$tuner"
wait "$tuner"
rc=$?
tuner=""
[ $rc = 0 ] || { fail "the tuner exited $rc"; tail -n 20 "$t/tuner.log"; }
grep -q "tuner stopped: KSM settings restored" "$t/tuner.log" || fail "the tuner did not restore"
kill -TERM "$exporter"
wait "$exporter"
rc=$?
exporter=""
[ $rc = 0 ] || { fail "the exporter exited $rc"; tail -n 20 "$t/exporter.log"; }
kill -INT "$watch"
wait "$watch"
rc=$?
watch=""
[ $rc = 0 ] || { fail "status --watch exited $rc"; tail -n 20 "$t/watch.err"; }
lines=$(wc -l < "$t/watch.json")
[ "$lines" -ge $((seconds / 2)) ] || fail "status --watch printed $lines documents in $seconds s"
# Every placement undone: no group of a soak VM is left.
left=$(find /sys/fs/cgroup -maxdepth 3 -type d -name 'soak-*' 2> /dev/null)
[ -z "$left" ] || fail "groups left behind: $left"
[ -e /run/numaksm/ksm.state ] && fail "KSM's saved state is left behind"

echo "soak: $failed failures"
[ $failed = 0 ]
