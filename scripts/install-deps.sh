#!/bin/sh
# SPDX-License-Identifier: MIT
# Install what conctrace needs on Debian/Ubuntu: with --demo only what
# `make demo` needs (build conctrace and the reference servers), by default
# that and what `make test` needs. --print lists the packages the mode asks
# for, one a line (bpftool and libFuzzer's package as Debian names them;
# they are looked up only when missing), and installs nothing.
# Idempotent: asks apt only for packages that are missing, so a second run
# on a provisioned machine touches no network and takes a fraction of a second.
set -eu

demo=0
print=0
for arg in "$@"; do
	case "$arg" in
	--demo) demo=1 ;;
	--print) print=1 ;;
	*) echo "install-deps: unknown option '$arg' (use --demo, --print)" >&2; exit 2 ;;
	esac
done

# build (make all): compilers, a C library's headers, libbpf and what it
# links with, liburing for the servers; bpftool (below) for the skeleton
BUILD_PKGS="clang make gcc libc6-dev pkg-config libbpf-dev libelf-dev zlib1g-dev
      liburing-dev"
# tests: cmocka, pytest, strace (syscall ground truth), util-linux (setpriv,
# taskset), iproute2 (ss), procps, binutils (nm, readelf: symbol addresses
# the symbolizer is checked against), llvm (llvm-symbolizer: source lines in
# the sanitizers' reports), chromium and a font (the SVG flame graph,
# rendered headless; ~100 MB), valgrind (memcheck of conctrace), tmux
# (drives --top in a test), prometheus (a real one scrapes --prometheus in a
# test, started by the test on loopback: the packaged service is not
# needed), redis-server, redis-tools, nginx-light and apache2-utils (ab):
# servers we did not write, checked against their own books by tests that
# start their own on loopback; qemu-system-x86, busybox-static and cpio for
# the kernel matrix, which boots Debian's kernels under QEMU (~100 MB);
# libFuzzer (below) for make fuzz; libzstd-dev (make static, which the
# matrix runs: libelf.a needs libzstd.a on newer releases), groff-base and
# man-db (the man page's test), dpkg-dev, debhelper and lintian (the Debian
# package, built, checked and installed by a test); golang-go (Go 1.19):
# a real runtime's standard library as ground truth, Go servers built from
# source by test_go.py (net/http with a goroutine pool, a goroutine per
# connection), each keeping its own books per connection
TEST_PKGS="llvm libcmocka-dev python3 python3-pytest strace iproute2 procps
      util-linux binutils chromium fonts-dejavu-core valgrind prometheus tmux
      redis-server redis-tools nginx-light apache2-utils
      qemu-system-x86 busybox-static cpio
      libzstd-dev groff-base man-db dpkg-dev debhelper lintian golang-go"
PKGS="$BUILD_PKGS"
[ "$demo" = 1 ] || PKGS="$PKGS $TEST_PKGS"

if [ "$print" = 1 ]; then
	# shellcheck disable=SC2086
	printf '%s\n' $PKGS bpftool
	[ "$demo" = 1 ] || echo libclang-rt-dev
	exit 0
fi

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=""
for p in $PKGS; do
	installed "$p" || missing="$missing $p"
done
need_bpftool=0
command -v bpftool >/dev/null 2>&1 || need_bpftool=1
# libFuzzer (make fuzz): in clang's own package on Ubuntu, in
# libclang-rt-N-dev (only recommended by clang) on Debian >= 12
need_fuzzer=0
[ "$demo" = 1 ] || { command -v clang >/dev/null 2>&1 &&
	[ -f "$(clang -print-file-name="libclang_rt.fuzzer-$(uname -m).a")" ]; } || need_fuzzer=1

if [ -z "$missing" ] && [ "$need_bpftool" = 0 ] && [ "$need_fuzzer" = 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing:$missing$( [ $need_bpftool = 1 ] && echo ' bpftool');" \
	     "run as root (sudo make $([ "$demo" = 1 ] && echo deps-demo || echo deps))" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# a fresh machine has no package lists: nothing can be looked up before this
apt-get update -qq
if [ "$need_bpftool" = 1 ]; then
	# Debian >= 12 packages bpftool on its own; Ubuntu ships it in linux-tools
	if apt-cache show bpftool >/dev/null 2>&1; then
		missing="$missing bpftool"
	else
		missing="$missing linux-tools-common linux-tools-generic linux-tools-$(uname -r)"
	fi
fi
if [ "$need_fuzzer" = 1 ] && apt-cache show libclang-rt-dev >/dev/null 2>&1; then
	missing="$missing libclang-rt-dev"
fi
echo "install-deps: installing$missing"
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# The packages start a Prometheus (every interface, :9090), a Redis (:6379)
# and an nginx (:80) where systemd runs; the tests start their own on
# loopback, so stop those.
for pkg in prometheus redis-server nginx-light; do
	service=${pkg%-light}
	case " $missing " in
	*" $pkg "*)
		if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
			systemctl disable --now "$service" >/dev/null 2>&1 || true
		fi ;;
	esac
done
