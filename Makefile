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
CPPFLAGS += -I$(OUTPUT) -Ibpf -Iuserspace -Iservers
LDLIBS_BPF := $(shell pkg-config --libs libbpf 2>/dev/null || echo -lbpf -lelf -lz)

# SANITIZE=1: ASan + UBSan for every userspace binary (servers, loadgen, conctrace).
ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	      -Ivmlinux -Ibpf -MMD -MP

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all clean deps test check-unit check-integration demo vmlinux bench bench-servers bench-overhead bench-retention bench-exporter

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
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS_BPF) -o $@

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
				$(OUTPUT)/userspace/http_server.o
$(OUTPUT)/tests/test_http:      $(OUTPUT)/tests/unit/test_http.o $(OUTPUT)/userspace/http_server.o
$(OUTPUT)/tests/test_prom:      $(OUTPUT)/tests/unit/test_prom.o $(OUTPUT)/userspace/prom.o

$(UNIT_TESTS):
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $^ -lcmocka -lm -o $@

check-unit: $(UNIT_TESTS)
	$(Q)set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t; done

check-integration: all
	$(Q)$(PYTEST) -q tests/integration

# `make test`: everything a fresh Debian/Ubuntu machine needs, then all tests
test: deps
	$(Q)$(MAKE) --no-print-directory all $(UNIT_TESTS)
	$(Q)$(MAKE) --no-print-directory check-unit
	$(Q)$(MAKE) --no-print-directory check-integration

deps:
	$(Q)sh scripts/install-deps.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh scripts/demo.sh

bench: bench-servers bench-overhead bench-retention bench-exporter
bench-servers: all
	$(Q)$(PYTHON) scripts/bench-servers.py
bench-overhead: all
	$(Q)$(PYTHON) scripts/bench-overhead.py
bench-retention: all
	$(Q)$(PYTHON) scripts/bench-retention.py
bench-exporter: all
	$(Q)$(PYTHON) scripts/bench-exporter.py

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
