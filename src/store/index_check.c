/*
 * index_check.c - a truncated index is an error, not a SIGBUS.
 *
 * LMDB maps STORE/index/data.mdb and reads its pages in place, so a page
 * past the end of a truncated file kills the process with SIGBUS on the
 * first read. Before mdb_env_open, the file is checked with pread only:
 * if it reaches the last page its newest meta page names, nothing LMDB
 * maps can fault. A shorter file is not always damage: LMDB does not
 * write a page freed in the transaction that allocated it, and that page
 * may be the last one. So then every page the trees reach (free DB, main
 * DB, each named DB, overflow pages) is looked for in the file, and only
 * a page that is not there makes the index "truncated".
 *
 * The layout read here is LMDB 0.9's (data version 1, 64-bit): a page
 * header of 16 bytes (pgno, pad, flags, lower, upper; an overflow page
 * keeps its page count where lower is); node offsets after it; a node
 * is lo, hi, flags, key size (u16 each) then key and data, a branch
 * node's child page being lo | hi << 16 | flags << 32. The meta follows
 * the header of pages 0 and 1: magic, version, address, map size, the
 * free and main DB records (48 bytes each, root at byte 40), last page,
 * txnid. A read-only check of a store in use reads pages the writer may
 * be reusing; that can only happen on the short-file path, and at worst
 * gives a wrong refusal of that one check.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

#define PAGE_HDR 16
#define P_BRANCH 0x01
#define P_LEAF 0x02
#define P_OVERFLOW 0x04
#define P_LEAF2 0x20
#define F_BIGDATA 0x01
#define F_SUBDATA 0x02
#define DB_BYTES 48
#define DB_OFF_DEPTH 6
#define DB_OFF_ROOT 40
#define P_INVALID (~(uint64_t)0)
#define DEPTH_MAX 64

struct walk {
	int fd;
	uint32_t psize;
	uint64_t npages;	/* whole pages in the file */
	uint64_t visited, missing;	/* missing: first page not there */
	uint64_t pages;		/* tree and overflow pages found */
};

/* 0 and the page in buf, 1 if it lies past the end (w->missing), -errno. */
static int page_read(struct walk *w, uint64_t pgno, uint8_t *buf)
{
	ssize_t n;

	if (pgno >= w->npages) {
		w->missing = pgno;
		return 1;
	}
	/* A cycle in a damaged tree must not loop: no page twice over. */
	if (++w->visited > 2 * w->npages + 16)
		return -EUCLEAN;
	n = pread(w->fd, buf, w->psize, (off_t)(pgno * w->psize));
	if (n < 0)
		return -errno;
	w->pages++;
	return (size_t)n == w->psize ? 0 : -EIO;
}

static int walk_tree(struct walk *w, uint64_t root, unsigned level,
		     bool main_db);

/* The leaf node at byte off of page pg (its header checked): its
 * overflow pages, or (main DB) the named DB it holds. */
static int walk_leaf_node(struct walk *w, const uint8_t *pg, size_t off,
			  bool main_db, uint8_t *scratch)
{
	uint16_t flags = host16_get(pg + off + 4);
	size_t data = off + 8 + host16_get(pg + off + 6);
	uint64_t pgno;
	uint32_t count;
	int rc;

	if (flags & F_BIGDATA) {
		if (data + 8 > w->psize)
			return -EUCLEAN;
		pgno = host64_get(pg + data);
		rc = page_read(w, pgno, scratch);
		if (rc)
			return rc;
		count = host32_get(scratch + 12);
		if (!(host16_get(scratch + 10) & P_OVERFLOW) || !count)
			return 0;	/* damaged: LMDB says so itself */
		if (pgno + count > w->npages) {
			w->missing = w->npages;
			return 1;
		}
		w->pages += count - 1;
		return 0;
	}
	if (!main_db || !(flags & F_SUBDATA))
		return 0;
	if (data + DB_BYTES > w->psize)
		return -EUCLEAN;
	pgno = host64_get(pg + data + DB_OFF_ROOT);
	if (pgno == P_INVALID)
		return 0;
	return walk_tree(w, pgno, 0, false);
}

static int walk_page(struct walk *w, const uint8_t *pg, unsigned level,
		     bool main_db)
{
	uint16_t flags = host16_get(pg + 10), lower = host16_get(pg + 12);
	uint8_t *scratch = NULL;
	unsigned i, nkeys;
	int rc = 0;

	if (!(flags & (P_BRANCH | P_LEAF)) || (flags & P_LEAF2) ||
	    lower < PAGE_HDR || lower > w->psize)
		return 0;	/* not a page we read: LMDB judges it */
	nkeys = (lower - PAGE_HDR) / 2;
	if ((flags & P_LEAF) && !(scratch = malloc(w->psize)))
		return -ENOMEM;
	for (i = 0; i < nkeys && !rc; i++) {
		size_t off = host16_get(pg + PAGE_HDR + 2 * i);

		if (off < PAGE_HDR || off + 8 > w->psize) {
			rc = -EUCLEAN;
			break;
		}
		if (flags & P_BRANCH) {
			uint64_t child = host16_get(pg + off) |
				(uint64_t)host16_get(pg + off + 2) << 16 |
				(uint64_t)host16_get(pg + off + 4) << 32;

			rc = walk_tree(w, child, level + 1, main_db);
		} else
			rc = walk_leaf_node(w, pg, off, main_db, scratch);
	}
	free(scratch);
	return rc;
}

static int walk_tree(struct walk *w, uint64_t root, unsigned level,
		     bool main_db)
{
	uint8_t *pg;
	int rc;

	if (level > DEPTH_MAX)
		return -EUCLEAN;
	pg = malloc(w->psize);
	if (!pg)
		return -ENOMEM;
	rc = page_read(w, root, pg);
	if (!rc)
		rc = walk_page(w, pg, level, main_db);
	free(pg);
	return rc;
}

int index_meta_txnid(const uint8_t *page, uint64_t *txnid)
{
	if (host32_get(page + META_OFF_MAGIC) != META_MAGIC ||
	    host32_get(page + META_OFF_VERSION) != 1)
		return -EINVAL;
	*txnid = host64_get(page + META_OFF_TXNID);
	return 0;
}

uint32_t index_meta_psize(const uint8_t *page)
{
	uint32_t psize = host32_get(page + META_OFF_PSIZE);

	if (psize < 4096 || psize > 65536 || (psize & (psize - 1)))
		return 0;
	return psize;
}

/* The meta page LMDB will use (the newer valid one) into meta. */
static int meta_pick(int fd, uint8_t *meta, uint32_t *psize)
{
	uint8_t *page = NULL;
	uint64_t best = 0, txnid;
	int i, rc = 0, found = 0;

	if (pread(fd, meta, 4096, 0) != 4096)
		return 1;
	*psize = index_meta_psize(meta);
	if (!*psize)
		return -EUCLEAN;
	page = malloc(*psize);
	if (!page)
		return -ENOMEM;
	for (i = 0; i < 2 && !rc; i++) {
		ssize_t n = pread(fd, page, *psize, (off_t)i * *psize);

		if (n < 0)
			rc = -errno;
		else if ((size_t)n != *psize)
			rc = 1;
		else if (!index_meta_txnid(page, &txnid) &&
			 (!found || txnid > best)) {
			best = txnid;
			memcpy(meta, page, 4096);
			found = 1;
		}
	}
	free(page);
	return rc ? rc : found ? 0 : -EUCLEAN;
}

int store_index_walk(int fd, uint64_t size, uint64_t *need,
		     uint64_t *pages)
{
	uint8_t meta[4096];
	struct walk w = { .fd = fd };
	uint64_t root;
	int rc;

	if (pages)
		*pages = 0;
	rc = meta_pick(fd, meta, &w.psize);
	if (rc < 0 && rc != -EUCLEAN)
		return rc;
	if (rc) {
		*need = 2 * 4096;	/* not even two meta pages */
		return rc == 1 ? 1 : 0;	/* a bad meta: mdb_env_open says */
	}
	w.npages = size / w.psize;
	*need = (host64_get(meta + META_OFF_LAST_PG) + 1) * w.psize;
	if (*need <= size && !pages)
		return 0;
	root = host64_get(meta + META_OFF_FREE_DB + DB_OFF_ROOT);
	if (root != P_INVALID)
		rc = walk_tree(&w, root, 0, false);
	root = host64_get(meta + META_OFF_MAIN_DB + DB_OFF_ROOT);
	if (!rc && root != P_INVALID)
		rc = walk_tree(&w, root, 0, true);
	if (rc == 1)
		*need = (w.missing + 1) * w.psize;
	if (pages)
		*pages = w.pages;
	return rc;
}

int store_index_check(const struct store *s)
{
	char path[SEG_PATH_MAX];
	uint64_t need = 0;
	struct stat st;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/index/data.mdb", s->path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;	/* mdb_env_open says */
	rc = fstat(fd, &st) ? -errno : 0;
	if (!rc && st.st_size > 0)
		rc = store_index_walk(fd, (uint64_t)st.st_size, &need, NULL);
	close(fd);
	if (rc == 1) {
		log_error("cannot open store '%s': index '%s' is truncated "
			  "(%" PRIu64 " bytes, its pages need %" PRIu64 " or "
			  "more); refusing to read it (nothing was changed; "
			  "put the index back from a copy)", s->path, path,
			  (uint64_t)st.st_size, need);
		return -EUCLEAN;
	}
	if (rc)
		log_error("cannot open store '%s': cannot check index '%s': %s",
			  s->path, path, strerror(-rc));
	return rc;
}
