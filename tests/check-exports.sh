#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The library exports exactly the functions its public headers declare,
# and the version script lists exactly those.
set -eu
# Usage: check-exports.sh LIBRARY VERSION_SCRIPT INCLUDE_DIR...
lib=$1
map=$2
shift 2
headers=""
for dir in "$@"; do headers="$headers $dir/*.h"; done
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

nm -D --defined-only "$lib" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort -u > "$t/exported"
# Function declarations only: macros (#define nk_x(...)) are not symbols, nor
# are the static inline cleanup helpers of numaksm/cleanup.h.
# shellcheck disable=SC2086
grep -ho '#define nk_[a-z0-9_]*' $headers | sed 's/#define //' | sort -u > "$t/macros"
# shellcheck disable=SC2086
cat $headers | grep -v '^#define' | grep -v 'static inline' |
	grep -o '\bnk_[a-z0-9_]*[ ]*(' | sed 's/[ (]//g' |
	sort -u | comm -23 - "$t/macros" > "$t/declared"
grep -o '^[[:space:]]*nk_[a-z0-9_]*;' "$map" | tr -d ' \t;' | sort -u > "$t/listed"

ok=1
if ! diff -u "$t/declared" "$t/exported"; then
	echo "exported symbols differ from the functions declared in $*"; ok=0
fi
if ! diff -u "$t/declared" "$t/listed"; then
	echo "$map differs from the functions declared in $*"; ok=0
fi
[ $ok = 1 ] && echo "$(wc -l < "$t/exported") symbols exported, all declared and listed"
[ $ok = 1 ]
