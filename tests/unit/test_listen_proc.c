// SPDX-License-Identifier: MIT
/* Listeners from /proc/net/{tcp,tcp6,unix} lines (light mode's --load). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/socket.h>

#include "host/listen_proc.h"

static void test_tcp4_listener(void **state)
{
	struct listen_event ev;
	unsigned long ino = 0;
	const __u8 loopback[4] = { 127, 0, 0, 1 };

	(void)state;
	assert_true(parse_tcp_listener("   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 "
				       "00:00000000 00000000     0        0 123456 1 0000000000000000 "
				       "100 0 0 10 0\n", false, &ino, &ev));
	assert_int_equal(ino, 123456);
	assert_int_equal(ev.family, AF_INET);
	assert_int_equal(ev.port, 8080);
	assert_memory_equal(ev.addr, loopback, 4);
}

static void test_tcp6_listener(void **state)
{
	struct listen_event ev;
	unsigned long ino = 0;
	__u8 want[16] = { 0 };

	(void)state;
	want[15] = 1;	/* ::1 */
	assert_true(parse_tcp_listener("   1: 00000000000000000000000001000000:9C47 "
				       "00000000000000000000000000000000:0000 0A 00000000:00000000 "
				       "00:00000000 00000000     0        0 77 1 0000000000000000 100 0 0 10 0\n",
				       true, &ino, &ev));
	assert_int_equal(ino, 77);
	assert_int_equal(ev.family, AF_INET6);
	assert_int_equal(ev.port, 0x9C47);
	assert_memory_equal(ev.addr, want, 16);
}

static void test_tcp_not_listeners(void **state)
{
	struct listen_event ev;
	unsigned long ino;

	(void)state;
	/* established (01), header, short, v6 address on the v4 table, garbage */
	assert_false(parse_tcp_listener("   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 "
					"00:00000000 00000000 0 0 99 1\n", false, &ino, &ev));
	assert_false(parse_tcp_listener("  sl  local_address rem_address   st tx_queue rx_queue tr "
					"tm->when retrnsmt   uid  timeout inode\n", false, &ino, &ev));
	assert_false(parse_tcp_listener("   0: 0100007F:1F90\n", false, &ino, &ev));
	assert_false(parse_tcp_listener("   1: 00000000000000000000000001000000:9C47 0:0 0A a b c d e 5\n",
					false, &ino, &ev));
	assert_false(parse_tcp_listener("\x01\xff zz:zz", false, &ino, &ev));
	assert_false(parse_tcp_listener("", false, &ino, &ev));
}

static void test_unix(void **state)
{
	struct listen_event ev;
	unsigned long ino = 0;

	(void)state;
	assert_true(parse_unix_listener("0000000000000000: 00000002 00000000 00010000 0001 01 4242 "
					"/tmp/echo sock\n", &ino, &ev));
	assert_int_equal(ino, 4242);
	assert_int_equal(ev.family, AF_UNIX);
	assert_string_equal(ev.unix_path, "/tmp/echo sock");
	/* connected, datagram, abstract (no path we can connect to), no path */
	assert_false(parse_unix_listener("0000000000000000: 00000003 00000000 00000000 0001 03 11 "
					 "/tmp/echo\n", &ino, &ev));
	assert_false(parse_unix_listener("0000000000000000: 00000002 00000000 00010000 0002 01 12 "
					 "/tmp/dgram\n", &ino, &ev));
	assert_false(parse_unix_listener("0000000000000000: 00000002 00000000 00010000 0001 01 13 "
					 "@abstract\n", &ino, &ev));
	assert_false(parse_unix_listener("0000000000000000: 00000002 00000000 00010000 0001 01 14\n",
					 &ino, &ev));
	assert_false(parse_unix_listener("Num       RefCount Protocol Flags    Type St Inode Path\n",
					 &ino, &ev));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp4_listener),
		cmocka_unit_test(test_tcp6_listener),
		cmocka_unit_test(test_tcp_not_listeners),
		cmocka_unit_test(test_unix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
