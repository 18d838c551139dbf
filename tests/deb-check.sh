#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `cpack -G DEB` makes a package that works once unpacked into a fresh root:
# its binaries run from there against its own library, the unit starts the
# packaged binary, and the man pages, .pc file, headers, example policy
# file and bash completion are in it.
#
# Usage: deb-check.sh BUILD_DIR SOURCE_DIR PREFIX BINDIR LIBDIR MANDIR COMPLETIONSDIR
set -eu
build=$1 src=$2 prefix=$3 bindir=$4 libdir=$5 mandir=$6 compdir=$7
case $bindir in /*) ;; *) bindir=$prefix/$bindir ;; esac
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
case $mandir in /*) ;; *) mandir=$prefix/$mandir ;; esac
case $compdir in /*) ;; *) compdir=$prefix/$compdir ;; esac
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() {
	echo "deb-check: $*" >&2
	exit 1
}

cpack -G DEB -B "$t/out" --config "$build/CPackConfig.cmake" > "$t/cpack.log" 2>&1 ||
	{ cat "$t/cpack.log"; fail "cpack -G DEB failed"; }
set -- "$t"/out/numaksm_*.deb
[ $# = 1 ] && [ -f "$1" ] || fail "no single .deb in $t/out: $*"
deb=$1
echo "package: $(basename "$deb")"

# Metadata: dependencies computed from the binaries, not written by hand.
dpkg-deb -f "$deb" Package Section Maintainer Depends > "$t/fields"
cat "$t/fields"
grep -qx 'Package: numaksm' "$t/fields" || fail "wrong package name"
grep -qx 'Section: admin' "$t/fields" || fail "no section"
grep -q '^Maintainer: .*<.*@.*>' "$t/fields" || fail "no maintainer"
for lib in libc6 libnuma1 libhwloc15 libcgroup2 libjson-c5; do
	grep -q "^Depends:.*$lib" "$t/fields" || fail "Depends lacks $lib"
done

# The listing.
dpkg -c "$deb" | awk '{ print $6 }' | sed 's,^\./,/,' > "$t/list"
expect() {
	grep -qx "$1" "$t/list" || fail "the package lacks $1"
}
for f in numaksm numaksm-vmm numaksm-bench numaksm-gather-host-tree; do
	expect "$bindir/$f"
done
expect "$libdir/libnumaksm.so.0"
expect "$libdir/pkgconfig/numaksm.pc"
expect "$prefix/include/numaksm/core.h"
expect "$prefix/include/numaksm/policy.h"
for page in man1/numaksm.1 man1/numaksm-ksm.1 man5/numaksm.conf.5 man8/numaksm-tuned.8 \
	man8/numaksm-exporter.8; do
	expect "$mandir/$page"
done
unit=$(grep '/systemd/system/numaksm-tuned\.service$' "$t/list") ||
	fail "the package lacks numaksm-tuned.service"
exporter_unit=$(grep '/systemd/system/numaksm-exporter\.service$' "$t/list") ||
	fail "the package lacks numaksm-exporter.service"
expect "$prefix/share/doc/numaksm/examples/numaksm.conf"
expect "$prefix/share/numaksm/prometheus/numaksm-rules.yml"
expect "$compdir/numaksm"
echo "listing: $(wc -l < "$t/list") entries, all expected files present"

# Unpacked into a fresh root.
root=$t/root
dpkg-deb -x "$deb" "$root"
exec_line() {
	sed -n "s/^$1=//p" "$root$unit"
}
start=$(exec_line ExecStart)
stop=$(exec_line ExecStopPost)
echo "unit: ExecStart=$start"
echo "unit: ExecStopPost=$stop"
[ "$start" = "$bindir/numaksm tuned" ] || fail "ExecStart is not the packaged binary: $start"
[ "$stop" = "$bindir/numaksm ksm restore" ] || fail "ExecStopPost is not the packaged binary: $stop"
case $start in *--config*) fail "ExecStart names a policy file that may not exist" ;; esac
[ -x "$root$bindir/numaksm" ] || fail "$root$bindir/numaksm is not executable"
grep -qx "ExecStart=$bindir/numaksm exporter \$NUMAKSM_EXPORTER_ARGS" "$root$exporter_unit" ||
	fail "the exporter's ExecStart is not the packaged binary: $(grep ExecStart= "$root$exporter_unit")"

numaksm=$root$bindir/numaksm
# It runs against the packaged library, not the build's or the host's.
loaded=$(ldd "$numaksm" | sed -n 's/^[[:space:]]*libnumaksm\.so\.0 => \([^ ]*\) .*/\1/p')
[ -n "$loaded" ] && [ "$(readlink -f "$loaded")" = "$(readlink -f "$root$libdir/libnumaksm.so.0")" ] ||
	fail "the packaged numaksm loads '$loaded', not the packaged library"
version=$("$numaksm" --version)
echo "$version"
want=$(sed -n 's/^project(numaksm VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
[ "$version" = "numaksm $want" ] || fail "--version says '$version', not 'numaksm $want'"
"$numaksm" --help > "$t/help"
for c in check hugepages zone pin ksm tuned status place vm; do
	grep -q "^  $c " "$t/help" || fail "--help lacks the command $c"
done
"$root$bindir/numaksm-vmm" --help > /dev/null || fail "numaksm-vmm --help failed"

# check on a captured tree gives the golden output; on this host, a report.
"$src/tests/golden-check.sh" "$numaksm" "$src/tests/fixtures/debian12-hybrid-1node"
rc=0
"$numaksm" check > "$t/check" || rc=$?
[ $rc -le 1 ] || fail "numaksm check exited $rc"
head -5 "$t/check"
grep -Eq '^(PASS|WARN|FAIL|INFO) +ksm ' "$t/check" || fail "numaksm check printed no ksm item"
grep -Eq '^(PASS|WARN|FAIL|INFO) +numa ' "$t/check" || fail "numaksm check printed no numa item"

# The packaged completion script completes with the packaged numaksm.
words=$(PATH=$root$bindir:$PATH bash -c ". '$root$compdir/numaksm'
	COMP_WORDS=(numaksm ksm se); COMP_CWORD=2; _numaksm; echo \"\${COMPREPLY[*]}\"")
echo "completion: numaksm ksm se<TAB> -> $words"
[ "$words" = set ] || fail "the packaged completion completes 'numaksm ksm se' to '$words'"
echo "deb-check: OK"
