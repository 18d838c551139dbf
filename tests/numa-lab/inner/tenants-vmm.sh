#!/bin/sh
# Inner test tenants-vmm (needs KVM): the tuner's tenant guard turning
# merging off.  Three numaksm-vmm VMs with the same content, red-1 and red-2
# of tenant red, blue-1 of tenant blue, all mergeable, merge_across_nodes=1:
# the tuner must keep red and blue from sharing a page.  numaksm-vmm's
# merging can be turned off from outside (its control socket), so the guard
# turns it off in the smaller tenant's VM (blue-1) and lets KSM merge red's:
# blue-1's zone is no longer mergeable, numaksm audit --tenants finds red's
# VMs sharing frames and no frame shared between red and blue.  KSM's knobs
# are put back by the tuner.
#
# Exit: 0 pass, 1 fail, 77 no KVM or no numaksm-vmm.
numaksm=${NUMAKSM:-numaksm}
vmm=${NUMAKSM_VMM:-numaksm-vmm}
[ -c /dev/kvm ] || { echo "tenants-vmm: no /dev/kvm"; exit 77; }
command -v "$vmm" > /dev/null || { echo "tenants-vmm: no numaksm-vmm"; exit 77; }
ksm=/sys/kernel/mm/ksm
[ -w $ksm/run ] || { echo "tenants-vmm: no KSM"; exit 77; }
t=$(mktemp -d) || exit 1
export NUMAKSM_RUNTIME_DIR=$t/run
vms="red-1 red-2 blue-1"
pids=""
tuner=""
failed=0
fail() { echo "FAIL: $*"; failed=1; }
cleanup() {
	[ -n "$tuner" ] && kill "$tuner" 2> /dev/null && wait "$tuner"
	for vm in $vms; do "$numaksm" vm stop "$vm" > /dev/null 2>&1; done
	for p in $pids; do kill "$p" 2> /dev/null; done
	wait 2> /dev/null
	rm -rf "$t"
}
trap cleanup EXIT
# wait_for SECONDS COMMAND...: until COMMAND succeeds.
wait_for() {
	s=$1
	shift
	i=0
	until "$@"; do
		i=$((i + 1))
		[ $i -gt $((s * 2)) ] && return 1
		sleep 0.5
	done
}

for vm in $vms; do
	"$vmm" --name "$vm" --memory size=16M,mergeable=on,prefault=on --cpus count=1 \
		--fill size=8M,shared=100,patterns=1024 --hold > "$t/$vm.out" 2>&1 &
	pids="$pids $!"
done
for vm in $vms; do
	wait_for 120 sh -c "'$numaksm' vm info $vm > /dev/null 2>&1" ||
		{ fail "$vm did not start: $(cat "$t/$vm.out")"; exit 1; }
done
cat > "$t/tenants.conf" << 'EOF2'
[ksm]
cpu_budget = 100%
[vm "red-*"]
tenant = red
[vm "blue-*"]
tenant = blue
EOF2
"$numaksm" tuned --config "$t/tenants.conf" 2> "$t/tuner.log" &
tuner=$!
wait_for 120 grep -q "tenants: merging turned off in VM blue-1 (tenant blue)" "$t/tuner.log" ||
	fail "the tuner did not turn blue-1's merging off: $(cat "$t/tuner.log")"
grep -q "tenants: unmerge: 2 tenants merge in common domains: merging turned off in 1 VM" \
	"$t/tuner.log" || fail "the tuner did not say how it keeps the tenants apart"
"$numaksm" vm info blue-1 --json > "$t/blue.json"
tr -d ' \n' < "$t/blue.json" | grep -q '"mergeable":false' ||
	fail "blue-1's zone is still mergeable: $(cat "$t/blue.json")"
"$numaksm" vm info red-1 --json | tr -d ' \n' | grep -q '"mergeable":true' ||
	fail "red-1's zone is no longer mergeable"
within() {
	"$numaksm" audit --tenants --config "$t/tenants.conf" --json > "$t/audit.json" 2> "$t/audit.err"
	echo $? > "$t/audit.rc"
	n=$(tr -d ' \n' < "$t/audit.json" | sed -n 's/.*"within_frame_count":\([0-9]*\).*/\1/p')
	[ "${n:-0}" -ge 256 ]
}
wait_for 240 within || fail "KSM did not merge red's VMs: $(cat "$t/audit.json" "$t/audit.err")"
[ "$(cat "$t/audit.rc")" = 0 ] || fail "the audit found frames shared between tenants: $(cat "$t/audit.json")"
cross=$(tr -d ' \n' < "$t/audit.json" | sed -n 's/.*"cross_frame_count":\([0-9]*\).*/\1/p')
[ "$cross" = 0 ] || fail "$cross frames shared between red and blue"
echo "red's VMs share $(tr -d ' \n' < "$t/audit.json" | sed -n 's/.*"within_frame_count":\([0-9]*\).*/\1/p') frames, red and blue $cross"
grep "tenants:" "$t/tuner.log" | sed 's/^/  /'
[ $failed = 0 ] && echo "tenants-vmm: passed"
exit $failed
