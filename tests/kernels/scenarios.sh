#!/bin/sh
# SPDX-License-Identifier: MIT
# The kernel matrix's scenarios, run where the kernel under test runs: as a
# QEMU guest's job (init.sh starts it) or directly on the host. POSIX sh for
# busybox. It checks nothing itself: it runs each server under conctrace in
# each mode and sends every file a check needs to stdout (the guest's serial
# console), framed so the host can cut them out of the kernel's chatter:
#
#   @@KM BEGIN SCOPE NAME MD5      the file's base64 follows, then
#   @@KM END SCOPE NAME
#   @@KM DONE SCOPE                SCOPE (kernel, or SERVER.MODE) is complete
#   @@KM FINISHED                  every scenario has run
#
# Environment (matrix.py sets it; init.sh reads it from the initramfs):
#   KM_CT        directory holding conctrace and servers/ (loadgen included)
#   KM_WRAP      rusage_wrap, the server's parent that writes its rusage
#   KM_IOWQ      iowq_workers, a process whose threads io_uring makes
#   KM_FORK      fork_conns, a fork-per-connection server and its client
#   KM_WORK      scratch directory (emptied by whoever made it)
#   KM_SERVERS   servers to run, KM_MODES of "full", "light" and "attach"
#   KM_CONNS, KM_REQUESTS   the load: connections, PINGs per connection
#   KM_TIMEOUT   seconds one conctrace run may take before it is stopped
#   KM_FENTRY_SERVERS   servers whose full mode counts syscalls through the
#                tracepoints' stand-in (fentry on x64_sys_call), where allowed
set -u

emit() {	# SCOPE NAME FILE: one file, framed; a missing file is not sent
	[ -f "$3" ] || return 0
	set -- "$1" "$2" "$3" "$(md5sum < "$3")"
	echo "@@KM BEGIN $1 $2 ${4%% *}"
	base64 < "$3"
	echo "@@KM END $1 $2"
}

# What the checks compare conctrace's figures with: the kernel's identity and
# its own slab sizes (every cache: the checks take whichever conctrace names);
# and conctrace's own account of the kernel, for the table.
kernel_info() {
	d=$KM_WORK/kernel
	mkdir -p "$d"
	uname -r > "$d/release"
	cat /proc/version > "$d/version"
	# `read` is a builtin: no fork per cache (a fork is slow under TCG)
	for c in /sys/kernel/slab/*; do
		[ -r "$c/slab_size" ] || continue
		read -r size < "$c/slab_size"
		read -r objsize < "$c/object_size"
		echo "${c##*/} $size $objsize"
	done > "$d/slab_sizes"
	cat /proc/slabinfo > "$d/slabinfo" 2>/dev/null
	# what conctrace says of this kernel: whether each mode loads, what it
	# leaves out there and what stands in (or which figure is lost)
	"$KM_CT/conctrace" -V > "$d/probe" 2>&1
	# threads no clone() makes (create_io_thread): conctrace's threads at
	# peak against what the kernel's Threads: said at its most
	"$KM_CT/conctrace" --json "$d/iowq.json" -- "$KM_IOWQ" 4 > "$d/iowq.stdout" 2> "$d/iowq.stderr"
	echo $? > "$d/iowq.status"
	# connections a forked child serves after its parent's close(), full
	# mode: each lives until the child's close() or exit
	"$KM_CT/conctrace" --json "$d/fork.json" --json-conns 100 -- "$KM_FORK" 4 \
		> "$d/fork.stdout" 2> "$d/fork.stderr"
	echo $? > "$d/fork.status"
	for f in release version slab_sizes slabinfo probe iowq.json iowq.stdout iowq.stderr \
		 iowq.status fork.json fork.stdout fork.stderr fork.status; do
		emit kernel "$f" "$d/$f"
	done
	echo "@@KM DONE kernel"
}

# Poll until process $1 is gone or $2 seconds have passed; 1 if it is not gone.
wait_gone() {
	n=$(($2 * 10))
	while kill -0 "$1" 2>/dev/null; do
		[ "$n" -gt 0 ] || return 1
		n=$((n - 1))
		sleep 0.1
	done
	return 0
}

# "listening on tcp 127.0.0.1:PORT (pid PID)" in file $1: "PORT PID", or nothing.
listening() {
	sed -n 's/.*listening on tcp [^ ]*:\([0-9]*\) (pid \([0-9]*\)).*/\1 \2/p' "$1" | head -n 1
}

# libbpf's account of a load that failed, once per mode: the verbose log is
# long (every CO-RE relocation, every instruction the verifier walked), so
# only what names the failure is kept: the lines that say a program failed,
# and the last lines of each verifier log, where it says why.
explain_failure() {	# DIR MODE_FLAG
	"$KM_CT/conctrace" -v ${2:+"$2"} -d 1 -- true > /dev/null 2> "$1/verbose.full"
	awk '/BEGIN PROG LOAD LOG/ { inlog = 1; n = 0; print; next }
	     /END PROG LOAD LOG/ {
		for (i = (n > 12 ? n - 11 : 1); i <= n; i++) print tail[i % 12]
		print; inlog = 0; next }
	     inlog { n++; tail[n % 12] = $0; next }
	     /relo #|CO-RE/ { next }
	     /^conctrace:.*warning:/ { next }	# on stderr already
	     /^conctrace:|^libbpf: .*([Ff]ail|[Ee]rror)/ { print }' \
		"$1/verbose.full" > "$1/verbose"
	rm -f "$1/verbose.full"
}

explained=" "	# the modes whose failure has been explained

scenario() {	# SERVER MODE
	scope=$1.$2
	d=$KM_WORK/$scope
	mkdir -p "$d"
	echo "@@KM START $scope"
	flag=
	[ "$2" = light ] && flag=--no-syscalls
	# the syscall tracepoints' stand-in, fentry on x64_sys_call, runs full
	# mode for the servers KM_FENTRY_SERVERS lists, where the kernel
	# allows it (fentry_ok)
	drop=
	case " $KM_FENTRY_SERVERS " in
	*" $1 "*) [ "$2" = full ] && [ -n "$fentry_ok" ] && drop=on_sys_enter,on_sys_exit ;;
	esac
	start=$(date +%s)
	# light mode finds the listener for --load in /proc: rusage_wrap's child's
	CONCTRACE_DROP_PROGS=$drop \
	"$KM_CT/conctrace" $flag --load="-c $KM_CONNS -n $KM_REQUESTS -q --json $d/loadgen.json" \
		--json "$d/conctrace.json" --json-conns 1000 \
		-- "$KM_WRAP" "$d/rusage" "$KM_CT/servers/$1" -p 0 \
		> "$d/stdout" 2> "$d/stderr" &
	ct=$!
	if ! wait_gone "$ct" "$KM_TIMEOUT"; then
		echo "timed out: conctrace still ran after $KM_TIMEOUT s" > "$d/timeout"
		kill -INT "$ct"
		wait_gone "$ct" 10 || kill -KILL "$ct"
	fi
	wait "$ct"
	echo $? > "$d/status"
	echo $(($(date +%s) - start)) > "$d/seconds"
	# exit 1 before the server ever listened: conctrace could not start
	if [ "$(cat "$d/status")" = 1 ] && [ -z "$(listening "$d/stderr")" ]; then
		case $explained in
		*" $2 "*) ;;
		*) explain_failure "$d" "$flag"; explained="$explained$2 " ;;
		esac
	fi
	for f in status seconds timeout stderr conctrace.json loadgen.json loadgen.status \
		 loadgen.stderr rusage verbose; do
		emit "$scope" "$f" "$d/$f"
	done
	echo "@@KM DONE $scope"
}

# Poll until command $2... succeeds, for at most $1 seconds; 1 if it never did.
wait_until() {
	n=$(($1 * 10))
	shift
	until "$@"; do
		[ "$n" -gt 0 ] || return 1
		n=$((n - 1))
		sleep 0.1
	done
}

is_listening() {	# FILE
	[ -n "$(listening "$1")" ]
}

holds() {	# PID N THREADS: the server holds N connections (and their threads)
	[ "$(ls -l "/proc/$1/fd" 2>/dev/null | grep -c socket:)" -gt "$2" ] &&
		[ "$(ls "/proc/$1/task" 2>/dev/null | wc -l)" -ge "$3" ]
}

# -p on a server that already holds KM_CONNS idle connections: conctrace
# must find them all, with what they hold (checks.py).
attach_scenario() {	# SERVER
	scope=$1.attach
	d=$KM_WORK/$scope
	mkdir -p "$d"
	echo "@@KM START $scope"
	start=$(date +%s)
	"$KM_CT/servers/$1" -p 0 2> "$d/server.stderr" &
	srv=$!
	lg=
	threads=1
	[ "$1" = threaded_echo ] && threads=$((KM_CONNS + 1))
	if wait_until 10 is_listening "$d/server.stderr"; then
		set -- $(listening "$d/server.stderr")
		"$KM_CT/servers/loadgen" -H 127.0.0.1 -p "$1" -c "$KM_CONNS" -n 0 --hold 120 -q \
			--ready-file "$d/ready" > /dev/null 2> "$d/loadgen.stderr" &
		lg=$!
		if wait_until 20 holds "$2" "$KM_CONNS" "$threads"; then
			"$KM_CT/conctrace" -p "$2" -d 1 --json "$d/conctrace.json" --json-conns 1000 \
				> "$d/stdout" 2> "$d/stderr"
			echo $? > "$d/status"
		else
			echo "the server did not hold $KM_CONNS connections within 20 s" > "$d/timeout"
		fi
	elif ! kill -0 "$srv" 2>/dev/null; then
		# the server itself cannot run on this kernel (uring_echo on 5.10)
		{ echo "the server exited before listening:"; cat "$d/server.stderr"; } \
			> "$d/server_failed"
	else
		echo "the server did not listen within 10 s" > "$d/timeout"
	fi
	[ -n "$lg" ] && kill "$lg" 2>/dev/null
	kill "$srv" 2>/dev/null
	wait
	echo $(($(date +%s) - start)) > "$d/seconds"
	for f in status seconds timeout server_failed stderr conctrace.json loadgen.stderr; do
		emit "$scope" "$f" "$d/$f"
	done
	echo "@@KM DONE $scope"
}

kernel_info
fentry_ok=
CONCTRACE_DROP_PROGS=on_sys_enter,on_sys_exit "$KM_CT/conctrace" -V 2>/dev/null |
	grep -q "^full mode: loads" && fentry_ok=1
for server in $KM_SERVERS; do
	for mode in $KM_MODES; do
		if [ "$mode" = attach ]; then
			attach_scenario "$server"
		else
			scenario "$server" "$mode"
		fi
	done
done
echo "@@KM FINISHED"
