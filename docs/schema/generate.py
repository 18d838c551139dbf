#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write the JSON Schemas (draft 2020-12) of numaksm's --json documents.

  generate.py          write docs/schema/*.schema.json (next to this file)
  generate.py --check  regenerate in memory and compare: exit 1 when a file
                       differs, is missing, or is left over

The schemas are the vocabulary of docs/json.md made mechanical: every
object is closed ("additionalProperties": false) and lists every key as
required, since numaksm never leaves a key out (it writes null), and a
value may be null only where numaksm can print null there.  Shared shapes
live in common.schema.json under $defs, each printed by one serialiser of
tools/json.c, and are referenced as "common.schema.json#/$defs/NAME",
resolved against each file's $id.  Properties are listed in the order
numaksm prints them.  Python's standard library only.
"""
import json
import os
import sys

BASE = "https://numaksm.invalid/schema/1/"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
HERE = os.path.dirname(os.path.abspath(__file__))


# ---- building blocks ------------------------------------------------------
def obj(desc=None, **props):
    """A closed object: every key listed is required, no other is allowed."""
    o = {"type": "object", "additionalProperties": False, "required": list(props),
         "properties": props}
    return {"description": desc, **o} if desc else o


def null(s):
    return {"anyOf": [s, {"type": "null"}]}


def arr(items):
    return {"type": "array", "items": items}


def enum(*values):
    return {"type": "string", "enum": list(values)}


def when(key, value, then, otherwise=None):
    """if KEY is VALUE then ... (else ...): properties constrained further."""
    s = {"if": {"properties": {key: {"const": value}}, "required": [key]},
         "then": {"properties": then}}
    if otherwise:
        s["else"] = {"properties": otherwise}
    return s


NULL = {"type": "null"}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
NSTR = null(STR)
NBOOL = null(BOOL)


class Refs:
    """$ref builders: local inside common.schema.json, to it elsewhere."""

    def __init__(self, prefix):
        self.prefix = prefix

    def __getattr__(self, name):
        return {"$ref": f"{self.prefix}#/$defs/{name}"}

    def n(self, name):
        return null(getattr(self, name))


L = Refs("")  # inside common.schema.json
C = Refs("common.schema.json")  # from a document's schema

# ---- common.schema.json -----------------------------------------------------
LIST_RE = "^([0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*)?$"
# The command as typed, in documents and on error and log lines.
COMMANDS = ["numaksm", "check", "hugepages", "hugepages reserve", "zone", "zone try", "pin",
            "pin plan", "pin apply", "pin show", "ksm", "ksm show", "ksm set", "ksm restore",
            "tuned", "status", "place", "vm", "vm list", "vm info", "vm pause", "vm resume",
            "vm stop", "vm ksm", "vm migrate", "estimate", "audit", "place --plan-fleet",
            "numaksm-vmm"]

defs = {
    "uint": {"description": "A number from 0 that is not a count: a vCPU, a round, an id.",
             "type": "integer", "minimum": 0},
    "count": {"description": "A count: a key named THING_count.", "type": "integer", "minimum": 0},
    "bytes": {"description": "An amount of memory in bytes: a key ending in _bytes.",
              "type": "integer", "minimum": 0},
    "signed_bytes": {"description": "A signed amount of bytes (a KSM profit).", "type": "integer"},
    "seconds": {"description": "A duration or CPU time in seconds with exactly six decimals: "
                               "a key ending in _seconds.", "type": "number", "minimum": 0,
                "x-six-decimals": True},
    "ratio": {"description": "A fraction of a whole, 0 to 1, with exactly six decimals: a key "
                             "ending in _ratio.", "type": "number", "minimum": 0, "maximum": 1,
              "x-six-decimals": True},
    "cpu_ratio": {"description": "CPU-seconds per second (1.0: one CPU busy), six decimals.",
                  "type": "number", "minimum": 0, "x-six-decimals": True},
    "cpu_list": {"description": "A set of CPUs as the kernel writes it (\"0-3,6\"; \"\" empty).",
                 "type": "string", "pattern": LIST_RE},
    "node_list": {"description": "A set of NUMA nodes as the kernel writes it (\"0,2-3\"; \"\" empty).",
                  "type": "string", "pattern": LIST_RE},
    "node": {"description": "A NUMA node number: a key node or ending in _node.",
             "type": "integer", "minimum": 0},
    "cpu": {"description": "A CPU number: a key ending in _cpu.", "type": "integer", "minimum": 0},
    "pid": {"description": "A process or thread id.", "type": "integer", "minimum": 1},
    "address": {"description": "A memory address: a key ending in _address.",
                "type": "integer", "minimum": 0},
    "timestamp": {"description": "A UTC time, RFC 3339 with milliseconds: a key ending in _at.",
                  "type": "string", "format": "date-time",
                  "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$"},
    "hex64": {"description": "A 64-bit checksum, seed or salt: \"0x\" and 16 hex digits, exact "
                       "in any parser.", "type": "string", "pattern": "^0x[0-9a-f]{16}$"},
    "name": {"description": "A name; null where one is not known, never \"\".",
             "type": "string", "minLength": 1},
    "command": {"description": "The command as typed: its words separated by one space.",
                "enum": COMMANDS},
    "backing": enum("4k", "thp", "hugetlb", "mixed", "unknown"),
    "mem_policy": enum("default", "bind", "preferred", "preferred-many", "interleave",
                       "weighted-interleave"),
    "vm_kind": {**enum("process", "numaksm", "qemu", "libvirt", "cloud-hypervisor", "firecracker",
                       "crosvm"),
                "description": "What runs the VM (nk_vm_kind_name): numaksm is numaksm-vmm, "
                               "libvirt a QEMU libvirt started, process any other process."},
}
defs["error"] = obj(
    "An error (tool_json_error): the fatal one of an error line, or one of a document's errors.",
    code={"description": "The errno's name (strerrorname_np), EUNKNOWN when it has none.",
          "type": "string", "pattern": "^E[A-Z0-9]+$"},
    errno={"type": "integer", "minimum": 1},
    message={"type": "string", "minLength": 1},
    hint=null({"type": "string", "minLength": 1}),
)
defs["thp"] = obj("Transparent hugepages (tool_json_thp): the selected word of each sysfs file, "
                  "null when the kernel lacks it.", enabled=NSTR, defrag=NSTR)
defs["distance"] = obj(node=L.node, distance={"type": "integer", "minimum": 0})
defs["numa_node"] = obj(
    "A NUMA node of the host (tool_json_numa_nodes).  What a missing or malformed file of "
    "the node would tell is null: cpus, cpu_count and memory_only without cpulist and "
    "cpumap, the bytes without meminfo, distances without a distance row that fits.",
    node=L.node, cpus=null(L.cpu_list), cpu_count=null(L.count), has_memory=BOOL,
    memory_only=NBOOL, total_bytes=null(L.bytes), free_bytes=null(L.bytes),
    distances=null(arr(L.distance)),
)
defs["hugepage_node_pool"] = obj(
    node=L.node, page_count=L.count, free_page_count=L.count, surplus_page_count=L.count)
defs["hugepage_pool"] = obj(
    "The hugetlb pool of one page size, host-wide, with its split per node "
    "(tool_json_hugepage_pools).  Without /sys/kernel/mm/hugepages (or a pool of it that "
    "can be read) the counts are the nodes' sums and reserved_page_count is null.",
    page_size_bytes=L.bytes, is_default=BOOL, page_count=L.count, free_page_count=L.count,
    reserved_page_count=null(L.count), surplus_page_count=L.count,
    per_node=arr(L.hugepage_node_pool),
)
NCOUNT = null(L.count)
BIT = null({"type": "integer", "enum": [0, 1]})
defs["ksm_knobs"] = obj(
    "The knobs of /sys/kernel/mm/ksm: the file names and what the kernel prints (advisor_mode: "
    "the selected word); null where this kernel lacks the file.",
    run=null({"type": "integer", "enum": [0, 1, 2]}), pages_to_scan=NCOUNT,
    sleep_millisecs=NCOUNT, merge_across_nodes=BIT, max_page_sharing=NCOUNT,
    use_zero_pages=BIT, smart_scan=BIT, stable_node_chains_prune_millisecs=NCOUNT,
    advisor_mode=null(enum("none", "scan-time")), advisor_max_cpu=NCOUNT,
    advisor_min_pages_to_scan=NCOUNT, advisor_max_pages_to_scan=NCOUNT,
    advisor_target_scan_time=NCOUNT,
)
defs["ksm_counters"] = obj(
    "The counters of /sys/kernel/mm/ksm, as the kernel prints them; null where this kernel "
    "lacks the file.",
    pages_shared=NCOUNT, pages_sharing=NCOUNT, pages_unshared=NCOUNT, pages_volatile=NCOUNT,
    pages_scanned=NCOUNT, pages_skipped=NCOUNT, full_scans=NCOUNT, ksm_zero_pages=NCOUNT,
    stable_node_chains=NCOUNT, stable_node_dups=NCOUNT, general_profit=null(L.signed_bytes),
)
defs["ksmd"] = obj(
    pid=L.pid, cpu_seconds=L.seconds, cpu_ratio_since_boot=null(L.cpu_ratio),
    cpu_ratio_interval=null(L.cpu_ratio))
defs["ksm_tuner"] = obj(
    "The KSM tuner's lock: held or not, and by which process (its pid and comm).",
    running=BOOL, pid=null(L.pid), program=NSTR)
defs["full_scan"] = obj(seconds=L.seconds, resolution_seconds=L.seconds)
KSM_OPTIONAL = ("state", "knobs", "counters", "page_size_bytes", "saved_bytes", "tracked_bytes",
                "saved_ratio", "last_full_scan", "ksmd", "tuner")
defs["ksm"] = {
    **obj(
        "KSM host-wide (tool_json_ksm): state, knobs, counters, savings, ksmd, the tuner.  "
        "Without KSM (present false) every other key is null.  The byte figures need the "
        "page size, unknown on a captured tree.",
        present=BOOL,
        state=null(enum("stopped", "running", "unmerging", "unknown")),
        proc_ksm_stat=NBOOL,
        knobs=L.n("ksm_knobs"), counters=L.n("ksm_counters"),
        page_size_bytes=null(L.bytes), saved_bytes=null(L.bytes), tracked_bytes=null(L.bytes),
        saved_ratio=null(L.ratio),
        last_full_scan=L.n("full_scan"), ksmd=L.n("ksmd"), tuner=L.n("ksm_tuner"),
    ),
    **when("present", False, {k: NULL for k in KSM_OPTIONAL + ("proc_ksm_stat",)}),
}
defs["process_ksm"] = obj(
    "KSM of one process (tool_json_process_ksm): /proc/PID/ksm_stat and its smaps; null what "
    "could not be read.",
    mergeable_bytes=null(L.bytes), saved_bytes=null(L.bytes),
    merging_page_count=null(L.count), rmap_item_count=null(L.count), zero_page_count=null(L.count),
    profit_bytes=null(L.signed_bytes), mergeable=NBOOL, merge_any=NBOOL,
)
defs["vm_trust"] = {
    **enum("none", "unknown", "kvm", "registered", "owner", "pid"),
    "description": "Why the process is taken for a VM (nk_vm_trust): kvm, it holds a KVM VM; "
                   "registered, libvirt's root-owned pid file names it; owner, root (or a "
                   "trusted user) runs it; pid, it was named by its PID.  none: a look-alike, "
                   "named like a VMM and nothing more; unknown: its descriptors need root to "
                   "look at.  Only kvm, registered, owner and pid are acted on."}
defs["vm_ref"] = obj(
    "Which VM or process a document is about (tool_json_vm_ref); kind and the trust keys are "
    "null when the process is gone.",
    name=L.n("name"), kind=L.n("vm_kind"), pid=L.pid, comm=L.n("name"), program=L.n("name"),
    owner_uid=null(L.uint), trust=L.n("vm_trust"), trusted=NBOOL)
defs["thread"] = obj(
    "A thread of a VM's process (tool_json_thread): null what is not known.",
    tid=L.pid, vcpu=null(L.uint), name=L.n("name"), affinity_cpus=L.cpu_list,
    last_cpu=null(L.cpu), last_node=null(L.node), last_cpu_in_affinity=NBOOL,
)
defs["cgroup_membership"] = obj(
    "A cgroup a process is in (tool_json_cgroup): a line of /proc/PID/cgroup; the hierarchy "
    "number is 0 for cgroup v2, null when not known.",
    hierarchy=null(L.uint), controllers=arr(STR), path=STR)
defs["node_resident"] = obj(
    "Memory on one node; ksm_bytes: how much of it is in KSM pages (shared, so not misplaced), "
    "null where not told apart (no merged pages, not root, numa_maps).",
    node=L.node, resident_bytes=L.bytes, ksm_bytes=null(L.bytes))
defs["placement"] = obj(
    "Where memory is, node by node (tool_json_placement).  per_node lists the nodes holding "
    "any of it, ascending; error_bytes bounds each estimate when not exact (95%).",
    method=enum("move_pages", "numa_maps"), exact=BOOL, sampled_page_count=null(L.count),
    per_node=arr(L.node_resident), resident_bytes=L.bytes, absent_bytes=L.bytes,
    other_bytes=L.bytes, error_bytes=L.bytes,
)
defs["prefault"] = obj(thread_count=L.count, cpus=L.cpu_list, seconds=L.seconds,
                       populate_write=BOOL)
defs["zone"] = obj(
    "A guest RAM zone (tool_json_zone).  The guest's keys (guest_node, guest_address, "
    "host_address, ksm_bytes) are null for a zone outside a VM.",
    id=L.name, size_bytes=L.bytes, backing=L.backing, page_size_bytes=L.bytes,
    policy=L.mem_policy, nodes=L.node_list, mergeable=BOOL,
    guest_node=null(L.node), guest_address=null(L.address), host_address=null(L.address),
    ksm_bytes=null(L.bytes), prefault=L.n("prefault"), placement=L.n("placement"),
)
defs["plan_vcpu"] = obj(vcpu=L.uint, guest_node=L.uint, memory_node=null(L.node),
                        host_node=L.node, cpus=L.cpu_list)
defs["pin_plan"] = obj(
    "A vCPU plan (tool_json_pin_plan).  topology.source: the live host, an XML file, a "
    "synthetic description or a captured host tree (detail), or one hwloc took from its "
    "environment.",
    topology={**obj(source=enum("live", "xml", "synthetic", "root", "environment"),
                    detail=null({"type": "string", "minLength": 1})),
              "allOf": [when("source", "live", {"detail": NULL}),
                        when("source", "environment", {"detail": NULL})]},
    policy=enum("dedicated", "shared"), smt=enum("prefer", "isolate", "require"),
    emulator=enum("share", "isolate"), vcpu_count=L.count, vcpus=arr(L.plan_vcpu),
    emulator_cpus=L.cpu_list, reserved_cpus=L.cpu_list, dedicated_cpus=L.cpu_list,
    shared_cpus=L.cpu_list, notes=arr(STR),
)

VM_STATE = enum("running", "paused", "stopping", "halted", "failed")
defs["vm_state"] = {**VM_STATE, "description": "A numaksm-vmm VM's state: running, paused, "
                    "halted (every vCPU done), failed (a vCPU failed); stopping as it exits."}
defs["vmm_content"] = obj(
    "What numaksm-vmm's guest program or host fill writes: page kinds by ratio (zero, shared "
    "by every VM of the seed, unique to the VM by its salt), the shared patterns, and the "
    "share of pages written again each pass.",
    seed=L.hex64, salt=L.hex64, zero_ratio=L.ratio, shared_ratio=L.ratio, unique_ratio=L.ratio,
    pattern_count=L.count, redirty_ratio=L.ratio)
CONTENT = ("seed", "salt", "zero_ratio", "shared_ratio", "unique_ratio", "pattern_count",
           "redirty_ratio")


def with_content(desc, **props):
    """An object with the keys of vmm_content beside its own."""
    c = defs["vmm_content"]["properties"]
    return obj(desc, **props, **{k: c[k] for k in CONTENT})


defs["vmm_vcpu"] = obj(
    "A numaksm-vmm vCPU: its thread and placement (planned and read back), and what the guest "
    "program reported: passes, pages it verified, wrong pages (the first one's address), "
    "exits to the VMM.",
    vcpu=L.uint, tid=null(L.pid),
    state=enum("created", "running", "paused", "halted", "failed"),
    planned_cpus=null(L.cpu_list), affinity_cpus=null(L.cpu_list), pin_verified=BOOL,
    host_node=null(L.node), guest_node=null(L.uint), pass_count=L.count, pass_checksum=L.hex64,
    verified_page_count=L.count, verify_checksum=L.hex64, verify_error_count=L.count,
    first_bad_guest_address=null(L.address), io_exit_count=L.count,
    work_ranges=arr(obj(guest_address=L.address, page_count=L.count)), error=L.n("name"))
defs["vmm_migration"] = obj(
    "A numaksm-vmm zone migration, the one running or the last one: the zone and its new "
    "nodes, how far it got (done_bytes of the zone's total_bytes gone through; moved_bytes "
    "of them moved, the rest already there, absent or failed), its seconds so far, and why "
    "it ended early (error: null unless it failed or the VM stopped it).",
    zone=L.name, nodes=L.node_list, state=enum("running", "done", "failed", "stopped"),
    total_bytes=L.bytes, done_bytes=L.bytes, moved_bytes=L.bytes, moved_page_count=L.count,
    already_page_count=L.count, failed_page_count=L.count, absent_page_count=L.count,
    seconds=L.seconds, error=L.n("name"))
defs["absolute_path"] = {
    "description": "An absolute path of fewer than 4096 characters, none of them a control "
                   "character.",
    "type": "string", "pattern": "^/[^\\x00-\\x1f\\x7f]*$", "maxLength": 4095}
defs["vmm_console"] = obj(
    "A Linux guest's console (numaksm-vmm --console): where its serial line goes, and its "
    "pty, file or socket (null on stdio).",
    mode=enum("stdio", "pty", "file", "socket"), path=L.n("absolute_path"))
defs["vmm_info"] = obj(
    "A numaksm-vmm VM in its own words (the control socket's info, numaksm-vmm --json): its "
    "zones where the guest sees them, its vCPUs, the guest program's workload (null: none), "
    "the host's fill (null: none), files loaded into guest RAM, the process' KSM, and the "
    "running or last zone migration (null: none since the VM started); a Linux guest's "
    "console (null: the built-in program).",
    name=L.name, pid=L.pid, socket_path=L.n("name"),
    console=L.n("vmm_console"),
    state=L.vm_state,
    uptime_seconds=L.seconds, guest_node_count=L.count, guest_address_end=L.address,
    zones=arr({"allOf": [L.zone, {"properties": dict(
        guest_node=L.node, guest_address=L.address, host_address=L.address)}]}),
    vcpus=arr(L.vmm_vcpu),
    workload=null(with_content(None, mode=enum("write", "verify"), pass_limit=null(L.count),
                               period_seconds=L.seconds, verify=BOOL, page_count=L.count)),
    fill=null(with_content(None, page_count=L.count, seconds=L.seconds)),
    loads=arr(obj(path={"type": "string", "minLength": 1}, guest_address=L.address,
                  size_bytes=L.bytes)),
    ksm=L.n("process_ksm"), migration=L.n("vmm_migration"))

COMMON = {"$schema": DRAFT, "$id": BASE + "common.schema.json",
          "title": "numaksm JSON vocabulary: the shared shapes", "$defs": defs}


# ---- the documents ------------------------------------------------------------------
def document(command, title, desc, props, extra=None):
    """A document of COMMAND: schema_version and command first."""
    fname = ("" if command.startswith("numaksm") else "numaksm-") + \
        command.replace(" --", "-").replace(" ", "-") + ".schema.json"
    s = obj(desc, schema_version={"const": 1}, command={"const": command}, **props)
    return fname, {"$schema": DRAFT, "$id": BASE + fname, "title": title, **s, **(extra or {})}


def probed(**props):
    """An object of live probes: with probed false every other key is null."""
    return {**obj(probed=BOOL, **props), **when("probed", False, {k: NULL for k in props})}


docs = [document(
    "check", "numaksm check --json", "The host's readiness: what was found, and each check.",
    dict(
        live=BOOL,
        host=obj(
            kvm={**probed(present=NBOOL, usable=NBOOL, api_version=null(C.uint),
                          max_vcpu_count=null(C.count))},
            ksm=C.ksm, thp=C.thp,
            numa=obj(available=BOOL, node_count=C.count, memory_total_bytes=C.bytes,
                     memory_only_nodes=C.node_list, numa_nodes=arr(C.numa_node)),
            hugepage_pools=arr(C.hugepage_pool),
            cgroup=obj(mode=null(enum("none", "v1", "hybrid", "v2")), v2_path=NSTR,
                       cpuset_legacy_path=NSTR, v1_controllers=null(arr(STR)),
                       v2_controllers=null(arr(STR))),
            features=probed(madv_populate_write=NBOOL, memfd_hugetlb=NBOOL),
            privileges=probed(euid=null(C.uint),
                              cap_sys_admin=NBOOL, cap_sys_nice=NBOOL, cap_ipc_lock=NBOOL),
        ),
        checks=arr(obj(id={"type": "string", "pattern": "^[a-z0-9_]+([.][A-Za-z0-9_]+)*$"},
                       status=enum("pass", "warn", "fail", "info"), message=STR,
                       hint=null({"type": "string", "minLength": 1}))),
        summary=obj(pass_count=C.count, warn_count=C.count, fail_count=C.count,
                    info_count=C.count),
    ))]
docs.append(document(
    "hugepages", "numaksm hugepages --json", "Every hugepage pool, host-wide and per node.",
    dict(live=BOOL, hugepage_pools=arr(C.hugepage_pool))))
docs.append(document(
    "zone try", "numaksm zone try --json", "A zone made, prefaulted and measured.",
    dict(zone=C.zone)))
docs.append(document(
    "pin plan", "numaksm pin plan --json", "A vCPU plan, not applied.", dict(plan=C.pin_plan)))
docs.append(document(
    "pin show", "numaksm pin show --json", "A VM's threads: where each may run and last ran.",
    dict(live=BOOL, vm=C.vm_ref, vcpu_count=C.count, threads=arr(C.thread))))
docs.append(document(
    "pin apply", "numaksm pin apply --json",
    "A plan applied and each thread's affinity read back.  last_cpu_in_affinity is null: the "
    "CPU a thread last ran on predates the pin.",
    dict(vm=C.vm_ref, plan=C.pin_plan,
         threads=arr({"allOf": [C.thread, {"properties": {"last_cpu_in_affinity": NULL}}]}))))
docs.append(document(
    "ksm show", "numaksm ksm show --json", "KSM host-wide.", dict(live=BOOL, ksm=C.ksm)))
STATUS_VM = obj(
    "A VM or a process named, as status reads it from /proc.",
    name=C.name, kind=C.vm_kind, pid=C.pid, comm=C.n("name"), program=C.n("name"),
    owner_uid=null(C.uint), trust=C.vm_trust, trusted=BOOL, thread_count=C.count, rss_bytes=C.bytes, anon_bytes=C.bytes, thp_bytes=C.bytes,
    hugetlb_bytes=C.bytes, swap_bytes=C.bytes,
    guest_ram=obj(
        size_bytes=C.bytes, size_from_command_line=BOOL, resident_bytes=C.bytes,
        backing=C.backing, hugetlb_bytes=C.bytes, thp_bytes=C.bytes,
        regions=arr(obj(host_address=C.address, size_bytes=C.bytes, page_size_bytes=C.bytes,
                        backing=C.backing, mergeable=BOOL, resident_bytes=C.bytes,
                        thp_bytes=C.bytes, mapping=C.n("name"))),
    ),
    placement=C.n("placement"), ksm=C.process_ksm, vcpu_count=null(C.count),
    threads=null(arr(C.thread)), cgroups=arr(C.cgroup_membership),
    libvirt=null(obj(
        "A libvirt domain (kind libvirt): its name, its UUID, and the threads whose affinity is "
        "not what the domain's definition pins them to (vcpu null: the emulator's main "
        "thread); drift is null when libvirt cannot be asked (not running, not this host).",
        domain=C.name, uuid=C.n("name"),
        drift=null(arr(obj(vcpu=null(C.uint), tid=C.pid, affinity_cpus=C.cpu_list,
                           defined_cpus=C.cpu_list))))),
)
docs.append(document(
    "status", "numaksm status --json",
    "The host and its VMs; with --watch one such document per line.  errors: the VMs that "
    "could not be read.",
    dict(live=BOOL, generated_at=C.timestamp,
         watch=null(obj(interval_seconds=C.seconds, round=C.uint)),
         host=obj(ksm=C.ksm, thp=C.thp, numa_nodes=arr(C.numa_node),
                  hugepage_pools=arr(C.hugepage_pool)),
         vms=arr(STATUS_VM), errors=arr(C.error))))
APPLIED = obj(
    "The placement as read back: the group's CPUs, nodes and limits (null: none), the "
    "migration (null without --migrate), where the guest RAM is (null when it could not be "
    "counted page by page), the vCPU threads found and pinned.",
    cpus=C.cpu_list, nodes=C.node_list, memory_max_bytes=null(C.bytes),
    memory_high_bytes=null(C.bytes),
    migration=null(obj(not_moved_page_count=C.count, seconds=C.seconds)),
    verification=null(obj(on_nodes_bytes=C.bytes, elsewhere_bytes=C.bytes, absent_bytes=C.bytes,
                          other_bytes=C.bytes)),
    vcpu_count=C.count, pinned_vcpu_count=C.count,
)
docs.append(document(
    "place", "numaksm place --json, numaksm place --undo --json",
    "A VM placed in a cgroup of its own (action place), or put back (action undo: applied is "
    "null; the VM's kind, comm and program are null when its process is gone, and so is "
    "previous_cgroups).",
    dict(action=enum("place", "undo"), vm=C.vm_ref, backend=enum("v1", "v2"),
         group={"type": "string", "minLength": 1}, group_paths=arr(STR),
         previous_cgroups=null(arr(C.cgroup_membership)), applied=null(APPLIED),
         notes=arr(STR)),
    when("action", "undo", {"applied": NULL},
         {"applied": {"type": "object"},
          "vm": {"properties": {"kind": C.vm_kind, "name": C.name,
                                "trusted": {"const": True}}}})))
SAVING = obj(saved_bytes=C.bytes, error_bytes=C.bytes)
docs.append(document(
    "estimate", "numaksm estimate --json",
    "What KSM will save on the VMs, from the content of their guest RAM, under this host's "
    "max_page_sharing and use_zero_pages: with merge_across_nodes=1, and with "
    "merge_across_nodes=0 and every page where it is now (null when the pages' nodes could "
    "not be read).  error_bytes is the 95% bound of a sampled estimate (0 when every content "
    "is kept).  A VM that could not be read has its error and null figures.",
    dict(ksm=obj(max_page_sharing_count=C.count, use_zero_pages=BOOL, merge_across_nodes=BOOL),
         sample_count=C.count, read_bytes=C.bytes, distinct_kept_count=C.count,
         cpu_seconds=C.seconds, wall_seconds=C.seconds,
         merge_across_nodes=SAVING,
         per_node_merging=obj(saved_bytes=null(C.bytes), error_bytes=null(C.bytes),
                              per_node=arr(obj(node=C.node, saved_bytes=C.bytes,
                                               error_bytes=C.bytes))),
         vms=arr(obj(vm=C.vm_ref, error=NSTR, read_bytes=null(C.bytes),
                     zero_bytes=null(C.bytes), zero_mapped_bytes=null(C.bytes),
                     ksm_zero_bytes=null(C.bytes), inside_saved_bytes=null(C.bytes),
                     saved_bytes=null(C.bytes),
                     shared=arr(obj(pid=C.pid, name=C.name, bytes=C.bytes)),
                     per_node=arr(obj(node=C.node, read_bytes=C.bytes)))))))
docs.append(document(
    "place --plan-fleet", "numaksm place --plan-fleet --json",
    "Where the VMs would share most with per-node merging: the saving now and with the plan "
    "(merge_across_nodes=0), and each VM's node now and planned (null when it could not be "
    "read), whether a cpuset keeps it where it is (fixed), and the bytes to migrate.  "
    "tenants: the policy file gives VMs tenants; tenants_apart: no node holds two (null "
    "without tenants).  applied: --apply made the moves.",
    dict(sample_count=C.count, read_bytes=C.bytes, saved_now_bytes=C.bytes,
         saved_planned_bytes=C.bytes, tenants=BOOL, tenants_apart=NBOOL, applied=BOOL,
         vms=arr(obj(vm=C.vm_ref, tenant=NSTR, error=NSTR, node=null(C.node),
                     planned_node=null(C.node), fixed=BOOL, migrate_bytes=C.bytes)))))
docs.append(document(
    "audit", "numaksm audit --json",
    "The page frames the VMs share, from their page tables.  tenants: VMs grouped by the "
    "policy file's tenant (config), else each VM is its own group.  cross_frame_count "
    "frames are mapped by VMs of two groups (the zero page aside); pairs count them by VM "
    "pair and frames lists the first ones.  A VM that could not be read has its error and "
    "null figures.",
    dict(tenants=BOOL, config=NSTR, wall_seconds=C.seconds,
         vms=arr(obj(vm=C.vm_ref, tenant=NSTR, error=NSTR, present_bytes=null(C.bytes),
                     shared_bytes=null(C.bytes))),
         within_frame_count=C.count, cross_frame_count=C.count,
         cross_ksm_frame_count=C.count, zero_frame_count=C.count,
         pairs=arr(obj(a=C.pid, b=C.pid, frame_count=C.count)),
         frames=arr(obj(pfn=C.uint, ksm=BOOL, a=C.pid, a_address=C.uint, b=C.pid,
                        b_address=C.uint)))))
docs.append(document(
    "vm list", "numaksm vm list --json",
    "The running numaksm-vmm VMs; null what a VM's answer lacks.  console: a Linux guest's, "
    "from the VM's registry entry (null: the built-in program, or an entry without one or "
    "refused).",
    dict(vms=arr(obj(name=C.name, pid=null(C.pid),
                     state=null(C.vm_state),
                     vcpu_count=null(C.count), guest_ram_bytes=null(C.bytes),
                     ksm_merging_page_count=null(C.count), console=C.n("vmm_console"))))))


docs.append(document(
    "vm info", "numaksm vm info --json",
    "One numaksm-vmm VM, as its control socket describes it.", dict(vm=C.vmm_info)))
docs.append(document(
    "numaksm-vmm", "numaksm-vmm --json",
    "What numaksm-vmm prints once its VM runs: the VM, as numaksm vm info --json gives it.",
    dict(vm=C.vmm_info)))


docs.append(("numaksm-vmm-entry.schema.json", {
    "$schema": DRAFT, "$id": BASE + "numaksm-vmm-entry.schema.json",
    "title": "numaksm-vmm's registry entry",
    **obj("RUNDIR/vm/NAME.json, which numaksm-vmm holds locked while its VM runs (not a "
          "--json document): the control protocol's version, the VM's name (the file's), the "
          "VMM's process, its control socket, and a Linux guest's console (null: the built-in "
          "program, or not known yet).  Readers check every field as this schema does, and "
          "take an entry without console (an older VMM's) as one with null.",
          version={"type": "integer", "minimum": 1}, name=C.name,
          pid=C.pid, socket=C.absolute_path,
          console=C.n("vmm_console"))}))


def line(fname, title, desc, **props):
    s = obj(desc, schema_version={"const": 1}, command=C.command, **props)
    return fname, {"$schema": DRAFT, "$id": BASE + fname, "title": title, **s}


docs.append(line(
    "numaksm-error.schema.json", "An error under --json",
    "The one line numaksm prints on stderr for the error it exits with, under --json.",
    exit_status={"enum": [1, 2]}, error=C.error))
docs.append(line(
    "numaksm-log.schema.json", "A log line under --json",
    "A diagnostic on stderr under --json: one per line, before any error line.",
    log=obj(level=enum("error", "warning", "info", "debug"), message=STR)))


# ---- writing and checking -----------------------------------------------------
def files():
    out = {"common.schema.json": COMMON}
    out.update(docs)
    return {name: json.dumps(schema, indent=2) + "\n" for name, schema in out.items()}


def main():
    check = sys.argv[1:] == ["--check"]
    if sys.argv[1:] and not check:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    want = files()
    if not check:
        for name, text in want.items():
            with open(os.path.join(HERE, name), "w") as f:
                f.write(text)
        print(f"wrote {len(want)} schemas to {HERE}")
        return 0
    bad = 0
    have = {n for n in os.listdir(HERE) if n.endswith(".schema.json")}
    for name, text in want.items():
        path = os.path.join(HERE, name)
        try:
            with open(path) as f:
                same = f.read() == text
        except FileNotFoundError:
            print(f"{name}: missing (run {sys.argv[0]})")
            bad += 1
            continue
        if not same:
            print(f"{name}: differs from what generate.py makes (run {sys.argv[0]})")
            bad += 1
    for name in sorted(have - set(want)):
        print(f"{name}: not made by generate.py")
        bad += 1
    if not bad:
        print(f"{len(want)} schemas match generate.py")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
