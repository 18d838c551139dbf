#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `numaksm pin plan --format libvirt|virsh` without a host: the XML
# elements and virsh commands of plans on synthetic and XML topologies match
# the golden output (NUMAKSM_UPDATE_GOLDEN=1 rewrites it), the elements
# make a domain libvirt's own schema accepts, and bad option combinations
# are usage errors.
#
# Usage: test-pin-libvirt.sh NUMAKSM TOPOLOGY_DIR GOLDEN_FILE
set -u
numaksm=$1
topo=$2
golden=$3
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
export NUMAKSM_RUNTIME_DIR="$t/run"
. "$(dirname "$0")/test-pin-lib.sh"

syn="pack:2 numa:2 core:4 pu:2"
x2=$topo/2pack-4node-smt.xml

expect 2 "--format libvirt needs --memory SIZE" pin plan --vcpus 2 --synthetic "$syn" --format libvirt
expect 2 "--format virsh needs --domain NAME" pin plan --vcpus 2 --synthetic "$syn" --format virsh
expect 2 "invalid --format 'yaml': expected text, json, libvirt or virsh" \
	pin plan --vcpus 2 --format yaml
expect 2 "invalid --memory 'lots': expected a size such as 4G" \
	pin plan --vcpus 2 --format libvirt --memory lots
expect 2 "invalid --hugepages '3x': expected a size such as 2M, 1G or none" \
	pin plan --vcpus 2 --format libvirt --memory 1G --hugepages 3x
expect 2 "--memory is for --format libvirt" pin plan --vcpus 2 --synthetic "$syn" --memory 1G
expect 2 "--domain is for --format virsh" pin plan --vcpus 2 --synthetic "$syn" --domain vm1
expect 2 "2 MiB of memory gives guest node 0 no 2 MiB page: 2 guest nodes need at least 4 MiB" \
	pin plan --vcpus 4 --nodes 0,1 --synthetic "$syn" --format libvirt --memory 2M --hugepages 2M
expect 2 "unknown option '--live'" pin plan --vcpus 2 --live
expect 2 "--guest-nodes 1 is fewer than the 2 nodes of --nodes" \
	pin plan --vcpus 2 --guest-nodes 1 --nodes 0,1 --synthetic "$syn"
expect 2 "--guest-nodes 3 but 2 vCPUs make only 2 guest cores" \
	pin plan --vcpus 2 --guest-nodes 3 --synthetic "$syn"
expect 2 "invalid --guest-nodes '0': expected a number from 1 to 64" pin plan --vcpus 2 --guest-nodes 0

# The elements, completed into a domain, pass libvirt's schema.
validate() {
	if ! command -v virt-xml-validate > /dev/null; then
		fail "virt-xml-validate (libvirt-clients) is missing: run scripts/setup"
		return
	fi
	{
		echo "<domain type='qemu'><name>t</name><os><type arch='x86_64'>hvm</type></os>"
		"$numaksm" pin plan "$@"
		echo "</domain>"
	} > "$t/domain.xml"
	if virt-xml-validate "$t/domain.xml" domain > "$t/validate" 2>&1; then
		passed=$((passed + 1))
	else
		fail "pin plan $*: libvirt's schema refuses the domain"
		cat "$t/validate" "$t/domain.xml"
	fi
}
validate --vcpus 4 --nodes 1,2 --synthetic "$syn" --format libvirt --memory 4G --hugepages 2M
# The plan's notes become comments: valid XML whatever they say.
validate --vcpus 4 --policy shared --synthetic "$syn" --format libvirt --memory 1G
validate --vcpus 8 --threads-per-core 2 --smt require --nodes 1,3 --topology "$x2" \
	--format libvirt --memory 6G --hugepages 1G

: > "$t/plans"
plan --vcpus 4 --nodes 1,2 --smt isolate --emulator isolate --synthetic "$syn" \
	--format libvirt --memory 4G --hugepages 2M
# Memory free to choose: on the node of the vCPUs.
plan --vcpus 4 --policy shared --synthetic "$syn" --format libvirt --memory 1G
# Three guest nodes, uneven vCPUs: memory by their share, in whole pages.
plan --vcpus 5 --nodes 0-2 --topology "$x2" --format libvirt --memory 5G --hugepages 1G
plan --vcpus 8 --threads-per-core 2 --smt require --nodes 1,3 --topology "$x2" --format virsh \
	--domain "web 1's"
plan --vcpus 4 --nodes 1,2 --synthetic "$syn" --format json
# More guest nodes than host nodes: on the --nodes nodes in turn.
plan --vcpus 6 --guest-nodes 3 --nodes 1,2 --synthetic "$syn" --format libvirt --memory 3G
plan --vcpus 2 --guest-nodes 2 --nodes 0 --topology "$topo/1node-nosmt.xml" --format libvirt \
	--memory 256M --hugepages 2M
sed -i "s|$topo|TOPOLOGIES|g" "$t/plans"
compare_golden "$golden"
finish
