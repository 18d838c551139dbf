#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The committed odd host trees are what tests/fixtures/odd/make-odd-trees.sh
# makes from lab-4node: no tree edited by hand, none left over.
set -eu
odd=$(cd "$(dirname "$0")" && pwd)/fixtures/odd
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
"$odd/make-odd-trees.sh" "$t" > /dev/null
rc=0
for d in "$odd"/*/ "$t"/*/; do
	name=$(basename "$d")
	if [ ! -d "$odd/$name" ] || [ ! -d "$t/$name" ]; then
		echo "FAIL: $name is made by make-odd-trees.sh or committed, not both"
		rc=1
	fi
done
for d in "$t"/*/; do
	name=$(basename "$d")
	[ -d "$odd/$name" ] || continue
	diff -r "$odd/$name" "$t/$name" || {
		echo "FAIL: $name differs from what make-odd-trees.sh makes (run it again)"
		rc=1
	}
done
[ "$rc" = 0 ] && echo "the $(ls -d "$t"/*/ | wc -l) odd trees are what make-odd-trees.sh makes"
exit "$rc"
