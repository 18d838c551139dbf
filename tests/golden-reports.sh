#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The reports of a captured host tree against TREE.golden: check, status
# and hugepages with --root TREE, as text and as --json, one after the
# other under a "### numaksm ..." line.  Each must exit 0: a tree with
# files missing or odd is reported, never refused.  The tree is named by
# its folder name (run from its parent), so the text does not hold where
# the source tree is; status's generated_at is left out.
# NUMAKSM_UPDATE_GOLDEN=1 rewrites the golden file instead.
#
# Usage: golden-reports.sh NUMAKSM TREE
set -eu
. "$(dirname "$0")/golden-lib.sh"
numaksm=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tree=$(cd "$2" && pwd)
golden=$tree.golden
out=$(mktemp)
trap 'rm -f "$out"' EXIT

cd "$(dirname "$tree")"
name=$(basename "$tree")
failed=0
for command in check status hugepages; do
	for json in "" " --json"; do
		echo "### numaksm $command$json --root $name" >> "$out"
		rc=0
		# shellcheck disable=SC2086 # $json is one word or none
		"$numaksm" $command $json --root "$name" > "$out.one" 2>&1 || rc=$?
		sed 's/^\(  "generated_at": \)"[^"]*"/\1"(left out)"/' "$out.one" >> "$out"
		rm -f "$out.one"
		if [ "$rc" != 0 ]; then
			echo "FAIL: numaksm $command$json --root $name exited $rc:"
			tail -n 5 "$out"
			failed=1
		fi
	done
done
[ "$failed" = 0 ] || exit 1
golden_compare "$out" "$golden" "the reports of $name"
