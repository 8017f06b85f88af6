#!/bin/sh
# SPDX-License-Identifier: MIT
# The bundled demo: trace each concurrency model under the same load and
# print what a connection costs in each. Run by `sudo make demo`.
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: conctrace loads BPF programs: run as root (sudo make demo)" >&2
	exit 1
fi

LOAD="${LOAD:--c 1000 -n 10}"
for server in epoll_echo threaded_echo; do
	echo "=== $server: 1000 connections x 10 PINGs (loadgen $LOAD) ==="
	./conctrace --load="$LOAD" -- "./servers/$server" -p 0
	echo
done
echo "Same load, two models: compare 'ctx switches' and 'syscalls/conn' above."
echo "More: ./conctrace --help, README.md and docs/."
