// SPDX-License-Identifier: MIT
/*
 * CPython's thread pools, through the probes of bpf/progs/runtimes.bpf.h:
 * concurrent.futures queues each job on a queue.SimpleQueue, whose put
 * and get are C methods of the _queue module. The module keeps no
 * symbols of its own, but its method table does: each PyMethodDef holds
 * its name and its function, which a shared object's relative relocations
 * (R_X86_64_RELATIVE, whose addends are the addresses) fill in at load.
 * So "get" is found as a relocated pointer to the string "get" followed by
 * one into the code. x86-64 only.
 */
#include "tracer/py_jobs.h"

#include <bpf/libbpf.h>
#include <gelf.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "conctrace.skel.h"
#include "host/elf_sections.h"
#include "tracer/libbpf_log.h"
#include "tracer/plan.h"

#define PY_JOBS_PROG "on_py_queue_put"	/* the figure, as programs.c names it */

/* The addresses of elf's NUL-terminated strings equal to name in its
 * read-only data, into out (at most n); how many. */
static size_t string_addrs(Elf *elf, const char *name, GElf_Addr *out, size_t n)
{
	size_t len = strlen(name) + 1, found = 0;
	Elf_Scn *scn = NULL;
	Elf_Data *data;
	GElf_Shdr sh;

	while (found < n && (data = elf_next_section(elf, &scn, SHT_PROGBITS, &sh))) {
		const char *b = data->d_buf;

		if ((sh.sh_flags & (SHF_WRITE | SHF_EXECINSTR)) || !(sh.sh_flags & SHF_ALLOC) || !b)
			continue;
		for (size_t i = 0; found < n && i + len <= data->d_size; i++)
			if ((i == 0 || b[i - 1] == 0) && !memcmp(b + i, name, len))
				out[found++] = sh.sh_addr + i;
	}
	return found;
}

/* Whether vaddr is in one of elf's executable segments. */
static bool in_code(Elf *elf, GElf_Addr vaddr)
{
	size_t nph = 0;

	for (size_t i = 0; !elf_getphdrnum(elf, &nph) && i < nph; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD &&
		    (ph.p_flags & PF_X) && vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz)
			return true;
	}
	return false;
}

/* The file offset of the C function of elf's method called name (its
 * PyMethodDef: ml_name, then ml_meth, both relocated), or 0. */
static GElf_Off method(Elf *elf, const char *name)
{
	GElf_Addr names[8], fn = 0;
	size_t n = string_addrs(elf, name, names, 8);
	Elf_Scn *scn = NULL;
	Elf_Data *data;
	GElf_Shdr sh;

	while (n && !fn && (data = elf_next_section(elf, &scn, SHT_RELA, &sh))) {
		size_t count = sh.sh_size / sh.sh_entsize;
		GElf_Rela r, next;

		/* a PyMethodDef's two pointers: consecutive relocations */
		for (size_t i = 0; !fn && i + 1 < count; i++) {
			if (!gelf_getrela(data, (int)i, &r) ||
			    GELF_R_TYPE(r.r_info) != R_X86_64_RELATIVE ||
			    !gelf_getrela(data, (int)i + 1, &next) ||
			    GELF_R_TYPE(next.r_info) != R_X86_64_RELATIVE ||
			    next.r_offset != r.r_offset + 8 || !in_code(elf, (GElf_Addr)next.r_addend))
				continue;
			for (size_t k = 0; k < n; k++)
				if ((GElf_Addr)r.r_addend == names[k])
					fn = (GElf_Addr)next.r_addend;
		}
	}
	return fn ? elf_file_offset(elf, fn) : 0;
}

/* The file offsets of module's SimpleQueue.put and get; false if it has
 * not both, or is not x86-64's. */
static bool queue_methods(const char *module, GElf_Off *put, GElf_Off *get)
{
	bool found = false;
	GElf_Ehdr eh;
	Elf *elf;
	int fd;

	if (!(elf = elf_open_path(module, &fd)))
		return false;
	if (gelf_getehdr(elf, &eh) && eh.e_machine == EM_X86_64) {
		*put = method(elf, "put");
		*get = method(elf, "get");
		found = *put && *get;
	}
	elf_close_path(elf, fd);
	return found;
}

void py_jobs_attach(struct tracer *t, const char *dynload)
{
	char pattern[PATH_MAX + 32], module[PATH_MAX] = "", line[PATH_MAX + 128];
	LIBBPF_OPTS(bpf_uprobe_opts, ret, .retprobe = true);
	GElf_Off put = 0, get = 0;
	glob_t g;

	if (!bpf_program__autoload(t->skel->progs.on_py_queue_put) ||
	    !bpf_program__autoload(t->skel->progs.on_py_queue_got))
		return;	/* refused by this kernel: plan_programs said so */
	snprintf(pattern, sizeof(pattern), "%s/_queue.*so", dynload);
	if (glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc > 0)
		snprintf(module, sizeof(module), "%s", g.gl_pathv[0]);
	globfree(&g);
	if (module[0] && queue_methods(module, &put, &get)) {
		t->py_job_links[0] = bpf_program__attach_uprobe_opts(
			t->skel->progs.on_py_queue_put, -1, module, put, NULL);
		t->py_job_links[1] = t->py_job_links[0] ? bpf_program__attach_uprobe_opts(
			t->skel->progs.on_py_queue_got, -1, module, get, &ret) : NULL;
	}
	libbpf_log_clear();
	if (t->py_job_links[1])
		return;
	py_jobs_detach(t);
	snprintf(line, sizeof(line), "%s: no SimpleQueue put and get found%s",
		 module[0] ? module : dynload, module[0] ? "" : " (no _queue module)");
	plan_drop(t, PY_JOBS_PROG, line);
}

void py_jobs_detach(struct tracer *t)
{
	tracer_links_destroy(t->py_job_links, 2);
}
