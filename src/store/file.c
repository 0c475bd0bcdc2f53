/*
 * file.c - store_file: a working copy of one version's content, with
 * reads, writes and truncates (seal.c turns it into a version).
 *
 * Design: the content is a chunk map, one entry per STORE_CHUNK of the
 * file: the segment holding that chunk (0 = hole) and whether this working
 * copy owns it. The map is paged (file_int.h): a page comes with its first
 * data, so a sparse file costs memory for what it holds, not its size. A
 * working copy writes only into its own current segment, at the chunk's
 * own offset; writing into a chunk it does not own first copies that
 * chunk's valid bytes (copy-on-write, at most one chunk). A
 * seal (seal.c) turns the map into run-length encoded runs; afterwards
 * every chunk is shared again and later writes start a new segment
 * (sealed data is never modified).
 *
 * Small files: while the whole file fits in PACK_MAX bytes and has no
 * segment of its own yet, its one chunk is owned in memory (seg SEG_MEM)
 * and a seal appends it to the store's shared pack segment. A file that
 * grows past PACK_MAX spills that chunk into its own segment first. So a
 * tree of small files costs no inode per file, and a big file is laid out
 * exactly as before.
 *
 * Invariant: bytes of an owned chunk beyond EOF, and owned chunks dropped
 * by a truncate, never become visible: dropped chunks are punched out, and
 * growing the file zeroes (or copies only the valid part of) the old last
 * chunk before the new range is exposed.
 */
#include "file_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

int file_push_u64(uint64_t **arr, size_t *n, size_t *cap, uint64_t v)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		uint64_t *p = realloc(*arr, nc * sizeof(*p));

		if (!p)
			return -ENOMEM;
		*arr = p;
		*cap = nc;
	}
	(*arr)[(*n)++] = v;
	return 0;
}

/* Cover n chunks: only the page table grows, pages come with data. */
static int map_reserve(struct store_file *f, uint64_t n)
{
	size_t np = (size_t)((n + MAP_PAGE - 1) / MAP_PAGE), nc;
	struct chunk **p;

	if (np > f->npages) {
		nc = f->npages ? f->npages : 4;
		while (nc < np)
			nc *= 2;
		p = realloc(f->pages, nc * sizeof(*p));
		if (!p)
			return -ENOMEM;
		memset(p + f->npages, 0, (nc - f->npages) * sizeof(*p));
		f->pages = p;
		f->npages = nc;
	}
	if (n > f->nmap)
		f->nmap = n;
	return 0;
}

struct chunk *chunk_slot(struct store_file *f, uint64_t c)
{
	struct chunk **p = &f->pages[c / MAP_PAGE];

	if (!*p)
		*p = calloc(MAP_PAGE, sizeof(**p));
	return *p ? &(*p)[c % MAP_PAGE] : NULL;
}

static void map_free(struct store_file *f)
{
	size_t i;

	for (i = 0; i < f->npages; i++)
		free(f->pages[i]);
	free(f->pages);
}

static int pin_add(struct store_file *f, uint64_t seg)
{
	size_t i;

	for (i = 0; i < f->npins; i++)
		if (f->pins[i] == seg)
			return 0;
	if (file_push_u64(&f->pins, &f->npins, &f->cappins, seg))
		return -ENOMEM;
	seg_pin(f->s, seg);
	return 0;
}

static int file_load(struct store_file *f, const struct vrec *v)
{
	uint64_t last = 0;
	uint32_t i;
	struct run r;
	int rc;

	/* Chunks past the last run are holes: the map stops there. */
	f->size = v->attr.size;
	for (i = 0; i < v->nruns; i++) {
		run_at(v, i, &r);
		if (r.first + r.count > last)
			last = r.first + r.count;
	}
	rc = map_reserve(f, last < nchunks(f->size) ? last : nchunks(f->size));
	for (i = 0; !rc && i < v->nruns; i++) {
		uint64_t c;

		run_at(v, i, &r);
		for (c = r.first; c < r.first + r.count && c < f->nmap; c++) {
			struct chunk *ch = chunk_slot(f, c);

			if (!ch)
				return -ENOMEM;
			ch->seg = r.seg;
			ch->base = r.base + (c - r.first) * STORE_CHUNK;
		}
		rc = pin_add(f, r.seg);
	}
	memcpy(f->vid, v->vid, sizeof(f->vid));
	/* Known damage, from an earlier mount, fsck or the replicator. */
	if (v->flags & STORE_V_DAMAGED)
		f->hash_bad = f->marked = true;
	return rc || f->marked ? rc : verify_start(f, v);
}

int store_file_open(struct store *s, uint64_t oid, uint64_t vseq,
		    struct store_file **out)
{
	struct store_file *f = calloc(1, sizeof(*f));
	MDB_txn *txn = NULL;
	struct obj o;
	struct vrec v;
	int rc;

	*out = NULL;
	if (!f)
		return -ENOMEM;
	f->s = s;
	f->oid = oid;
	f->cur_fd = -1;
	pthread_mutex_init(&f->lock, NULL);
	rc = store_rtxn(s, &txn);
	if (rc)
		goto fail;
	rc = obj_get(s, txn, oid, &o);
	if (!rc && o.type == STORE_T_SYMLINK)
		rc = -EINVAL;
	if (rc)
		goto fail;
	if (!vseq && !obj_alive(&o)) {
		rc = -ENOENT;
		goto fail;
	}
	/* vseq 0 of a pending key: its draft, else empty. */
	rc = vrec_get(s, txn, oid, vseq ? vseq : obj_cur(&o), &v);
	if (rc == -ENOENT && !vseq && obj_pending(&o))
		rc = 0;
	else if (!rc) {
		f->vseq = vseq ? vseq : obj_cur(&o);
		rc = file_load(f, &v);
	}
	if (rc)
		goto fail;
	mdb_txn_abort(txn);
	*out = f;
	return 0;
fail:
	if (txn)
		mdb_txn_abort(txn);
	store_file_free(f);
	return rc;
}

void store_file_free(struct store_file *f)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; i < FDC_N; i++)
		if (f->fdc[i].seg)
			close(f->fdc[i].fd);
	if (f->cur_fd >= 0)
		close(f->cur_fd);
	/* An unsealed current segment is counted by nobody: collect it. */
	for (i = 0; i < f->npins; i++)
		seg_unpin(f->s, f->pins[i], f->pins[i] == f->cur_seg);
	verify_stop(f);
	free(f->pins);
	free(f->unsynced);
	map_free(f);
	free(f->small);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static int fdc_get(struct store_file *f, uint64_t seg, int *fd)
{
	struct fdc *victim = &f->fdc[0];
	size_t i;
	int rc;

	if (seg == f->cur_seg) {
		*fd = f->cur_fd;
		return 0;
	}
	for (i = 0; i < FDC_N; i++) {
		if (f->fdc[i].seg == seg) {
			f->fdc[i].used = ++f->tick;
			*fd = f->fdc[i].fd;
			return 0;
		}
		if (f->fdc[i].used < victim->used)
			victim = &f->fdc[i];
	}
	rc = seg_open(f->s, seg, fd);
	if (rc)
		return rc;
	if (victim->seg)
		close(victim->fd);
	victim->seg = seg;
	victim->fd = *fd;
	victim->used = ++f->tick;
	return 0;
}

/* pread until n bytes or the end of the file: *got says how many. */
static int read_full(int fd, void *buf, size_t n, uint64_t off,
		     size_t *got_out)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, (char *)buf + got, n - got,
				  (off_t)(off + got));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	*got_out = got;
	return 0;
}

/*
 * Read n bytes of segment seg at off. Only the copy's own current segment
 * may end early (a truncate up punches it and never extends it; the seal
 * does, see seal.c): there the rest reads as zeros, and so it does in
 * segments an older crrfs sealed (short_seg_from). Any other sealed
 * segment that ends before bytes a version uses was cut short: -EIO.
 */
static int seg_read(struct store_file *f, uint64_t seg, void *buf, size_t n,
		    uint64_t off)
{
	size_t got = 0;
	int rc, fd;

	rc = fdc_get(f, seg, &fd);
	if (!rc)
		rc = read_full(fd, buf, n, off, &got);
	if (rc || got == n)
		return rc;
	if (seg != f->cur_seg && seg >= f->s->short_seg_from) {
		struct stat st;

		if (fstat(fd, &st))
			st.st_size = (off_t)(off + got);
		file_damage(f, seg, "the segment has %" PRIu64 " bytes but "
			    "the version needs %" PRIu64,
			    (uint64_t)st.st_size, off + n);
		return -EIO;
	}
	memset((char *)buf + got, 0, n - got);
	return 0;
}

static int write_full(int fd, const void *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pwrite(fd, (const char *)buf + done, n - done,
				   (off_t)(off + done));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)r;
	}
	return 0;
}

ssize_t store_file_read(struct store_file *f, void *buf, size_t size,
			uint64_t off)
{
	size_t done = 0;
	uint8_t sha[32];
	bool mark;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	if (f->hash_bad)
		rc = -EIO;
	if (f->marked)
		file_damage(f, 0, "it was marked so (restore an older version "
			    "or a replica)");
	if (off >= f->size)
		size = 0;
	else if (size > f->size - off)
		size = (size_t)(f->size - off);
	while (done < size && !rc) {
		uint64_t pos = off + done;
		uint64_t in = pos % STORE_CHUNK;
		const struct chunk *ch = chunk_at(f, pos / STORE_CHUNK);
		size_t len = (size_t)(STORE_CHUNK - in);

		if (len > size - done)
			len = size - done;
		if (!ch || !ch->seg) {
			memset((char *)buf + done, 0, len);
		} else if (ch->seg == SEG_MEM) {
			memcpy((char *)buf + done, f->small + in, len);
		} else {
			rc = seg_read(f, ch->seg, (char *)buf + done, len,
				      ch->base + in);
		}
		done += len;
	}
	if (!rc)
		rc = verify_feed(f, buf, size, off);
	mark = f->to_mark;
	f->to_mark = false;
	memcpy(sha, f->bad_sha, sizeof(sha));
	pthread_mutex_unlock(&f->lock);
	/* A commit under the copy's lock could wait on a seal needing it. */
	if (mark && !(f->s->flags & STORE_RDONLY))
		store_mark_damaged(f->s, f->oid, f->vseq, sha);
	return rc ? rc : (ssize_t)size;
}

static int cur_ensure(struct store_file *f)
{
	int rc;

	if (f->cur_seg)
		return 0;
	rc = seg_create(f->s, &f->cur_seg, &f->cur_fd);
	if (rc) {
		f->cur_seg = 0;
		return rc;
	}
	rc = pin_add(f, f->cur_seg);
	if (!rc)
		rc = file_push_u64(&f->unsynced, &f->nunsynced, &f->capunsynced,
			      f->cur_seg);
	/* The file outgrows memory: its small chunk moves to the segment. */
	if (!rc && chunk_seg(f, 0) == SEG_MEM) {
		rc = write_full(f->cur_fd, f->small, (size_t)PACK_MAX, 0);
		if (!rc) {
			chunk_at(f, 0)->seg = f->cur_seg;
			chunk_at(f, 0)->base = 0;
		}
	}
	return rc;
}

/*
 * Whether chunk 0 may live in memory: the file fits in PACK_MAX bytes now
 * and after the change, and has no segment of its own.
 */
static bool small_fits(const struct store_file *f, uint64_t end)
{
	return !f->cur_seg && f->size <= PACK_MAX && end <= PACK_MAX;
}

/* Leave memory before a change that makes the file too big for it. */
static int small_leave(struct store_file *f, uint64_t end)
{
	if (chunk_seg(f, 0) != SEG_MEM || end <= PACK_MAX)
		return 0;
	return cur_ensure(f);
}

/* Zero [off, off + len) of the owned chunks (current segment or memory). */
static int punch(struct store_file *f, uint64_t off, uint64_t len)
{
	static const char zeros[4096];

	if (chunk_seg(f, 0) == SEG_MEM && off < STORE_CHUNK) {
		if (off < PACK_MAX)
			memset(f->small + off, 0,
			       (size_t)((off + len > PACK_MAX ? PACK_MAX :
					 off + len) - off));
		return 0;
	}
	if (!fallocate(f->cur_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		       (off_t)off, (off_t)len))
		return 0;
	if (errno != EOPNOTSUPP)
		return -errno;
	while (len) {
		size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		int rc = write_full(f->cur_fd, zeros, n, off);

		if (rc)
			return rc;
		off += n;
		len -= n;
	}
	return 0;
}

/* Own chunk 0 of a small file in memory, with its first 'valid' bytes. */
static int small_own(struct store_file *f, struct chunk *ch, uint64_t valid)
{
	int rc = 0;

	if (!f->small) {
		f->small = calloc(1, (size_t)PACK_MAX);
		if (!f->small)
			return -ENOMEM;
	} else {
		memset(f->small, 0, (size_t)PACK_MAX);
	}
	if (ch->seg && valid) {
		rc = seg_read(f, ch->seg, f->small, (size_t)valid, ch->base);
		if (rc)
			return rc;
	}
	ch->seg = SEG_MEM;
	ch->base = 0;
	ch->owned = true;
	return 0;
}

/*
 * Make chunk c owned, copying its first 'valid' bytes if shared. end is
 * where the file will end after the change (for small files).
 */
static int chunk_own(struct store_file *f, uint64_t c, uint64_t valid,
		     uint64_t end)
{
	struct chunk *ch = chunk_slot(f, c);
	char *tmp = NULL;
	int rc;

	if (!ch)
		return -ENOMEM;
	if (ch->owned)
		return 0;
	if (c == 0 && small_fits(f, end))
		return small_own(f, ch, valid);
	rc = cur_ensure(f);
	if (rc)
		return rc;
	if (ch->seg && valid) {
		tmp = malloc((size_t)valid);
		if (!tmp)
			return -ENOMEM;
		rc = seg_read(f, ch->seg, tmp, (size_t)valid, ch->base);
		if (!rc)
			rc = write_full(f->cur_fd, tmp, (size_t)valid,
					c * STORE_CHUNK);
		free(tmp);
		if (rc)
			return rc;
	}
	ch->seg = f->cur_seg;
	ch->base = c * STORE_CHUNK;
	ch->owned = true;
	return 0;
}

static uint64_t chunk_valid(struct store_file *f, uint64_t c)
{
	uint64_t start = c * STORE_CHUNK;

	if (f->size <= start)
		return 0;
	return f->size - start < STORE_CHUNK ? f->size - start : STORE_CHUNK;
}

/*
 * The file grows past 'old': bytes of the old last chunk past 'old' may be
 * stale (left by a truncate) and must read as zeros from now on.
 */
static int extend_prepare(struct store_file *f, uint64_t old, uint64_t end)
{
	uint64_t c = old / STORE_CHUNK, in = old % STORE_CHUNK;
	const struct chunk *ch = chunk_at(f, c);

	if (!in || !ch || !ch->seg)
		return 0;
	if (ch->owned)
		return punch(f, old, STORE_CHUNK - in);
	return chunk_own(f, c, in, end);
}

/*
 * Own chunk c for a write of [pos, pos + len) into it; 'end' is where the
 * file will end. A full-chunk overwrite needs no copy of the old bytes.
 */
static int chunk_own_for(struct store_file *f, uint64_t pos, size_t len,
			 uint64_t end)
{
	uint64_t c = pos / STORE_CHUNK;
	bool whole = pos % STORE_CHUNK == 0 && len == STORE_CHUNK;

	return chunk_own(f, c, whole ? 0 : chunk_valid(f, c), end);
}

static size_t chunk_span(uint64_t pos, size_t left)
{
	size_t len = (size_t)(STORE_CHUNK - pos % STORE_CHUNK);

	return len < left ? len : left;
}

/*
 * The chunks a write covers are owned first, then the bytes of each run of
 * them that lies in the current segment are written in one pwrite: owned
 * chunks sit at their own offsets there, so a 1 MiB write is one system
 * call instead of eight. Only a small file's chunk 0 is in memory, and it
 * is copied alone.
 */
ssize_t store_file_write(struct store_file *f, const void *buf, size_t size,
			 uint64_t off)
{
	uint64_t end, fend;
	size_t done = 0;
	int rc = 0, later = 0;

	if (!size)
		return 0;
	if (off >= STORE_FILE_MAX)
		return -EFBIG;
	/* As on a local disk: what fits below the limit is written. */
	if (size > STORE_FILE_MAX - off)
		size = (size_t)(STORE_FILE_MAX - off);
	end = off + size;
	pthread_mutex_lock(&f->lock);
	/* New bytes over known bad ones would make a version that looks
	 * sound; only a truncate to 0 starts clean. */
	if (f->hash_bad) {
		pthread_mutex_unlock(&f->lock);
		return -EIO;
	}
	verify_stop(f);
	fend = end > f->size ? end : f->size;
	rc = small_leave(f, fend);
	if (!rc && end > f->size)
		rc = extend_prepare(f, f->size, end);
	if (!rc)
		rc = map_reserve(f, nchunks(end));
	while (!rc && done < size) {
		uint64_t pos = off + done;
		size_t len = chunk_span(pos, size - done);

		rc = chunk_own_for(f, pos, len, fend);
		if (rc)
			break;
		if (chunk_seg(f, pos / STORE_CHUNK) == SEG_MEM) {
			memcpy(f->small + pos % STORE_CHUNK,
			       (const char *)buf + done, len);
		} else {
			/* An error owning a later chunk ends the run; it is
			 * reported once the bytes before it are in. */
			while (done + len < size && !later) {
				size_t l = chunk_span(pos + len,
						      size - done - len);

				later = chunk_own_for(f, pos + len, l, fend);
				if (!later)
					len += l;
			}
			rc = write_full(f->cur_fd, (const char *)buf + done,
					len, pos);
		}
		if (rc)
			break;
		done += len;
		if (pos + len > f->size)
			f->size = pos + len;
		f->dirty = true;
		rc = later;
	}
	pthread_mutex_unlock(&f->lock);
	if (rc && rc != -ENOSPC && rc != -EDQUOT)
		log_error("cannot write segment data: %s", strerror(-rc));
	return done ? (ssize_t)done : rc;
}

/* Drop the chunks from keep on (owned bytes punched out) and the pages
 * that held only them. */
static int map_cut(struct store_file *f, uint64_t keep)
{
	uint64_t c;
	int rc = 0;

	for (c = keep; c < f->nmap && !rc; c++) {
		struct chunk *p = f->pages[c / MAP_PAGE], *ch;

		if (!p) {
			c |= MAP_PAGE - 1;
			continue;
		}
		ch = &p[c % MAP_PAGE];
		if (ch->owned)
			rc = punch(f, c * STORE_CHUNK, STORE_CHUNK);
		ch->seg = 0;
		ch->owned = false;
		if (!rc && c % MAP_PAGE == MAP_PAGE - 1 &&
		    c + 1 - MAP_PAGE >= keep) {
			free(p);
			f->pages[c / MAP_PAGE] = NULL;
		}
	}
	if (!rc && keep < f->nmap)
		f->nmap = keep;
	return rc;
}

int store_file_truncate(struct store_file *f, uint64_t size)
{
	uint64_t keep = nchunks(size);
	int rc = 0;

	if (size > STORE_FILE_MAX)
		return -EFBIG;
	pthread_mutex_lock(&f->lock);
	if (f->hash_bad && size) {
		pthread_mutex_unlock(&f->lock);
		return -EIO;
	}
	verify_stop(f);
	if (!size)	/* nothing of the damaged content is left */
		f->hash_bad = f->marked = false;
	if (size > f->size) {
		/* The new range is a hole: chunks past the map read as
		 * zeros, so growing costs no memory. */
		rc = small_leave(f, size);
		if (!rc)
			rc = extend_prepare(f, f->size, size);
	} else {
		rc = map_cut(f, keep);
	}
	if (!rc) {
		f->size = size;
		f->dirty = true;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

uint64_t store_file_size(struct store_file *f)
{
	uint64_t n;

	pthread_mutex_lock(&f->lock);
	n = f->size;
	pthread_mutex_unlock(&f->lock);
	return n;
}

bool store_file_dirty(struct store_file *f)
{
	bool d;

	pthread_mutex_lock(&f->lock);
	d = f->dirty;
	pthread_mutex_unlock(&f->lock);
	return d;
}

uint64_t store_file_blocks(struct store_file *f)
{
	uint64_t c, bytes = 0;

	pthread_mutex_lock(&f->lock);
	for (c = 0; c < f->nmap; c++) {
		if (!f->pages[c / MAP_PAGE]) {
			c |= MAP_PAGE - 1;	/* a whole page of holes */
			continue;
		}
		if (chunk_seg(f, c))
			bytes += chunk_valid(f, c);
	}
	pthread_mutex_unlock(&f->lock);
	return (bytes + 511) / 512;
}
