# SPDX-License-Identifier: MIT
# conctrace: one build for the BPF side, the loader, the reference servers
# and the tests. `make V=1` shows full command lines.

OUTPUT    := build
CLANG     ?= clang
CC        ?= cc
BPFTOOL   ?= bpftool
# the interpreter install-deps provisions (python3-pytest), not whatever is on PATH
PYTHON    ?= /usr/bin/python3
PYTEST    ?= $(PYTHON) -m pytest
ARCH      := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

ifeq ($(V),1)
Q   :=
msg :=
else
Q   := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -MMD -MP
# frame pointers: the user stacks BPF collects (--flame) are walked by them
CFLAGS   += -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer
# -I.: common/ (what userspace and servers/ share) is included as "common/x.h"
CPPFLAGS += -I$(OUTPUT) -Ibpf -Iuserspace -Iservers -I.
LDLIBS_BPF := $(shell pkg-config --libs libbpf 2>/dev/null || echo -lbpf -lelf -lz)
# symbolize.c reads ELF symbol tables itself: do not count on libbpf's
# private dependency on libelf being on its link line
LDLIBS_ELF := $(shell pkg-config --libs libelf 2>/dev/null || echo -lelf)

# SANITIZE=1: ASan + UBSan for every userspace binary (servers, loadgen, conctrace).
ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	      -Ivmlinux -Ibpf -MMD -MP

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all clean deps deps-demo static install uninstall deb test check-headers check-layers check-unit check-integration check-fuzz check-sanitize fuzz demo vmlinux \
	bench bench-servers bench-overhead bench-helpers bench-retention bench-churn bench-scale bench-exporter \
	compare docs-figures

# ---- what gets built -------------------------------------------------------

BPF_APPS     := conctrace
# userspace/ is a folder per layer (scripts/check-layers says which may use
# which). main/ is the program; every other layer, with common/, goes into
# one library that conctrace, the unit tests and the test tools link
# against: the linker takes from it only the objects a binary needs.
USER_SRCS    := $(shell find userspace -name '*.c' | sort)
USER_OBJS    := $(patsubst %.c,$(OUTPUT)/%.o,$(USER_SRCS))
MAIN_OBJS    := $(filter $(OUTPUT)/userspace/main/%,$(USER_OBJS))
COMMON_OBJS  := $(patsubst %.c,$(OUTPUT)/%.o,$(wildcard common/*.c))
LIB          := $(OUTPUT)/libconctrace.a
LIB_OBJS     := $(filter-out $(MAIN_OBJS),$(USER_OBJS)) $(COMMON_OBJS)

SERVERS      := threaded_echo epoll_echo coro_echo uring_echo
SERVER_BINS  := $(addprefix servers/,$(SERVERS) loadgen)
SERVER_LIB   := $(OUTPUT)/servers/protocol.o $(OUTPUT)/servers/server.o

UNIT_TESTS   := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(wildcard tests/unit/test_*.c))

# make static: the same binaries linked statically, laid out as the tree
STATIC_DIR   := $(OUTPUT)/static
STATIC_SERVER_BINS := $(addprefix $(STATIC_DIR)/,$(SERVER_BINS))

# STATIC=1: make static's binaries too (and make install installs those)
all: conctrace $(SERVER_BINS) $(if $(filter 1,$(STATIC)),static)

# ---- BPF: object, then skeleton --------------------------------------------

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c vmlinux/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# Each BPF header compiles alone (its helpers unused there): a layer
# includes what it uses, so the order of includes cannot matter
BPF_HEADERS := $(wildcard bpf/lib/*.bpf.h bpf/progs/*.bpf.h)
check-headers: vmlinux/vmlinux.h
	$(Q)set -e; for h in $(BPF_HEADERS); do \
		$(if $(Q),printf '  %-8s %s\n' HDR $$h;) \
		$(CLANG) $(filter-out -MMD -MP,$(BPF_CFLAGS)) -Wno-unused-function -fsyntax-only -x c $$h; \
	done

# userspace/'s layers: each folder includes only the layers below it, as
# the table in scripts/check-layers says; docs/architecture.md's Layout names every file
check-layers:
	$(Q)sh scripts/check-layers

# the benchmarks' own BPF programs (hook_floor, helper_cost), skeletons beside conctrace's
$(OUTPUT)/%.bpf.o: bench/%.bpf.c vmlinux/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# only tracer/ includes the skeleton (scripts/check-layers): generate it first
$(filter $(OUTPUT)/userspace/tracer/%,$(USER_OBJS)): $(patsubst %,$(OUTPUT)/%.skel.h,$(BPF_APPS))

# syscall names of the machine we build for, from its own headers
$(OUTPUT)/syscall_names.inc: | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)echo '#include <sys/syscall.h>' | $(CC) -dM -E - | \
		sed -n 's/^#define __NR_\([a-z0-9_]*\) \([0-9]*\)$$/[\2] = "\1",/p' > $@
$(OUTPUT)/userspace/model/syscalls.o: $(OUTPUT)/syscall_names.inc

# ---- userspace -------------------------------------------------------------

$(OUTPUT)/%.o: %.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# rebuilt whole: `ar r` alone would keep the object of a file since removed
$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@
	$(Q)$(AR) rcs $@ $^

conctrace $(STATIC_DIR)/conctrace: $(MAIN_OBJS) $(LIB)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS_BPF) $(LDLIBS_ELF) -lm -o $@

# ---- servers and load generator -------------------------------------------

# each binary twice: servers/X, and build/static/servers/X (make static, below)
servers/threaded_echo $(STATIC_DIR)/servers/threaded_echo: $(OUTPUT)/servers/threaded_echo.o $(SERVER_LIB)
servers/threaded_echo $(STATIC_DIR)/servers/threaded_echo: LDLIBS += -pthread
servers/epoll_echo $(STATIC_DIR)/servers/epoll_echo: $(OUTPUT)/servers/epoll_echo.o $(SERVER_LIB)
servers/epoll_echo $(STATIC_DIR)/servers/epoll_echo: LDLIBS += -pthread
servers/coro_echo $(STATIC_DIR)/servers/coro_echo: $(OUTPUT)/servers/coro_echo.o \
	$(OUTPUT)/servers/coro.o $(SERVER_LIB)
# bind symbols at load: lazy binding would run the dynamic linker on a
# coroutine's small stack the first time each libc function is called
servers/coro_echo:     LDFLAGS += -Wl,-z,now
servers/uring_echo $(STATIC_DIR)/servers/uring_echo: $(OUTPUT)/servers/uring_echo.o $(SERVER_LIB)
servers/uring_echo $(STATIC_DIR)/servers/uring_echo: LDLIBS += -luring
# loadgen: a file per job; servers/loadgen.h declares what they share
LOADGEN_OBJS := $(addprefix $(OUTPUT)/servers/,loadgen.o loadgen_cli.o loadgen_report.o \
		loadgen_timer.o loadgen_requests.o loadgen_conn.o loadgen_worker.o)
servers/loadgen $(STATIC_DIR)/servers/loadgen: $(LOADGEN_OBJS) $(OUTPUT)/common/histogram.o \
	$(OUTPUT)/servers/protocol.o
servers/loadgen $(STATIC_DIR)/servers/loadgen: LDLIBS += -lm

$(SERVER_BINS) $(STATIC_SERVER_BINS):
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# ---- static build (make static, or STATIC=1 with install) ------------------

# The same objects linked with -static: libbpf, libelf, zlib, liburing and
# libc inside each binary, so it runs on a machine with none of them (the
# kernel matrix's guests have no shared library at all). Laid out as the
# tree, conctrace beside servers/, where --load finds loadgen. glibc warns
# that getpwnam and initgroups (--user) and getaddrinfo (loadgen) need its
# NSS modules at run time: /etc/passwd, /etc/group and numeric addresses
# resolve without them (docs/usage.md says so).
$(STATIC_DIR)/%: LDFLAGS += -static
$(STATIC_DIR)/%: LDLIBS_BPF := $(shell pkg-config --static --libs libbpf 2>/dev/null || \
	echo -lbpf -lelf -lz)

static: $(STATIC_DIR)/conctrace $(STATIC_SERVER_BINS)

# ---- benchmark helpers -----------------------------------------------------

# empty programs on conctrace's hooks: the floor bench-overhead measures
# conctrace against; built for that target only, not by `all`
HOOK_FLOOR := $(OUTPUT)/bench/hook_floor

$(OUTPUT)/bench/hook_floor.o: $(OUTPUT)/hook_floor.skel.h
$(HOOK_FLOOR): $(OUTPUT)/bench/hook_floor.o $(OUTPUT)/userspace/tracer/tracepoints.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS_BPF) -o $@

# what each operation of the hot programs costs here (a clock read, a
# lookup), and the syscall hook itself
HELPER_COST := $(OUTPUT)/bench/helper_cost

$(OUTPUT)/bench/helper_cost.o: $(OUTPUT)/helper_cost.skel.h
$(HELPER_COST): $(OUTPUT)/bench/helper_cost.o $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS_BPF) -o $@

# the source line of each address of the programs' JIT-compiled code, for
# bench-profile to name where perf's samples fall
PROG_LINES := $(OUTPUT)/bench/prog_lines

$(PROG_LINES): $(OUTPUT)/bench/prog_lines.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS_BPF) -o $@

# ---- tests -----------------------------------------------------------------

# Every unit test links the library (after its own objects: an archive is
# searched once, where it stands on the line); below, what some need besides.
$(OUTPUT)/tests/test_protocol: $(OUTPUT)/servers/protocol.o
$(OUTPUT)/tests/test_cli:       $(OUTPUT)/userspace/main/cli.o
# the ELF files test_symbolize reads (never runs): the same program as PIE,
# as a fixed-address executable, and stripped to its .dynsym
SYMTEST_BINS := $(addprefix $(OUTPUT)/tests/symtest-,pie nopie stripped)
$(OUTPUT)/tests/symtest-pie:      SYMTEST_FLAGS := -fPIE -pie
$(OUTPUT)/tests/symtest-nopie:    SYMTEST_FLAGS := -fno-pie -no-pie
$(OUTPUT)/tests/symtest-stripped: SYMTEST_FLAGS := -fPIE -pie -rdynamic -s
$(SYMTEST_BINS): tests/unit/fixtures/symtest.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -std=c11 -O2 -Wall -Wextra -Werror $(SYMTEST_FLAGS) $< -o $@
$(OUTPUT)/tests/test_symbolize: | $(SYMTEST_BINS)
$(OUTPUT)/tests/test_symbolize: LDLIBS_TEST += $(LDLIBS_ELF)
$(OUTPUT)/tests/test_stack_frames: LDLIBS_TEST += $(LDLIBS_ELF)
$(OUTPUT)/tests/test_elf_sections: LDLIBS_TEST += $(LDLIBS_ELF)
# the shared object test_elf_sections reads (never loads): two calls of
# another object's function through its PLT, lazily bound as a distro's are
PLTCALL_SO := $(OUTPUT)/tests/pltcall.so
$(PLTCALL_SO): tests/unit/fixtures/pltcall.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -std=c11 -O2 -Wall -Wextra -Werror -fPIC -shared -Wl,-z,lazy $< -o $@
$(OUTPUT)/tests/test_elf_sections: | $(PLTCALL_SO)
$(OUTPUT)/tests/test_tracepoints: LDLIBS_TEST += $(LDLIBS_BPF)
$(OUTPUT)/tests/test_programs:  LDLIBS_TEST += $(LDLIBS_BPF)
$(OUTPUT)/tests/unit/test_programs.o: $(OUTPUT)/conctrace.skel.h
$(OUTPUT)/tests/test_libbpf_log: LDLIBS_TEST += $(LDLIBS_BPF)
$(OUTPUT)/tests/test_uring_ops: LDLIBS_TEST += $(LDLIBS_BPF)
$(OUTPUT)/tests/test_report_text: LDLIBS_TEST += $(LDLIBS_BPF)

$(UNIT_TESTS): $(OUTPUT)/tests/%: $(OUTPUT)/tests/unit/%.o $(LIB)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $(filter-out $(LIB),$^) $(LIB) $(LDLIBS_TEST) -lcmocka -lm -o $@

# hidden helpers of the integration tests, not installed
TEST_TOOLS := $(OUTPUT)/tests/flame_svg_tool $(OUTPUT)/tests/close_race $(OUTPUT)/tests/iowq_workers
$(OUTPUT)/tests/flame_svg_tool: $(OUTPUT)/tests/tools/flame_svg_tool.o $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@
# threads touching one connection while it closes (test_records.py)
$(OUTPUT)/tests/close_race: $(OUTPUT)/tests/tools/close_race.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -lpthread -o $@
# threads io_uring makes, which no clone() names (test_lifecycle.py)
$(OUTPUT)/tests/iowq_workers: $(OUTPUT)/tests/tools/iowq_workers.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -luring -o $@

check-unit: $(UNIT_TESTS)
	$(Q)set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t; done

check-integration: all $(TEST_TOOLS)
	$(Q)$(PYTEST) -q --durations=15 tests/integration

# ---- fuzzing (libFuzzer: clang only) ---------------------------------------

# The parser is compiled into the fuzzer with its own instrumentation, apart
# from the servers' build (and from SANITIZE), so `make fuzz` never changes them.
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   := -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iservers \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_BIN     := $(OUTPUT)/fuzz/fuzz_protocol

$(FUZZ_BIN): tests/fuzz/fuzz_protocol.c servers/protocol.c servers/protocol.h
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_FLAGS) tests/fuzz/fuzz_protocol.c servers/protocol.c -o $@

# A bounded campaign: new inputs go to build/fuzz/corpus (the committed seeds
# in tests/fuzz/corpus are only read); a crash leaves build/fuzz/crash-* and
# fails the target. Every committed input (seeds and past crashes) runs first.
fuzz: $(FUZZ_BIN)
	$(Q)mkdir -p $(OUTPUT)/fuzz/corpus
	$(Q)$(FUZZ_BIN) -runs=0 tests/fuzz/corpus 2>&1 | tail -1
	$(Q)echo "fuzz: fuzz_protocol for $(FUZZ_SECONDS) s"
	$(Q)$(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -max_len=12288 -timeout=10 \
		-dict=tests/fuzz/protocol.dict -artifact_prefix=$(OUTPUT)/fuzz/ \
		-print_final_stats=1 $(OUTPUT)/fuzz/corpus tests/fuzz/corpus 2>$(OUTPUT)/fuzz/log || \
		{ tail -40 $(OUTPUT)/fuzz/log; exit 1; }
	$(Q)grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|DONE' $(OUTPUT)/fuzz/log

# ASan + UBSan (and LeakSanitizer at every exit) under real load: a copy of
# the tree built with SANITIZE=1, so the normal build is left as it is, and
# the servers' conformance and conctrace's fault tests run against it. A
# server that leaks exits non-zero on SIGTERM, which the fixtures check.
SAN_TREE := $(OUTPUT)/sanitize
SAN_TESTS ?= tests/integration/test_conformance.py tests/integration/test_abuse.py \
	     tests/integration/test_faults.py
check-sanitize:
	$(Q)rm -rf $(SAN_TREE) && mkdir -p $(SAN_TREE)
	$(Q)cp -r Makefile bpf common userspace servers tests vmlinux scripts $(SAN_TREE)/
	$(Q)$(MAKE) --no-print-directory -C $(SAN_TREE) clean >/dev/null
	$(Q)$(MAKE) --no-print-directory -C $(SAN_TREE) SANITIZE=1 all
	$(Q)cd $(SAN_TREE) && CONCTRACE_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(PYTEST) -q -p no:cacheprovider $(SAN_TESTS)

# the short campaign `make test` runs
check-fuzz:
	$(Q)$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=20

# ---- install (GNU conventions: PREFIX, DESTDIR) ----------------------------

# conctrace in sbin; loadgen, the reference servers, compare and the demo in
# lib/conctrace, where conctrace --load, compare and the demo look for them
# relative to themselves (so a DESTDIR or a moved PREFIX works); the Grafana
# dashboard in share/conctrace. STATIC=1 installs make static's binaries.
PREFIX     ?= /usr/local
SBINDIR    := $(PREFIX)/sbin
PKGLIBDIR  := $(PREFIX)/lib/conctrace
PKGDATADIR := $(PREFIX)/share/conctrace
MAN8DIR    := $(PREFIX)/share/man/man8
INSTALL    ?= install
BIN_FROM   := $(if $(filter 1,$(STATIC)),$(STATIC_DIR)/)
# what lib/conctrace holds: the binaries, then the scripts (demo.sh as demo)
PKGLIB_BINS    := $(SERVERS) loadgen
PKGLIB_FILES   := $(PKGLIB_BINS) compare demo svgchart.py

install: $(if $(BIN_FROM),static,all)
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(PKGLIBDIR) $(DESTDIR)$(PKGDATADIR) \
		$(DESTDIR)$(MAN8DIR)
	$(Q)$(INSTALL) -m 0755 $(BIN_FROM)conctrace $(DESTDIR)$(SBINDIR)/conctrace
	$(Q)$(INSTALL) -m 0755 $(addprefix $(BIN_FROM)servers/,$(PKGLIB_BINS)) $(DESTDIR)$(PKGLIBDIR)/
	$(Q)$(INSTALL) -m 0755 scripts/compare $(DESTDIR)$(PKGLIBDIR)/compare
	$(Q)$(INSTALL) -m 0755 scripts/demo.sh $(DESTDIR)$(PKGLIBDIR)/demo
	$(Q)$(INSTALL) -m 0644 scripts/svgchart.py $(DESTDIR)$(PKGLIBDIR)/svgchart.py
	$(Q)$(INSTALL) -m 0644 dashboards/conctrace.json $(DESTDIR)$(PKGDATADIR)/grafana-dashboard.json
	$(Q)$(INSTALL) -m 0644 docs/conctrace.8 $(DESTDIR)$(MAN8DIR)/conctrace.8

# every file install wrote, and the two folders that are conctrace's own
uninstall:
	$(call msg,RM,$(DESTDIR)$(PREFIX))
	$(Q)rm -f $(DESTDIR)$(SBINDIR)/conctrace $(DESTDIR)$(MAN8DIR)/conctrace.8 \
		$(addprefix $(DESTDIR)$(PKGLIBDIR)/,$(PKGLIB_FILES)) \
		$(DESTDIR)$(PKGDATADIR)/grafana-dashboard.json
	$(Q)for d in $(DESTDIR)$(PKGLIBDIR) $(DESTDIR)$(PKGDATADIR); do \
		[ ! -d $$d ] || rmdir $$d || exit 1; done

# ---- Debian package (debian/) -----------------------------------------------

# dpkg-buildpackage -us -uc -b turns debian/ into the package of the static
# build; `make deb` runs it in a copy of the sources (its clean step would
# empty this tree's build/), then lintian: build/deb/conctrace_VERSION_ARCH.deb
# read when `make deb` runs, not at every make: the sanitizer's copy of the
# tree has no debian/, and head said so on each of its makes
DEB_VERSION = $(shell head -1 debian/changelog | cut -d'(' -f2 | cut -d')' -f1)
DEB_TREE    = $(OUTPUT)/deb/conctrace-$(DEB_VERSION)
DEB_SOURCES := Makefile README.md bpf common userspace servers vmlinux scripts dashboards \
	       docs debian
deb:
	$(Q)rm -rf $(OUTPUT)/deb && mkdir -p $(DEB_TREE)
	$(Q)cp -r $(DEB_SOURCES) $(DEB_TREE)/
	$(Q)cd $(DEB_TREE) && DEB_BUILD_OPTIONS="parallel=$$(nproc)" \
		dpkg-buildpackage -us -uc -b > ../build.log 2>&1 || { tail -30 ../build.log; exit 1; }
	$(Q)lintian --fail-on error $(OUTPUT)/deb/conctrace_$(DEB_VERSION)_*.deb
	@echo "  wrote $$(ls $(OUTPUT)/deb/conctrace_$(DEB_VERSION)_*.deb)"

# `make test`: everything a fresh Debian/Ubuntu machine needs, then all tests
test: deps
	$(Q)$(MAKE) --no-print-directory all $(UNIT_TESTS) $(TEST_TOOLS)
	$(Q)$(MAKE) --no-print-directory check-headers
	$(Q)$(MAKE) --no-print-directory check-layers
	$(Q)$(MAKE) --no-print-directory check-unit
	$(Q)$(MAKE) --no-print-directory check-fuzz
	$(Q)$(MAKE) --no-print-directory check-integration
	$(Q)$(MAKE) --no-print-directory check-sanitize
	$(Q)$(MAKE) --no-print-directory test-kernels

deps:
	$(Q)sh scripts/install-deps.sh

# only what building and the demo need: no browser, no Prometheus, no QEMU
deps-demo:
	$(Q)sh scripts/install-deps.sh --demo

demo: deps-demo
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh scripts/demo.sh

bench: bench-servers bench-overhead bench-profile bench-helpers bench-retention bench-churn bench-scale bench-exporter
bench-servers: all
	$(Q)$(PYTHON) scripts/bench-servers.py $(BENCH_ARGS)
bench-overhead: all $(HOOK_FLOOR)
	$(Q)$(PYTHON) scripts/bench-overhead.py $(BENCH_ARGS)
bench-helpers: $(HELPER_COST)
	$(Q)$(PYTHON) scripts/bench-helpers.py $(BENCH_ARGS)
.PHONY: bench-profile
bench-profile: all $(PROG_LINES)
	$(Q)$(PYTHON) scripts/bench-profile.py $(BENCH_ARGS)
bench-retention: all
	$(Q)$(PYTHON) scripts/bench-retention.py $(BENCH_ARGS)
bench-churn: all
	$(Q)PYTHON=$(PYTHON) $(PYTHON) scripts/bench-churn.py $(BENCH_ARGS)
bench-scale: all
	$(Q)$(PYTHON) scripts/bench-scale.py $(BENCH_ARGS)

# the four models side by side (docs/results.md); COMPARE_ARGS="--conns 1,200 --unix" etc.
compare: all
	$(Q)$(PYTHON) scripts/compare $(COMPARE_ARGS) --json $(OUTPUT)/compare.json \
		--svg $(OUTPUT)/compare.svg
	@echo "  wrote $(OUTPUT)/compare.json and $(OUTPUT)/compare.svg"

bench-exporter: all
	$(Q)$(PYTHON) scripts/bench-exporter.py $(BENCH_ARGS)

# README's and docs/'s measured figures, written between their markers from
# short runs (about 40 s); DOCS_ARGS=--compare reruns scripts/compare too
docs-figures: all
	$(Q)$(PYTHON) scripts/docfigures.py $(DOCS_ARGS)

# Regenerate the bundled vmlinux.h from the running kernel's BTF.
vmlinux:
	$(call msg,GEN,vmlinux/vmlinux.h)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/vmlinux.h

$(OUTPUT):
	$(Q)mkdir -p $@

clean:
	$(call msg,CLEAN,)
	$(Q)rm -rf $(OUTPUT) conctrace $(SERVER_BINS)

-include $(shell find $(OUTPUT) -name '*.d' 2>/dev/null)

# ---- kernel matrix (tests/kernels/README.md) --------------------------------

# Every server under conctrace, full and light mode, on Debian's 5.10, 6.1
# and 6.12 cloud kernels booted under QEMU and on the running kernel.
# KERNELS="6.1 host" picks kernels, KERNEL_JOBS=1 boots one at a time.
KM_WRAP := $(OUTPUT)/kernels/rusage_wrap

KM_IOWQ := $(OUTPUT)/kernels/iowq_workers
KM_FORK := $(OUTPUT)/kernels/fork_conns

# static: nothing for the guests' initramfs to carry for them
$(KM_WRAP): tests/kernels/rusage_wrap.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -static -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $< -o $@
$(KM_IOWQ): tests/tools/iowq_workers.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -static -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $< -luring -o $@
$(KM_FORK): tests/tools/fork_conns.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -static -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $< -o $@

# the harness's own parsing and verdicts first (test_harness.py, under a
# second); the matrix runs make static's build (initramfs.py)
.PHONY: test-kernels
test-kernels: deps
	$(Q)$(MAKE) --no-print-directory static $(KM_WRAP) $(KM_IOWQ) $(KM_FORK)
	$(Q)$(PYTEST) -q tests/kernels
	$(Q)$(PYTHON) tests/kernels/matrix.py
