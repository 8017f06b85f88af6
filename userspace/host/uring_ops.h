/* SPDX-License-Identifier: MIT */
/* Names of io_uring opcodes, as the running kernel defines them. */
#ifndef CONCTRACE_URING_OPS_H
#define CONCTRACE_URING_OPS_H

/* "RECV" for IORING_OP_RECV; NULL if this kernel has no such opcode.
 * Read once from the kernel's BTF (enum io_uring_op), so opcodes newer
 * than conctrace still get their names. */
const char *uring_op_name(unsigned int op);

/* The one label of an opcode in every output: its name, or "op_N" for
 * one this kernel does not name (written into buf, len bytes). */
#define URING_OP_LABEL_LEN 32
const char *uring_op_label(unsigned int op, char *buf, unsigned long len);

#endif /* CONCTRACE_URING_OPS_H */
