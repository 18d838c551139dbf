# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by the golden tests: golden_compare OUT GOLDEN WHAT compares the
# output OUT with the file GOLDEN, or with NUMAKSM_UPDATE_GOLDEN=1 rewrites
# GOLDEN; WHAT names the output in the messages.
golden_compare() {
	if [ "${NUMAKSM_UPDATE_GOLDEN:-0}" = 1 ]; then
		cp "$1" "$2"
		echo "updated $2"
		return 0
	fi
	if [ ! -f "$2" ]; then
		echo "no golden file $2; create it with NUMAKSM_UPDATE_GOLDEN=1"
		return 1
	fi
	if ! diff -u "$2" "$1"; then
		echo "$3: not as in $2 (NUMAKSM_UPDATE_GOLDEN=1 regenerates it)"
		return 1
	fi
	echo "$3: as in $2"
}
