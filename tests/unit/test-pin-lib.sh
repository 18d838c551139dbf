# SPDX-License-Identifier: GPL-2.0-or-later
# Shell helpers of the `numaksm pin` CLI tests (sourced).  The caller sets
# $numaksm and $t (a temp dir).
failed=0
passed=0

fail() {
	echo "FAIL: $*"
	failed=$((failed + 1))
}

# expect EXIT SUBSTRING ARGS...: run numaksm, check the exit code and that
# stderr or stdout holds SUBSTRING.  Returns 1 when not.
expect() {
	want=$1 text=$2
	shift 2
	"$numaksm" "$@" > "$t/out" 2> "$t/err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		fail "numaksm $* exited $rc, expected $want"
		cat "$t/err"
		return 1
	fi
	if ! grep -qF -- "$text" "$t/err" "$t/out"; then
		fail "numaksm $*: output lacks '$text'"
		cat "$t/err" "$t/out"
		return 1
	fi
	passed=$((passed + 1))
}

# plan ARGS...: append `numaksm pin plan ARGS`, its output and exit code to $t/plans.
plan() {
	echo "\$ numaksm pin plan $*" >> "$t/plans"
	"$numaksm" pin plan "$@" >> "$t/plans" 2>&1
	echo "exit $?" >> "$t/plans"
}

# compare_golden GOLDEN: $t/plans against GOLDEN, or rewrite GOLDEN when
# NUMAKSM_UPDATE_GOLDEN=1.
compare_golden() {
	if [ "${NUMAKSM_UPDATE_GOLDEN:-0}" = 1 ]; then
		cp "$t/plans" "$1"
		echo "updated $1"
	elif ! diff -u "$1" "$t/plans"; then
		fail "plans differ from $1 (NUMAKSM_UPDATE_GOLDEN=1 regenerates it)"
	else
		passed=$((passed + 1))
	fi
}

# Print the tally and exit 0 when nothing failed.
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit
}
