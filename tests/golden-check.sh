#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Compare `numaksm check --json --root FIXTURE` with FIXTURE.check.json.
# NUMAKSM_UPDATE_GOLDEN=1 rewrites the golden file instead.
set -eu
numaksm=$1
fixture=$2
golden=$fixture.check.json
out=$(mktemp)
trap 'rm -f "$out"' EXIT

rc=0
"$numaksm" check --json --root "$fixture" > "$out" || rc=$?
if [ "$rc" -gt 1 ]; then
	echo "numaksm check --root $fixture exited $rc"
	exit 1
fi
if [ "${NUMAKSM_UPDATE_GOLDEN:-0}" = 1 ]; then
	cp "$out" "$golden"
	echo "updated $golden"
	exit 0
fi
if [ ! -f "$golden" ]; then
	echo "no golden file $golden; create it with NUMAKSM_UPDATE_GOLDEN=1"
	exit 1
fi
if ! diff -u "$golden" "$out"; then
	echo "check --json differs from $golden (NUMAKSM_UPDATE_GOLDEN=1 regenerates it)"
	exit 1
fi
echo "matches $golden"
