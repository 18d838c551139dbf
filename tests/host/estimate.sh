#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# numaksm estimate against the content it reads and against KSM itself:
# three stand-in VMs of known content (a shared image, zero pages, their
# own duplicates, unique pages, untouched holes); the estimate equals the
# saving the content allows, a sampled estimate holds it within its bound,
# nothing is faulted in, the CPU budget holds; then KSM runs to the end and
# saves what was predicted.  KSM's knobs are put back.
#
# Usage: estimate.sh NUMAKSM
set -u
numaksm=$1
here=$(dirname "$0")
. "$here/ksm-lib.sh"
ksm_require_free
t=$(mktemp -d)
pids=""
failed=0
fail() { echo "FAIL: $*"; failed=1; }
ksm_save "$t" "run pages_to_scan sleep_millisecs max_page_sharing use_zero_pages"
cleanup() {
	for p in $pids; do kill "$p" 2> /dev/null; done
	wait 2> /dev/null
	echo 0 > $ksm/run
	ksm_put_back "$t"
	rm -rf "$t"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
echo 0 > $ksm/run
echo 2 > $ksm/run # nothing merged from before
echo 256 > $ksm/max_page_sharing
[ -e $ksm/use_zero_pages ] && echo 0 > $ksm/use_zero_pages

start() { # NAME SPEC...
	python3 "$here/estimate-vm.py" "$@" > "$t/$1.out" &
	pids="$pids $!"
	eval "pid_$1=$!"
}
start a image:1024 zero:1024 dup:512/4 unique:512 hole:1024 zread:1024
start b image:1024 unique:1536 hole:1024
start c image:1024 dup:256/2 unique:256
for _ in $(seq 100); do
	[ "$(cat "$t"/*.out | grep -c ready)" = 3 ] && break
	sleep 0.1
done
# The content allows: the image, 3 copies of 1024 pages: 2048; the zero
# pages with max_page_sharing 256: n - n/256; a's 128 contents x 4: 384;
# c's 128 contents x 2: 128.
# a's pages only read map the shared zero page where the kernel uses it
# for read faults (they cost nothing, KSM saves nothing on them); where it
# gives each a page of its own, they are 1024 more pages of zeros.
zread_zero=$(python3 - "$pid_a" << 'PY'
import sys
pid = int(sys.argv[1])
for line in open(f"/proc/{pid}/maps"):
    a, b = (int(x, 16) for x in line.split()[0].split("-"))
    if b - a == 5120 * 4096:
        start = a
with open(f"/proc/{pid}/pagemap", "rb") as f:
    f.seek((start // 4096 + 4096) * 8)
    pfn = int.from_bytes(f.read(8), "little") & ((1 << 55) - 1)
with open("/proc/kpageflags", "rb") as f:
    f.seek(pfn * 8)
    print(int.from_bytes(f.read(8), "little") >> 24 & 1)
PY
)
if [ "$zread_zero" = 1 ]; then
	zeros=1024 zero_mapped=1024
else
	zeros=2048 zero_mapped=0
fi
zero_saved=$((zeros - zeros / 256))
want=$(((2048 + zero_saved + 384 + 128) * 4096))
rss() { sed -n 's/^VmRSS:[^0-9]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }
rss_a=$(rss "$pid_a")

"$numaksm" estimate "$pid_a" "$pid_b" "$pid_c" --json > "$t/full.json" || fail "estimate: exit $?"
python3 - "$t/full.json" "$want" "$zeros" "$zero_mapped" "$zero_saved" << 'PY' || fail "the full estimate"
import json, sys
d, want = json.load(open(sys.argv[1])), int(sys.argv[2])
zeros, zero_mapped, zero_saved = (int(x) * 4096 for x in sys.argv[3:6])
MiB = 1 << 20
got = d["merge_across_nodes"]["saved_bytes"]
assert got == want, f"saved {got}, the content allows {want}"
assert d["merge_across_nodes"]["error_bytes"] == 0 and d["sample_count"] == 1
# One node here: per-node merging saves the same.
assert d["per_node_merging"]["saved_bytes"] == want, d["per_node_merging"]
a, b, c = d["vms"]
# The holes are not read, nor the pages mapping the zero page.
assert a["read_bytes"] == 3072 * 4096 + 4 * MiB - zero_mapped, a["read_bytes"]
assert a["zero_mapped_bytes"] == zero_mapped, a["zero_mapped_bytes"]
assert a["zero_bytes"] == zeros and b["zero_bytes"] == 0, a["zero_bytes"]
assert a["inside_saved_bytes"] == zero_saved + 384 * 4096, a["inside_saved_bytes"]
assert c["inside_saved_bytes"] == 128 * 4096, c["inside_saved_bytes"]
sh = {(v["vm"]["pid"], s["pid"]): s["bytes"] for v in d["vms"] for s in v["shared"]}
pa, pb, pc = (v["vm"]["pid"] for v in d["vms"])
# b holds a's image, not its zeros.
assert sh[(pa, pb)] == 4 * MiB and sh[(pb, pa)] == 4 * MiB and sh[(pc, pb)] == 4 * MiB, sh
# The VMs' fair shares add up to the host's saving.
assert abs(sum(v["saved_bytes"] for v in d["vms"]) - want) <= 3, [v["saved_bytes"] for v in d["vms"]]
print(f"full: {got} bytes as the content allows; a inside {a['inside_saved_bytes']}")
PY
[ "$(rss "$pid_a")" = "$rss_a" ] || fail "the estimate faulted pages in: VmRSS $rss_a -> $(rss "$pid_a") kB"

# Sampled: 1 content in 8; the truth within the 95% bound it states (the
# hashes are fixed, so this sample is too).
"$numaksm" estimate "$pid_a" "$pid_b" "$pid_c" --sample 8 --json > "$t/sampled.json" ||
	fail "estimate --sample 8: exit $?"
python3 - "$t/sampled.json" "$want" << 'PY' || fail "the sampled estimate"
import json, sys
d, want = json.load(open(sys.argv[1])), int(sys.argv[2])
m = d["merge_across_nodes"]
assert d["sample_count"] == 8 and m["error_bytes"] > 0, m
assert abs(m["saved_bytes"] - want) <= m["error_bytes"], (m, want)
print(f"sampled 1 in 8: {m['saved_bytes']} +- {m['error_bytes']} bytes, truth {want}")
PY

# The CPU budget: a tenth of a CPU, over the same pages.
"$numaksm" estimate "$pid_a" "$pid_b" "$pid_c" --cpu-budget 0.1 --json > "$t/slow.json" ||
	fail "estimate --cpu-budget 0.1: exit $?"
python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
share = d['cpu_seconds'] / d['wall_seconds']
assert share <= 0.15, share
print(f'budget 0.1: {d[\"cpu_seconds\"]:.3f} CPU-s over {d[\"wall_seconds\"]:.3f} s')
" "$t/slow.json" || fail "--cpu-budget 0.1 not held"

for f in full sampled slow; do
	python3 "$here/../validate-json.py" --quiet estimate "$t/$f.json" || fail "$f.json: not valid"
done

# Mistakes.
"$numaksm" estimate --sample 3 > "$t/out" 2>&1
[ $? = 2 ] && grep -q "power of two" "$t/out" || fail "--sample 3: $(cat "$t/out")"
"$numaksm" estimate --cpu-budget 0 > "$t/out" 2>&1
[ $? = 2 ] && grep -q "more than 0" "$t/out" || fail "--cpu-budget 0: $(cat "$t/out")"
"$numaksm" estimate 999999999 > "$t/out" 2>&1
[ $? != 0 ] && grep -q "no process" "$t/out" || fail "a PID that is not: $(cat "$t/out")"

# KSM itself, to the end: what it saves is what was predicted.
echo 5000 > $ksm/pages_to_scan
echo 10 > $ksm/sleep_millisecs
scans0=$(cat $ksm/full_scans)
echo 1 > $ksm/run
last=-1
for _ in $(seq 120); do
	sleep 1
	now=$(cat $ksm/pages_sharing)
	scans=$(cat $ksm/full_scans)
	# Settled: three full scans, and one more second merged nothing.
	[ "$now" = "$last" ] && [ $((scans - scans0)) -ge 3 ] && break
	last=$now
done
# The saving as the three VMs' RAM holds it: their present pages less the
# distinct frames they map (the zero page aside).  KSM's counters are the
# host's, and count any other process with mergeable memory too.
python3 - "$want" "$pid_a" "$pid_b" "$pid_c" << 'PY' || fail "KSM's saving is not what was predicted"
import sys
want, pids = int(sys.argv[1]), [int(p) for p in sys.argv[2:]]
present, frames = 0, set()
flags = open("/proc/kpageflags", "rb")
for pid in pids:
    # Its guest RAM: its largest anonymous mapping (no name).
    anon = [l.split()[0].split("-") for l in open(f"/proc/{pid}/maps") if len(l.split()) == 5]
    size, start = max((int(b, 16) - int(a, 16), int(a, 16)) for a, b in anon)
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(start // 4096 * 8)
        data = f.read(size // 4096 * 8)
    for i in range(0, len(data), 8):
        e = int.from_bytes(data[i:i + 8], "little")
        if not e >> 63:
            continue
        pfn = e & ((1 << 55) - 1)
        flags.seek(pfn * 8)
        if int.from_bytes(flags.read(8), "little") >> 24 & 1:
            continue  # the zero page
        present += 1
        frames.add(pfn)
saved = (present - len(frames)) * 4096
print(f"KSM saved {saved} bytes in the three VMs; predicted {want}: {100 * saved / want:.1f}%")
sys.exit(0 if abs(saved - want) <= 0.05 * want else 1)
PY

[ $failed = 0 ] && echo "estimate: passed"
exit $failed
