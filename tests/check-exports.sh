#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The library exports exactly the functions its public headers declare,
# and the version script lists exactly those.
set -eu
lib=$1
include=$2
map=$3
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

nm -D --defined-only "$lib" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort -u > "$t/exported"
# Function declarations only: macros (#define nk_x(...)) are not symbols.
grep -ho '#define nk_[a-z0-9_]*' "$include"/*.h | sed 's/#define //' | sort -u > "$t/macros"
grep -v '^#define' "$include"/*.h | grep -o '\bnk_[a-z0-9_]*[ ]*(' | sed 's/[ (]//g' |
	sort -u | comm -23 - "$t/macros" > "$t/declared"
grep -o '^[[:space:]]*nk_[a-z0-9_]*;' "$map" | tr -d ' \t;' | sort -u > "$t/listed"

ok=1
if ! diff -u "$t/declared" "$t/exported"; then
	echo "exported symbols differ from the functions declared in $include"; ok=0
fi
if ! diff -u "$t/declared" "$t/listed"; then
	echo "$map differs from the functions declared in $include"; ok=0
fi
[ $ok = 1 ] && echo "$(wc -l < "$t/exported") symbols exported, all declared and listed"
[ $ok = 1 ]
