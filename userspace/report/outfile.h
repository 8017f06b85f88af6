/* SPDX-License-Identifier: MIT */
/* Output files (--json, --folded, --svg): created for their owner only. */
#ifndef CONCTRACE_OUTFILE_H
#define CONCTRACE_OUTFILE_H

#include <stdio.h>

/* fopen(path, "w"), but a file it creates is mode 0600: what conctrace
 * writes describes another program (its peers' addresses, its code paths)
 * and is nobody else's to read. An existing file keeps its mode. */
FILE *outfile_open(const char *path);

#endif /* CONCTRACE_OUTFILE_H */
