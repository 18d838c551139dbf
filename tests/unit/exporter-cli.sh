#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# numaksm exporter over captured host trees (--root, --textfile): the
# exposition passes promtool check metrics, every family is written once,
# its figures are those of `numaksm status --json`, and mistakes are
# refused with exit 2 and nothing written.
#
# Usage: exporter-cli.sh NUMAKSM PROMTOOL FIXTURES-DIR
set -u
numaksm=$1
promtool=$2
fixtures=$3
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }

for tree in lab-4node lab-memonly debian12-hybrid-1node; do
	out=$t/$tree.prom
	"$numaksm" exporter --root "$fixtures/$tree" --textfile "$out" || { fail "$tree: exit $?"; continue; }
	"$promtool" check metrics < "$out" || fail "$tree: promtool check metrics"
	"$numaksm" status --root "$fixtures/$tree" --json > "$t/$tree.json" || fail "$tree: status"
	python3 - "$out" "$t/$tree.json" "$tree" << 'PY' || fail "$tree: the metrics disagree with status"
import json, re, sys
text, doc, tree = open(sys.argv[1]).read(), json.load(open(sys.argv[2])), sys.argv[3]
types = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
names = [n for n, _ in types]
assert len(names) == len(set(names)), "a family written twice"
samples = {}
for line in text.splitlines():
    if line and not line.startswith("#"):
        key, value = line.rsplit(" ", 1)
        samples[key] = float(value)
        family = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", key).group(0)
        assert family in names, f"{family} without # TYPE"
for name, kind in types:
    assert name.startswith("numaksm_"), name
    assert (kind == "counter") == name.endswith("_total"), (name, kind)
host = doc["host"]
for node in host["numa_nodes"]:
    n = node["node"]
    assert samples[f'numaksm_node_memory_total_bytes{{node="{n}"}}'] == node["total_bytes"], n
    assert samples[f'numaksm_node_memory_free_bytes{{node="{n}"}}'] == node["free_bytes"], n
for pool in host["hugepage_pools"]:
    for per in pool.get("per_node", []):
        key = f'numaksm_node_hugepages{{node="{per["node"]}",page_size_bytes="{pool["page_size_bytes"]}"}}'
        assert samples[key] == per["page_count"], (key, samples.get(key), per)
        key = key.replace("hugepages{", "hugepages_free{")
        assert samples[key] == per["free_page_count"], key
ksm = host["ksm"]
assert samples["numaksm_ksm_present"] == (1 if ksm["present"] else 0)
if ksm["present"]:
    for name, value in ksm["knobs"].items():
        if value is None or name == "advisor_mode":
            continue
        base = name[:-len("_millisecs")] if name.endswith("_millisecs") else name
        scale = 1000 if name.endswith("_millisecs") else 100 if name == "advisor_max_cpu" else 1
        suffix = "_seconds" if name.endswith(("_millisecs", "_time")) else "_ratio" if scale == 100 else ""
        assert abs(samples[f"numaksm_ksm_{base}{suffix}"] * scale - value) < 1e-6, name
    for name, value in ksm["counters"].items():
        if value is None:
            continue
        base = name[4:] if name.startswith("ksm_") else name
        key = next(k for k in (f"numaksm_ksm_{base}", f"numaksm_ksm_{base}_total", f"numaksm_ksm_{base}_bytes") if k in samples)
        assert samples[key] == value, (name, samples[key], value)
assert samples["numaksm_vms"] == len(doc["vms"])
print(f"{tree}: {len(types)} families, {len(samples)} samples, as status says")
PY
done

# A VM whose cpuset allows node 1 of 4 (Mems_allowed_list), its guest RAM
# 3/4 on node 1: where it is meant to be, and the share there.  Allowing
# every node with memory says nothing: no intended nodes.
cp -a "$fixtures/procs/qemu-tcg" "$t/intended"
mkdir -p "$t/intended/sys/devices/system"
cp -a "$fixtures/lab-4node/sys/devices/system/node" "$t/intended/sys/devices/system/"
vm=$t/intended/proc/14042
sed -i 's/^Mems_allowed_list:.*/Mems_allowed_list:\t1/' "$vm/status"
sed -i 's/^\(7ff5dbe00000 .*\) N0=20205 /\1 N0=5051 N1=15154 /' "$vm/numa_maps"
"$numaksm" exporter --root "$t/intended" --textfile "$t/intended.prom" || fail "intended: exit $?"
"$promtool" check metrics < "$t/intended.prom" || fail "intended: promtool check metrics"
grep -q '^numaksm_vm_intended_nodes_info{vm="q7test",kind="qemu",pid="14042",nodes="1"} 1$' \
	"$t/intended.prom" || fail "intended: no nodes=\"1\": $(grep intended "$t/intended.prom")"
ratio=$(sed -n 's/^numaksm_vm_intended_node_ratio{vm="q7test",kind="qemu",pid="14042"} //p' "$t/intended.prom")
python3 -c "import sys; r=float(sys.argv[1]); sys.exit(abs(r - 15154/20205) > 1e-6)" "${ratio:-x}" ||
	fail "intended: ratio '$ratio', not 15154/20205"
sed -i 's/^Mems_allowed_list:.*/Mems_allowed_list:\t0-3/' "$vm/status"
"$numaksm" exporter --root "$t/intended" --textfile "$t/intended.prom" || fail "intended 0-3: exit $?"
! grep -q '^numaksm_vm_intended' "$t/intended.prom" || fail "intended: every node allowed, yet a sample"
echo "intended nodes: ratio $ratio on node 1 of 4"

# Mistakes: exit 2 and nothing written.
expect_usage() { # MESSAGE ARGS...
	msg=$1
	shift
	"$numaksm" exporter "$@" > "$t/out" 2>&1
	rc=$?
	[ $rc = 2 ] && grep -q "$msg" "$t/out" || fail "exporter $*: exit $rc: $(cat "$t/out")"
}
expect_usage "expected a number from 1 to 65536" --max-connections 0 --textfile "$t/x.prom"
expect_usage "unknown option '--bogus'" --bogus
expect_usage "unexpected argument 'extra'" extra
expect_usage "expected ADDRESS:PORT" --listen 9847
[ ! -e "$t/x.prom" ] || fail "a refused command wrote its textfile"
# The textfile is replaced, never written through a link or into a device.
ln -s /dev/null "$t/link.prom"
expect_usage "link.prom is not a regular file" --textfile "$t/link.prom" --root "$fixtures/lab-4node"
[ -L "$t/link.prom" ] || fail "the link was replaced"
"$numaksm" exporter --root "$t/no-such-tree" --textfile "$t/x.prom" > "$t/out" 2>&1
rc=$?
[ $rc = 2 ] && [ ! -e "$t/x.prom" ] || fail "a missing --root: exit $rc: $(cat "$t/out")"
"$numaksm" exporter --help | grep -q "Usage: numaksm exporter" || fail "--help"
expect_usage "not with --textfile" --textfile "$t/x.prom" --web.config.file "$t/web.yml"

# A web config that cannot be used is refused before anything listens.
bad_config() { # MESSAGE YAML
	printf '%s\n' "$2" > "$t/web.yml"
	"$numaksm" exporter --listen 127.0.0.1:1 --web.config.file "$t/web.yml" > "$t/out" 2>&1
	rc=$?
	[ $rc = 1 ] && grep -q "$1" "$t/out" || fail "web config '$2': exit $rc: $(cat "$t/out")"
}
hash='$2y$10$abcdefghijklmnopqrstuuQ3bQGZtAr1Zm1q6Crm9AbG2ddQtVRtu'
bad_config "unknown key 'tls_config'" "tls_config: {}"
bad_config "needs cert_file and key_file" "tls_server_config: {cert_file: a.crt}"
bad_config "cert_file $t/missing.crt: No such file" "tls_server_config: {cert_file: missing.crt, key_file: k}"
bad_config "client certificates" "tls_server_config: {client_auth_type: RequireAndVerifyClientCert}"
bad_config "min_version 'TLS9'" "tls_server_config: {min_version: TLS9}"
bad_config "not a bcrypt hash" "basic_auth_users: {alice: plain}"
bad_config "line 2: did not find expected" "basic_auth_users: [unclosed"
echo "not pem" > "$t/bad.crt"
bad_config "is not PEM" "tls_server_config: {cert_file: bad.crt, key_file: bad.crt}"
"$numaksm" exporter --listen 127.0.0.1:1 --web.config.file "$t/none.yml" > "$t/out" 2>&1
[ $? = 1 ] && grep -q "cannot read the web config $t/none.yml" "$t/out" || fail "a missing web config: $(cat "$t/out")"
printf 'basic_auth_users:\n  alice: %s\n' "$hash" > "$t/web.yml"
"$numaksm" exporter --listen 127.0.0.1:0 --web.config.file "$t/web.yml" > "$t/out" 2>&1
[ $? = 2 ] && grep -q "port '0'" "$t/out" || fail "a good web config, a bad port: $(cat "$t/out")"
exit $failed
