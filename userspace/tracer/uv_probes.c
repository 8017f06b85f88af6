// SPDX-License-Identifier: MIT
/*
 * libuv's threadpool, through the uprobes of bpf/progs/runtimes.bpf.h:
 * uv_queue_work in the target's binary (Node links libuv in and exports
 * it) or in the system's libuv if the binary needs it; on the workers' side uv__queue_work where
 * the file's symbol table names it, else each work callback BPF reports
 * (EV_UV_CALLBACK), at its place in the mapping that holds it. Probes on a
 * file fire in every process that runs it; the programs keep the target's.
 */
#include "tracer/uv_probes.h"

#include <errno.h>
#include <gelf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "conctrace.skel.h"
#include "host/elf_sections.h"
#include "host/proc_maps.h"
#include "tracer/libbpf_log.h"

/* where a distribution puts libuv when Node does not carry its own */
static const char *const system_libuv[] = {
	"/usr/lib/x86_64-linux-gnu/libuv.so.1",
	"/lib/x86_64-linux-gnu/libuv.so.1",
	"/usr/lib64/libuv.so.1",
};

static void keep_link(struct tracer *t, struct bpf_link *link)
{
	if (t->n_uv_links < TRACER_UV_LINKS)
		t->uv_links[t->n_uv_links++] = link;
	else
		bpf_link__destroy(link);
}

static struct bpf_link *probe(struct bpf_program *prog, const char *path, const char *func,
			       bool ret)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = func, .retprobe = ret);

	return bpf_program__attach_uprobe_opts(prog, -1, path, 0, &opts);
}

static bool probe_queue_work(struct tracer *t, const char *path)
{
	struct bpf_link *link, *run, *done;

	if (access(path, R_OK))
		return false;
	link = probe(t->skel->progs.on_uv_queue_work, path, "uv_queue_work", false);
	if (!link)
		return false;	/* no libuv in it: the common case, said nowhere */
	keep_link(t, link);
	/* the worker's call of every callback, if the symbol table has it */
	run = probe(t->skel->progs.on_uv_queue_work_run, path, "uv__queue_work", false);
	done = run ? probe(t->skel->progs.on_uv_work_done, path, "uv__queue_work", true) : NULL;
	if (run && done) {
		keep_link(t, run);
		keep_link(t, done);
		t->skel->bss->uv_worker_probed = 1;
	} else {
		bpf_link__destroy(run);
	}
	return true;
}

/* exe names libuv among the libraries it needs (DT_NEEDED): Debian's
 * node does. A probe on the system's libuv otherwise would cost every run
 * its attach and the wait of its detach (0.2 s here), for nothing. */
static bool needs_libuv(const char *exe)
{
	bool found = false;
	Elf_Scn *scn = NULL;
	Elf_Data *data;
	GElf_Shdr sh;
	Elf *elf;
	int fd;

	if (!(elf = elf_open_path(exe, &fd)))
		return false;
	while (!found && (data = elf_next_section(elf, &scn, SHT_DYNAMIC, &sh))) {
		GElf_Dyn dyn;

		for (size_t i = 0; !found && gelf_getdyn(data, (int)i, &dyn); i++) {
			const char *name = dyn.d_tag == DT_NEEDED ?
				elf_strptr(elf, sh.sh_link, dyn.d_un.d_val) : NULL;

			found = name && !strncmp(name, "libuv.so", 8);
		}
	}
	elf_close_path(elf, fd);
	return found;
}

void uv_probes_attach(struct tracer *t, const char *exe)
{
	if (!bpf_program__autoload(t->skel->progs.on_uv_queue_work))
		return;	/* refused by this kernel: plan_programs said so */
	if (!exe)
		return;
	if (!probe_queue_work(t, exe) && needs_libuv(exe))
		for (size_t i = 0; i < sizeof(system_libuv) / sizeof(system_libuv[0]); i++)
			if (probe_queue_work(t, system_libuv[i]))
				break;
	/* a binary without the symbol leaves libbpf's complaint: not ours */
	libbpf_log_clear();
}

void uv_probes_callback(struct tracer *t, const struct uv_callback_event *ev)
{
	LIBBPF_OPTS(bpf_uprobe_opts, ret, .retprobe = true);
	struct bpf_link *entry, *done;
	char path[PATH_MAX];
	unsigned long long offset;

	if (t->n_uv_links + 2 > TRACER_UV_LINKS ||
	    !maps_file_offset((int)ev->tgid, ev->addr, path, sizeof(path), &offset))
		return;
	entry = bpf_program__attach_uprobe_opts(t->skel->progs.on_uv_work, -1, path, offset, NULL);
	done = bpf_program__attach_uprobe_opts(t->skel->progs.on_uv_work_done, -1, path, offset,
					      &ret);
	if (!entry || !done) {
		bpf_link__destroy(entry);
		bpf_link__destroy(done);
		return;
	}
	keep_link(t, entry);
	keep_link(t, done);
}

void uv_probes_detach(struct tracer *t)
{
	tracer_links_destroy(t->uv_links, t->n_uv_links);
	t->n_uv_links = 0;
}
