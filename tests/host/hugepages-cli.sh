#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# numaksm hugepages: reserve on node 0, see it in the report, put it back;
# refusals for unknown nodes and sizes.  The pool is restored on exit.
set -u
numaksm=$1
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
pool=/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages
[ -w "$pool" ] || { echo "no 2M pool on node 0"; exit 77; }
saved=$(cat "$pool")
t=$(mktemp -d)
trap 'echo "$saved" > "$pool"; rm -rf "$t"' EXIT
failed=0

want=$((saved + 2))
"$numaksm" hugepages reserve --node 0 --size 2M --count "$want" > "$t/out" || failed=1
grep -q "node 0: 2 MiB pool $saved -> $want pages (asked $want)" "$t/out" || { cat "$t/out"; failed=1; }
[ "$(cat "$pool")" = "$want" ] || { echo "pool is $(cat "$pool"), expected $want"; failed=1; }
"$numaksm" hugepages --json > "$t/json" || failed=1
python3 - "$t/json" "$want" <<'PY' || failed=1
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["command"] == "hugepages" and doc["live"] is True, doc
p = [p for p in doc["hugepage_pools"] if p["page_size_bytes"] == 2 << 20][0]
n0 = [n for n in p["per_node"] if n["node"] == 0][0]
assert n0["page_count"] == int(sys.argv[2]), n0
assert p["page_count"] >= n0["page_count"], p
print("hugepages --json: node 0 holds", n0["page_count"])
PY

# --add: that many more than the pool holds now.
"$numaksm" hugepages reserve --node 0 --size 2M --add 1 > "$t/out" || failed=1
grep -q "node 0: 2 MiB pool $want -> $((want + 1)) pages (asked $((want + 1)))" "$t/out" ||
	{ cat "$t/out"; failed=1; }
"$numaksm" hugepages reserve --node 0 --size 2M --count "$want" > /dev/null || failed=1
"$numaksm" hugepages reserve --size 2M --add 1 --count 3 2> "$t/err"
[ $? = 2 ] && grep -q -- "--count and --add: give one" "$t/err" || { cat "$t/err"; failed=1; }
"$numaksm" hugepages reserve --size 2M --add 0 2> "$t/err"
[ $? = 2 ] && grep -q -- "--add: number '0' is out of range" "$t/err" || { cat "$t/err"; failed=1; }

"$numaksm" hugepages reserve --node 999 --size 2M --count 1 2> "$t/err"
[ $? = 1 ] && grep -q "node 999 does not exist" "$t/err" || { cat "$t/err"; failed=1; }
"$numaksm" hugepages reserve --size 3M --count 1 2> "$t/err"
[ $? = 1 ] && grep -q "offers no 3072 kB hugepages" "$t/err" || { cat "$t/err"; failed=1; }
"$numaksm" hugepages reserve --size 2M 2> "$t/err"
[ $? = 2 ] && grep -q "needs --size and --count or --add" "$t/err" || { cat "$t/err"; failed=1; }
"$numaksm" hugepages reserve --node x --size 2M --count 1 2> "$t/err"
[ $? = 2 ] && grep -q -- "--node: invalid number 'x'" "$t/err" || { cat "$t/err"; failed=1; }
[ "$(cat "$pool")" = "$want" ] || { echo "a refused command changed the pool"; failed=1; }
[ $failed = 0 ] && echo "hugepages CLI: all checks passed"
exit $failed
