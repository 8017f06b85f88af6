#!/bin/sh
# SPDX-License-Identifier: MIT
# 200,000 short connections through conctrace against epoll_echo (issue 8):
# prints the time, conctrace's own RSS at start and end, the connection
# map's occupancy after each batch of 10,000, and lost events. The same
# test runs 20,000 in `make test`.
set -eu
cd "$(dirname "$0")/.."
CONCTRACE_CHURN="${CONCTRACE_CHURN:-200000}" exec "${PYTHON:-/usr/bin/python3}" -m pytest -q -s \
	tests/integration/test_faults.py -k "test_connection_churn and full" -p no:cacheprovider
