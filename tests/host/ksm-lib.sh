# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by the host tests that drive KSM themselves ($numaksm set):
#   ksm_require_free   exit 77 unless root, KSM, and nobody else drives it
#                      (ksmtuned, or a program that owns KSM's knobs)
#   ksm_save DIR KNOBS saves the knobs this kernel has of KNOBS into DIR,
#                      their names in $present
#   ksm_put_back DIR   writes them back, in the order saved
ksm=/sys/kernel/mm/ksm

ksm_require_free() {
	[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
	[ -w $ksm/run ] || { echo "no KSM"; exit 77; }
	if pgrep -x ksmtuned > /dev/null; then echo "ksmtuned runs: KSM is not ours"; exit 77; fi
	if "$numaksm" ksm show --json | grep -q '"running": true'; then
		echo "another program owns KSM's knobs now"; exit 77
	fi
}

ksm_save() {
	present=""
	for k in $2; do
		if [ -e $ksm/$k ]; then
			present="$present $k"
			sed 's/.*\[\(.*\)\].*/\1/' $ksm/$k > "$1/saved.$k"
		fi
	done
}

ksm_put_back() {
	for k in $present; do cat "$1/saved.$k" > $ksm/$k 2> /dev/null; done
}
