#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `numaksm check --json` on the live host agrees with what the kernel shows
# through other means (directory listings, statfs, the device node).
set -eu
numaksm=$1
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
command -v python3 >/dev/null || { echo "needs python3"; exit 77; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
"$numaksm" check --json > "$out" || rc=$?
python3 - "$out" "$rc" <<'PY'
import json, os, re, sys
report = json.load(open(sys.argv[1]))
rc = int(sys.argv[2])
host = report["host"]
errors = []
def expect(cond, what):
    if not cond:
        errors.append(what)

expect(report["live"] is True, "live should be true")
fails = [c for c in report["checks"] if c["status"] == "FAIL"]
expect(rc == (1 if fails else 0), f"exit {rc} with {len(fails)} FAIL items")
expect(report["summary"]["fail"] == len(fails), "summary.fail")

nodes = sorted(int(d[4:]) for d in os.listdir("/sys/devices/system/node") if re.fullmatch(r"node\d+", d))
expect([n["id"] for n in host["numa"]["nodes"]] == nodes, f"nodes {nodes}")
expect(host["numa"]["node_count"] == len(nodes), "node_count")
for n in host["numa"]["nodes"]:
    cpulist = open(f"/sys/devices/system/node/node{n['id']}/cpulist").read().strip()
    expect(n["cpus"] == cpulist, f"node{n['id']} cpus {n['cpus']} != {cpulist}")
    expect(len(n["distances"]) == len(nodes), "distance row length")

sizes = sorted(int(d[len("hugepages-"):-2]) for d in os.listdir("/sys/kernel/mm/hugepages"))
expect([p["size_kb"] for p in host["hugepages"]] == sizes, f"hugepage sizes {sizes}")
for p in host["hugepages"]:
    total = int(open(f"/sys/kernel/mm/hugepages/hugepages-{p['size_kb']}kB/nr_hugepages").read())
    expect(p["total"] == total, f"{p['size_kb']} kB total")

expect(host["ksm"]["present"] == os.path.exists("/sys/kernel/mm/ksm/run"), "ksm present")
if host["ksm"]["present"]:
    expect(host["ksm"]["run"] == int(open("/sys/kernel/mm/ksm/run").read()), "ksm run")
    expect(host["ksm"]["proc_ksm_stat"] == os.path.exists("/proc/self/ksm_stat"), "ksm_stat")

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
if kvm.get("usable"):
    expect(kvm["api_version"] == 12, "KVM API version")
kvm_item = [c for c in report["checks"] if c["id"] == "kvm"][0]
expect((kvm_item["status"] == "PASS") == bool(kvm.get("usable")), "kvm item status")
expect(host["privileges"]["euid"] == os.geteuid(), "euid")

if errors:
    print("check --json disagrees with the host:\n  " + "\n  ".join(errors))
    sys.exit(1)
print(f"check --json agrees with the host: {len(nodes)} node(s), hugepage sizes {sizes}, "
      f"cgroup {mode}, KVM {'usable' if kvm.get('usable') else 'absent'}")
PY
