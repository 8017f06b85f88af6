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
CPPFLAGS += -I$(OUTPUT) -Ibpf -Iuserspace -Iservers
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
.PHONY: all clean deps test check-unit check-integration demo vmlinux bench bench-servers bench-overhead bench-retention \
	compare

# ---- what gets built -------------------------------------------------------

BPF_APPS     := conctrace
USER_SRCS    := $(wildcard userspace/*.c)
USER_OBJS    := $(patsubst %.c,$(OUTPUT)/%.o,$(USER_SRCS))

SERVERS      := threaded_echo epoll_echo coro_echo uring_echo
SERVER_BINS  := $(addprefix servers/,$(SERVERS) loadgen)
SERVER_LIB   := $(OUTPUT)/servers/protocol.o $(OUTPUT)/servers/server.o

UNIT_TESTS   := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(wildcard tests/unit/test_*.c))

all: conctrace $(SERVER_BINS)

# ---- BPF: object, then skeleton --------------------------------------------

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c vmlinux/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# every userspace object may include any skeleton: generate them first
$(USER_OBJS): $(patsubst %,$(OUTPUT)/%.skel.h,$(BPF_APPS))

# syscall names of the machine we build for, from its own headers
$(OUTPUT)/syscall_names.inc: | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)echo '#include <sys/syscall.h>' | $(CC) -dM -E - | \
		sed -n 's/^#define __NR_\([a-z0-9_]*\) \([0-9]*\)$$/[\2] = "\1",/p' > $@
$(OUTPUT)/userspace/syscalls.o: $(OUTPUT)/syscall_names.inc

# ---- userspace -------------------------------------------------------------

$(OUTPUT)/%.o: %.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

conctrace: $(USER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS_BPF) $(LDLIBS_ELF) -lm -o $@

# ---- servers and load generator -------------------------------------------

servers/threaded_echo: $(OUTPUT)/servers/threaded_echo.o $(SERVER_LIB)
servers/threaded_echo: LDLIBS += -pthread
servers/epoll_echo:    $(OUTPUT)/servers/epoll_echo.o $(SERVER_LIB)
servers/epoll_echo:    LDLIBS += -pthread
servers/coro_echo:     $(OUTPUT)/servers/coro_echo.o $(OUTPUT)/servers/coro.o $(SERVER_LIB)
# bind symbols at load: lazy binding would run the dynamic linker on a
# coroutine's small stack the first time each libc function is called
servers/coro_echo:     LDFLAGS += -Wl,-z,now
servers/uring_echo:    $(OUTPUT)/servers/uring_echo.o $(SERVER_LIB)
servers/uring_echo:    LDLIBS += -luring
servers/loadgen:       $(OUTPUT)/servers/loadgen.o $(OUTPUT)/servers/histogram.o $(OUTPUT)/servers/protocol.o
servers/loadgen:       LDLIBS += -lm

$(SERVER_BINS):
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# ---- tests -----------------------------------------------------------------

$(OUTPUT)/tests/test_protocol: $(OUTPUT)/tests/unit/test_protocol.o $(OUTPUT)/servers/protocol.o
$(OUTPUT)/tests/test_histogram: $(OUTPUT)/tests/unit/test_histogram.o $(OUTPUT)/servers/histogram.o
$(OUTPUT)/tests/test_aggregate: $(OUTPUT)/tests/unit/test_aggregate.o $(OUTPUT)/userspace/aggregate.o
$(OUTPUT)/tests/test_memory:    $(OUTPUT)/tests/unit/test_memory.o $(OUTPUT)/userspace/memory.o \
				$(OUTPUT)/userspace/timeline.o
$(OUTPUT)/tests/test_format:    $(OUTPUT)/tests/unit/test_format.o $(OUTPUT)/userspace/format.o
$(OUTPUT)/tests/test_json:      $(OUTPUT)/tests/unit/test_json.o $(OUTPUT)/userspace/json.o
$(OUTPUT)/tests/test_cli:       $(OUTPUT)/tests/unit/test_cli.o $(OUTPUT)/userspace/cli.o \
				$(OUTPUT)/userspace/views.o
$(OUTPUT)/tests/test_memcg:     $(OUTPUT)/tests/unit/test_memcg.o $(OUTPUT)/userspace/memcg.o
$(OUTPUT)/tests/test_listen_proc: $(OUTPUT)/tests/unit/test_listen_proc.o \
				$(OUTPUT)/userspace/listen_proc.o
$(OUTPUT)/tests/test_folded:    $(OUTPUT)/tests/unit/test_folded.o $(OUTPUT)/userspace/folded.o
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
$(OUTPUT)/tests/test_symbolize: $(OUTPUT)/tests/unit/test_symbolize.o $(OUTPUT)/userspace/symbolize.o \
				| $(SYMTEST_BINS)
$(OUTPUT)/tests/test_symbolize: LDLIBS_TEST += $(LDLIBS_ELF)

$(OUTPUT)/tests/test_flame_svg: $(OUTPUT)/tests/unit/test_flame_svg.o $(OUTPUT)/userspace/flame_svg.o \
				$(OUTPUT)/userspace/folded.o $(OUTPUT)/userspace/format.o

$(UNIT_TESTS):
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS_TEST) -lcmocka -lm -o $@

# hidden helpers of the integration tests, not installed
TEST_TOOLS := $(OUTPUT)/tests/flame_svg_tool
$(OUTPUT)/tests/flame_svg_tool: $(OUTPUT)/tests/tools/flame_svg_tool.o $(OUTPUT)/userspace/flame_svg.o \
				$(OUTPUT)/userspace/folded.o $(OUTPUT)/userspace/format.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@

check-unit: $(UNIT_TESTS)
	$(Q)set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t; done

check-integration: all $(TEST_TOOLS)
	$(Q)$(PYTEST) -q tests/integration

# `make test`: everything a fresh Debian/Ubuntu machine needs, then all tests
test: deps
	$(Q)$(MAKE) --no-print-directory all $(UNIT_TESTS) $(TEST_TOOLS)
	$(Q)$(MAKE) --no-print-directory check-unit
	$(Q)$(MAKE) --no-print-directory check-integration

deps:
	$(Q)sh scripts/install-deps.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh scripts/demo.sh

bench: bench-servers bench-overhead bench-retention
bench-servers: all
	$(Q)$(PYTHON) scripts/bench-servers.py
bench-overhead: all
	$(Q)$(PYTHON) scripts/bench-overhead.py
bench-retention: all
	$(Q)$(PYTHON) scripts/bench-retention.py

# the four models side by side (docs/results.md); COMPARE_ARGS="--conns 1,200 --unix" etc.
compare: all
	$(Q)$(PYTHON) scripts/compare $(COMPARE_ARGS) --json $(OUTPUT)/compare.json \
		--svg $(OUTPUT)/compare.svg
	@echo "  wrote $(OUTPUT)/compare.json and $(OUTPUT)/compare.svg"

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
