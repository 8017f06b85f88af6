#!/bin/sh
# SPDX-License-Identifier: MIT
# Install what conctrace needs to build and test, on Debian/Ubuntu.
# Idempotent: asks apt only for packages that are missing, so a second run
# on a provisioned machine touches no network and takes a fraction of a second.
set -eu

# build: compilers, libbpf; servers: liburing; tests: cmocka, pytest, strace
# (syscall ground truth), util-linux (setpriv, taskset), iproute2 (ss),
# binutils (nm, readelf: symbol addresses the symbolizer is checked against),
# chromium and a font (the SVG flame graph, rendered headless; ~100 MB),
# valgrind (memcheck of conctrace), tmux (drives --top in a test), prometheus
# (a real one scrapes --prometheus in a test, started by the test on
# loopback: the packaged service is not needed), redis-server, redis-tools,
# nginx-light and apache2-utils (ab): servers we did not write, checked
# against their own books by tests that start their own on loopback;
# qemu-system-x86, busybox-static, cpio and libc6-dev (a static libc) for
# the kernel matrix, which boots Debian's kernels under QEMU (~100 MB);
# libzstd-dev (the static build: libelf.a needs libzstd.a on newer
# releases), groff-base and man-db (the man page's test), dpkg-dev,
# debhelper and lintian (the Debian package, built and checked by a test)
PKGS="clang llvm make gcc pkg-config libbpf-dev libelf-dev zlib1g-dev
      libcmocka-dev liburing-dev python3 python3-pytest strace iproute2 procps
      util-linux binutils chromium fonts-dejavu-core valgrind prometheus tmux
      redis-server redis-tools nginx-light apache2-utils
      qemu-system-x86 busybox-static cpio libc6-dev
      libzstd-dev groff-base man-db dpkg-dev debhelper lintian"

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
command -v clang >/dev/null 2>&1 &&
	[ -f "$(clang -print-file-name=libclang_rt.fuzzer-$(uname -m).a)" ] || need_fuzzer=1

if [ -z "$missing" ] && [ "$need_bpftool" = 0 ] && [ "$need_fuzzer" = 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing:$missing$( [ $need_bpftool = 1 ] && echo ' bpftool');" \
	     "run as root (sudo make deps)" >&2
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
