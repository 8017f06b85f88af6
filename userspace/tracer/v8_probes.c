// SPDX-License-Identifier: MIT
/*
 * V8's own work, through the uprobes of bpf/progs/runtimes.bpf.h: the
 * runtime's, not the connection whose JavaScript set it off.
 *
 * - Its garbage collector: the entry and return of
 *   v8::internal::Heap::CollectGarbage, which every scavenge and
 *   mark-compact on the isolate's thread goes through (with its prologue
 *   and epilogue callbacks). Incremental marking steps taken during
 *   allocation are not in it.
 * - Its compilers on that thread: installing what TurboFan compiled in
 *   the background, and Sparkplug's batches.
 * - Its platform worker threads (node's PlatformWorkerThread), from their
 *   start: concurrent marking, sweeping, background compiles.
 *
 * Found by their mangled names in the executable's symbol table (Node's
 * own build keeps it). Each is attached where found, alone: a build
 * without one goes without that part, said nowhere (it may not be Node).
 */
#include "tracer/v8_probes.h"

#include <bpf/libbpf.h>
#include <gelf.h>

#include "conctrace.skel.h"
#include "host/elf_sections.h"
#include "tracer/libbpf_log.h"

/* v8::internal::Heap::CollectGarbage(AllocationSpace, GarbageCollectionReason,
 * GCCallbackFlags), V8 8 to 11 (Node 14 to 20) */
#define COLLECT_GARBAGE "_ZN2v88internal4Heap14CollectGarbageENS0_15AllocationSpaceE" \
			"NS0_23GarbageCollectionReasonENS_15GCCallbackFlagsE"
/* v8::internal::OptimizingCompileDispatcher::InstallOptimizedFunctions() */
#define INSTALL_OPTIMIZED "_ZN2v88internal27OptimizingCompileDispatcher" \
			  "25InstallOptimizedFunctionsEv"
/* v8::internal::baseline::BaselineBatchCompiler::CompileBatch(Handle<JSFunction>) */
#define COMPILE_BATCH "_ZN2v88internal8baseline21BaselineBatchCompiler" \
		      "12CompileBatchENS0_6HandleINS0_10JSFunctionEEE"
/* node::(anonymous namespace)::PlatformWorkerThread(void*), a local symbol */
#define PLATFORM_WORKER "_ZN4node12_GLOBAL__N_1L20PlatformWorkerThreadEPv"

/* One function probed at its entry, and at its return where done is set;
 * local: a local symbol, whose file offset conctrace finds itself. */
struct v8_site {
	const char *func;
	struct bpf_program *start, *done;
	bool local;
};

/* The file offset of exe's local function func, or 0. */
static size_t local_function(const char *exe, const char *func)
{
	GElf_Addr addr;
	GElf_Off off;
	Elf *elf;
	int fd;

	if (!(elf = elf_open_path(exe, &fd)))
		return 0;
	addr = elf_function(elf, func);
	off = addr ? elf_file_offset(elf, addr) : 0;
	elf_close_path(elf, fd);
	return off;
}

/* Attach site's probes to exe into links; how many links it made (0: the
 * binary has no such function, or a probe would not attach). */
static int attach_site(const char *exe, const struct v8_site *s, struct bpf_link **links)
{
	LIBBPF_OPTS(bpf_uprobe_opts, entry, .func_name = s->local ? NULL : s->func);
	LIBBPF_OPTS(bpf_uprobe_opts, ret, .func_name = entry.func_name, .retprobe = true);
	size_t off = 0;

	if (!bpf_program__autoload(s->start) || (s->done && !bpf_program__autoload(s->done)))
		return 0;	/* refused by this kernel: plan_programs said so */
	if (s->local && !(off = local_function(exe, s->func)))
		return 0;
	links[0] = bpf_program__attach_uprobe_opts(s->start, -1, exe, off, &entry);
	if (!links[0] || !s->done)
		return links[0] ? 1 : 0;
	links[1] = bpf_program__attach_uprobe_opts(s->done, -1, exe, off, &ret);
	if (links[1])
		return 2;
	bpf_link__destroy(links[0]);	/* an entry alone would never end */
	links[0] = NULL;
	return 0;
}

void v8_probes_attach(struct tracer *t, const char *exe)
{
	struct conctrace_bpf *skel = t->skel;
	const struct v8_site sites[] = {
		{ COLLECT_GARBAGE, skel->progs.on_gc_start, skel->progs.on_gc_done, false },
		{ INSTALL_OPTIMIZED, skel->progs.on_compile_start, skel->progs.on_compile_done, false },
		{ COMPILE_BATCH, skel->progs.on_compile_start, skel->progs.on_compile_done, false },
		{ PLATFORM_WORKER, skel->progs.on_runtime_thread, NULL, true },
	};
	int n = 0;

	if (!exe)
		return;
	for (size_t i = 0; i < sizeof(sites) / sizeof(sites[0]) && n + 2 <= V8_LINKS; i++)
		n += attach_site(exe, &sites[i], &t->v8_links[n]);
	/* a binary without the symbols leaves libbpf's complaints: not ours */
	libbpf_log_clear();
}

void v8_probes_detach(struct tracer *t)
{
	tracer_links_destroy(t->v8_links, V8_LINKS);
}
