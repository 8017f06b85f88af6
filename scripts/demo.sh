#!/bin/sh
# SPDX-License-Identifier: MIT
# The bundled demo: trace each concurrency model under the same load and
# print what a connection costs in each. Run by `sudo make demo`.
# Installed (make install, the Debian package) as PREFIX/lib/conctrace/demo.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
# installed: the servers beside this file, conctrace in PREFIX/sbin (as
# conctrace --load finds loadgen); in the tree: ./conctrace, ./servers/
if [ -x "$here/loadgen" ]; then
	conctrace=$(cd "$here/../../sbin" && pwd)/conctrace
	servers=$here
	more="conctrace --help, man 8 conctrace"
else
	cd "$here/.."
	conctrace=./conctrace
	servers=./servers
	more="./conctrace --help, README.md and docs/"
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: conctrace loads BPF programs: run as root (sudo make demo, or sudo $0)" >&2
	exit 1
fi

LOAD="${LOAD:--c 1000 -n 10}"
for server in epoll_echo threaded_echo; do
	echo "=== $server: loadgen $LOAD ==="
	"$conctrace" --load="$LOAD" -- "$servers/$server" -p 0
	echo
done
echo "Same load, two models: compare 'ctx switches' and 'syscalls/conn' above."
echo "More: $more."
