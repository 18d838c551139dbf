#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The layers of numaksm (docs/architecture.md), checked over every #include.

    check-layers.py SOURCE_DIR                    check the tree; exit 1 on a violation
    check-layers.py --self-test SOURCE_DIR [BUILD_DIR]
        copy the tree, add a back-edge, and check that this script reports it
        and (with BUILD_DIR's compile_commands.json) that the compiler refuses it

The order, lowest first:
    core    src/ (public headers src/include/numaksm/, private src/*.h;
            src/basic/ holds the library-internal helpers every module uses)
    memory  memory/        vcpu  vcpu/      (siblings: neither sees the other)
    policy  policy/
    programs tools/ (numaksm), tools/vmm/ (numaksm-vmm), benchmarks/
A file may include its own directory's headers, src/basic/ (library modules
only), and the public headers of its own module and the modules below it.
Programs include public headers only.  Tests are outside the layers.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

RANK = {"core": 1, "memory": 2, "vcpu": 2, "policy": 3, "programs": 4}
LIBRARY = ("core", "memory", "vcpu", "policy")
# Directory -> module, most specific first.
DIRS = [
    ("src/include/numaksm", "core"),
    ("src/basic", "basic"),
    ("src", "core"),
    ("memory/include/numaksm", "memory"),
    ("memory", "memory"),
    ("vcpu/include/numaksm", "vcpu"),
    ("vcpu", "vcpu"),
    ("policy/include/numaksm", "policy"),
    ("policy", "policy"),
    ("tools/vmm/guest", "programs"),
    ("tools/vmm", "programs"),
    ("tools", "programs"),
    ("benchmarks", "programs"),
]
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def module_of(rel_dir):
    for d, m in DIRS:
        if rel_dir == d or rel_dir.startswith(d + "/"):
            return m
    return None


def public_headers(root):
    """{"numaksm/x.h": module} for every module's public headers."""
    found = {}
    for d, m in DIRS:
        if d.endswith("include/numaksm"):
            for name in os.listdir(os.path.join(root, d)):
                if name.endswith(".h"):
                    found["numaksm/" + name] = m
    return found


def files(root):
    for d, _ in DIRS:
        top = os.path.join(root, d)
        for name in sorted(os.listdir(top)) if os.path.isdir(top) else []:
            path = os.path.join(top, name)
            # Dot files are not the project's: the self-test's compiler
            # probes (.layers-*.c) live beside the sources for a moment,
            # and the check, run alongside, must not read them.
            if os.path.isfile(path) and name.endswith((".c", ".h")) and name[0] != ".":
                yield os.path.relpath(path, root)


def check(root):
    public = public_headers(root)
    violations = []
    seen = set()
    for rel in files(root):
        if rel in seen:
            continue
        seen.add(rel)
        rel_dir = os.path.dirname(rel)
        mod = module_of(rel_dir)
        text = open(os.path.join(root, rel), encoding="utf-8", errors="replace").read()
        for line_no, (bracket, target) in enumerate_includes(text):
            why = judge(root, rel_dir, mod, bracket, target, public)
            if why:
                close = ">" if bracket == "<" else '"'
                violations.append(f"{rel}:{line_no}: #include {bracket}{target}{close}: {why}")
    return violations, len(seen)


def enumerate_includes(text):
    for m in INCLUDE.finditer(text):
        yield text.count("\n", 0, m.start()) + 1, (m.group(1), m.group(2))


def judge(root, rel_dir, mod, bracket, target, public):
    """None when the include is allowed, else why not."""
    if target in public:
        to = public[target]
        if mod == "basic":
            return None if to == "core" else f"src/basic/ sits below {to}/"
        if to == mod:
            return None
        if RANK[to] >= RANK[mod]:
            side = "beside" if RANK[to] == RANK[mod] else "above"
            return f"{mod}/ may not use {to}/, which is {side} it"
        return None
    if bracket == "<":
        return None  # the C library, json-c, hwloc...
    if target == "basic.h":
        return None if mod in LIBRARY or mod == "basic" else "only the library's modules use src/basic/"
    # A private header: only from its own directory (a program's subdirectory
    # may use its program's: the VMM's guest includes "../guest-abi.h").
    resolved = os.path.normpath(os.path.join(rel_dir, target))
    if os.path.isfile(os.path.join(root, resolved)):
        home = os.path.dirname(resolved)
        if home == rel_dir:
            return None
        if mod == "programs" and rel_dir.startswith(home + "/") and module_of(home) == mod:
            return None
        return f"{target} is private to {home}/"
    # The programs' JSON vocabulary: numaksm's and numaksm-vmm's.
    if target == "json.h" and (rel_dir == "tools" or rel_dir.startswith("tools/")):
        return None
    owner = [d for d, _ in DIRS if os.path.isfile(os.path.join(root, d, target))]
    if owner:
        return f"{target} is private to {owner[0]}/"
    return "no such header in this directory"


def self_test(root, build):
    tmp = tempfile.mkdtemp(prefix="check-layers-")
    try:
        for rel in files(root):
            dst = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy(os.path.join(root, rel), dst)
        edges = {
            "memory/zone.c": '#include "numaksm/policy.h"',  # up a layer
            "memory/spec.c": '#include "numaksm/vcpu.h"',  # a sibling
            "src/vm.c": '#include "vcpu-internal.h"',  # another module's private header
            "tools/numaksm.c": '#include "basic.h"',  # a program into the library's insides
            "tools/cmd-vm.c": '#include "../vcpu/vcpu-internal.h"',  # a private header by path
        }
        for rel, line in edges.items():
            with open(os.path.join(tmp, rel), "a") as f:
                f.write(line + "\n")
        violations, _ = check(tmp)
        missing = [rel for rel in edges if not any(v.startswith(rel + ":") for v in violations)]
        print("\n".join(violations))
        if missing or len(violations) != len(edges):
            print(f"self-test: expected exactly the {len(edges)} injected back-edges, "
                  f"got {len(violations)}; missed {missing}")
            return 1
        print(f"self-test: all {len(edges)} injected back-edges reported")
        if build:
            return compiler_refuses(root, build, edges)
        return 0
    finally:
        shutil.rmtree(tmp)


def compiler_refuses(root, build, edges):
    """Each injected include must fail to compile with the file's own flags."""
    db = json.load(open(os.path.join(build, "compile_commands.json")))
    bad = 0
    for rel, line in edges.items():
        if not rel.endswith(".c"):
            continue
        src = os.path.join(root, rel)
        entry = next((e for e in db if os.path.realpath(e["file"]) == os.path.realpath(src)), None)
        if not entry:
            print(f"{rel}: not in compile_commands.json")
            bad += 1
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".c", dir=os.path.dirname(src),
                                         prefix=".layers-", delete=False) as f:
            f.write(open(src).read() + line + "\n")
            probe = f.name
        try:
            args = shlex.split(entry["command"])
            cmd = []
            for i, a in enumerate(args):
                if a == "-o" or (i and args[i - 1] == "-o") or a == "-c":
                    continue
                cmd.append(probe if os.path.realpath(a) == os.path.realpath(src) else a)
            r = subprocess.run(cmd + ["-fsyntax-only"], cwd=entry["directory"],
                               capture_output=True, text=True)
        finally:
            os.unlink(probe)
        header = line.split('"')[1]
        why = next((l for l in r.stderr.splitlines() if "error" in l), "")
        if r.returncode == 0 or header not in why:
            print(f"{rel} + {line}: the compiler did not refuse the header: {why or 'accepted'}")
            bad += 1
        else:
            print(f"{rel} + {line}: refused by the compiler: {why.split('error: ')[-1]}")
    return 1 if bad else 0


def main():
    args = sys.argv[1:]
    if args and args[0] == "--self-test":
        if len(args) not in (2, 3):
            sys.exit(__doc__)
        return self_test(args[1], args[2] if len(args) == 3 else None)
    if len(args) != 1:
        sys.exit(__doc__)
    violations, n = check(args[0])
    for v in violations:
        print(v)
    if violations:
        print(f"{len(violations)} include(s) against the layers (see docs/architecture.md)")
        return 1
    print(f"layers: {n} files, every include within its layer or below")
    return 0


if __name__ == "__main__":
    sys.exit(main())
