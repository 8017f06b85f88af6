#!/bin/sh
# Install what conctrace needs to build and test, on Debian/Ubuntu.
# Idempotent: asks apt only for packages that are missing, so a second run
# on a provisioned machine touches no network and takes a fraction of a second.
set -eu

# build: compiler for BPF and userspace, libbpf + bpftool for skeletons
# servers: liburing; tests: cmocka, pytest, strace (ground truth), iproute2 (ss)
PKGS="clang llvm make gcc pkg-config libbpf-dev libelf-dev zlib1g-dev
      libcmocka-dev liburing-dev python3 python3-pytest strace iproute2 procps"

# bpftool is its own package on Debian >= 12; Ubuntu ships it in linux-tools.
if apt-cache show bpftool >/dev/null 2>&1 || ! command -v apt-get >/dev/null; then
	PKGS="$PKGS bpftool"
else
	PKGS="$PKGS linux-tools-common linux-tools-generic"
fi

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done

if [ -z "$missing" ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing; run as root (sudo make deps)" >&2
	exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
