// SPDX-License-Identifier: MIT
/*
 * CPython's asyncio, through the uprobe of bpf/progs/runtimes.bpf.h where
 * a Task's step resumes its coroutine: task_step_impl's call of
 * PyIter_Send, the module's only one (CPython 3.10 on). The module keeps
 * no symbols of its own, but it calls the interpreter through its PLT:
 * the stub that jumps through PyIter_Send's GOT slot is that call, and
 * nothing else in the process goes through it. Found in the _asyncio
 * module of the Python the target runs (PREFIX/bin/pythonX.Y ->
 * PREFIX/lib/pythonX.Y/lib-dynload), which the probe, set on the file,
 * reaches once the program imports asyncio. x86-64's PLT only.
 */
#include "tracer/py_probes.h"

#include <fcntl.h>
#include <gelf.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "conctrace.skel.h"
#include "host/elf_sections.h"
#include "tracer/libbpf_log.h"
#include "tracer/plan.h"

/* the figure a run goes without (programs.c names it for the program) */
#define PY_PROG "on_asyncio_step"
#define PLT_ENTRY 16	/* x86-64's .plt and .plt.sec entries */

/* exe is a Python (its real name pythonX.Y): the path of its _asyncio
 * module in lib-dynload. False for anything else. */
static bool asyncio_module(const char *exe, char *out, size_t len)
{
	char real[PATH_MAX], prefix[PATH_MAX], pattern[PATH_MAX + 64];
	unsigned int major, minor;
	bool found = false;
	glob_t g;

	if (!realpath(exe, real) ||
	    sscanf(basename(real), "python%u.%u", &major, &minor) != 2)
		return false;
	snprintf(prefix, sizeof(prefix), "%s", real);
	snprintf(pattern, sizeof(pattern), "%s/lib/python%u.%u/lib-dynload/_asyncio.*so",
		 dirname(dirname(prefix)), major, minor);
	if (glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc > 0) {
		snprintf(out, len, "%s", g.gl_pathv[0]);
		found = true;
	}
	globfree(&g);
	return found;
}

/* The address of the GOT slot through which elf calls sym (its
 * R_X86_64_JUMP_SLOT relocation), or 0. */
static GElf_Addr jump_slot(Elf *elf, const char *sym)
{
	Elf_Scn *scn = NULL, *syms;
	Elf_Data *data, *symdata;
	GElf_Shdr sh, symsh;

	while ((data = elf_next_section(elf, &scn, SHT_RELA, &sh))) {
		syms = elf_getscn(elf, sh.sh_link);
		symdata = syms ? elf_getdata(syms, NULL) : NULL;
		if (!symdata || !gelf_getshdr(syms, &symsh))
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			const char *name;
			GElf_Rela r;
			GElf_Sym s;

			if (!gelf_getrela(data, (int)i, &r) ||
			    GELF_R_TYPE(r.r_info) != R_X86_64_JUMP_SLOT ||
			    !gelf_getsym(symdata, (int)GELF_R_SYM(r.r_info), &s))
				continue;
			name = elf_strptr(elf, symsh.sh_link, s.st_name);
			if (name && !strcmp(name, sym))
				return r.r_offset;
		}
	}
	return 0;
}

/*
 * The file offset of the PLT stub that jumps through slot: an entry of
 * .plt or .plt.sec that is, after an optional endbr64 and bnd prefix,
 * jmp *disp32(%rip) landing on it. -1 if none.
 */
static long plt_stub(Elf *elf, GElf_Addr slot)
{
	static const unsigned char endbr64[] = { 0xf3, 0x0f, 0x1e, 0xfa };
	Elf_Scn *scn = NULL;
	Elf_Data *data;
	GElf_Shdr sh;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return -1;
	while ((data = elf_next_section(elf, &scn, SHT_PROGBITS, &sh))) {
		const char *name = elf_strptr(elf, shstrndx, sh.sh_name);
		const unsigned char *code = data->d_buf;

		if (!name || (strcmp(name, ".plt") && strcmp(name, ".plt.sec")) ||
		    data->d_size != sh.sh_size)
			continue;
		for (size_t at = 0; at + PLT_ENTRY <= data->d_size; at += PLT_ENTRY) {
			size_t i = at;
			__s32 disp;

			if (!memcmp(code + i, endbr64, sizeof(endbr64)))
				i += sizeof(endbr64);
			if (code[i] == 0xf2)	/* bnd */
				i++;
			if (code[i] != 0xff || code[i + 1] != 0x25)
				continue;
			memcpy(&disp, code + i + 2, sizeof(disp));
			if (sh.sh_addr + i + 6 + (GElf_Addr)(__s64)disp == slot)
				return (long)(sh.sh_offset + at);
		}
	}
	return -1;
}

void py_probes_attach(struct tracer *t, const char *exe)
{
	char module[PATH_MAX], why[PATH_MAX + 128];
	struct bpf_link *link = NULL;
	long stub = -1;
	GElf_Ehdr eh;
	Elf *elf;
	int fd;

	if (!exe || !bpf_program__autoload(t->skel->progs.on_asyncio_step))
		return;	/* refused by this kernel: plan_programs said so */
	if (!asyncio_module(exe, module, sizeof(module)))
		return;	/* not a Python, or one without asyncio: said nowhere */
	if (elf_version(EV_CURRENT) == EV_NONE || (fd = open(module, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf && gelf_getehdr(elf, &eh) && eh.e_machine == EM_X86_64) {
		GElf_Addr slot = jump_slot(elf, "PyIter_Send");

		stub = slot ? plt_stub(elf, slot) : -1;
	}
	elf_end(elf);
	close(fd);
	if (stub >= 0)
		link = bpf_program__attach_uprobe_opts(t->skel->progs.on_asyncio_step, -1,
						       module, (size_t)stub, NULL);
	/* a failed attach leaves libbpf's complaint: the line below says it */
	libbpf_log_clear();
	if (!link) {
		snprintf(why, sizeof(why), "%s: %s", module, stub < 0 ?
			 "no PLT call of PyIter_Send found (CPython 3.10+ on x86-64 has one)" :
			 "the kernel refused the uprobe");
		plan_drop(t, PY_PROG, why);
		return;
	}
	t->py_link = link;
}

void py_probes_detach(struct tracer *t)
{
	bpf_link__destroy(t->py_link);
	t->py_link = NULL;
}
