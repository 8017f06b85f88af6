/* SPDX-License-Identifier: MIT */
/* An executable's ELF file: opened, its sections of one type one after
 * another, a function's and an address's file offsets, a PLT stub, the
 * calls that branch to an address. */
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

/* The address of the PLT stub through which elf (x86-64) calls sym: an
 * entry of .plt or .plt.sec that jumps through sym's GOT slot (its
 * R_X86_64_JUMP_SLOT relocation). 0 if none. */
GElf_Addr elf_plt_stub(Elf *elf, const char *sym);

/*
 * Where code, loaded at addr, branches to target with a call or jmp of
 * rel32 (e8, e9: what compilers emit for a direct call and tail call, and
 * instructions x86's uprobes emulate, with no single-step): the offsets
 * into code of each such instruction, into at (at most n); how many there
 * are, which may be more than n. A byte scan, not a disassembly: five
 * bytes inside another instruction that encode exactly the distance to
 * target are a chance of one in 2^32 per byte of code.
 */
size_t code_branches_to(const unsigned char *code, size_t len, GElf_Addr addr,
			GElf_Addr target, GElf_Off *at, size_t n);

/* The same over elf's executable sections: the file offsets of the
 * branches to target into out (at most n); how many there are. */
size_t elf_branches_to(Elf *elf, GElf_Addr target, GElf_Off *out, size_t n);

#endif /* CONCTRACE_ELF_SECTIONS_H */
