#!/bin/sh
# SPDX-License-Identifier: MIT
# What the kernel matrix needs beyond scripts/install-deps.sh, on Debian:
# QEMU to boot the kernels (TCG; KVM is not needed), busybox-static and cpio
# for the guests' initramfs, libc6-dev's static libc for rusage_wrap.
# Apart from the project's list because only `make test-kernels` needs them
# (QEMU and its firmware are ~100 MB that `make test` and CI need not pay).
# Idempotent, like scripts/install-deps.sh: apt is asked only for what is missing.
set -eu

PKGS="qemu-system-x86 busybox-static cpio libc6-dev"

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=""
for p in $PKGS; do
	installed "$p" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "tests/kernels/install-deps: missing:$missing; run as root (sudo make test-kernels)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
echo "tests/kernels/install-deps: installing$missing"
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
