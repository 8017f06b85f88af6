/* SPDX-License-Identifier: MIT */
/*
 * The running kernel's slab caches: the slot sizes that price a
 * connection's objects (model/memory.h), and the object counts the closure
 * compares with what the connections hold (model/closure.h).
 */
#ifndef CONCTRACE_SLABS_H
#define CONCTRACE_SLABS_H

#include "model/closure.h"
#include "model/memory.h"

/* Read them from /sys/kernel/slab/NAME/slab_size, or /proc/slabinfo. */
void slab_sizes_read(struct slab_sizes *s);
/* One cache's slot size from a /proc/slabinfo text (for tests), 0 if absent. */
unsigned int slabinfo_objsize(const char *slabinfo, const char *cache);

/* The slot size of the smallest kmalloc cache that holds size bytes (of
 * the kmalloc-cg- caches where the kernel has them), from a
 * /proc/slabinfo text; 0 if none does. */
unsigned int slabinfo_kmalloc_class(const char *slabinfo, unsigned int size);
/* The same, from this kernel's /proc/slabinfo. */
unsigned int kmalloc_class_read(unsigned int size);

/* Read /sys/kernel/slab/NAME/{objects,slab_size} for each cache. */
void slab_counts_read(struct slab_counts *s);

#endif /* CONCTRACE_SLABS_H */
