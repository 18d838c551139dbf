#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Tenants on real KSM, with three stand-in VMs that look like QEMU (a1 and
# a2 of tenant red, b1 of tenant blue) and hold the same 2048-page image:
#  - numaksm audit --tenants finds no shared frame before KSM runs;
#  - KSM merges the image across the three: the audit finds the 2048 frames
#    red and blue share (all KSM pages), by pair, and exits 1; with every VM
#    of one tenant it finds them within the tenant and exits 0;
#  - the tuner with that policy sees two tenants merging on one node whose
#    merging it cannot turn off: it stops KSM with an unmerge (run=2), and
#    the audit then finds no frame shared between tenants;
#  - when blue's VM ends, red alone merges: the tuner runs KSM again, red's
#    VMs share the image and the audit passes.
# KSM's knobs are put back as they were found.
#   tenants.sh NUMAKSM
set -u
numaksm=$1
here=$(dirname "$0")
. "$here/ksm-lib.sh"
ksm_require_free
t=$(mktemp -d)
export NUMAKSM_RUNTIME_DIR=$t/run
pids=""
tuner=""
failed=0
fail() { echo "FAIL: $*"; failed=1; }
ksm_save "$t" "run pages_to_scan sleep_millisecs max_page_sharing use_zero_pages advisor_mode"
cleanup() {
	[ -n "$tuner" ] && kill "$tuner" 2> /dev/null
	for p in $pids; do kill "$p" 2> /dev/null; done
	wait 2> /dev/null
	echo 2 > $ksm/run
	echo 0 > $ksm/run
	ksm_put_back "$t"
	rm -rf "$t"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
echo 0 > $ksm/run
echo 2 > $ksm/run # nothing merged from before
echo 0 > $ksm/run
echo 256 > $ksm/max_page_sharing
[ -e $ksm/use_zero_pages ] && echo 0 > $ksm/use_zero_pages

start() { # NAME SPEC...
	name=$1
	shift
	python3 "$here/estimate-vm.py" -name "guest=$name" "$@" > "$t/$name.out" &
	pids="$pids $!"
	eval "pid_$name=$!"
}
start a1 image:2048 unique:256
start a2 image:2048 unique:256
start b1 image:2048 unique:256
for _ in $(seq 100); do
	[ "$(cat "$t"/*.out | grep -c ready)" = 3 ] && break
	sleep 0.1
done
# Any other VM on the host (none on a test machine) joins red: a VM
# without a tenant would be a tenant of its own, and stop KSM.
cat > "$t/tenants.conf" << 'EOF'
[vm "a*"]
tenant = red
[vm "b*"]
tenant = blue
[vm "*"]
tenant = red
EOF
cat > "$t/one.conf" << 'EOF'
[vm "*"]
tenant = red
EOF
vms="$pid_a1 $pid_a2 $pid_b1"
knob() { sed 's/.*\[\(.*\)\].*/\1/' $ksm/$1; }
# wait_for SECONDS COMMAND...: until COMMAND succeeds.
wait_for() {
	s=$1
	shift
	i=0
	until "$@"; do
		i=$((i + 1))
		[ $i -gt $((s * 10)) ] && return 1
		sleep 0.1
	done
}
# merged FIELD N [PIDS]: the per-VM audit counts at least N in FIELD
# (KSM's host-wide counters would count other processes too).
merged() {
	"$numaksm" audit ${3:-$vms} --json 2> /dev/null |
		python3 -c "import json, sys; sys.exit(json.load(sys.stdin)['$1'] < $2)"
}

# audit NAME CONF WANT-EXIT [PIDS]: numaksm audit --tenants --json into $t/NAME.json.
audit() {
	"$numaksm" audit --tenants --config "$2" ${4:-$vms} --json > "$t/$1.json" 2> "$t/$1.err"
	rc=$?
	[ $rc = "$3" ] || { fail "$1: audit exit $rc, expected $3"; cat "$t/$1.err"; }
}
# check NAME CROSS CROSS-KSM WITHIN PAIRS: the audit's counts; PAIRS is
# "a1-b1:N a2-b1:N" (every pair with cross frames, by name).
check() {
	python3 - "$t/$1.json" "$2" "$3" "$4" "$5" << 'PY' || fail "$1: the audit's figures"
import json, sys
doc = json.load(open(sys.argv[1]))
cross, ksm, within = (int(x) for x in sys.argv[2:5])
name = {v["vm"]["pid"]: v["vm"]["name"] for v in doc["vms"]}
pairs = sorted(f'{"-".join(sorted((name[p["a"]], name[p["b"]])))}:{p["frame_count"]}'
               for p in doc["pairs"])
want = sorted(sys.argv[5].split())
ok = (doc["cross_frame_count"] == cross and doc["cross_ksm_frame_count"] == ksm
      and doc["within_frame_count"] == within and pairs == want
      and all(v["error"] is None for v in doc["vms"]))
print(f"{sys.argv[1].rsplit('/', 1)[1]}: cross {doc['cross_frame_count']} "
      f"(KSM {doc['cross_ksm_frame_count']}), within {doc['within_frame_count']}, "
      f"pairs {pairs}")
if doc["frames"]:
    f = doc["frames"][0]
    ok = ok and f["ksm"] and f["a"] != f["b"]
sys.exit(0 if ok else 1)
PY
}

# Before KSM: nothing shared.
audit before "$t/tenants.conf" 0
check before 0 0 0 ""

# KSM merges the image of the three VMs: 2048 frames, each mapped by all.
echo 4000 > $ksm/pages_to_scan
echo 10 > $ksm/sleep_millisecs
echo 1 > $ksm/run
wait_for 120 merged cross_frame_count 2048 || fail "KSM did not merge the image (pages_sharing $(cat $ksm/pages_sharing))"
echo 0 > $ksm/run
audit merged "$t/tenants.conf" 1
check merged 2048 2048 0 "a1-b1:2048 a2-b1:2048"
"$numaksm" audit --tenants --config "$t/tenants.conf" $vms > "$t/merged.txt"
[ $? = 1 ] || fail "merged: text audit exit, expected 1"
grep -q "Frames shared between tenants: 2048 (2048 of them KSM pages)" "$t/merged.txt" ||
	{ fail "merged: the text report"; cat "$t/merged.txt"; }
# One tenant: the same frames are shared within it.
audit one "$t/one.conf" 0
check one 0 0 2048 ""
# Without --tenants every VM is its own group: a1 and a2 share too.
"$numaksm" audit $vms --json > "$t/vms.json"
[ $? = 1 ] || fail "per VM: audit exit, expected 1"
check vms 2048 2048 0 "a1-a2:2048 a1-b1:2048 a2-b1:2048"

# The tuner: red and blue merge on one node, and QEMU's merging cannot be
# turned off from outside: KSM must not run.
"$numaksm" tuned --config "$t/tenants.conf" 2> "$t/tuner.log" &
tuner=$!
wait_for 60 grep -q "tenants: stop: tenants red (VM .*) and blue (VM b1) both merge" "$t/tuner.log" ||
	{ fail "the tuner did not stop KSM for the tenants"; cat "$t/tuner.log"; }
wait_for 60 sh -c "[ \"\$(sed 's/.*\[\(.*\)\].*/\1/' $ksm/run)\" = 2 ] && [ \$(cat $ksm/pages_sharing) = 0 ]" ||
	fail "KSM was not stopped and unmerged (run $(knob run), pages_sharing $(cat $ksm/pages_sharing))"
audit guarded "$t/tenants.conf" 0
check guarded 0 0 0 ""
sleep 3 # a few rounds more: KSM stays stopped
[ "$(knob run)" = 2 ] || fail "KSM ran again while the tenants meet (run $(knob run))"

# Blue's VM ends: red alone merges, and KSM runs again.
kill "$pid_b1"
wait_for 60 grep -q "tenants: alone: one tenant merges" "$t/tuner.log" ||
	{ fail "the tuner did not see blue go"; cat "$t/tuner.log"; }
wait_for 120 merged cross_frame_count 2048 "$pid_a1 $pid_a2" ||
	fail "KSM did not merge red's VMs again (run $(knob run), pages_sharing $(cat $ksm/pages_sharing))"
audit red "$t/tenants.conf" 0 "$pid_a1 $pid_a2"
check red 0 0 2048 ""
kill "$tuner"
wait "$tuner"
rc=$?
tuner=""
[ $rc = 0 ] || fail "the tuner exited $rc on SIGTERM"

for doc in before merged one vms guarded red; do
	python3 "$here/../validate-json.py" --quiet audit "$t/$doc.json" ||
		fail "$doc: not valid against numaksm-audit.schema.json"
done

# Bad input: no policy file, and a policy that is not one.
"$numaksm" audit --tenants --config "$t/none.conf" "$pid_a1" > /dev/null 2> "$t/none.err"
[ $? = 1 ] && grep -q "cannot open policy file $t/none.conf" "$t/none.err" ||
	fail "a missing policy file: $(cat "$t/none.err")"
printf '[vm "a*"]\ntenant = red team\n' > "$t/bad.conf"
"$numaksm" audit --tenants --config "$t/bad.conf" "$pid_a1" > /dev/null 2> "$t/bad.err"
[ $? = 1 ] && grep -q "bad.conf:2: invalid tenant 'red team'" "$t/bad.err" ||
	fail "a bad policy file: $(cat "$t/bad.err")"
"$numaksm" audit --config "$t/tenants.conf" > /dev/null 2> "$t/usage.err"
[ $? = 2 ] || fail "--config without --tenants: not a usage error"
[ $failed = 0 ] && echo "tenants: audit and guard hold"
exit $failed
