// SPDX-License-Identifier: MIT
/*
 * CPython's asyncio, through the uprobe of bpf/progs/runtimes.bpf.h where
 * a Task's step resumes its coroutine: task_step_impl's call of
 * PyIter_Send, the module's only one (CPython 3.10 on). The module keeps
 * no symbols of its own, but it calls the interpreter through its PLT:
 * the stub that jumps through PyIter_Send's GOT slot is that call, and
 * nothing else in the process goes through it. The probe sits on the
 * instructions that call the stub (probe_steps says why not on the stub
 * itself). Found in the _asyncio module of the Python the target runs
 * (PREFIX/bin/pythonX.Y -> PREFIX/lib/pythonX.Y/lib-dynload), which the
 * probe, set on the file, reaches once the program imports asyncio.
 * x86-64's PLT only.
 *
 * And where the interpreter keeps its GIL: _PyRuntime, exported by a
 * Python built as one executable (Debian's), whose futexes hand over no
 * work (bpf/lib/charging.bpf.h, on_interpreter_lock). And its garbage
 * collector's passes, the runtime's own work, at the USDT probes
 * python:gc__start and gc__done of a Python built with them (Debian's,
 * --with-dtrace): each guarded by a semaphore, which the kernel counts up
 * while the uprobe is set (ref_ctr_offset), or the interpreter skips it.
 */
#include "tracer/py_probes.h"

#include <gelf.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "conctrace.skel.h"
#include "host/elf_sections.h"
#include "tracer/libbpf_log.h"
#include "tracer/plan.h"
#include "tracer/py_jobs.h"

/* the figures a run goes without (programs.c names them for the programs) */
#define PY_PROG "on_asyncio_step"
#define PY_GC_PROG "on_gc_start"
#define NT_STAPSDT 3	/* a USDT probe's note (SystemTap's SDT format) */

/* exe is a Python (its real name pythonX.Y): that real path in real,
 * and the path of its _asyncio module in lib-dynload in module ("" if
 * none). False for anything else. */
static bool python_of(const char *exe, char *real, char *module, size_t len)
{
	char prefix[PATH_MAX], pattern[PATH_MAX + 64];
	unsigned int major, minor;
	const char *name;
	glob_t g;

	module[0] = 0;
	if (!realpath(exe, real))
		return false;
	name = strrchr(real, '/');
	if (sscanf(name ? name + 1 : real, "python%u.%u", &major, &minor) != 2)
		return false;
	snprintf(prefix, sizeof(prefix), "%s", real);	/* dirname() writes */
	snprintf(pattern, sizeof(pattern), "%s/lib/python%u.%u/lib-dynload/_asyncio.*so",
		 dirname(dirname(prefix)), major, minor);
	if (glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc > 0)
		snprintf(module, len, "%s", g.gl_pathv[0]);
	globfree(&g);
	return true;
}

/*
 * _PyRuntime in elf, the Python's executable: its offset from the start of
 * the executable segment (the lowest PF_X PT_LOAD, which the kernel keeps
 * as mm->start_code) and its size; false if elf does not name it.
 */
static bool runtime_state(Elf *elf, __u64 *off, __u64 *size)
{
	static const Elf64_Word tables[] = { SHT_DYNSYM, SHT_SYMTAB };
	GElf_Addr code = ~(GElf_Addr)0, value = 0;
	size_t nph = 0;

	*size = 0;
	for (size_t i = 0; !elf_getphdrnum(elf, &nph) && i < nph; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD &&
		    (ph.p_flags & PF_X) && ph.p_vaddr < code)
			code = ph.p_vaddr;
	}
	for (size_t k = 0; !*size && k < sizeof(tables) / sizeof(tables[0]); k++) {
		Elf_Scn *scn = NULL;
		Elf_Data *data;
		GElf_Shdr sh;

		while (!*size && (data = elf_next_section(elf, &scn, tables[k], &sh)))
			for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
				const char *name;
				GElf_Sym s;

				if (!gelf_getsym(data, (int)i, &s) || !s.st_size)
					continue;
				name = elf_strptr(elf, sh.sh_link, s.st_name);
				if (name && !strcmp(name, "_PyRuntime")) {
					value = s.st_value;
					*size = s.st_size;
					break;
				}
			}
	}
	if (!*size || code == ~(GElf_Addr)0)
		return false;
	*off = value - code;
	return true;
}

/*
 * The uprobes where module's Task steps resume their coroutines, into
 * links; false, with why, if none could be set. On each instruction that
 * calls the PLT stub through which it calls PyIter_Send: a call the
 * kernel emulates, where the stub's indirect jmp is copied out and
 * single-stepped, a second trap per step (a uprobe hit cost 7.5 us on a
 * call and 28 us on the stub on the pti=on 6.18 build of 2026-12-05,
 * docs/overhead.md). On the stub itself, which every call passes, where
 * no call of it is found or too many to probe each.
 */
static bool probe_steps(struct tracer *t, const char *module, struct bpf_link **links,
			const char **why)
{
	GElf_Off site[TRACER_PY_STEP_SITES];
	GElf_Addr stub = 0;
	size_t n = 0;
	GElf_Ehdr eh;
	bool probed;
	Elf *elf;
	int fd;

	*why = "no PLT call of PyIter_Send found (CPython 3.10+ on x86-64 has one)";
	if (!(elf = elf_open_path(module, &fd)))
		return false;
	if (gelf_getehdr(elf, &eh) && eh.e_machine == EM_X86_64)
		stub = elf_plt_stub(elf, "PyIter_Send");
	if (stub) {
		n = elf_branches_to(elf, stub, site, TRACER_PY_STEP_SITES);
		if (n == 0 || n > TRACER_PY_STEP_SITES) {
			site[0] = elf_file_offset(elf, stub);
			n = site[0] ? 1 : 0;
		}
	}
	elf_close_path(elf, fd);
	if (!n)
		return false;
	*why = "the kernel refused the uprobe";
	probed = true;
	for (size_t i = 0; probed && i < n; i++) {
		links[i] = bpf_program__attach_uprobe_opts(t->skel->progs.on_asyncio_step, -1,
							   module, (size_t)site[i], NULL);
		probed = links[i] != NULL;
	}
	/* a failed attach leaves libbpf's complaint: the run's warning says it */
	libbpf_log_clear();
	return probed;
}

/* The address of elf's section called name, or 0. */
static GElf_Addr section_addr(Elf *elf, const char *name)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr sh;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return 0;
	while ((scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_name &&
		    !strcmp(elf_strptr(elf, shstrndx, sh.sh_name) ?: "", name))
			return sh.sh_addr;
	return 0;
}

/*
 * The USDT probe provider:name in elf (its .note.stapsdt): the file
 * offsets of its site and of its semaphore (0: none). Addresses as
 * libbpf reads them: a note's own base against .stapsdt.base's, for a
 * file prelinked since.
 */
static bool usdt_site(Elf *elf, const char *provider, const char *name, __u64 *site,
		      __u64 *semaphore)
{
	GElf_Addr base = section_addr(elf, ".stapsdt.base");
	Elf_Scn *scn = NULL;
	Elf_Data *data;
	GElf_Shdr sh;

	while ((data = elf_next_section(elf, &scn, SHT_NOTE, &sh))) {
		size_t off = 0, name_off, desc_off;
		GElf_Nhdr nh;

		while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off))) {
			const char *desc = (const char *)data->d_buf + desc_off;
			const char *prov = desc + 24, *probe;
			__u64 pc, note_base, sem;

			if (nh.n_type != NT_STAPSDT || nh.n_namesz != sizeof("stapsdt") ||
			    strcmp((const char *)data->d_buf + name_off, "stapsdt") ||
			    nh.n_descsz < 24 + 4 || desc[nh.n_descsz - 1])
				continue;
			probe = prov + strlen(prov) + 1;
			if (probe >= desc + nh.n_descsz || strcmp(prov, provider) ||
			    strcmp(probe, name))
				continue;
			memcpy(&pc, desc, 8);
			memcpy(&note_base, desc + 8, 8);
			memcpy(&sem, desc + 16, 8);
			if (base && note_base)
				pc += base - note_base;
			*site = elf_file_offset(elf, pc);
			*semaphore = sem ? elf_file_offset(elf, sem) : 0;
			return *site && (!sem || *semaphore);
		}
	}
	return false;
}

/* The places of python:gc__start and gc__done in elf (exe's), for
 * probe_gc; false if it has not both. */
static bool gc_sites(Elf *elf, __u64 site[2], __u64 sem[2])
{
	return usdt_site(elf, "python", "gc__start", &site[0], &sem[0]) &&
	       usdt_site(elf, "python", "gc__done", &site[1], &sem[1]);
}

/* The uprobes at those sites of exe, into links[0..1]; false if one
 * failed. */
static bool probe_gc(struct tracer *t, const char *exe, const __u64 site[2],
		     const __u64 sem[2], struct bpf_link **links)
{
	struct bpf_program *progs[2] = { t->skel->progs.on_gc_start,
					 t->skel->progs.on_gc_done };
	bool found = true;

	for (int i = 0; found && i < 2; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, opts, .ref_ctr_offset = sem[i]);

		links[i] = bpf_program__attach_uprobe_opts(progs[i], -1, exe, site[i], &opts);
		found = links[i] != NULL;
	}
	libbpf_log_clear();
	return found;
}

void py_probes_attach(struct tracer *t, const char *exe)
{
	char real[PATH_MAX], module[PATH_MAX], line[PATH_MAX + 128];
	__u64 off, size, site[2], sem[2];
	bool gc = false;
	const char *why;
	Elf *elf;
	int fd;

	if (!exe || !python_of(exe, real, module, sizeof(module)) ||
	    !(elf = elf_open_path(real, &fd)))
		return;	/* not a Python: said nowhere */
	if (runtime_state(elf, &off, &size)) {
		t->skel->bss->py_runtime_off = off;
		t->skel->bss->py_runtime_size = size;
	}
	gc = gc_sites(elf, site, sem);
	elf_close_path(elf, fd);
	if (bpf_program__autoload(t->skel->progs.on_gc_start) &&
	    bpf_program__autoload(t->skel->progs.on_gc_done) &&
	    !(gc && probe_gc(t, real, site, sem, t->py_gc_links))) {
		tracer_links_destroy(t->py_gc_links, 2);
		snprintf(line, sizeof(line), "%s: no USDT probes python:gc__start and gc__done "
			 "(a build without --with-dtrace), or the kernel refused them", real);
		plan_drop(t, PY_GC_PROG, line);
	}
	if (module[0]) {	/* its lib-dynload: the _queue module beside _asyncio */
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%s", module);
		py_jobs_attach(t, dirname(dir));
	}
	if (!module[0] || !bpf_program__autoload(t->skel->progs.on_asyncio_step))
		return;	/* no asyncio module; or refused by this kernel: plan_programs said so */
	if (!probe_steps(t, module, t->py_step_links, &why)) {
		tracer_links_destroy(t->py_step_links, TRACER_PY_STEP_SITES);
		snprintf(line, sizeof(line), "%s: %s", module, why);
		plan_drop(t, PY_PROG, line);
	}
}

void py_probes_detach(struct tracer *t)
{
	tracer_links_destroy(t->py_step_links, TRACER_PY_STEP_SITES);
	tracer_links_destroy(t->py_gc_links, 2);
	py_jobs_detach(t);
}
