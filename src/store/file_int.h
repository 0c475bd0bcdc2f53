/*
 * file_int.h - what file.c (working copies: reads, writes, truncates) and
 * seal.c (turning a working copy into a record) share: the working copy
 * itself. See file.c for the design.
 */
#ifndef CRRFS_FILE_INT_H
#define CRRFS_FILE_INT_H

#include "store_int.h"

struct chunk {
	uint64_t seg;		/* 0 = hole, SEG_MEM = in small[] */
	uint64_t base;		/* byte offset of the chunk in seg */
	bool owned;		/* in cur_seg or small[], writable */
};

#define SEG_MEM UINT64_MAX

#define FDC_N 8

struct fdc {
	uint64_t seg;
	int fd;
	uint64_t used;
};

struct store_file {
	struct store *s;
	pthread_mutex_t lock;	/* protects everything below */
	uint64_t size;
	struct chunk *map;
	size_t nmap, capmap;
	uint64_t cur_seg;	/* 0 = none yet */
	int cur_fd;
	bool dirty;
	uint64_t *pins;		/* segments pinned by this copy */
	size_t npins, cappins;
	uint64_t *unsynced;	/* own segments written since last fsync */
	size_t nunsynced, capunsynced;
	struct fdc fdc[FDC_N];
	uint64_t tick;
	uint8_t *small;		/* PACK_MAX bytes when chunk 0 is SEG_MEM */
};

static inline uint64_t nchunks(uint64_t size)
{
	return (size + STORE_CHUNK - 1) / STORE_CHUNK;
}

/* Append v to a growable array; -ENOMEM. */
int file_push_u64(uint64_t **arr, size_t *n, size_t *cap, uint64_t v);

#endif
