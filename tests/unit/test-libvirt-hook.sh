#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The libvirt hook (dist/libvirt/hooks/qemu) with a stand-in numaksm:
# "started" records the domain, "release" releases it, every other
# operation (a newer libvirt's too) is left alone, and the hook exits 0
# whatever numaksm does, reading the XML libvirt writes on its input.
#
# Usage: test-libvirt-hook.sh HOOK
set -u
hook=$1
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
. "$(dirname "$0")/test-pin-lib.sh"
export NUMAKSM_HOOK_LOG="$t/hook.log"
cat > "$t/numaksm" << EOF
#!/bin/sh
echo "\$*" >> "$t/calls"
echo "stand-in numaksm: \$*"
exit \${STUB_EXIT:-0}
EOF
chmod +x "$t/numaksm"
export NUMAKSM="$t/numaksm"

# run WANT-CALL ARGS...: the hook exits 0 and calls numaksm as WANT-CALL ("" none).
run() {
	want=$1
	shift
	rm -f "$t/calls"
	printf '<domain><name>%s</name></domain>\n' "${1:-}" | sh "$hook" "$@"
	rc=$?
	got=$(cat "$t/calls" 2> /dev/null)
	if [ "$rc" != 0 ]; then
		fail "hook $*: exit $rc"
	elif [ "$got" != "$want" ]; then
		fail "hook $*: called '$got', expected '$want'"
	else
		passed=$((passed + 1))
	fi
}
run "pin record web1" web1 started begin -
run "pin release web1" web1 release end -
run "" web1 prepare begin -
run "" web1 start begin -
run "" web1 stopped end -
run "" web1 migrate begin -
run "" web1 restore begin -
run "" web1 reconnect begin -
# A newer libvirt: an operation and arguments this hook does not know.
run "" web1 frobnicate begin - extra1 extra2
run "pin record web1" web1 started begin - extra1 extra2
run "" "" started begin -
run ""
# numaksm failing, or missing, fails nothing.
STUB_EXIT=1 run "pin record web1" web1 started begin -
NUMAKSM=$t/none run "" web1 started begin -
if grep -q "started web1:" "$t/hook.log" &&
	grep -q "stand-in numaksm: pin record web1" "$t/hook.log"; then
	passed=$((passed + 1))
else
	fail "the log lacks the call and its output: $(cat "$t/hook.log")"
fi
finish
