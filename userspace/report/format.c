// SPDX-License-Identifier: MIT
/* Human-readable figures and addresses (see format.h). */
#include "report/format.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

char *fmt_ns(double ns, char *buf, size_t len)
{
	/* compare with the boundaries after rounding: 999999 ns is "1.00ms" */
	if (ns < 999.5)
		snprintf(buf, len, "%.0fns", ns);
	else if (ns < 999950)
		snprintf(buf, len, "%.1fus", ns / 1e3);
	else if (ns < 999995000)
		snprintf(buf, len, "%.2fms", ns / 1e6);
	else
		snprintf(buf, len, "%.2fs", ns / 1e9);
	return buf;
}

char *fmt_bytes(double b, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (b >= (u ? 1023.95 : 1023.5) && u < 4) {	/* rounding, as above */
		b /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f%s" : "%.0f%s", b, unit[u]);
	return buf;
}

char *fmt_count(double n, char *buf, size_t len)
{
	if (n > 0 && n < 0.005)
		snprintf(buf, len, "<0.01");	/* not "0.0": a few connections did it */
	else if (n > 0 && n < 0.95 && n != (double)(long long)n)
		snprintf(buf, len, "%.2g", n);	/* two figures: 0.02, not 0.0 */
	else if (n < 9999.95)
		snprintf(buf, len, n == (double)(long long)n ? "%.0f" : "%.1f", n);
	else if (n < 999950)
		snprintf(buf, len, "%.1fk", n / 1e3);
	else if (n < 999950000)
		snprintf(buf, len, "%.1fM", n / 1e6);
	else
		snprintf(buf, len, "%.1fG", n / 1e9);
	return buf;
}

const char *fmt_family(__u16 family)
{
	switch (family) {
	case AF_INET: return "tcp4";
	case AF_INET6: return "tcp6";
	case AF_UNIX: return "unix";
	}
	return "other";
}

size_t fmt_utf8_len(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t cp;
	size_t n;

	if (s[0] < 0x80)
		return s[0] >= 0x20 || s[0] == '\t' ? 1 : 0;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
		return 0;		/* overlong, surrogate, not a character */
	return n;
}

char *fmt_conn_addr(const struct conn *c, const char *unix_path, bool local, char *buf,
		    size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	const __u8 *addr = local ? c->laddr : c->raddr;
	unsigned port = local ? c->lport : c->rport;

	switch (c->family) {
	case AF_INET:
		inet_ntop(AF_INET, addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, port);
		break;
	case AF_INET6:
		inet_ntop(AF_INET6, addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, port);
		break;
	case AF_UNIX:
		if (local && unix_path && unix_path[0]) {
			/* the target chose it: no escape sequence of its
			 * reaches a terminal (--top, the text report) */
			snprintf(buf, len, "%.*s", CONN_UNIX_PATH, unix_path);
			for (char *p = buf; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					*p = '?';
		} else if (local)
			snprintf(buf, len, "-");	/* unnamed, or abstract */
		else if (c->unix_peer)
			snprintf(buf, len, "socket:[%llu]", (unsigned long long)c->unix_peer);
		else
			snprintf(buf, len, "-");
		break;
	default:
		snprintf(buf, len, "?");
	}
	return buf;
}
