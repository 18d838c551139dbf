#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A foreign VM: QEMU (TCG, this host's kernel, a busybox initramfs built
# here, 256 MiB, -name guest=NAME,debug-threads=on) with KSM turned on for
# the test.  `numaksm status` must find it by name with kind qemu, its PID,
# RSS and vCPU thread, and KSM figures equal to its /proc/PID/ksm_stat;
# `numaksm place` must move it into numaksm/NAME (refusing what is wrong
# with nothing changed) and `place --undo` return every thread where it was.
# KSM's knobs are put back and QEMU is killed, whatever happens.
#
# Usage: test-status-qemu.sh NUMAKSM TEST-KSM-OWNER
set -u
numaksm=$1
ksm_owner=$2
name=numaksm-test-$$
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
for tool in qemu-system-x86_64 python3 cpio gzip; do
	command -v "$tool" > /dev/null || { echo "needs $tool"; exit 77; }
done
. "$(dirname "$0")/guest-lib.sh"
guest_prereqs
ksm=/sys/kernel/mm/ksm
[ -w $ksm/run ] || { echo "needs KSM"; exit 77; }
[ -r /proc/self/ksm_stat ] || { echo "needs /proc/PID/ksm_stat (Linux 6.1)"; exit 77; }

# No tuner (nor another test) may drive KSM meanwhile: own KSM's knobs for
# the whole test through a stand-in owner that holds the host-wide lock.
"$ksm_owner" > /tmp/numaksm-status-qemu-owner.$$ 2>&1 &
owner=$!
i=0
until grep -q ready /tmp/numaksm-status-qemu-owner.$$ 2> /dev/null; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 $owner 2> /dev/null; then
		echo "KSM is not ours: $(cat /tmp/numaksm-status-qemu-owner.$$)"
		rm -f /tmp/numaksm-status-qemu-owner.$$
		exit 77
	fi
	sleep 0.05
done
rm -f /tmp/numaksm-status-qemu-owner.$$

t=$(mktemp -d)
export NUMAKSM_RUNTIME_DIR="$t/run"
qemu=""
saved=""
cleanup() {
	[ -n "$qemu" ] && kill -9 "$qemu" 2> /dev/null && wait "$qemu" 2> /dev/null
	# KSM as it was: the knobs first (pages_to_scan is refused under the
	# scan-time advisor), then the advisor, then run.
	if [ -n "$saved" ]; then
		echo "$saved" | while read -r knob value; do
			[ "$knob" = run ] || [ "$knob" = advisor_mode ] || echo "$value" > $ksm/$knob
		done
		echo "$saved" | awk '$1 == "advisor_mode" { print $2 }' |
			while read -r v; do echo "$v" > $ksm/advisor_mode; done
		echo "$saved" | awk '$1 == "run" { print $2 }' > $ksm/run
	fi
	# A placement left behind by a failure is undone.
	"$numaksm" place --undo "$name" > /dev/null 2>&1
	# KSM is anyone's again.
	kill "$owner" 2> /dev/null && wait "$owner" 2> /dev/null
	rm -rf "$t"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
. "$(dirname "$0")/../unit/test-pin-lib.sh"
validate=$(dirname "$0")/../validate-json.py

# A tiny initramfs: busybox as init, idling.
guest_initramfs "$t"

saved=$(for k in run sleep_millisecs pages_to_scan advisor_mode; do
	[ -r $ksm/$k ] || continue
	v=$(cat $ksm/$k)
	[ "$k" = advisor_mode ] && v=$(echo "$v" | sed 's/.*\[\(.*\)\].*/\1/')
	echo "$k $v"
done)
[ -w $ksm/advisor_mode ] && echo none > $ksm/advisor_mode
echo 0 > $ksm/sleep_millisecs
echo 2000 > $ksm/pages_to_scan
echo 1 > $ksm/run

qemu-system-x86_64 -accel tcg -m 256M -name "guest=$name,debug-threads=on" \
	-kernel "$kernel" -initrd "$t/initrd.gz" -append "console=ttyS0 quiet" \
	-display none -nodefaults -monitor none -serial "file:$t/console.log" &
qemu=$!
up=0
for _ in $(seq 300); do
	grep -q numaksm-guest-up "$t/console.log" 2> /dev/null && up=1 && break
	sleep 0.1
done
[ "$up" = 1 ] || { echo "the guest did not boot"; cat "$t/console.log"; exit 1; }
# KSM merges some of the guest's pages, then stops (run=0 keeps them merged)
# so that ksm_stat holds still while status reads it.  Another KSM user on
# the host (a tuner under test) may change the knobs meanwhile: then fewer
# pages merge, and the comparison below still holds.
for _ in $(seq 300); do
	pages=$(awk '$1 == "ksm_merging_pages" { print $2 }' /proc/$qemu/ksm_stat)
	[ "${pages:-0}" -gt 100 ] && break
	sleep 0.1
done
echo 0 > $ksm/run
echo "QEMU $qemu: $(awk '$1 == "ksm_merging_pages"' /proc/$qemu/ksm_stat)"

# ---- status -----------------------------------------------------------------
cgroups_of() { # PID: every thread's cgroups, one line each
	for task in /proc/"$1"/task/*; do
		grep -E ':(cpuset|memory):|^0::' "$task/cgroup" | tr '\n' ' '
		awk '/^Cpus_allowed_list/ { print $2 }' "$task/status"
	done
}
before=$(cgroups_of $qemu)

# ksm_stat read just before and just after status: when both agree, status
# must show exactly that (else KSM moved meanwhile: read again).
for attempt in 1 2 3 4 5; do
	cat /proc/$qemu/ksm_stat > "$t/ksm.before"
	expect 0 '"command": "status"' status "$name" --json || break
	cat /proc/$qemu/ksm_stat > "$t/ksm.after"
	cmp -s "$t/ksm.before" "$t/ksm.after" && break
	echo "ksm_stat changed during the read (attempt $attempt)"
done
if [ -s "$t/out" ]; then
	python3 - "$t/out" "$qemu" "$name" "$t/ksm.after" << 'PY' || fail "status --json disagrees with /proc"
import json, sys
doc = json.load(open(sys.argv[1]))
pid, name = int(sys.argv[2]), sys.argv[3]
vms = [v for v in doc["vms"] if v["name"] == name]
assert len(vms) == 1, [v["name"] for v in doc["vms"]]
vm = vms[0]
assert vm["kind"] == "qemu" and vm["pid"] == pid, (vm["kind"], vm["pid"])
def kb(path, key):
    for line in open(path):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)
rollup = f"/proc/{pid}/smaps_rollup"
rss = kb(rollup, "Rss") + kb(rollup, "Shared_Hugetlb") + kb(rollup, "Private_Hugetlb")
# TCG keeps running: allow what a second of an idle guest changes.
assert abs(vm["rss_bytes"] - rss) <= max(rss // 50, 4 << 20), (vm["rss_bytes"], rss)
stat = dict(l.replace(":", "").split()[:2] for l in open(sys.argv[4]))
k = vm["ksm"]
for key, field in (("ksm_rmap_items", "rmap_item_count"), ("ksm_merging_pages", "merging_page_count"),
                   ("ksm_zero_pages", "zero_page_count"), ("ksm_process_profit", "profit_bytes")):
    assert k[field] == int(stat[key]), (field, k[field], stat[key])
assert k["mergeable"] is True, k
assert k["mergeable_bytes"] >= 256 << 20
ram = vm["guest_ram"]
assert ram["size_bytes"] == 256 << 20 and ram["size_from_command_line"], ram
assert ram["regions"] and all(r["mergeable"] for r in ram["regions"]), ram["regions"]
assert vm["vcpu_count"] == 1, vm["vcpu_count"]
assert vm["threads"][0]["name"].startswith("CPU 0/"), vm["threads"][0]
p = vm["placement"]
assert p["method"] == "move_pages" and sum(n["resident_bytes"] for n in p["per_node"]) > 0, p
# The guest's KSM pages are told apart on each node (every page looked at:
# 256 MiB is under the sample size): as many as it has merged, but for those
# in its other mergeable mappings (ROMs, video memory).
assert p["exact"] and all(n["ksm_bytes"] is not None for n in p["per_node"]), p
ksm_bytes = sum(n["ksm_bytes"] for n in p["per_node"])
outside = k["mergeable_bytes"] - sum(r["size_bytes"] for r in ram["regions"])
merged = k["merging_page_count"] * 4096
assert merged - outside <= ksm_bytes <= merged and ksm_bytes > 0, (ksm_bytes, merged, outside)
assert p["resident_bytes"] == sum(n["resident_bytes"] for n in p["per_node"]), p
host = doc["host"]
assert host["ksm"]["present"] and host["ksm"]["ksmd"]["pid"] > 0, host["ksm"]
print(f"status: {name} PID {pid}, RSS {vm['rss_bytes']}, KSM merging {k['merging_page_count']}")
PY
	"$validate" -q status "$t/out" || fail "status --json is not valid against its schema"
fi
expect 0 "$name: qemu, PID $qemu" status --long
# A line each: name, kind, PID, guest RAM, backing, main node, saving, pinned.
if expect 0 "NAME" status; then
	grep -Eq "^$name +qemu +$qemu +256 MiB +.* node[0-9]+ [0-9]+%.* no$" "$t/out" ||
		fail "status: no line for $name: $(cat "$t/out")"
fi
expect 0 "pages per node (" status "$qemu"
expect 1 "no VM named 'no-such-vm'" status no-such-vm
expect 2 "invalid --watch" status --watch 0

# ---- place: refusals change nothing -----------------------------------------
expect 1 "is below what VM $name uses now" place "$name" --nodes 0 --memory-max 1M
expect 1 "nodes 999 are not all allowed" place "$name" --nodes 999
expect 1 "CPUs 4096 are not all allowed" place "$name" --nodes 0 --cpus 4096
expect 1 "no process 999999999" place 999999999 --nodes 0
expect 2 "place needs --nodes" place "$name"
expect 1 "numaksm has placed no VM" place --undo "$name"
[ "$(cgroups_of $qemu)" = "$before" ] || fail "a refused placement changed the VM's cgroups"
[ ! -e /sys/fs/cgroup/cpuset/numaksm/"$name" ] || fail "a refused placement left a group"

# ---- place and undo ---------------------------------------------------------
cpu=$(cut -d- -f1 /sys/devices/system/cpu/online | cut -d, -f1)
if expect 0 '"command": "place"' place "$name" --nodes 0 --cpus "$cpu" --memory-max 2G \
	--migrate --json; then
	python3 - "$t/out" "$qemu" "$name" "$cpu" << 'PY' || fail "place --json disagrees with /proc"
import json, os, sys
doc = json.load(open(sys.argv[1]))
pid, name, cpu = int(sys.argv[2]), sys.argv[3], sys.argv[4]
vm, applied = doc["vm"], doc["applied"]
assert doc["action"] == "place" and vm["pid"] == pid and vm["name"] == name, doc
assert vm["kind"] == "qemu" and doc["group"] == f"numaksm/{name}", doc
assert applied["cpus"] == cpu and applied["nodes"] == "0", applied
assert applied["memory_max_bytes"] == 2 << 30, applied["memory_max_bytes"]
assert applied["vcpu_count"] == 1 and applied["pinned_vcpu_count"] == 1, applied
assert applied["migration"] is not None, applied
v = applied["verification"]
assert v["elsewhere_bytes"] == 0 and v["on_nodes_bytes"] > 0, v
# Every byte of guest RAM is somewhere: bytes, whatever the page sizes.
assert sum(v.values()) == 256 << 20, v
assert doc["previous_cgroups"], doc
for tid in os.listdir(f"/proc/{pid}/task"):
    lines = open(f"/proc/{pid}/task/{tid}/cgroup").read().splitlines()
    paths = {l.split(":")[1]: l.split(":", 2)[2] for l in lines}
    if doc["backend"] == "v1":
        assert paths["cpuset"] == paths["memory"] == f"/numaksm/{name}", (tid, paths)
    else:
        assert paths[""] == f"/numaksm/{name}", (tid, paths)
    status = open(f"/proc/{pid}/task/{tid}/status").read()
    allowed = [l.split()[1] for l in status.splitlines() if l.startswith("Cpus_allowed_list")]
    assert allowed == [cpu], (tid, allowed)
for d in doc["group_paths"]:
    assert os.path.isdir(d), d
print(f"placed in {doc['group_paths']}")
PY
	"$validate" -q place "$t/out" || fail "place --json is not valid against its schema"
fi
expect 1 "is placed already" place "$name" --nodes 0
expect 0 "$name: qemu" status "$name"
grep -q "numaksm/$name" "$t/out" || fail "status does not show the new cgroup"
if expect 0 "Returned $name" place --undo "$name"; then
	[ "$(cgroups_of $qemu)" = "$before" ] ||
		fail "undo did not return every thread's cgroups and affinity"
	[ ! -e /sys/fs/cgroup/cpuset/numaksm/"$name" ] || fail "undo left the group"
	[ ! -e "$NUMAKSM_RUNTIME_DIR/place-$qemu.json" ] || fail "undo left its state"
fi
finish
