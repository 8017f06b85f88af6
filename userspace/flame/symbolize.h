/* SPDX-License-Identifier: MIT */
/*
 * Frame names for stack addresses: kernel ones from /proc/kallsyms, user ones
 * from the ELF symbol tables (.symtab, else .dynsym) of the files a process
 * maps, read through /proc/PID/maps while the process lives, so its stacks
 * can still be named after it exits. Handles PIE and ASLR. C names only:
 * nothing is demangled.
 */
#ifndef CONCTRACE_SYMBOLIZE_H
#define CONCTRACE_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "host/proc_maps.h"

struct symbolizer;

/* Loads /proc/kallsyms lazily, on the first kernel lookup. NULL if out of
 * memory. */
struct symbolizer *symbolizer_new(void);
void symbolizer_free(struct symbolizer *s);

/* Snapshots /proc/PID/maps and loads the ELF symbol tables of every
 * file-backed executable mapping, opened through /proc/PID/map_files/START-END
 * (else /proc/PID/root/PATH) so that a file since replaced or deleted, or in
 * another mount namespace, is still the one mapped. Calling it again for the
 * same pid replaces its mappings (dlopen, new thread stacks); files already
 * loaded are shared, across processes too. A pid never loaded is loaded on
 * its first symbolize_user. Returns 0 or -errno (the maps file unreadable:
 * -ENOENT once the process is gone). */
int symbolizer_load_process(struct symbolizer *s, pid_t pid);

/* Registers one mapping of the ELF file at path for pid without reading
 * /proc: the unit tests use it to map a test binary at a chosen base. It is
 * added to the pid's mappings as executable (and the pid counts as loaded).
 * Returns 0 (also
 * for a file that is not ELF: its frames are then module+offset) or -errno
 * if the file cannot be opened, -EINVAL if start >= end. */
int symbolizer_add_file(struct symbolizer *s, pid_t pid, const char *path,
			unsigned long long start, unsigned long long end,
			unsigned long long pgoff);

/* Loads the kernel symbols from a file in the format of /proc/kallsyms
 * instead of /proc/kallsyms itself (tests give synthetic ones). Returns 0,
 * -errno if it cannot be read, -ENODATA if it lists no text symbol or only
 * zero addresses (then kernel frames are "[unknown]"). */
int symbolizer_load_kallsyms(struct symbolizer *s, const char *path);

/* Writes the frame name of addr into buf and returns buf:
 *   "function" (plus "+0xOFF" only if with_offset) when a symbol covers it;
 *   "module+0xOFF" when a mapping covers it but no symbol does: module is
 *     the basename of the mapped file ("[vdso]", "[anon]" for pseudo and
 *     anonymous mappings), OFF the ELF virtual address when the file was
 *     read as ELF (what addr2line -e module takes), else the file offset
 *     (the offset in the mapping for anonymous ones);
 *   "[unknown]" when no mapping covers it.
 * Never fails to produce a frame: a NULL or empty buf gives "[unknown]". */
const char *symbolize_user(struct symbolizer *s, pid_t pid, unsigned long long addr,
			   bool with_offset, char *buf, size_t len);

/* Is addr in an executable mapping of pid (a file's text, the vdso, a
 * JIT's anonymous code)? A frame-pointer walk that reaches anything else
 * ([heap], [stack], data, nothing) has left the real stack. */
bool symbolize_user_is_text(struct symbolizer *s, pid_t pid, unsigned long long addr);

/* Kernel text symbols of /proc/kallsyms ("tcp_sendmsg", "+0xOFF" if
 * with_offset); "[unknown]" outside them or when kallsyms hides addresses
 * (kptr_restrict without CAP_SYSLOG: said once on stderr). */
const char *symbolize_kernel(struct symbolizer *s, unsigned long long addr,
			     bool with_offset, char *buf, size_t len);

#endif /* CONCTRACE_SYMBOLIZE_H */
