#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A stand-in VM for host/estimate: a mergeable guest RAM of known content.

  estimate-vm.py NAME PAGES...   PAGES: KIND:COUNT, laid out in order:
    image:N    the shared image's pages 0..N-1 (the same in every VM)
    zero:N     N pages written with zeros (present, not the zero page)
    dup:N/K    N pages of N/K distinct contents, each K times (this VM's own)
    unique:N   N pages no other page holds
    hole:N     N pages never touched (not present)
    zread:N    N pages only read: the shared zero page maps them (no memory)

  estimate-vm.py -name guest=NAME PAGES...
                   the same, looking like QEMU to numaksm's VM finder (its
                   comm is qemu-system-x86 and -name names it)

Prints "ready" once every page is written, then sleeps until killed.
"""
import ctypes
import hashlib
import mmap
import sys
import time

PAGE = 4096


def content(tag):
    return hashlib.sha256(tag.encode()).digest() * (PAGE // 32)


if sys.argv[1] == "-name":
    name, specs = sys.argv[2].split("guest=")[1].split(",")[0], sys.argv[3:]
    ctypes.CDLL(None).prctl(15, b"qemu-system-x86", 0, 0, 0)  # PR_SET_NAME
else:
    name, specs = sys.argv[1], sys.argv[2:]
layout = []
for s in specs:
    kind, count = s.split(":")
    layout.append((kind, count))
total = sum(int(c.split("/")[0]) for _, c in layout)
ram = mmap.mmap(-1, total * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
ram.madvise(mmap.MADV_MERGEABLE)
at = 0
for kind, count in layout:
    n = int(count.split("/")[0])
    for i in range(n):
        if kind == "image":
            page = content(f"image-{i}")
        elif kind == "zero":
            page = bytes(PAGE)
        elif kind == "dup":
            k = int(count.split("/")[1])
            page = content(f"{name}-dup-{i // k}")
        elif kind == "unique":
            page = content(f"{name}-unique-{at + i}")
        elif kind == "hole":
            page = None
        elif kind == "zread":
            page = None
            ram[(at + i) * PAGE]  # a read fault maps the zero page
        else:
            sys.exit(f"unknown kind {kind}")
        if page is not None:
            ram[(at + i) * PAGE:(at + i + 1) * PAGE] = page
    at += n
print("ready", flush=True)
while True:
    time.sleep(60)
