#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `numaksm pin` without a host: bad input gets a message naming the value
# and what was expected (exit 2), refusals exit 1, and plans on the XML and
# synthetic topologies match the golden output (NUMAKSM_UPDATE_GOLDEN=1
# rewrites it).
#
# Usage: test-pin-cli.sh NUMAKSM TOPOLOGY_DIR GOLDEN_FILE
set -u
numaksm=$1
topo=$2
golden=$3
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
# Never the real /run/numaksm.
export NUMAKSM_RUNTIME_DIR="$t/run"
. "$(dirname "$0")/test-pin-lib.sh"

x2=$topo/2pack-4node-smt.xml
x1=$topo/1node-nosmt.xml
syn="pack:2 numa:2 core:4 pu:2"

# Usage errors: exit 2.
expect 2 "Usage: numaksm pin plan" pin
expect 0 "Usage: numaksm pin plan" pin --help
expect 0 "--smt prefer|isolate|require" pin plan --help
expect 2 "unknown pin command 'bogus': expected plan, apply, show, record or release" pin bogus
expect 2 "pin plan needs --vcpus N" pin plan --synthetic "$syn"
expect 2 "invalid --vcpus 'abc': expected a number from 1 to 4096" pin plan --vcpus abc
expect 2 "invalid --vcpus '0': expected a number from 1 to 4096" pin plan --vcpus 0
expect 2 "invalid --threads-per-core '9': expected a number from 1 to 8" pin plan --vcpus 2 --threads-per-core 9
expect 2 "invalid --policy 'pinned': expected dedicated or shared" pin plan --vcpus 2 --policy pinned
expect 2 "invalid --smt 'off': expected prefer, isolate or require" pin plan --vcpus 2 --smt off
expect 2 "invalid --emulator 'x': expected share or isolate" pin plan --vcpus 2 --emulator x
expect 2 "invalid --nodes '0-x': expected a node list such as 0-3,6" pin plan --vcpus 2 --nodes 0-x
expect 2 "invalid --nodes '': expected a node list" pin plan --vcpus 2 --nodes ""
# A node twice would silently make one guest node fewer than asked.
expect 2 "invalid --nodes '0,0': node 0 is listed twice" pin plan --vcpus 4 --nodes 0,0 --synthetic "$syn"
expect 2 "invalid --nodes '0-2,1': node 1 is listed twice" pin plan --vcpus 4 --nodes 0-2,1 --synthetic "$syn"
expect 2 "invalid --housekeeping 'all': expected a CPU list" pin plan --vcpus 2 --housekeeping all
expect 2 "option '--vcpus' needs a value" pin plan --vcpus
expect 2 "unknown option '--frobnicate'" pin plan --vcpus 2 --frobnicate
expect 2 "see 'numaksm pin plan --help'" pin plan --vcpus 2 --frobnicate
expect 2 "unexpected argument 'extra'" pin plan --vcpus 2 --synthetic "$syn" extra
expect 2 "--topology and --synthetic exclude each other" pin plan --vcpus 2 --topology "$x2" --synthetic "$syn"
expect 2 "--vcpus 3 is not a multiple of --threads-per-core 2" pin plan --vcpus 3 --threads-per-core 2 --synthetic "$syn"
expect 2 "--nodes lists 4 nodes but 2 vCPUs make only 2 guest cores" pin plan --vcpus 2 --nodes 0-3 --synthetic "$syn"
expect 2 "--smt isolate needs --policy dedicated" pin plan --vcpus 2 --policy shared --smt isolate --synthetic "$syn"
expect 2 "cannot read topology file '/nonexistent/t.xml'" pin plan --vcpus 2 --topology /nonexistent/t.xml
expect 2 "lstopo --of xml" pin plan --vcpus 2 --topology /nonexistent/t.xml
echo "<topology>" > "$t/bad.xml"
expect 2 "hwloc cannot read topology file '$t/bad.xml'" pin plan --vcpus 2 --topology "$t/bad.xml"
expect 2 "invalid synthetic topology 'pack:two'" pin plan --vcpus 2 --synthetic pack:two
expect 2 "missing PID or NAME of a VM" pin show
expect 2 "unknown option '--vcpus'" pin show 1 --vcpus 2
expect 2 "cannot open host root '/nonexistent'" pin show 1 --root /nonexistent

# Refusals: exit 1.
expect 1 "guest node 0 (10 dedicated vCPUs) does not fit on host node 2, which has room for 8" \
	pin plan --vcpus 10 --nodes 2 --topology "$x2"
expect 1 "free now: node 0: 8 free CPUs (4 whole cores); node 1: 8 free CPUs" \
	pin plan --vcpus 10 --nodes 2 --topology "$x2"
expect 1 "host node 9 does not exist in topology" pin plan --vcpus 2 --nodes 9 --topology "$x2"
expect 1 "host node 2 is outside the nodes this process is allowed" \
	pin plan --vcpus 2 --nodes 2 --topology "$topo/offline-disallowed.xml"
expect 1 "housekeeping CPU 99 is not in topology" pin plan --vcpus 2 --housekeeping 99 --topology "$x1"
expect 1 "the host has no SMT" pin plan --vcpus 2 --smt require --topology "$x1"
expect 1 "does not fit on host node 0, which has room for 6" \
	pin plan --vcpus 7 --housekeeping 0-1 --nodes 0 --topology "$x1"
expect 1 "refusing to pin threads" pin apply 1 --root "$(dirname "$0")/../fixtures/debian12-hybrid-1node"
# A tree captured before gather-host-tree kept hwloc's CPU masks: refused,
# never planned on this machine's CPUs instead.
expect 1 "captured tree '$(dirname "$0")/../fixtures/debian12-hybrid-1node' lacks the CPU topology hwloc reads" \
	pin plan --vcpus 2 --root "$(dirname "$0")/../fixtures/debian12-hybrid-1node"
expect 1 "gather-host-tree --upgrade DIR" \
	pin plan --vcpus 2 --root "$(dirname "$0")/../fixtures/debian12-hybrid-1node"
# Captured trees: hwloc reads them (HWLOC_FSROOT), and so do the kernel's
# cpulists and the cgroup's cpuset.
trees=$topo/trees
expect 1 "host node 1 does not exist in topology root:$trees/offline-node" \
	pin plan --vcpus 2 --nodes 1 --root "$trees/offline-node"
expect 1 "host node 0 is outside the nodes this process is allowed" \
	pin plan --vcpus 2 --nodes 0 --root "$trees/restricted-mems"
# Older captures of the lab's machines, upgraded.
for lab in lab-4node lab-memonly; do
	cp -r "$(dirname "$0")/../fixtures/$lab" "$t/$lab"
	sh "$(dirname "$0")/../fixtures/gather-host-tree" --upgrade "$t/$lab" > /dev/null
done

# Plans: deterministic, compared whole with the golden file.
: > "$t/plans"
plan --vcpus 4 --synthetic "$syn"
plan --vcpus 4 --nodes 1,2 --smt isolate --emulator isolate --synthetic "$syn"
plan --vcpus 8 --threads-per-core 2 --smt require --nodes 1,3 --topology "$x2"
plan --vcpus 10 --nodes 2 --spill --topology "$x2" --json
plan --vcpus 4 --nodes 2 --topology "$topo/memonly.xml"
plan --vcpus 4 --nodes 0 --policy shared --emulator isolate --housekeeping 0 --topology "$topo/memonly.xml" --json
plan --vcpus 6 --spill --topology "$topo/offline-disallowed.xml"
plan --vcpus 2 --smt isolate --nodes 1 --topology "$topo/offline-disallowed.xml"
# The corpus of odd machines (make-topologies.sh).
plan --vcpus 4 --nodes 1 --topology "$topo/restricted-filtered.xml"
plan --vcpus 6 --spill --topology "$topo/offline-node.xml"
plan --vcpus 10 --nodes 0 --spill --topology "$topo/sparse-ids.xml"
plan --vcpus 16 --nodes 4,5,6,7 --topology "$topo/knl-snc4-nodist.xml" --json
plan --vcpus 3 --nodes 3 --smt isolate --emulator isolate --topology "$topo/memonly-flat.xml"
plan --vcpus 2 --nodes 2 --policy shared --topology "$topo/memonly-nodist.xml"
plan --vcpus 10 --nodes 2 --spill --topology "$topo/2pack-4node-flat.xml"
# Captured trees, through hwloc's fsroot.
plan --vcpus 4 --spill --root "$trees/offline-node"
plan --vcpus 2 --nodes 2 --root "$trees/memonly-initiators" --json
plan --vcpus 4 --root "$trees/restricted-mems"
plan --vcpus 2 --nodes 2 --root "$t/lab-memonly"
plan --vcpus 4 --nodes 1,2 --policy shared --root "$t/lab-4node"
sed -i "s|$topo|TOPOLOGIES|g; s|$t/|TMP/|g" "$t/plans"
compare_golden "$golden"
[ -e "$NUMAKSM_RUNTIME_DIR" ] && fail "planning created $NUMAKSM_RUNTIME_DIR"
finish
