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

/*
 * The chunk map is paged: MAP_PAGE chunks (128 MiB of file, 24 KiB of
 * map) per page, allocated at the first chunk of it that holds data. A
 * missing page, and any chunk at or past nmap, is a hole. So a sparse file
 * costs map for its data only: a write near the end of a 5 TiB file costs
 * one page and 8 bytes per 128 MiB of pointers, not a map of its size.
 * Invariant: every entry of an allocated page at or past nmap is zero.
 */
#define MAP_PAGE 1024

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
	struct chunk **pages;	/* MAP_PAGE chunks each, or NULL (holes) */
	size_t npages;
	uint64_t nmap;		/* chunks the map covers */
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
	/* The version loaded (0 and "" for a blank copy), for log lines. */
	uint64_t oid, vseq;
	char vid[STORE_VID_LEN + 1];
	bool damaged;		/* damage was found and logged once */
	bool hash_bad;		/* bytes do not match sha256: reads fail */
	bool marked;		/* the record says so (STORE_V_DAMAGED) */
	bool to_mark;		/* found now: mark bad_sha's version once
				 * the copy's lock is let go (verify.c) */
	uint8_t bad_sha[32];
	struct file_verify *vfy;	/* NULL: nothing to check (verify.c) */
};

static inline uint64_t nchunks(uint64_t size)
{
	return (size + STORE_CHUNK - 1) / STORE_CHUNK;
}

/* Chunk c, or NULL for a hole that has no entry. */
static inline struct chunk *chunk_at(const struct store_file *f, uint64_t c)
{
	struct chunk *p;

	if (c >= f->nmap)
		return NULL;
	p = f->pages[c / MAP_PAGE];
	return p ? &p[c % MAP_PAGE] : NULL;
}

/* The segment of chunk c (0 = hole). */
static inline uint64_t chunk_seg(const struct store_file *f, uint64_t c)
{
	const struct chunk *ch = chunk_at(f, c);

	return ch ? ch->seg : 0;
}

/* Chunk c (c < nmap), its page allocated if needed; NULL on ENOMEM. */
struct chunk *chunk_slot(struct store_file *f, uint64_t c);

/* verify.c: checking reads against the version's sha256. verify_feed
 * takes each read's bytes and returns -EIO at the end on a mismatch. */
int verify_start(struct store_file *f, const struct vrec *v);
int verify_feed(struct store_file *f, const void *buf, size_t n,
		uint64_t off);
void verify_stop(struct store_file *f);
/* Log damage of f's data once per copy; seg 0 names the map's segments. */
void file_damage(struct store_file *f, uint64_t seg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Append v to a growable array; -ENOMEM. */
int file_push_u64(uint64_t **arr, size_t *n, size_t *cap, uint64_t v);

#endif
