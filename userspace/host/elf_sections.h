/* SPDX-License-Identifier: MIT */
/* An executable's ELF file: opened, its sections of one type one after
 * another, a function's and an address's file offsets. */
#ifndef CONCTRACE_ELF_SECTIONS_H
#define CONCTRACE_ELF_SECTIONS_H

#include <gelf.h>
#include <stdbool.h>

/*
 * The next section of elf after *scn (NULL: from the first) whose type is
 * type and which has data: *scn moves to it, *sh gets its header, and its
 * data is returned; NULL when none is left. A loop over the symbol table
 * (SHT_SYMTAB) or the dynamic section (SHT_DYNAMIC), with the header's
 * sh_link naming the strings their entries point into.
 */
/* The ELF file at path, read through a map of it: NULL if it cannot be
 * opened. *fd holds its descriptor for elf_close_path(), which ends both. */
Elf *elf_open_path(const char *path, int *fd);
void elf_close_path(Elf *elf, int fd);

Elf_Data *elf_next_section(Elf *elf, Elf_Scn **scn, Elf64_Word type, GElf_Shdr *sh);

/* The file offset where elf's segments load vaddr from, or 0 if none does. */
GElf_Off elf_file_offset(Elf *elf, GElf_Addr vaddr);

/* The address of the function called name in elf's symbol table, local
 * ones included (which libbpf's uprobes by name do not look at), or 0. */
GElf_Addr elf_function(Elf *elf, const char *name);

#endif /* CONCTRACE_ELF_SECTIONS_H */
