// SPDX-License-Identifier: MIT
/*
 * V8's garbage collector, through the uprobes of bpf/progs/runtimes.bpf.h:
 * the entry and the return of v8::internal::Heap::CollectGarbage, which
 * every scavenge and mark-compact on the isolate's thread goes through
 * (with its prologue and epilogue callbacks): the runtime's work, not the
 * connection whose JavaScript allocated past a limit. Incremental marking
 * steps taken during allocation and the concurrent marker's threads are
 * not in it. Found by its mangled name in the executable's symbol table
 * (Node's own build keeps it; a build that strips it goes without, said
 * nowhere: it may not be Node at all).
 */
#include "tracer/v8_probes.h"

#include <bpf/libbpf.h>

#include "conctrace.skel.h"
#include "tracer/libbpf_log.h"

/* v8::internal::Heap::CollectGarbage(AllocationSpace, GarbageCollectionReason,
 * GCCallbackFlags), V8 8 to 11 (Node 14 to 20) */
#define COLLECT_GARBAGE "_ZN2v88internal4Heap14CollectGarbageENS0_15AllocationSpaceE" \
			"NS0_23GarbageCollectionReasonENS_15GCCallbackFlagsE"

void v8_probes_attach(struct tracer *t, const char *exe)
{
	LIBBPF_OPTS(bpf_uprobe_opts, entry, .func_name = COLLECT_GARBAGE);
	LIBBPF_OPTS(bpf_uprobe_opts, ret, .func_name = COLLECT_GARBAGE, .retprobe = true);
	struct bpf_link *start, *done;

	if (!exe || !bpf_program__autoload(t->skel->progs.on_gc_start) ||
	    !bpf_program__autoload(t->skel->progs.on_gc_done))
		return;	/* refused by this kernel: plan_programs said so */
	start = bpf_program__attach_uprobe_opts(t->skel->progs.on_gc_start, -1, exe, 0, &entry);
	done = start ? bpf_program__attach_uprobe_opts(t->skel->progs.on_gc_done, -1, exe, 0,
						       &ret) : NULL;
	/* a binary without the symbol leaves libbpf's complaint: not ours */
	libbpf_log_clear();
	if (!done) {
		bpf_link__destroy(start);
		return;
	}
	t->v8_links[0] = start;
	t->v8_links[1] = done;
}

void v8_probes_detach(struct tracer *t)
{
	tracer_links_destroy(t->v8_links, 2);
}
