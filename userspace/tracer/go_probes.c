// SPDX-License-Identifier: MIT
/*
 * Go's channels, through the uprobes of bpf/progs/runtimes.bpf.h, at the
 * entry of runtime.chanparkcommit (a goroutine parks on a channel),
 * runtime.recv (a receive takes a parked sender's value) and runtime.send
 * (a send hands its value to a parked receiver); never at a
 * return: Go moves goroutine stacks, which a uretprobe's rewritten return
 * address does not survive. Channel operations that neither park nor
 * find a sender parked run no probe. Only in a Go binary (it has
 * .go.buildinfo) for
 * amd64's register ABI (go1.17 on), whose runtime's channel layout is one
 * known here: what the receive side reads is found by offset, so another
 * layout, or a binary without its symbol table (go build -ldflags=-s),
 * is said in one warning line and not probed.
 */
#include "tracer/go_probes.h"

#include <gelf.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "conctrace.skel.h"
#include "host/elf_sections.h"
#include "tracer/libbpf_log.h"
#include "tracer/plan.h"

/* the figure a run goes without (programs.c names it for the program) */
#define GO_PROG "on_go_chan_recv"

/*
 * Offsets on amd64 of hchan.dataqsiz, sudog.isSelect and sudog.c, by Go
 * minor version, and the register ABI (go1.17 on) the probes read their
 * arguments by. go1.17-go1.22: hchan is {qcount, dataqsiz, buf,
 * elemsize uint16, closed uint32, elemtype, sendx, recvx, recvq, sendq,
 * lock}, sudog {g, next, prev, elem, acquiretime, releasetime, ticket
 * uint32, isSelect, success, ..., parent, waitlink, waittail, c}: read in
 * Debian's go-1.19 source (runtime/chan.go, runtime2.go) and checked by
 * the test on its go1.19 build; the neighbouring versions' are upstream's
 * same declarations. go1.23 puts a timer in hchan before elemtype: not
 * listed until it is checked. BPF checks every sudog it reads points back
 * to its channel (sudog.c), so a layout wrong here misses, rather than
 * naming a wrong connection.
 */
static const struct go_layout {
	int first_minor, last_minor;
	__u32 chan_size, sudog_select, sudog_chan;
	/* g.m, g.lockedm, m.procid; 0: goroutines not followed, runtime.send
	 * not probed (bpf/lib/goroutines.bpf.h, progs/runtimes.bpf.h) */
	__u32 g_m, g_lockedm, m_procid;
} layouts[] = {
	{ 17, 18, 8, 52, 80, 0, 0, 0 },
	/* read in go1.19's DWARF (Debian's golang-go build of the test's
	 * servers); the fields before g.lockedm changed between versions:
	 * listed for go1.19 alone until others are checked */
	{ 19, 19, 8, 52, 80, 48, 232, 72 },
	{ 20, 22, 8, 52, 80, 0, 0, 0 },
};

/* The bytes at virtual address va in elf, len of them, or NULL. */
static const unsigned char *at_address(Elf *elf, __u64 va, size_t len)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *data;
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS ||
		    !(sh.sh_flags & SHF_ALLOC) || va < sh.sh_addr ||
		    va + len > sh.sh_addr + sh.sh_size || !(data = elf_getdata(scn, NULL)) ||
		    va - sh.sh_addr + len > data->d_size)
			continue;
		return (const unsigned char *)data->d_buf + (va - sh.sh_addr);
	}
	return NULL;
}

static __u64 read_ptr(const unsigned char *p, int size)
{
	__u64 v = 0;

	for (int i = size - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/*
 * The Go version the binary was built with ("go1.19.8"), from its
 * .go.buildinfo section: 14 bytes of magic, the pointer size, flags;
 * from go1.18 (flags bit 1) the version string follows at 32, its length
 * a varint; before, at 16, a pointer to runtime.buildVersion (a string
 * header: data, length). False if exe is not a Go binary.
 */
static bool go_version(Elf *elf, char *out, size_t len)
{
	static const char magic[] = "\xff Go buildinf:";
	const unsigned char *b = NULL, *s = NULL;
	Elf_Scn *scn = NULL;
	size_t shstrndx, n = 0, size = 0;
	int ptr;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return false;
	while (!b && (scn = elf_nextscn(elf, scn))) {
		Elf_Data *data;
		GElf_Shdr sh;
		const char *name;

		if (gelf_getshdr(scn, &sh) && (name = elf_strptr(elf, shstrndx, sh.sh_name)) &&
		    !strcmp(name, ".go.buildinfo") && (data = elf_getdata(scn, NULL)) &&
		    data->d_size >= 48 && !memcmp(data->d_buf, magic, 14)) {
			b = data->d_buf;
			size = data->d_size;
		}
	}
	if (!b)
		return false;
	out[0] = '\0';
	ptr = b[14];
	if (b[15] & 2) {	/* the string inline */
		unsigned int shift = 0;
		size_t i = 32;

		for (; i < size && shift < 35; i++, shift += 7) {
			n |= (size_t)(b[i] & 0x7f) << shift;
			if (!(b[i] & 0x80))
				break;
		}
		s = i + 1 + n <= size ? b + i + 1 : NULL;
	} else if ((ptr == 4 || ptr == 8) && !(b[15] & 1)) {	/* little-endian pointers */
		const unsigned char *hdr = at_address(elf, read_ptr(b + 16, ptr), 2 * (size_t)ptr);

		if (hdr) {
			n = read_ptr(hdr + ptr, ptr);
			s = n < 64 ? at_address(elf, read_ptr(hdr, ptr), n) : NULL;
		}
	}
	if (s)
		snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), s);
	return true;
}

static const struct go_layout *layout_of(const char *version)
{
	int major, minor;

	/* go1.N or go1.N.P; "devel ..." and other forms are no release's */
	if (sscanf(version, "go%d.%d", &major, &minor) != 2 || major != 1)
		return NULL;
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (layouts[i].first_minor <= minor && minor <= layouts[i].last_minor)
			return &layouts[i];
	return NULL;
}

/*
 * Where to probe func, past its start: 0, or 4 where it opens with the
 * register ABI's stack check, CMPQ SP, 16(R14) (49 3b 66 10), and a JBE
 * (76 rel8 or 0f 86 rel32) to the stack's growth. A uprobe on the CMP
 * steps it out of line, a second trap: on this development VM (6.18) a
 * round trip of two unbuffered sends, two parks, took 29-45 us so and
 * 2.2-4.4 us on the JBE, which the kernel emulates (0.2-0.3 unprobed). The registers are the entry's still (a CMP sets flags
 * only); a call that grows its stack comes back to the start, and the
 * probe sees it twice, which both programs shrug off (the same entry
 * written, the same hand-off taken). -1: func is not in the symbol table.
 */
static int probe_skip(Elf *elf, const char *func)
{
	static const unsigned char cmp[] = { 0x49, 0x3b, 0x66, 0x10 };
	Elf_Scn *scn = NULL;
	Elf_Data *data;
	GElf_Shdr sh;

	while ((data = elf_next_section(elf, &scn, SHT_SYMTAB, &sh))) {
		GElf_Sym sym;

		for (size_t i = 0; gelf_getsym(data, (int)i, &sym); i++) {
			const char *name = elf_strptr(elf, sh.sh_link, sym.st_name);
			const unsigned char *code;

			if (!name || strcmp(name, func) || GELF_ST_TYPE(sym.st_info) != STT_FUNC)
				continue;
			code = at_address(elf, sym.st_value, 6);
			return code && !memcmp(code, cmp, 4) &&
			       (code[4] == 0x76 || (code[4] == 0x0f && code[5] == 0x86)) ? 4 : 0;
		}
	}
	return -1;
}

static struct bpf_link *probe(struct bpf_program *prog, const char *path, const char *func,
			      int skip)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = func);

	return bpf_program__attach_uprobe_opts(prog, -1, path, (size_t)skip, &opts);
}

bool go_binary(const char *exe)
{
	char version[64];
	bool go = false;
	Elf *elf;
	int fd;

	if (!exe || !(elf = elf_open_path(exe, &fd)))
		return false;
	go = go_version(elf, version, sizeof(version));
	elf_close_path(elf, fd);
	return go;
}

void go_probes_attach(struct tracer *t, const char *exe)
{
	struct conctrace_bpf__bss *bss = t->skel->bss;
	int park_skip = -1, recv_skip = -1, send_skip = -1;
	const struct go_layout *l = NULL;
	struct bpf_link *park, *recv, *send = NULL;
	char version[64], why[256];
	bool go = false;
	GElf_Ehdr eh;
	Elf *elf;
	int fd;

	if (!exe || !bpf_program__autoload(t->skel->progs.on_go_chan_recv) ||
	    !bpf_program__autoload(t->skel->progs.on_go_chan_park))
		return;	/* refused by this kernel: plan_programs said so */
	if (!(elf = elf_open_path(exe, &fd)))
		return;
	if (gelf_getehdr(elf, &eh))
		go = go_version(elf, version, sizeof(version));
	if (go && eh.e_machine == EM_X86_64 && (l = layout_of(version))) {
		park_skip = probe_skip(elf, "runtime.chanparkcommit");
		recv_skip = probe_skip(elf, "runtime.recv");
		send_skip = probe_skip(elf, "runtime.send");
	}
	elf_close_path(elf, fd);
	if (!go)
		return;	/* not Go: the common case, said nowhere */
	if (!l) {
		snprintf(why, sizeof(why), "%s built with %s%s: its runtime's channel layout is "
			 "not one conctrace knows (go1.17-go1.22 on x86-64)", exe,
			 version[0] ? version : "an unknown Go version",
			 eh.e_machine != EM_X86_64 ? " not for x86-64" : "");
		plan_drop(t, GO_PROG, why);
		return;
	}
	bss->go_chan_size_off = l->chan_size;
	bss->go_sudog_select_off = l->sudog_select;
	bss->go_sudog_chan_off = l->sudog_chan;
	bss->go_m_procid_off = l->m_procid;
	bss->go_g_m_off = l->g_m;	/* goroutines followed from here on */
	/* the parks first: a receive that finds none recorded misses, no more */
	park = park_skip < 0 || recv_skip < 0 ? NULL :
		probe(t->skel->progs.on_go_chan_park, exe, "runtime.chanparkcommit", park_skip);
	recv = park ? probe(t->skel->progs.on_go_chan_recv, exe, "runtime.recv", recv_skip) : NULL;
	/* a failed attach leaves libbpf's complaint: the line below says it */
	libbpf_log_clear();
	if (!park || !recv) {
		bpf_link__destroy(park);
		bss->go_sudog_chan_off = 0;
		bss->go_g_m_off = 0;
		snprintf(why, sizeof(why), "%s (%s): %s", exe, version,
			 park_skip < 0 || recv_skip < 0 ?
			 "runtime.chanparkcommit or runtime.recv not in its symbol table "
			 "(built with -ldflags=-s?)" : "the kernel refused the uprobes");
		plan_drop(t, GO_PROG, why);
		return;
	}
	t->go_links[0] = park;
	t->go_links[1] = recv;
	/* the sends to a locked receiver: where this version's g and m are
	 * known, and the program loaded */
	if (l->g_lockedm && send_skip >= 0 &&
	    bpf_program__autoload(t->skel->progs.on_go_chan_send)) {
		bss->go_g_lockedm_off = l->g_lockedm;
		send = probe(t->skel->progs.on_go_chan_send, exe, "runtime.send", send_skip);
		libbpf_log_clear();
		if (!send)
			bss->go_g_lockedm_off = 0;
	}
	if (!send && bpf_program__autoload(t->skel->progs.on_go_chan_send)) {
		snprintf(why, sizeof(why), "%s (%s): %s", exe, version,
			 !l->g_lockedm ? "its runtime's g and m layout is not one conctrace knows "
			 "(go1.19 on x86-64)" : send_skip < 0 ? "runtime.send not in its symbol table" :
			 "the kernel refused the uprobe");
		plan_drop(t, "on_go_chan_send", why);
	}
	t->go_links[2] = send;
}

void go_probes_detach(struct tracer *t)
{
	tracer_links_destroy(t->go_links, 3);
}
