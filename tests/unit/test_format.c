// SPDX-License-Identifier: MIT
/*
 * Unit tests for the human-readable figures and addresses of the reports
 * (userspace/report/format.c): unit boundaries of fmt_ns, fmt_bytes and fmt_count,
 * addresses of every family, truncation into small buffers.
 *
 * Build and run:  make build/tests/test_format && build/tests/test_format
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "report/format.h"

/* ---- helpers --------------------------------------------------------------- */

static void check_ns(double ns, const char *want)
{
	char buf[32];

	assert_string_equal(fmt_ns(ns, buf, sizeof(buf)), want);
}

static void check_bytes(double b, const char *want)
{
	char buf[32];

	assert_string_equal(fmt_bytes(b, buf, sizeof(buf)), want);
}

static void check_count(double n, const char *want)
{
	char buf[32];

	assert_string_equal(fmt_count(n, buf, sizeof(buf)), want);
}

static struct conn conn_inet(const char *lip, unsigned lport, const char *rip, unsigned rport)
{
	struct conn c;

	memset(&c, 0, sizeof(c));
	c.family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, lip, c.laddr), 1);
	assert_int_equal(inet_pton(AF_INET, rip, c.raddr), 1);
	c.lport = (__u16)lport;
	c.rport = (__u16)rport;
	return c;
}

static struct conn conn_inet6(const char *lip, unsigned lport, const char *rip, unsigned rport)
{
	struct conn c;

	memset(&c, 0, sizeof(c));
	c.family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, lip, c.laddr), 1);
	assert_int_equal(inet_pton(AF_INET6, rip, c.raddr), 1);
	c.lport = (__u16)lport;
	c.rport = (__u16)rport;
	return c;
}

static void check_path_addr(const struct conn *c, const char *unix_path, bool local,
			    const char *want)
{
	char buf[128];

	memset(buf, 'X', sizeof(buf));
	assert_ptr_equal(fmt_conn_addr(c, unix_path, local, buf, sizeof(buf)), buf);
	assert_string_equal(buf, want);
}

static void check_addr(const struct conn *c, bool local, const char *want)
{
	char buf[128];

	memset(buf, 'X', sizeof(buf));
	assert_ptr_equal(fmt_conn_addr(c, NULL, local, buf, sizeof(buf)), buf);
	assert_string_equal(buf, want);
}

/* ---- fmt_ns ------------------------------------------------------------------ */

static void test_fmt_ns_unit_boundaries(void **state)
{
	(void)state;
	check_ns(0, "0ns");
	check_ns(812, "812ns");
	check_ns(999, "999ns");
	check_ns(1000, "1.0us");
	check_ns(12345, "12.3us");
	check_ns(999000, "999.0us");
	check_ns(1e6, "1.00ms");
	check_ns(1.5e6, "1.50ms");
	check_ns(4.56e6, "4.56ms");
	check_ns(999e6, "999.00ms");
	check_ns(1e9, "1.00s");
	check_ns(2e9, "2.00s");
	check_ns(3600e9, "3600.00s");
}

static void test_fmt_ns_returns_buf(void **state)
{
	char buf[16];

	(void)state;
	assert_ptr_equal(fmt_ns(5, buf, sizeof(buf)), buf);
}

/* values that round up to the next unit must be shown in that unit */
static void test_fmt_ns_rounding_up_to_next_unit(void **state)
{
	(void)state;
	check_ns(999999, "1.00ms");	/* prints "1000.0us" */
	check_ns(999999999, "1.00s");	/* prints "1000.00ms" */
	check_ns(999.7, "1.0us");	/* a mean; prints "1000ns" */
}

/* ---- fmt_bytes --------------------------------------------------------------- */

static void test_fmt_bytes_unit_boundaries(void **state)
{
	(void)state;
	check_bytes(0, "0B");
	check_bytes(512, "512B");
	check_bytes(1023, "1023B");
	check_bytes(1024, "1.0KiB");
	check_bytes(1536, "1.5KiB");
	check_bytes(4000, "3.9KiB");
	check_bytes(1024.0 * 1024, "1.0MiB");
	check_bytes(1.2 * 1024 * 1024, "1.2MiB");
	check_bytes(1024.0 * 1024 * 1024, "1.0GiB");
	check_bytes(1024.0 * 1024 * 1024 * 1024, "1.0TiB");
	/* TiB is the last unit: it keeps counting */
	check_bytes(2048.0 * 1024 * 1024 * 1024 * 1024, "2048.0TiB");
}

static void test_fmt_bytes_rounding_up_to_next_unit(void **state)
{
	(void)state;
	check_bytes(1048575, "1.0MiB");	/* prints "1024.0KiB" */
	check_bytes(1023.6, "1.0KiB");	/* a mean; prints "1024B" */
}

/* ---- fmt_count --------------------------------------------------------------- */

static void test_fmt_count_integers_and_fractions(void **state)
{
	(void)state;
	check_count(0, "0");
	check_count(7, "7");
	check_count(1234, "1234");
	check_count(9999, "9999");
	check_count(2.5, "2.5");	/* averages per connection are fractions */
	check_count(0.333, "0.33");
	check_count(12.34, "12.3");
	/* a mean per connection below 0.05 is not "0.0" (issue 19, row 13) */
	check_count(0.02, "0.02");
	check_count(0.0499, "0.05");
	check_count(0.002, "<0.01");
	check_count(0.96, "1.0");
}

static void test_fmt_count_k_m_g(void **state)
{
	(void)state;
	check_count(10000, "10.0k");
	check_count(12345, "12.3k");
	check_count(999000, "999.0k");
	check_count(1e6, "1.0M");
	check_count(4.5e6, "4.5M");
	check_count(1e9, "1.0G");
	check_count(2.5e10, "25.0G");
}

static void test_fmt_count_rounding_up_to_next_unit(void **state)
{
	(void)state;
	check_count(999999, "1.0M");		/* prints "1000.0k" */
	check_count(9999.97, "10.0k");		/* a mean; prints "10000.0" */
}

/* ---- fmt_conn_addr ----------------------------------------------------------- */

static void test_fmt_conn_addr_inet(void **state)
{
	struct conn c = conn_inet("127.0.0.1", 8090, "10.1.2.3", 54321);

	(void)state;
	check_addr(&c, true, "127.0.0.1:8090");
	check_addr(&c, false, "10.1.2.3:54321");
}

static void test_fmt_conn_addr_inet_port_extremes(void **state)
{
	struct conn c = conn_inet("0.0.0.0", 0, "255.255.255.255", 65535);

	(void)state;
	check_addr(&c, true, "0.0.0.0:0");
	check_addr(&c, false, "255.255.255.255:65535");
}

static void test_fmt_conn_addr_inet6(void **state)
{
	struct conn c = conn_inet6("::1", 8090, "2001:db8::42", 40000);
	struct conn m = conn_inet6("::ffff:10.0.0.1", 80, "fe80::1:2:3:4", 1);

	(void)state;
	check_addr(&c, true, "[::1]:8090");
	check_addr(&c, false, "[2001:db8::42]:40000");
	check_addr(&m, true, "[::ffff:10.0.0.1]:80");
	check_addr(&m, false, "[fe80::1:2:3:4]:1");
}

static void test_fmt_conn_addr_unix(void **state)
{
	struct conn c;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.family = AF_UNIX;
	c.unix_addr = 0xffff888012345678ull;	/* the path's key: BPF's */
	c.unix_peer = 123456;
	c.lport = 99;		/* ports mean nothing for AF_UNIX */
	check_path_addr(&c, "/tmp/s.sock", true, "/tmp/s.sock");
	check_path_addr(&c, "/tmp/s.sock", false, "socket:[123456]");
	/* unnamed, abstract, or a path the map no longer has */
	check_path_addr(&c, "", true, "-");
	check_addr(&c, true, "-");

	c.unix_peer = 0;	/* peer gone or never known */
	check_addr(&c, false, "-");

	/* the target names its socket: no escape sequence for a terminal */
	check_path_addr(&c, "/tmp/\x1b]0;owned\x07\n\x7f.sock", true, "/tmp/?]0;owned???.sock");
}

/* a path that fills sun_path has no NUL of its own: at most the field */
static void test_fmt_conn_addr_unix_full_path_stops_at_field_end(void **state)
{
	struct conn c;
	char path[CONN_UNIX_PATH + 8];
	char want[CONN_UNIX_PATH + 1];
	char buf[CONN_UNIX_PATH + 64];

	(void)state;
	memset(&c, 0, sizeof(c));
	c.family = AF_UNIX;
	memset(path, 'a', CONN_UNIX_PATH);
	memset(path + CONN_UNIX_PATH, 'A', 7);	/* past the field: not shown */
	path[CONN_UNIX_PATH + 7] = '\0';
	memset(want, 'a', CONN_UNIX_PATH);
	want[CONN_UNIX_PATH] = '\0';
	assert_string_equal(fmt_conn_addr(&c, path, true, buf, sizeof(buf)), want);
}

static void test_fmt_conn_addr_unknown_family(void **state)
{
	struct conn c = conn_inet("1.2.3.4", 1, "5.6.7.8", 2);

	(void)state;
	c.family = AF_PACKET;
	check_addr(&c, true, "?");
	check_addr(&c, false, "?");
}

static void test_fmt_conn_addr_truncates_to_buffer(void **state)
{
	struct conn c = conn_inet6("2001:db8::42", 8090, "::1", 1);
	char buf[12 + 4];

	(void)state;
	memset(buf, 'X', sizeof(buf));
	fmt_conn_addr(&c, NULL, true, buf, 12);
	assert_string_equal(buf, "[2001:db8::");	/* 11 characters and the NUL */
	assert_memory_equal(buf + 12, "XXXX", 4);	/* nothing written past len */
}

/* ---- fmt_family -------------------------------------------------------------- */

static void test_fmt_family(void **state)
{
	(void)state;
	assert_string_equal(fmt_family(AF_INET), "tcp4");
	assert_string_equal(fmt_family(AF_INET6), "tcp6");
	assert_string_equal(fmt_family(AF_UNIX), "unix");
	assert_string_equal(fmt_family(AF_UNSPEC), "other");
	assert_string_equal(fmt_family(AF_NETLINK), "other");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fmt_ns_unit_boundaries),
		cmocka_unit_test(test_fmt_ns_returns_buf),
		cmocka_unit_test(test_fmt_ns_rounding_up_to_next_unit),
		cmocka_unit_test(test_fmt_bytes_unit_boundaries),
		cmocka_unit_test(test_fmt_bytes_rounding_up_to_next_unit),
		cmocka_unit_test(test_fmt_count_integers_and_fractions),
		cmocka_unit_test(test_fmt_count_k_m_g),
		cmocka_unit_test(test_fmt_count_rounding_up_to_next_unit),
		cmocka_unit_test(test_fmt_conn_addr_inet),
		cmocka_unit_test(test_fmt_conn_addr_inet_port_extremes),
		cmocka_unit_test(test_fmt_conn_addr_inet6),
		cmocka_unit_test(test_fmt_conn_addr_unix),
		cmocka_unit_test(test_fmt_conn_addr_unix_full_path_stops_at_field_end),
		cmocka_unit_test(test_fmt_conn_addr_unknown_family),
		cmocka_unit_test(test_fmt_conn_addr_truncates_to_buffer),
		cmocka_unit_test(test_fmt_family),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
