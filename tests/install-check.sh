#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `cmake --install` gives a usable library: a program built only from the
# installed header and numaksm.pc links and runs against it.
set -eu
build=$1
cflags=${2:-}  # the sanitizer flags the library was built with, if any
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
cmake --install "$build" --prefix "$t/prefix" > /dev/null
pc=$(dirname "$(find "$t/prefix" -name numaksm.pc)")
cat > "$t/prog.c" <<'C'
#include <numaksm/core.h>
#include <stdio.h>
int main(void)
{
	nk_bitmap *b = NULL;
	char *s = NULL;
	if (nk_parse_list("3,0-1", "CPU list", &b, NULL) < 0 || nk_bitmap_format(b, &s) < 0)
		return 1;
	printf("%s %s\n", nk_version(), s);
	return 0;
}
C
cc $cflags -o "$t/prog" "$t/prog.c" $(PKG_CONFIG_PATH=$pc pkg-config --cflags --libs numaksm) \
	-Wl,-rpath,"$t/prefix/lib"
out=$("$t/prog")
echo "installed library says: $out"
[ "${out#* }" = "0-1,3" ]
test -x "$t/prefix/bin/numaksm"
"$t/prefix/bin/numaksm" --version
if command -v go-md2man > /dev/null; then
	test -f "$t/prefix/share/man/man1/numaksm.1"
fi
