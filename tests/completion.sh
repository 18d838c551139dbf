#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The bash completion, as bash runs it: the installed script registers
# _numaksm for numaksm, and scripted completions (COMP_WORDS, COMP_CWORD)
# give the commands, subcommands, options, KSM knobs, NUMA nodes and
# hugepage sizes of this numaksm and this host; with FAKE_VMM, the name of
# a running stand-in VM of each of two kinds.
#
# Usage: completion.sh NUMAKSM COMPLETION_FILE [FAKE_VMM]
set -u
numaksm=$1
script=$2
fake=${3:-}
failed=0
pids=
t=$(mktemp -d)
cleanup() {
	for p in $pids; do kill "$p" 2> /dev/null; done
	wait 2> /dev/null
	rm -rf "$t"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	failed=$((failed + 1))
}
# The built numaksm is the one bash finds, as the installed one would be.
mkdir "$t/bin"
ln -s "$(readlink -f "$numaksm")" "$t/bin/numaksm"
export PATH="$t/bin:$PATH"
# shellcheck source=/dev/null
. "$script"

spec=$(complete -p numaksm)
[ "$spec" = "complete -o default -F _numaksm numaksm" ] || fail "complete -p numaksm: '$spec'"

# comp WORD... CURRENT: the completions, space-separated and sorted.
comp() {
	COMP_WORDS=(numaksm "$@")
	COMP_CWORD=$#
	COMP_LINE="numaksm $*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_numaksm numaksm "${!#}" "${COMP_WORDS[COMP_CWORD - 1]}"
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
expect() {
	local want=$1
	shift
	local got
	got=$(comp "$@")
	if [ "$got" = "$want" ]; then
		echo "ok: numaksm $* <TAB> -> $got"
	else
		fail "numaksm $* <TAB> gave '$got', expected '$want'"
	fi
}
# expect_has WORD WORD... CURRENT: WORD among the completions.
expect_has() {
	local want=$1
	shift
	local got
	got=" $(comp "$@") "
	if [[ $got == *" $want "* ]]; then
		echo "ok: numaksm $* <TAB> offers $want"
	else
		fail "numaksm $* <TAB> gave '$got', without '$want'"
	fi
}

expect "audit check completion estimate exporter hugepages ksm libvirt pin place status top tuned vm zone" ""
expect "ksm" k
expect "--help --verbose --version" --
expect "restore set show" ksm ""
expect "list" vm l
expect "apply plan record release show" pin ""
expect "--check --force --help --root --unmerge" ksm set --
expect "--defaults --help" ksm restore --
expect "--help --json --runtime-dir" vm list --
expect "--help --nodes --runtime-dir" vm migrate vm1 zone0 --
expect "--vcpus" pin plan --vc
expect "--format" pin plan --form
expect "apply" libvirt ""
expect "--dry-run" libvirt apply web1 --dry
expect "--live" libvirt apply web1 --li
expect "--config" tuned --con
expect "--help" ksm --
expect "bash" completion ""
# KSM's knobs, from the library's table, as this kernel has them.
expect "pages_to_scan=" ksm set pages
expect_has "sleep_millisecs=" ksm set --force ""
if [ -e /sys/kernel/mm/ksm/merge_across_nodes ]; then
	expect_has "merge_across_nodes=" ksm set ""
fi
# A value after '=' is not a knob name again.
expect "" ksm set run = ""
# NUMA nodes and hugepage sizes of this host.
for n in /sys/devices/system/node/node[0-9]*; do
	[ -d "$n" ] || continue
	expect_has "${n##*node}" hugepages reserve --node ""
	expect_has "${n##*node}" place vm1 --nodes ""
done
for h in /sys/kernel/mm/hugepages/hugepages-*kB; do
	[ -d "$h" ] || continue
	kb=${h##*hugepages-}
	kb=${kb%kB}
	if [ $((kb % 1048576)) = 0 ]; then size=$((kb / 1048576))G; else size=$((kb / 1024))M; fi
	expect_has "$size" hugepages reserve --size ""
done

if [ -n "$fake" ]; then
	# start KIND NAME: a stand-in VM of KIND called NAME.
	start() {
		"$fake" "$1" 1 "$2" > "$t/$2.ready" &
		pids="$pids $!"
		for _ in $(seq 100); do
			grep -q ready "$t/$2.ready" && return 0
			sleep 0.1
		done
		fail "the stand-in $2 did not start"
	}
	start numaksm compl-vmm-$$
	start qemu compl-qemu-$$
	expect_has "compl-vmm-$$" status compl-
	expect_has "compl-qemu-$$" status compl-
	expect_has "compl-qemu-$$" pin show compl-q
	expect_has "compl-qemu-$$" place ""
	expect_has "compl-vmm-$$" vm info compl-
	# vm commands take numaksm-vmm VMs only, and the name first only.
	got=$(comp vm info compl-q)
	[ -z "$got" ] || fail "numaksm vm info compl-q <TAB> offers a QEMU: '$got'"
	expect "" vm ksm "compl-vmm-$$" ""
fi

[ $failed = 0 ] || { echo "$failed completion(s) wrong"; exit 1; }
echo "completion: OK"
