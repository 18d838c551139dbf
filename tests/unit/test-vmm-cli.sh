#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# numaksm-vmm's refusals as a user meets them: exit 2 and a message naming
# the problem for bad input, exit 1 without /dev/kvm, and in every case
# nothing created (no runtime directory, socket, registry entry or pins).
# Runs anywhere; where /dev/kvm works its refusal case is left out.
#
# Usage: test-vmm-cli.sh NUMAKSM_VMM
set -u
numaksm=$1 # expect() from test-pin-lib.sh runs $numaksm
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
export NUMAKSM_RUNTIME_DIR="$t/run"
. "$(dirname "$0")/test-pin-lib.sh"

head -c 8192 /dev/zero > "$t/two-pages"

expect 0 "Usage: numaksm-vmm" --help
expect 2 "--name is required" --memory size=64M
expect 2 "guest RAM is required" --name a
expect 2 "not a multiple of 2M" --name a --memory size=63M
expect 2 "overlap" --name a --memory-zone id=z0,size=64M --memory-zone id=z1,size=64M,gpa=32M
expect 2 "exceeds the guest address space" --name a --memory size=512G
expect 2 "do not fit in zone ram" --name a --memory size=64M --load "$t/two-pages@0x3fff000"
expect 2 "hold the guest program" --name a --memory size=64M --load "$t/two-pages@0"
expect 2 "cannot use" --name a --memory size=64M --load "$t/missing@16M"
expect 2 "unknown zone key 'colour'" --name a --memory size=64M,colour=blue
expect 2 "--cpus: unknown key 'sockets'" --name a --memory size=64M --cpus sockets=2
expect 2 "the guest nodes have 1 vCPUs, --cpus 2" --name a --memory-zone id=z0,size=64M \
	--numa guest_node=0,cpus=0,zones=z0 --cpus 2
expect 2 "use 1 to 64 letters" --name "../etc" --memory size=64M
expect 2 "unknown option '--disk'" --name a --memory size=64M --disk x.img
expect 2 "add --hold" --name a --memory size=64M --workload passes=0
expect 2 "--console: 'serial': expected stdio, pty, file:PATH or socket:PATH" --name a \
	--memory size=128M --kernel "$t/two-pages" --console serial
expect 2 "exists and is not a socket: remove it" --name a --memory size=128M \
	--kernel "$t/two-pages" --console "socket:$t/two-pages"
expect 2 "--console: cannot create '$t/none/c.log'" --name a --memory size=128M \
	--kernel "$t/two-pages" --console "file:$t/none/c.log"
expect 2 "--boot-timeout: 'soon': expected whole seconds" --name a --memory size=128M \
	--kernel "$t/two-pages" --boot-timeout soon
expect 2 "--kernel-cache 'cache': give an absolute directory, or off" --name a \
	--memory size=128M --kernel "$t/two-pages" --kernel-cache cache
if [ ! -c /dev/kvm ]; then
	expect 1 "cannot open /dev/kvm" --name a --memory size=64M
	grep -qF "hint: load kvm-intel or kvm-amd" "$t/err" || fail "no hint for the missing /dev/kvm"
fi
# Nothing was created by any of them.
[ ! -e "$t/run" ] || fail "a refused VM left $(find "$t/run")"

echo "$passed checks passed, $failed failed"
[ "$failed" = 0 ]
