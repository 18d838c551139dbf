#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A libvirt domain end to end, with the real libvirtd: a QEMU TCG domain
# (direct kernel boot of this host's kernel and a busybox initramfs built
# here, 2 vCPUs, 256 MiB) is defined; `numaksm libvirt apply` must refuse a
# missing domain, missing hugepages and a plan libvirt rejects, each with
# the definition unchanged; then merge a plan of 2 guest NUMA cells on 2M
# hugepages, which must hold once the domain runs: `virsh vcpupin`,
# `virsh emulatorpin`, `virsh numatune`, each vCPU thread's
# Cpus_allowed_list and the guest RAM's numa_maps.  `numaksm status` must
# show it as a libvirt domain with its UUID and no drift, then the drift a
# manual `virsh vcpupin` makes; --live then re-pins the running domain.
# numaksm's libvirt hook (installed for the libvirtd this test starts)
# must enter the running domain in the pin state and drop it when it stops.
#
# hugetlbfs is mounted on /dev/hugepages before libvirtd starts (libvirt
# reads the mounts once); virtlogd and libvirtd are started when they do
# not run.  Whatever happens, the test destroys and undefines its domain,
# stops the daemons it started, puts nr_hugepages back and unmounts what
# it mounted.
#
# Usage: test-libvirt.sh NUMAKSM
set -u
numaksm=$1
name=numaksm-test-$$
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
for tool in virsh libvirtd virtlogd qemu-system-x86_64 cpio gzip; do
	command -v "$tool" > /dev/null || { echo "needs $tool (scripts/setup installs it)"; exit 77; }
done
. "$(dirname "$0")/guest-lib.sh"
guest_prereqs
pool=/sys/devices/system/node/node0/hugepages/hugepages-2048kB
[ -w $pool/nr_hugepages ] || { echo "needs 2M hugepages on node 0"; exit 77; }

t=$(mktemp -d)
# QEMU runs as libvirt-qemu: it must reach the kernel, initramfs and console.
chmod 755 "$t"
export NUMAKSM_RUNTIME_DIR="$t/run"
export LIBVIRT_DEFAULT_URI=qemu:///system
mounted=no
hook=""
made_hookdir=no
hookdir=/etc/libvirt/hooks/qemu.d
started_virtlogd=""
started_libvirtd=""
saved_pages=$(cat $pool/nr_hugepages)

daemon_pid() { # NAME: its PID if it runs
	pid=$(cat "/run/$1.pid" 2> /dev/null) && [ -n "$pid" ] &&
		[ "$(cat /proc/"$pid"/comm 2> /dev/null)" = "$1" ] && echo "$pid"
}
stop_daemon() { # PID
	[ -n "$1" ] || return 0
	kill "$1" 2> /dev/null
	for _ in $(seq 100); do
		kill -0 "$1" 2> /dev/null || return 0
		sleep 0.1
	done
	kill -9 "$1" 2> /dev/null
}
cleanup() {
	if [ -n "$started_libvirtd" ] || daemon_pid libvirtd > /dev/null; then
		virsh destroy "$name" > /dev/null 2>&1
		virsh undefine "$name" > /dev/null 2>&1
	fi
	stop_daemon "$started_libvirtd"
	stop_daemon "$started_virtlogd"
	[ -n "$hook" ] && rm -f "$hook"
	[ $made_hookdir = yes ] && rmdir "$hookdir"
	echo "$saved_pages" > $pool/nr_hugepages
	[ $mounted = yes ] && umount /dev/hugepages
	rm -rf "$t"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
. "$(dirname "$0")/../unit/test-pin-lib.sh"

# ---- the daemons --------------------------------------------------------------
if ! grep -q ' /dev/hugepages hugetlbfs ' /proc/mounts; then
	if daemon_pid libvirtd > /dev/null; then
		echo "libvirtd runs without hugetlbfs on /dev/hugepages: it cannot back a domain" \
			"with hugepages until it restarts with one mounted"
		exit 77
	fi
	mkdir -p /dev/hugepages
	mount -t hugetlbfs -o pagesize=2M hugetlbfs /dev/hugepages || exit 1
	mounted=yes
fi
mkdir -p /var/log/libvirt
if ! daemon_pid virtlogd > /dev/null; then
	virtlogd -d || { echo "virtlogd did not start"; exit 1; }
	started_virtlogd=$(daemon_pid virtlogd)
fi
if ! daemon_pid libvirtd > /dev/null; then
	# numaksm's hook, read when libvirtd starts, calling this numaksm with
	# this test's runtime directory.
	[ -d $hookdir ] || { mkdir -p $hookdir && made_hookdir=yes; }
	hook=$hookdir/numaksm-test-$$
	{
		echo "#!/bin/sh"
		echo "export NUMAKSM='$(realpath "$numaksm")' NUMAKSM_RUNTIME_DIR='$t/run'" \
			"NUMAKSM_HOOK_LOG='$t/hook.log'"
		tail -n +2 "$(dirname "$0")/../../dist/libvirt/hooks/qemu"
	} > "$hook"
	chmod 755 "$hook"
	libvirtd -d || { echo "libvirtd did not start"; exit 1; }
	started_libvirtd=$(daemon_pid libvirtd)
fi
up=0
for _ in $(seq 100); do
	virsh version > /dev/null 2>&1 && up=1 && break
	sleep 0.1
done
[ $up = 1 ] || { echo "libvirtd does not answer"; tail -20 /var/log/libvirt/libvirtd.log; exit 1; }
echo "libvirtd ${started_libvirtd:+started here as }${started_libvirtd:-already running}"

# ---- the domain ---------------------------------------------------------------
guest_initramfs "$t"
cp "$kernel" "$t/vmlinuz"
cat > "$t/domain.xml" << EOF
<domain type='qemu'>
  <name>$name</name>
  <description>numaksm host test: kept as it is</description>
  <memory unit='MiB'>256</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$t/vmlinuz</kernel>
    <initrd>$t/initrd.gz</initrd>
    <cmdline>console=ttyS0 quiet</cmdline>
  </os>
  <features>
    <acpi/>
  </features>
  <cpu>
    <topology sockets='1' dies='1' cores='2' threads='1'/>
  </cpu>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <serial type='file'>
      <source path='$t/console.log'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
virsh define "$t/domain.xml" > /dev/null || { echo "libvirt refused the test domain"; exit 1; }
definition() { virsh dumpxml --inactive --security-info "$name"; }
definition > "$t/defined.xml"
unchanged() { # WHAT: the definition is what it was
	definition > "$t/now.xml"
	if cmp -s "$t/defined.xml" "$t/now.xml"; then
		passed=$((passed + 1))
	else
		fail "$1 changed the definition"
		diff -u "$t/defined.xml" "$t/now.xml"
	fi
}

# ---- refusals: nothing changes --------------------------------------------------
plan="--guest-nodes 2 --nodes 0 --hugepages 2M"
expect 1 "no libvirt domain 'no-such-$name' at qemu:///system" libvirt apply "no-such-$name"
echo 0 > $pool/nr_hugepages
# shellcheck disable=SC2086
expect 1 "hugepages missing: domain '$name' needs 128 pages of 2 MiB on host node 0, which has 0 free" \
	libvirt apply "$name" $plan
unchanged "a refused plan (hugepages)"
echo 140 > $pool/nr_hugepages
[ "$(cat $pool/free_hugepages)" -ge 128 ] || { echo "the kernel gave too few 2M pages"; exit 77; }
# One vCPU does not match the domain's 1x2x1 CPU topology: libvirt says so.
expect 1 "libvirt refused the plan for domain '$name'" libvirt apply "$name" --vcpus 1 --nodes 0
grep -q "CPU topology doesn't match" "$t/err" || fail "libvirt's own message is not shown: $(cat "$t/err")"
unchanged "a plan libvirt refused"
expect 1 "--live: domain '$name' is not running" libvirt apply "$name" $plan --live

# ---- the plan, defined ------------------------------------------------------------
# shellcheck disable=SC2086
expect 0 "Domain '$name': defined with this plan" libvirt apply "$name" $plan
definition > "$t/planned.xml"
# shellcheck disable=SC2086
"$numaksm" pin plan --vcpus 2 $plan --memory 256M --format libvirt > "$t/fragments.xml"
cpu0=$(sed -n 's/.*<vcpupin vcpu="0" cpuset="\([0-9,-]*\)".*/\1/p' "$t/fragments.xml")
cpu1=$(sed -n 's/.*<vcpupin vcpu="1" cpuset="\([0-9,-]*\)".*/\1/p' "$t/fragments.xml")
emu=$(sed -n 's/.*<emulatorpin cpuset="\([0-9,-]*\)".*/\1/p' "$t/fragments.xml")
has() { # WHAT TEXT: the new definition holds TEXT
	if grep -qF -- "$2" "$t/planned.xml"; then
		passed=$((passed + 1))
	else
		fail "the definition lacks $1: $2"
	fi
}
has "vCPU 0's pin" "<vcpupin vcpu='0' cpuset='$cpu0'/>"
has "vCPU 1's pin" "<vcpupin vcpu='1' cpuset='$cpu1'/>"
has "the emulator's pin" "<emulatorpin cpuset='$emu'/>"
has "the memory's nodes" "<memory mode='strict' nodeset='0'/>"
has "cell 0's node" "<memnode cellid='0' mode='strict' nodeset='0'/>"
has "cell 1's node" "<memnode cellid='1' mode='strict' nodeset='0'/>"
has "cell 0" "<cell id='0' cpus='0' memory='131072' unit='KiB'/>"
has "cell 1" "<cell id='1' cpus='1' memory='131072' unit='KiB'/>"
has "the hugepages" "<page size='2048' unit='KiB' nodeset='0-1'/>"
has "the description" "<description>numaksm host test: kept as it is</description>"
has "the CPU topology" "<topology sockets='1' dies='1' cores='2' threads='1'/>"
has "the kernel" "<kernel>$t/vmlinuz</kernel>"

# ---- started: the plan holds --------------------------------------------------------
free_before=$(cat $pool/free_hugepages)
virsh start "$name" > /dev/null || { echo "the domain did not start"; tail -20 /var/log/libvirt/qemu/"$name".log; exit 1; }
up=0
for _ in $(seq 600); do
	grep -q numaksm-guest-up "$t/console.log" 2> /dev/null && up=1 && break
	sleep 0.1
done
[ $up = 1 ] || { echo "the guest did not boot"; cat "$t/console.log"; exit 1; }
if grep -q "numaksm-guest-up nodes=2" "$t/console.log"; then
	passed=$((passed + 1))
else
	fail "the guest does not see 2 NUMA nodes: $(grep numaksm-guest-up "$t/console.log")"
fi
pid=$(cat /run/libvirt/qemu/"$name".pid)
echo "domain $name runs as QEMU PID $pid"

check() { # WHAT GOT WANT
	if [ "$2" = "$3" ]; then
		passed=$((passed + 1))
	else
		fail "$1: '$2', expected '$3'"
	fi
}
vcpupin() { virsh vcpupin "$name" | awk -v v="$1" '$1 == v { print $2 }'; }
check "virsh vcpupin 0" "$(vcpupin 0)" "$cpu0"
check "virsh vcpupin 1" "$(vcpupin 1)" "$cpu1"
check "virsh emulatorpin" "$(virsh emulatorpin "$name" | awk '$1 == "*:" { print $2 }')" "$emu"
check "virsh numatune mode" "$(virsh numatune "$name" | awk '$1 == "numa_mode" { print $3 }')" strict
check "virsh numatune nodeset" "$(virsh numatune "$name" | awk '$1 == "numa_nodeset" { print $3 }')" 0
allowed() { # THREAD-NAME: its Cpus_allowed_list
	for task in /proc/"$pid"/task/*; do
		[ "$(cat "$task/comm")" = "$1" ] && awk '/^Cpus_allowed_list/ { print $2 }' "$task/status"
	done
}
check "CPU 0/TCG's affinity" "$(allowed "CPU 0/TCG")" "$cpu0"
check "CPU 1/TCG's affinity" "$(allowed "CPU 1/TCG")" "$cpu1"
# The guest RAM: hugetlbfs mappings bound to node 0, 128 pages of 2M in all.
huge=$(awk '/huge/ && / bind:0 / {
	for (i = 1; i <= NF; i++) if ($i ~ /^N0=/) { sub("N0=", "", $i); n += $i }
} END { print n + 0 }' /proc/"$pid"/numa_maps)
check "guest RAM in 2M pages bound to node 0 (numa_maps)" "$huge" 128
check "2M pages the domain took" "$((free_before - $(cat $pool/free_hugepages)))" 128

# ---- the hook: the domain entered in numaksm's pin state as it runs -----------------
pins_entry() { # the domain's entry in the pin state: POLICY DEDICATED, or "none"
	python3 -c '
import json, sys
try:
    entries = json.load(open(sys.argv[1]))["entries"]
except FileNotFoundError:
    entries = []
found = [e for e in entries if e["name"] == sys.argv[2]]
print(" ".join([found[0]["policy"], found[0]["dedicated"]]) if found else "none")' \
		"$t/run/pins.json" "$name"
}
if [ -n "$hook" ]; then
	check "the hook's record of the started domain (pins.json)" "$(pins_entry)" \
		"dedicated $(cat /sys/devices/system/node/node0/cpulist)"
	grep -q "Recorded libvirt $name (PID $pid): dedicated CPUs" "$t/hook.log" &&
		passed=$((passed + 1)) || fail "the hook's log: $(cat "$t/hook.log")"
else
	echo "libvirtd was running already: its hooks were read before this test; hook not checked"
fi

# ---- status and the exporter: a libvirt domain, and drift from its definition ------
uuid=$(virsh domuuid "$name")
status_libvirt() { # the VM's kind, then its libvirt object, from status --json
	"$numaksm" status --json "$name" | python3 -c '
import json, sys
vm = json.load(sys.stdin)["vms"][0]
lv = vm["libvirt"] or {}
drift = lv.get("drift")
print(vm["kind"], lv.get("domain"), lv.get("uuid"),
      "unknown" if drift is None else
      ";".join("%s:%s:%s" % (d["vcpu"], d["affinity_cpus"], d["defined_cpus"]) for d in drift) or "none")'
}
check "status: kind, domain, UUID, drift" "$(status_libvirt)" "libvirt $name $uuid none"
exporter_libvirt() { # the exporter's libvirt series of the domain: UUID, drifting threads
	"$numaksm" exporter --textfile "$t/metrics.prom" || { echo "exporter failed"; return; }
	echo "$(sed -n "s/^numaksm_vm_libvirt_info{vm=\"$name\",kind=\"libvirt\",pid=\"[0-9]*\",uuid=\"\([^\"]*\)\"} 1$/\1/p" "$t/metrics.prom")" \
		"$(sed -n "s/^numaksm_vm_libvirt_drift_threads{vm=\"$name\",kind=\"libvirt\",pid=\"[0-9]*\"} //p" "$t/metrics.prom")"
}
check "the exporter: UUID, drifting threads" "$(exporter_libvirt)" "$uuid 0"
virsh vcpupin "$name" 0 "$cpu1" --live > /dev/null
check "status after a manual virsh vcpupin" "$(status_libvirt)" "libvirt $name $uuid 0:$cpu1:$cpu0"
check "the exporter after a manual virsh vcpupin" "$(exporter_libvirt)" "$uuid 1"
"$numaksm" status --json "$name" > "$t/status.json"
if "$(dirname "$0")/../validate-json.py" -q status "$t/status.json"; then
	passed=$((passed + 1))
else
	fail "status --json with a libvirt domain's drift is not valid against its schema"
fi
expect 0 "drift: libvirt domain $name: vCPU 0 (thread" status
expect 0 "may run on CPUs $cpu1, its definition pins it to $cpu0" status

# ---- --live: shared vCPUs over both CPUs, on the running domain --------------------
# shellcheck disable=SC2086
expect 0 "and applied to the running domain" libvirt apply "$name" $plan --policy shared --live
all=$(cat /sys/devices/system/node/node0/cpulist)
check "virsh vcpupin 0 after --live" "$(vcpupin 0)" "$all"
check "virsh vcpupin 1 after --live" "$(vcpupin 1)" "$all"
check "CPU 0/TCG's affinity after --live" "$(allowed "CPU 0/TCG")" "$all"
check "CPU 1/TCG's affinity after --live" "$(allowed "CPU 1/TCG")" "$all"
check "the definition after --live" \
	"$(definition | grep -c "<vcpupin vcpu='[01]' cpuset='$all'/>")" 2
check "status after --live" "$(status_libvirt)" "libvirt $name $uuid none"

# ---- stopped: the hook releases its CPUs ---------------------------------------------
virsh destroy "$name" > /dev/null || fail "virsh destroy $name failed"
if [ -n "$hook" ]; then
	check "the hook's release of the stopped domain (pins.json)" "$(pins_entry)" none
	grep -q "release $name:" "$t/hook.log" && passed=$((passed + 1)) ||
		fail "the hook's log lacks the release: $(cat "$t/hook.log")"
fi
finish
