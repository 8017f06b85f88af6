#!/bin/sh
# SPDX-License-Identifier: MIT
# PID 1 of a kernel-matrix guest (tests/kernels/initramfs.py puts it at /init):
# make the little system scenarios.sh needs, run it, power off. Everything
# leaves through the serial console; when this returns or dies the kernel
# panics, and panic=-1 with QEMU's -no-reboot ends the VM either way.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
ip link set lo up
# only emergencies on the console: the frames share it with the kernel
echo 1 > /proc/sys/kernel/printk

set -a
# shellcheck source=/dev/null # written by initramfs.py
. /ct/matrix.env
set +a
KM_CT=/ct KM_WRAP=/ct/rusage_wrap KM_IOWQ=/ct/iowq_workers KM_FORK=/ct/fork_conns KM_WORK=/tmp/km sh /ct/scenarios.sh

poweroff -f
