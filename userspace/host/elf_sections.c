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
