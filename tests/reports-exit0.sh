#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# check, status and hugepages --root, as text and --json, exit 0 on every
# captured tree given: files missing or odd are reported, never refused.
#
# Usage: reports-exit0.sh NUMAKSM TREE...
set -u
numaksm=$1
shift
failed=0
runs=0
for tree in "$@"; do
	for command in check status hugepages; do
		for json in "" --json; do
			runs=$((runs + 1))
			# shellcheck disable=SC2086 # $json is one word or none
			"$numaksm" $command $json --root "$tree" > /dev/null 2> "${TMPDIR:-/tmp}/exit0.$$"
			rc=$?
			if [ "$rc" != 0 ]; then
				echo "FAIL: numaksm $command${json:+ $json} --root $tree exited $rc: $(tail -n 1 "${TMPDIR:-/tmp}/exit0.$$")"
				failed=$((failed + 1))
			fi
		done
	done
done
rm -f "${TMPDIR:-/tmp}/exit0.$$"
echo "$((runs - failed)) of $runs reports exited 0 on $# trees"
[ "$failed" = 0 ]
