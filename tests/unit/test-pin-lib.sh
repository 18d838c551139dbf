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

# Print the tally and exit 0 when nothing failed.
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit
}
