/* SPDX-License-Identifier: MIT */
/* Human-readable figures and addresses for reports. Pure, unit-tested. */
#ifndef CONCTRACE_FORMAT_H
#define CONCTRACE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "conctrace.h"

/* "812ns", "12.3us", "4.56ms", "1.23s" */
char *fmt_ns(double ns, char *buf, size_t len);
/* "512B", "3.9KiB", "1.2MiB" */
char *fmt_bytes(double bytes, char *buf, size_t len);
/* "1234", "12.3k", "4.5M" */
char *fmt_count(double n, char *buf, size_t len);

/* "127.0.0.1:8090", "[::1]:8090", "/tmp/s.sock", "socket:[123]";
 * local or remote end of c; a Unix connection's local end is unix_path
 * (struct conn_view's, "" if it has none). Control characters in a path
 * are '?'. */
char *fmt_conn_addr(const struct conn *c, const char *unix_path, bool local, char *buf,
		    size_t len);
/* Length of the valid UTF-8 character at s that XML 1.0 accepts (tab,
 * but no other control character), or 0: how every output that must be
 * text (folded, SVG, JSON, Prometheus) tells a character from a byte to
 * replace, since what the target names (symbols, paths) is any bytes. */
size_t fmt_utf8_len(const char *s);

/* "tcp4", "tcp6", "unix" */
const char *fmt_family(__u16 family);

#endif /* CONCTRACE_FORMAT_H */
