#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `numaksm check --json` on the live host agrees with what the kernel shows
# through other means (directory listings, statfs, the device node).
# Free hugepages and KSM's page counts move while other programs run (other
# tests, a VM, ksmd): a disagreement is looked at again, up to 5 readings,
# and only one that persists fails.
set -eu
numaksm=$1
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
command -v python3 >/dev/null || { echo "needs python3"; exit 77; }
out=$(mktemp)
trap 'rm -f "$out" "$out.verdict"' EXIT
attempt=0
while :; do
	attempt=$((attempt + 1))
	rc=0
	"$numaksm" check --json > "$out" || rc=$?
	status=0
	python3 - "$out" "$rc" > "$out.verdict" << 'PY' || status=$?
import json, os, re, sys
report = json.load(open(sys.argv[1]))
rc = int(sys.argv[2])
host = report["host"]
errors = []
def expect(cond, what):
    if not cond:
        errors.append(what)

expect(report["live"] is True, "live should be true")
fails = [c for c in report["checks"] if c["status"] == "fail"]
expect(rc == (1 if fails else 0), f"exit {rc} with {len(fails)} fail items")
expect(report["summary"]["fail_count"] == len(fails), "summary.fail_count")

nodes = sorted(int(d[4:]) for d in os.listdir("/sys/devices/system/node") if re.fullmatch(r"node\d+", d))
numa_nodes = host["numa"]["numa_nodes"]
expect([n["node"] for n in numa_nodes] == nodes, f"nodes {nodes}")
expect(host["numa"]["node_count"] == len(nodes), "node_count")
for n in numa_nodes:
    cpulist = open(f"/sys/devices/system/node/node{n['node']}/cpulist").read().strip()
    expect(n["cpus"] == cpulist, f"node{n['node']} cpus {n['cpus']} != {cpulist}")
    expect([d["node"] for d in n["distances"]] == nodes, "distances name every node")
    distance = open(f"/sys/devices/system/node/node{n['node']}/distance").read().split()
    expect([d["distance"] for d in n["distances"]] == [int(x) for x in distance], "distances")

sizes = sorted(int(d[len("hugepages-"):-2]) * 1024 for d in os.listdir("/sys/kernel/mm/hugepages"))
pools = host["hugepage_pools"]
expect([p["page_size_bytes"] for p in pools] == sizes, f"hugepage sizes {sizes}")
for p in pools:
    d = f"/sys/kernel/mm/hugepages/hugepages-{p['page_size_bytes'] // 1024}kB"
    expect(p["page_count"] == int(open(f"{d}/nr_hugepages").read()), f"{d} total")
    expect(p["free_page_count"] == int(open(f"{d}/free_hugepages").read()), f"{d} free")
    expect(sum(n["page_count"] for n in p["per_node"]) == p["page_count"], f"{d}: the nodes' sum")

ksm = host["ksm"]
expect(ksm["present"] == os.path.exists("/sys/kernel/mm/ksm/run"), "ksm present")
if ksm["present"]:
    for group in ("knobs", "counters"):
        for name, value in ksm[group].items():
            path = f"/sys/kernel/mm/ksm/{name}"
            if not os.path.exists(path):
                expect(value is None, f"ksm {name}: {value} for a missing file")
            elif name == "advisor_mode":
                expect(f"[{value}]" in open(path).read(), f"ksm {name} {value}")
            elif name not in ("pages_scanned", "full_scans", "pages_skipped", "general_profit"):
                # (counters that move while ksmd runs are only checked for presence)
                expect(value == int(open(path).read()), f"ksm {name} {value}")
            else:
                expect(isinstance(value, int), f"ksm {name} {value}")
    expect(ksm["proc_ksm_stat"] == os.path.exists("/proc/self/ksm_stat"), "ksm_stat")
    expect(ksm["page_size_bytes"] == os.sysconf("SC_PAGESIZE"), "page size")

# cgroup mode from the filesystem types, independently of /proc/mounts parsing.
def fstype(path):
    for line in open("/proc/self/mountinfo"):
        f = line.split()
        sep = f.index("-")
        if f[4] == path:
            return f[sep + 1]
    return None
root = fstype("/sys/fs/cgroup")
mode = host["cgroup"]["mode"]
if root == "cgroup2":
    expect(mode == "v2", f"mode {mode} with cgroup2 at /sys/fs/cgroup")
elif root == "tmpfs":
    expect(mode in ("v1", "hybrid"), f"mode {mode} with tmpfs at /sys/fs/cgroup")
    expect((mode == "hybrid") == (fstype("/sys/fs/cgroup/unified") == "cgroup2"), "hybrid iff unified")

kvm = host["kvm"]
expect(kvm["probed"] is True, "kvm probed")
expect(kvm["present"] == os.path.exists("/dev/kvm"), "kvm present")
if kvm["usable"]:
    expect(kvm["api_version"] == 12, "KVM API version")
if not kvm["present"]:
    expect(kvm["api_version"] is None and kvm["max_vcpu_count"] is None, "no KVM: no numbers")
kvm_item = [c for c in report["checks"] if c["id"] == "kvm"][0]
expect((kvm_item["status"] == "pass") == bool(kvm.get("usable")), "kvm item status")
expect(host["privileges"]["euid"] == os.geteuid(), "euid")

if errors:
    print("check --json disagrees with the host:\n  " + "\n  ".join(errors))
    sys.exit(1)
print(f"check --json agrees with the host: {len(nodes)} node(s), hugepage sizes {sizes}, "
      f"cgroup {mode}, KVM {'usable' if kvm.get('usable') else 'absent'}")
PY
	if [ "$status" = 0 ] || [ "$attempt" = 5 ]; then
		cat "$out.verdict"
		[ "$attempt" = 1 ] || echo "(reading $attempt)"
		exit "$status"
	fi
	sleep 0.5
done
