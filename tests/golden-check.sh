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
. "$(dirname "$0")/golden-lib.sh"
golden_compare "$out" "$golden" "check --json"
