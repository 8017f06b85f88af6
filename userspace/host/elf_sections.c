// SPDX-License-Identifier: MIT
/* An executable's ELF sections of one type (host/elf_sections.h). */
#include "host/elf_sections.h"

#include <stddef.h>

Elf_Data *elf_next_section(Elf *elf, Elf_Scn **scn, Elf64_Word type, GElf_Shdr *sh)
{
	Elf_Data *data;

	while ((*scn = elf_nextscn(elf, *scn)))
		if (gelf_getshdr(*scn, sh) && sh->sh_type == type &&
		    (data = elf_getdata(*scn, NULL)))
			return data;
	return NULL;
}
