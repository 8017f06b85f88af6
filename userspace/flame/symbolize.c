// SPDX-License-Identifier: MIT
/* Frame names for kernel and user addresses (see symbolize.h). */
#include "flame/symbolize.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define UNKNOWN_FRAME "[unknown]"
/* No kernel function is this long: past it, the nearest lower symbol is the
 * last one before a gap (end of core text, between modules), not the owner. */
#define KSYM_MAX_SPAN (1ULL << 20)

struct sym {
	unsigned long long addr, end;	/* [addr, end) */
	uint32_t name;			/* offset in the owner's names */
};

/* A growable string arena: symbols keep offsets, which survive realloc. */
struct names {
	char *buf;
	size_t len, cap;
};

/* one PT_LOAD: file bytes [off, off + filesz) are mapped at vaddr */
struct load_seg {
	unsigned long long off, filesz, vaddr;
};

/* The symbols of one ELF file, shared by every mapping of it. */
struct elf_file {
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	bool is_elf;
	struct sym *syms;
	size_t nsyms;
	struct names names;
	struct load_seg *segs;
	size_t nsegs;
	struct elf_file *next;
};

struct mapping {
	unsigned long long start, end, pgoff;
	struct elf_file *file;		/* NULL: not a readable ELF */
	bool file_backed;		/* offsets are file offsets */
	bool exec;			/* mapped executable: code can run there */
	char *module;			/* basename, "[vdso]", "[anon]" */
};

struct proc {
	pid_t pid;
	struct mapping *maps;		/* sorted by start, disjoint */
	size_t nmaps;
	struct proc *next;
};

struct symbolizer {
	struct proc *procs;
	struct elf_file *files;
	/* kernel */
	int kstate;			/* 0 not loaded, 1 loaded, < 0 -errno */
	struct sym *ksyms;
	size_t nksyms;
	struct names knames;
};

/* ---- symbol tables ------------------------------------------------------------- */

static long names_add(struct names *n, const char *s)
{
	size_t len = strlen(s) + 1;

	if (n->len + len > UINT32_MAX)
		return -ENOMEM;
	if (n->len + len > n->cap) {
		size_t cap = n->cap ? n->cap : 4096;
		char *buf;

		while (cap < n->len + len)
			cap *= 2;
		buf = realloc(n->buf, cap);
		if (!buf)
			return -ENOMEM;
		n->buf = buf;
		n->cap = cap;
	}
	memcpy(n->buf + n->len, s, len);
	n->len += len;
	return (long)(n->len - len);
}

/* A symbol candidate while a table is read: the rank decides which name an
 * address gets when several symbols share it. */
struct cand {
	unsigned long long addr, size, limit;	/* limit: end of its section */
	uint32_t name;
	int rank;				/* lower is better */
};

static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank - y->rank;
	return x->name < y->name ? -1 : x->name > y->name;
}

/* Sorts the candidates, keeps the best one per address and sets each end:
 * its size if it has one, else the next symbol or the end of its section. */
static int finish_syms(struct cand *c, size_t n, struct sym **out, size_t *nout)
{
	struct sym *syms;
	size_t k = 0;

	*out = NULL;
	*nout = 0;
	if (!n)
		return 0;
	qsort(c, n, sizeof(*c), cand_cmp);
	syms = malloc(n * sizeof(*syms));
	if (!syms)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t next = i + 1;

		if (k && syms[k - 1].addr == c[i].addr)
			continue;		/* a worse name for the same address */
		while (next < n && c[next].addr == c[i].addr)
			next++;
		syms[k].addr = c[i].addr;
		syms[k].name = c[i].name;
		if (c[i].size)
			syms[k].end = c[i].addr + c[i].size;
		else
			syms[k].end = next < n && c[next].addr < c[i].limit ?
				      c[next].addr : c[i].limit;
		k++;
	}
	*out = syms;
	*nout = k;
	return 0;
}

/* The symbol covering addr, or NULL. */
static const struct sym *sym_find(const struct sym *syms, size_t n, unsigned long long addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {			/* first symbol above addr */
		size_t mid = lo + (hi - lo) / 2;

		if (syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || addr >= syms[lo - 1].end)
		return NULL;
	return &syms[lo - 1];
}

static void format_sym(const char *name, unsigned long long off, bool with_offset,
		       char *buf, size_t len)
{
	if (with_offset)
		snprintf(buf, len, "%s+0x%llx", name, off);
	else
		snprintf(buf, len, "%s", name);
}

/* ---- ELF files ----------------------------------------------------------------- */

static int rank_of(const GElf_Sym *sym, const char *name)
{
	int r = 0;

	if (!sym->st_size)
		r += 8;
	if (GELF_ST_TYPE(sym->st_info) == STT_NOTYPE)
		r += 4;
	if (GELF_ST_BIND(sym->st_info) == STB_LOCAL)
		r += 2;
	else if (GELF_ST_BIND(sym->st_info) == STB_WEAK)
		r += 1;
	/* "__GI_memcpy" and "memcpy": the public name */
	return r * 8 + (int)(strspn(name, "_") < 7 ? strspn(name, "_") : 7);
}

/* Reads the function symbols of one symbol table section. */
static int read_symtab(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, struct elf_file *ef,
		       struct cand **cands, size_t *ncands, size_t *cap)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t n = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;

	if (!data)
		return 0;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		GElf_Shdr tsh;
		Elf_Scn *tscn;
		const char *name;
		int type;
		long off;

		if (!gelf_getsym(data, (int)i, &sym))
			break;
		type = GELF_ST_TYPE(sym.st_info);
		if (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_NOTYPE)
			continue;
		if (sym.st_shndx == SHN_UNDEF || sym.st_shndx >= SHN_LORESERVE)
			continue;		/* imports, absolute values */
		tscn = elf_getscn(elf, sym.st_shndx);
		if (!tscn || !gelf_getshdr(tscn, &tsh) || !(tsh.sh_flags & SHF_EXECINSTR))
			continue;		/* NOTYPE labels in data */
		name = elf_strptr(elf, sh->sh_link, sym.st_name);
		/* "$x"/"$d": ARM mapping symbols; ".L": assembler locals */
		if (!name || !*name || name[0] == '$' || !strncmp(name, ".L", 2))
			continue;
		if (*ncands == *cap) {
			size_t ncap = *cap ? *cap * 2 : 1024;
			struct cand *c = realloc(*cands, ncap * sizeof(*c));

			if (!c)
				return -ENOMEM;
			*cands = c;
			*cap = ncap;
		}
		off = names_add(&ef->names, name);
		if (off < 0)
			return (int)off;
		(*cands)[(*ncands)++] = (struct cand){
			.addr = sym.st_value,
			.size = sym.st_size,
			.limit = tsh.sh_addr + tsh.sh_size,
			.name = (uint32_t)off,
			.rank = rank_of(&sym, name),
		};
	}
	return 0;
}

/* Reads program headers and the function symbols of an open ELF file.
 * Returns 0 (ef->is_elf says whether it was ELF), or -ENOMEM. */
static int elf_read(struct elf_file *ef, int fd)
{
	Elf *elf;
	Elf_Scn *scn = NULL, *symtab = NULL, *dynsym = NULL;
	GElf_Shdr sh, symsh;
	struct cand *cands = NULL;
	size_t ncands = 0, cap = 0, nph;
	int err = 0;

	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf)
		return 0;
	if (elf_kind(elf) != ELF_K_ELF || elf_getphdrnum(elf, &nph))
		goto out;
	ef->segs = calloc(nph ? nph : 1, sizeof(*ef->segs));
	if (!ef->segs) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD)
			ef->segs[ef->nsegs++] = (struct load_seg){
				.off = ph.p_offset, .filesz = ph.p_filesz, .vaddr = ph.p_vaddr,
			};
	}
	ef->is_elf = true;
	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB)
			symtab = scn;
		else if (sh.sh_type == SHT_DYNSYM)
			dynsym = scn;
	}
	/* .symtab holds .dynsym's functions and the local ones: the stripped
	 * libraries of a distribution have only .dynsym */
	scn = symtab ? symtab : dynsym;
	if (scn && gelf_getshdr(scn, &symsh))
		err = read_symtab(elf, scn, &symsh, ef, &cands, &ncands, &cap);
	if (!err)
		err = finish_syms(cands, ncands, &ef->syms, &ef->nsyms);
	free(cands);
out:
	elf_end(elf);
	return err;
}

static void elf_file_free(struct elf_file *ef)
{
	free(ef->syms);
	free(ef->names.buf);
	free(ef->segs);
	free(ef);
}

/* The symbols of the file open on fd: from the cache when this inode, at
 * this modification time, was read before. */
static int elf_file_get(struct symbolizer *s, int fd, struct elf_file **out)
{
	struct elf_file *ef;
	struct stat st;
	int err;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	for (ef = s->files; ef; ef = ef->next)
		if (ef->dev == st.st_dev && ef->ino == st.st_ino &&
		    ef->mtime.tv_sec == st.st_mtim.tv_sec &&
		    ef->mtime.tv_nsec == st.st_mtim.tv_nsec) {
			*out = ef;
			return 0;
		}
	ef = calloc(1, sizeof(*ef));
	if (!ef)
		return -ENOMEM;
	ef->dev = st.st_dev;
	ef->ino = st.st_ino;
	ef->mtime = st.st_mtim;
	err = elf_read(ef, fd);
	if (err) {
		elf_file_free(ef);
		return err;
	}
	ef->next = s->files;
	s->files = ef;
	*out = ef;
	return 0;
}

/* The ELF virtual address of a file offset, through the PT_LOAD headers:
 * what makes PIE and ASLR bases irrelevant. */
static bool file_off_to_vaddr(const struct elf_file *ef, unsigned long long off,
			      unsigned long long *vaddr)
{
	for (size_t i = 0; i < ef->nsegs; i++) {
		const struct load_seg *sg = &ef->segs[i];

		if (off >= sg->off && off - sg->off < sg->filesz) {
			*vaddr = off - sg->off + sg->vaddr;
			return true;
		}
	}
	return false;
}

/* ---- processes ----------------------------------------------------------------- */

struct symbolizer *symbolizer_new(void)
{
	if (elf_version(EV_CURRENT) == EV_NONE)
		return NULL;
	return calloc(1, sizeof(struct symbolizer));
}

static void maps_free(struct mapping *maps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(maps[i].module);
	free(maps);
}

void symbolizer_free(struct symbolizer *s)
{
	if (!s)
		return;
	while (s->procs) {
		struct proc *p = s->procs;

		s->procs = p->next;
		maps_free(p->maps, p->nmaps);
		free(p);
	}
	while (s->files) {
		struct elf_file *ef = s->files;

		s->files = ef->next;
		elf_file_free(ef);
	}
	free(s->ksyms);
	free(s->knames.buf);
	free(s);
}

static struct proc *proc_find(struct symbolizer *s, pid_t pid)
{
	for (struct proc *p = s->procs; p; p = p->next)
		if (p->pid == pid)
			return p;
	return NULL;
}

static struct proc *proc_get(struct symbolizer *s, pid_t pid)
{
	struct proc *p = proc_find(s, pid);

	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	p->next = s->procs;
	s->procs = p;
	return p;
}

static const char *module_name(const struct map_entry *e)
{
	const char *slash;

	if (!e->path[0])
		return "[anon]";
	slash = strrchr(e->path, '/');
	return slash && slash[1] ? slash + 1 : e->path;
}

static int open_mapped_file(pid_t pid, const struct map_entry *e)
{
	char path[PATH_MAX + 64];
	int fd;

	/* the very file mapped, even deleted or replaced since, even in another
	 * mount namespace (needs CAP_SYS_ADMIN)... */
	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)pid,
		 e->start, e->end);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 || e->deleted)
		return fd;
	/* ...else the path as the process sees it */
	snprintf(path, sizeof(path), "/proc/%d/root%s", (int)pid, e->path);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* Fills m from e; the file is read (from the cache if seen) only for
 * executable file-backed mappings: stack addresses are code. */
static int mapping_init(struct symbolizer *s, pid_t pid, const struct map_entry *e,
			struct mapping *m)
{
	m->start = e->start;
	m->end = e->end;
	m->pgoff = e->pgoff;
	m->file = NULL;
	m->file_backed = e->path[0] == '/';
	m->exec = e->perms[2] == 'x';
	m->module = strdup(module_name(e));
	if (!m->module)
		return -ENOMEM;
	if (m->file_backed && e->perms[2] == 'x') {
		int fd = open_mapped_file(pid, e), err = 0;

		if (fd >= 0) {
			err = elf_file_get(s, fd, &m->file);
			close(fd);
		}
		if (err == -ENOMEM)
			return err;
	}
	return 0;
}

static int mapping_cmp(const void *a, const void *b)
{
	const struct mapping *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

int symbolizer_load_process(struct symbolizer *s, pid_t pid)
{
	char path[64], *line = NULL;
	size_t cap = 0, n = 0, mcap = 0;
	struct mapping *maps = NULL;
	struct map_entry *e;
	struct proc *p;
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	e = malloc(sizeof(*e));
	if (!e) {
		fclose(f);
		return -ENOMEM;
	}
	while (getline(&line, &cap, f) > 0) {
		if (maps_parse_line(line, e))
			continue;		/* the kernel writes none: be lenient */
		if (n == mcap) {
			size_t ncap = mcap ? mcap * 2 : 64;
			struct mapping *m = realloc(maps, ncap * sizeof(*m));

			if (!m) {
				err = -ENOMEM;
				break;
			}
			maps = m;
			mcap = ncap;
		}
		err = mapping_init(s, pid, e, &maps[n]);
		if (err)
			break;
		n++;
	}
	free(line);
	free(e);
	fclose(f);
	if (!err && !n)
		err = -ESRCH;			/* a zombie, or exited meanwhile */
	if (!err && !(p = proc_get(s, pid)))
		err = -ENOMEM;
	if (err) {
		maps_free(maps, n);
		return err;
	}
	maps_free(p->maps, p->nmaps);
	p->maps = maps;
	p->nmaps = n;
	return 0;
}

int symbolizer_add_file(struct symbolizer *s, pid_t pid, const char *path,
			unsigned long long start, unsigned long long end,
			unsigned long long pgoff)
{
	struct map_entry *e;
	struct mapping m, *maps;
	struct proc *p;
	int fd, err;

	if (start >= end)
		return -EINVAL;
	if (strlen(path) >= sizeof(e->path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	e = calloc(1, sizeof(*e));
	if (!e) {
		close(fd);
		return -ENOMEM;
	}
	e->start = start;
	e->end = end;
	e->pgoff = pgoff;
	strcpy(e->path, path);
	m = (struct mapping){ .start = start, .end = end, .pgoff = pgoff, .file_backed = true,
			      .exec = true };
	m.module = strdup(module_name(e));
	free(e);
	err = m.module ? elf_file_get(s, fd, &m.file) : -ENOMEM;
	close(fd);
	if (err == -EINVAL)			/* not a regular file: module+offset */
		err = 0;
	p = err ? NULL : proc_get(s, pid);
	maps = p ? realloc(p->maps, (p->nmaps + 1) * sizeof(*maps)) : NULL;
	if (!maps) {
		free(m.module);
		return err ? err : -ENOMEM;
	}
	maps[p->nmaps++] = m;
	p->maps = maps;
	qsort(p->maps, p->nmaps, sizeof(*p->maps), mapping_cmp);
	return 0;
}

static const struct mapping *mapping_find(const struct proc *p, unsigned long long addr)
{
	size_t lo = 0, hi = p->nmaps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->maps[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || addr >= p->maps[lo - 1].end)
		return NULL;
	return &p->maps[lo - 1];
}

/* The mapping of addr in pid, loading the pid's maps on first use. */
static const struct mapping *user_mapping(struct symbolizer *s, pid_t pid,
					  unsigned long long addr)
{
	struct proc *p = proc_find(s, pid);

	if (!p && symbolizer_load_process(s, pid))
		p = proc_get(s, pid);		/* gone: no mappings, no retry */
	else if (!p)
		p = proc_find(s, pid);
	return p ? mapping_find(p, addr) : NULL;
}

bool symbolize_user_is_text(struct symbolizer *s, pid_t pid, unsigned long long addr)
{
	const struct mapping *m = user_mapping(s, pid, addr);

	return m && m->exec;
}

const char *symbolize_user(struct symbolizer *s, pid_t pid, unsigned long long addr,
			   bool with_offset, char *buf, size_t len)
{
	const struct mapping *m;
	unsigned long long off, vaddr;

	if (!buf || !len)
		return UNKNOWN_FRAME;
	m = user_mapping(s, pid, addr);
	if (!m) {
		snprintf(buf, len, UNKNOWN_FRAME);
		return buf;
	}
	if (!m->file_backed) {
		snprintf(buf, len, "%s+0x%llx", m->module, addr - m->start);
		return buf;
	}
	off = addr - m->start + m->pgoff;
	if (m->file && m->file->is_elf && file_off_to_vaddr(m->file, off, &vaddr)) {
		const struct sym *sym = sym_find(m->file->syms, m->file->nsyms, vaddr);

		if (sym) {
			format_sym(m->file->names.buf + sym->name, vaddr - sym->addr,
				   with_offset, buf, len);
			return buf;
		}
		off = vaddr;
	}
	snprintf(buf, len, "%s+0x%llx", m->module, off);
	return buf;
}

/* ---- kernel -------------------------------------------------------------------- */

static int ksym_rank(const char *name)
{
	/* "_text" and "srso_alias_untrain_ret" share an address: the one
	 * without leading underscores reads better */
	size_t u = strspn(name, "_");

	return u < 7 ? (int)u : 7;
}

int symbolizer_load_kallsyms(struct symbolizer *s, const char *path)
{
	struct cand *cands = NULL;
	size_t n = 0, cap = 0, lcap = 0;
	struct names names = { 0 };
	bool any_addr = false;
	char *line = NULL;
	int err = 0;
	FILE *f;

	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (getline(&line, &lcap, f) > 0) {
		unsigned long long addr;
		char type, name[256];
		long off;

		/* "ffffffff81000000 T _text" then maybe "\t[module]" */
		if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3)
			continue;
		if (!strchr("tTwW", type))
			continue;		/* data, absolute values */
		if (addr)
			any_addr = true;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			struct cand *c = realloc(cands, ncap * sizeof(*c));

			if (!c) {
				err = -ENOMEM;
				break;
			}
			cands = c;
			cap = ncap;
		}
		off = names_add(&names, name);
		if (off < 0) {
			err = (int)off;
			break;
		}
		cands[n++] = (struct cand){
			.addr = addr, .limit = ~0ULL, .name = (uint32_t)off,
			.rank = ksym_rank(name),
		};
	}
	free(line);
	fclose(f);
	if (!err && !any_addr)
		err = -ENODATA;
	free(s->ksyms);
	free(s->knames.buf);
	s->ksyms = NULL;
	s->nksyms = 0;
	s->knames = (struct names){ 0 };
	if (!err)
		err = finish_syms(cands, n, &s->ksyms, &s->nksyms);
	free(cands);
	if (err) {
		free(names.buf);
		s->kstate = err;
		return err;
	}
	for (size_t i = 0; i < s->nksyms; i++)	/* no size in kallsyms: bound it */
		if (s->ksyms[i].end - s->ksyms[i].addr > KSYM_MAX_SPAN)
			s->ksyms[i].end = s->ksyms[i].addr + KSYM_MAX_SPAN;
	s->knames = names;
	s->kstate = 1;
	return 0;
}

const char *symbolize_kernel(struct symbolizer *s, unsigned long long addr,
			     bool with_offset, char *buf, size_t len)
{
	const struct sym *sym;

	if (!buf || !len)
		return UNKNOWN_FRAME;
	if (!s->kstate) {
		int err = symbolizer_load_kallsyms(s, "/proc/kallsyms");

		if (err == -ENODATA)
			fprintf(stderr, "conctrace: /proc/kallsyms hides kernel addresses "
				"(kernel.kptr_restrict, or no CAP_SYSLOG): kernel frames "
				"will be [unknown]\n");
		else if (err)
			fprintf(stderr, "conctrace: cannot read /proc/kallsyms: %s: kernel "
				"frames will be [unknown]\n", strerror(-err));
	}
	sym = s->kstate > 0 ? sym_find(s->ksyms, s->nksyms, addr) : NULL;
	if (!sym)
		snprintf(buf, len, UNKNOWN_FRAME);
	else
		format_sym(s->knames.buf + sym->name, addr - sym->addr, with_offset, buf, len);
	return buf;
}
