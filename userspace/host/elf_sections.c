// SPDX-License-Identifier: MIT
/* An executable's ELF sections of one type (host/elf_sections.h). */
#include "host/elf_sections.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

Elf *elf_open_path(const char *path, int *fd)
{
	Elf *elf;

	*fd = -1;
	if (elf_version(EV_CURRENT) == EV_NONE || (*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	elf = elf_begin(*fd, ELF_C_READ_MMAP, NULL);
	if (!elf) {
		close(*fd);
		*fd = -1;
	}
	return elf;
}

void elf_close_path(Elf *elf, int fd)
{
	elf_end(elf);
	if (fd >= 0)
		close(fd);
}

Elf_Data *elf_next_section(Elf *elf, Elf_Scn **scn, Elf64_Word type, GElf_Shdr *sh)
{
	Elf_Data *data;

	while ((*scn = elf_nextscn(elf, *scn)))
		if (gelf_getshdr(*scn, sh) && sh->sh_type == type &&
		    (data = elf_getdata(*scn, NULL)))
			return data;
	return NULL;
}

GElf_Off elf_file_offset(Elf *elf, GElf_Addr vaddr)
{
	size_t nph = 0;

	for (size_t i = 0; !elf_getphdrnum(elf, &nph) && i < nph; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD &&
		    vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz)
			return vaddr - ph.p_vaddr + ph.p_offset;
	}
	return 0;
}

GElf_Addr elf_function(Elf *elf, const char *name)
{
	Elf_Scn *scn = NULL;
	Elf_Data *data;
	GElf_Shdr sh;

	while ((data = elf_next_section(elf, &scn, SHT_SYMTAB, &sh))) {
		GElf_Sym sym;

		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize && gelf_getsym(data, (int)i, &sym);
		     i++) {
			const char *s = elf_strptr(elf, sh.sh_link, sym.st_name);

			if (GELF_ST_TYPE(sym.st_info) == STT_FUNC && sym.st_value && s &&
			    !strcmp(s, name))
				return sym.st_value;
		}
	}
	return 0;
}

#define PLT_ENTRY 16	/* x86-64's .plt and .plt.sec entries */

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

/* The address of the PLT stub that jumps through slot: an entry of .plt
 * or .plt.sec that is, after an optional endbr64 and bnd prefix,
 * jmp *disp32(%rip) landing on it. 0 if none. */
static GElf_Addr plt_stub_of(Elf *elf, GElf_Addr slot)
{
	static const unsigned char endbr64[] = { 0xf3, 0x0f, 0x1e, 0xfa };
	Elf_Scn *scn = NULL;
	Elf_Data *data;
	GElf_Shdr sh;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return 0;
	while ((data = elf_next_section(elf, &scn, SHT_PROGBITS, &sh))) {
		const char *name = elf_strptr(elf, shstrndx, sh.sh_name);
		const unsigned char *code = data->d_buf;

		if (!name || (strcmp(name, ".plt") && strcmp(name, ".plt.sec")) ||
		    data->d_size != sh.sh_size)
			continue;
		for (size_t at = 0; at + PLT_ENTRY <= data->d_size; at += PLT_ENTRY) {
			size_t i = at;
			int32_t disp;

			if (!memcmp(code + i, endbr64, sizeof(endbr64)))
				i += sizeof(endbr64);
			if (code[i] == 0xf2)	/* bnd */
				i++;
			if (code[i] != 0xff || code[i + 1] != 0x25)
				continue;
			memcpy(&disp, code + i + 2, sizeof(disp));
			if (sh.sh_addr + i + 6 + (GElf_Addr)(int64_t)disp == slot)
				return sh.sh_addr + at;
		}
	}
	return 0;
}

GElf_Addr elf_plt_stub(Elf *elf, const char *sym)
{
	GElf_Addr slot = jump_slot(elf, sym);

	return slot ? plt_stub_of(elf, slot) : 0;
}

size_t code_branches_to(const unsigned char *code, size_t len, GElf_Addr addr,
			GElf_Addr target, GElf_Off *at, size_t n)
{
	size_t found = 0;

	for (size_t i = 0; i + 5 <= len; i++) {
		int32_t rel;

		if (code[i] != 0xe8 && code[i] != 0xe9)
			continue;
		memcpy(&rel, code + i + 1, sizeof(rel));
		if (addr + i + 5 + (GElf_Addr)(int64_t)rel != target)
			continue;
		if (found < n)
			at[found] = i;
		found++;
	}
	return found;
}

size_t elf_branches_to(Elf *elf, GElf_Addr target, GElf_Off *out, size_t n)
{
	Elf_Scn *scn = NULL;
	Elf_Data *data;
	GElf_Shdr sh;
	size_t found = 0;

	while ((data = elf_next_section(elf, &scn, SHT_PROGBITS, &sh))) {
		size_t room = found < n ? n - found : 0, k;

		if (!(sh.sh_flags & SHF_EXECINSTR) || !data->d_buf || data->d_size != sh.sh_size)
			continue;
		k = code_branches_to(data->d_buf, data->d_size, sh.sh_addr, target,
				     room ? out + found : NULL, room);
		for (size_t i = found; i < found + k && i < n; i++)
			out[i] += sh.sh_offset;
		found += k;
	}
	return found;
}
