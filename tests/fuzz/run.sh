#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Run one fuzz target: every seed of SEEDS, then fuzzing for SECONDS.  New
# inputs go to WORK/corpus, never among the seeds; a crash, leak or timeout
# is kept as WORK/crash-*, leak-*, timeout-* and the test fails.
#   run.sh TARGET SEEDS WORK SECONDS [LIBFUZZER-OPTION...]
set -eu
[ $# -ge 4 ] || { echo "usage: $0 TARGET SEEDS WORK SECONDS [LIBFUZZER-OPTION...]" >&2; exit 2; }
target=$1 seeds=$2 work=$3 seconds=$4
shift 4
mkdir -p "$work/corpus"
touch "$work/.started"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
rc=0
"$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$work/" "$@" "$work/corpus" "$seeds" || rc=$?
if [ $rc != 0 ]; then
	find "$work" -maxdepth 1 -newer "$work/.started" -name '*-*' | while read -r f; do
		echo "$(basename "$target"): kept $f; run it again with: $target $f" >&2
	done
fi
exit $rc
