/*
 * seal.c - sealing a working copy: its content becomes a version (or the
 * key's draft) in one commit, or, for replication, the record another
 * apply writes (file_seal_with).
 *
 * Design: a seal costs the chunks changed plus the run list, never the
 * file size: the chunk map is run-length encoded into runs; a small file's
 * in-memory chunk goes into the shared pack first; a STORE_SYNC store
 * syncs the new data before the commit. Afterwards every chunk is shared
 * and later writes start a new segment: sealed data is never modified.
 * There is one path from content to record (seal_commit), used by both
 * store_file_seal and replicas, so both follow the same data rules.
 */
#include "file_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* fdatasync every own segment written since the last durable seal. */
static int file_sync(struct store_file *f)
{
	char p[SEG_PATH_MAX];
	size_t i;
	int rc = 0, fd;

	for (i = 0; i < f->nunsynced && !rc; i++) {
		uint64_t seg = f->unsynced[i];

		if (seg == f->cur_seg) {
			fd = f->cur_fd;
		} else {
			seg_path(f->s, seg, p, sizeof(p));
			fd = open(p, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				return -errno;
		}
		if (fdatasync(fd))
			rc = -errno;
		if (fd != f->cur_fd)
			close(fd);
		/* The new file's name must reach the disk too. */
		seg_path(f->s, seg, p, sizeof(p));
		*strrchr(p, '/') = '\0';
		fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			if (fsync(fd) && !rc)
				rc = -errno;
			close(fd);
		}
	}
	if (!rc)
		f->nunsynced = 0;
	/* Still being written: keep it on the list for the next fsync. */
	if (!rc && f->cur_seg)
		rc = file_push_u64(&f->unsynced, &f->nunsynced, &f->capunsynced,
			      f->cur_seg);
	return rc;
}

/*
 * A small file's chunk leaves memory for the shared pack: the copy pins
 * the pack like any segment it reads, so the data stays while it lives.
 */
static int small_pack(struct store_file *f, bool durable)
{
	uint64_t seg, off;
	size_t i;
	int rc;

	struct chunk *ch = chunk_at(f, 0);

	if (!ch || ch->seg != SEG_MEM)
		return 0;
	if (!f->size) {
		ch->seg = 0;
		ch->owned = false;
		return 0;
	}
	rc = seg_pack_append(f->s, f->small, (size_t)f->size, &seg, &off);
	if (rc)
		return rc;
	for (i = 0; i < f->npins && f->pins[i] != seg; i++)
		;
	if (i < f->npins) {
		seg_unpin(f->s, seg, false);	/* pinned already */
	} else if (file_push_u64(&f->pins, &f->npins, &f->cappins, seg)) {
		seg_unpin(f->s, seg, false);
		return -ENOMEM;
	}
	if (durable)
		rc = file_push_u64(&f->unsynced, &f->nunsynced, &f->capunsynced,
			      seg);
	if (rc)
		return rc;
	ch->seg = seg;
	ch->base = off;
	ch->owned = false;
	return 0;
}

/* One past the last chunk (before the file's end) in seg, or 0 if none;
 * pages of holes are skipped whole. */
static uint64_t last_chunk_in(const struct store_file *f, uint64_t seg)
{
	uint64_t c = nchunks(f->size);

	if (c > f->nmap)
		c = f->nmap;
	while (c > 0) {
		const struct chunk *p = f->pages[(c - 1) / MAP_PAGE];

		if (!p)
			c -= (c - 1) % MAP_PAGE + 1;
		else if (p[(c - 1) % MAP_PAGE].seg == seg)
			return c;
		else
			c--;
	}
	return 0;
}

/*
 * Reads take a sealed segment that ends before bytes a version uses for a
 * damaged one (file.c, seg_read), but a truncate up only punches the
 * current segment, never extends it: so before the seal it is extended
 * (sparse) to the end of the last chunk the record uses there.
 */
static int cur_cover(struct store_file *f)
{
	uint64_t c, need;
	struct stat st;

	if (!f->cur_seg || f->cur_fd < 0)
		return 0;
	c = last_chunk_in(f, f->cur_seg);
	if (!c)
		return 0;
	/* Own chunks sit at their own offsets: chunk c - 1 is the last. */
	need = f->size < c * STORE_CHUNK ? f->size : c * STORE_CHUNK;
	if (fstat(f->cur_fd, &st))
		return -errno;
	if ((uint64_t)st.st_size < need && ftruncate(f->cur_fd, (off_t)need))
		return -errno;
	return 0;
}

/* Run-length encode the chunk map. */
static int runs_build(struct store_file *f, uint8_t **raw, uint32_t *n)
{
	uint64_t c, total = nchunks(f->size);
	size_t cap = 0;
	struct run r = { 0, 0, 0, 0 };
	uint8_t *buf = NULL, *tmp;

	/* Chunks past the map are holes: no run, nothing to walk. */
	if (total > f->nmap)
		total = f->nmap;
	*n = 0;
	for (c = 0; c <= total; c++) {
		const struct chunk *ch = c < total ? chunk_at(f, c) : NULL;
		uint64_t seg = ch ? ch->seg : 0;
		uint64_t base = seg ? ch->base : 0;

		/* A page of holes with no run open: skip it whole. */
		if (c < total && !r.count && !f->pages[c / MAP_PAGE]) {
			c |= MAP_PAGE - 1;
			if (c >= total)
				c = total - 1;
			continue;
		}
		if (r.count && seg == r.seg && c == r.first + r.count &&
		    base == r.base + r.count * STORE_CHUNK) {
			r.count++;
			continue;
		}
		if (r.count) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 16;
				tmp = realloc(buf, cap * RUN_BYTES);
				if (!tmp) {
					free(buf);
					return -ENOMEM;
				}
				buf = tmp;
			}
			run_put(buf, (*n)++, &r);
		}
		r.first = c;
		r.count = seg ? 1 : 0;
		r.seg = seg;
		r.base = base;
	}
	*raw = buf;
	return 0;
}

struct seal_arg {
	uint64_t oid;
	uint64_t amend;		/* version a reseal may replace, or 0 */
	const struct store_attr *attr;
	struct file_content c;
	bool draft, dirty;
	struct store_entry *out;
};

/*
 * Replace the head in place with v when it is version vseq, made by a
 * seal (no marker, no replica) and never exposed; 1 when it is not. The
 * id, creation time and amend deadline stay; the digest goes. No hook:
 * the version's queue entry ships the record as it is when it ships.
 */
static int head_amend(struct store_txn *t, uint64_t oid, const struct obj *o,
		      uint64_t vseq, struct vrec *v)
{
	struct vrec old;
	int rc;

	if (!vseq || obj_pending(o) || o->head != vseq)
		return 1;
	rc = vrec_get(t->s, t->txn, oid, vseq, &old);
	if (rc)
		return rc;
	if (old.flags & (V_EXPOSED | STORE_V_REPLICA | STORE_V_DELETE_MARKER))
		return 1;
	memcpy(v->vid, old.vid, sizeof(v->vid));
	v->btime_ns = old.btime_ns;
	v->deadline_ns = old.deadline_ns;
	v->flags = 0;
	/* Count the new record before dropping the old one (shared
	 * segments never pass through 0); re-read it after the write. */
	rc = refs_adjust(t, v, +1);
	if (!rc)
		rc = vrec_get(t->s, t->txn, oid, vseq, &old);
	if (!rc)
		rc = refs_adjust(t, &old, -1);
	if (!rc)
		rc = vrec_put(t->s, t->txn, oid, vseq, v);
	return rc;
}

static int seal_apply(struct store_txn *t, void *varg)
{
	static const uint32_t fmt[] = { 0, S_IFREG, S_IFDIR, S_IFLNK };
	struct seal_arg *a = varg;
	struct store *s = t->s;
	struct vrec src, v;
	uint8_t *x = NULL, k[8];
	struct obj o;
	int rc;

	rc = obj_get(s, t->txn, a->oid, &o);
	if (rc)
		return rc;
	if (!obj_alive(&o))
		return -ENOENT;
	if (o.type != STORE_T_FILE)
		return o.type == STORE_T_DIR ? -EISDIR : -EINVAL;
	if (!a->dirty && !a->draft && !obj_pending(&o))
		goto out;
	/* User metadata comes from the head (or the pending record). */
	memset(&v, 0, sizeof(v));
	rc = vrec_get(s, t->txn, a->oid, obj_cur(&o), &src);
	if (!rc && src.xlen) {
		x = malloc(src.xlen);
		if (!x)
			return -ENOMEM;
		memcpy(x, src.xattrs, src.xlen);
		v.xattrs = x;
		v.xlen = src.xlen;
	} else if (rc && rc != -ENOENT) {
		return rc;
	}
	v.attr = *a->attr;
	v.attr.mode = (a->attr->mode & 07777) | fmt[o.type];
	v.attr.size = a->c.size;
	v.runs = a->c.runs;
	v.nruns = a->c.nruns;
	if (a->draft) {
		/* Count the new record before dropping the old one, so a
		 * shared segment never passes through 0. */
		v.flags = V_DRAFT;
		rc = refs_adjust(t, &v, +1);
		if (!rc)
			rc = draft_drop(t, a->oid, &o);
		if (!rc)
			rc = vrec_put(s, t->txn, a->oid, 0, &v);
		be64_put(k, a->oid);
		if (!rc)
			rc = db_put(t->txn, s->drafts, k, 8, "", 0);
		o.flags |= OBJ_DRAFT;
	} else {
		rc = head_amend(t, a->oid, &o, a->amend, &v);
		if (rc == 1)
			rc = version_add(t, a->oid, &o, &v, true);
		if (!rc)
			rc = draft_drop(t, a->oid, &o);
	}
	if (!rc)
		rc = obj_put(s, t->txn, a->oid, &o);
	free(x);
	if (rc)
		return rc;
out:
	return a->out ? entry_fill(s, t->txn, a->oid, &o, a->out) : 0;
}

/*
 * Pack, sync and encode f's content into c, then commit fn(arg), which
 * reads c. f's lock is held. The one way content becomes a record, for
 * seals and replicas alike.
 */
static int seal_commit(struct store_file *f, bool durable, store_apply_fn fn,
		       void *arg, struct file_content *c)
{
	int rc;

	c->size = f->size;
	c->runs = NULL;
	c->nruns = 0;
	rc = small_pack(f, durable);
	if (!rc)
		rc = cur_cover(f);
	/* Only a STORE_SYNC store trusts each commit as it lands, so only
	 * there must the data be on the disk first. Otherwise the commit's
	 * sync (snap_sync) syncfs()es data and index together before the
	 * synced state is recorded: syncing the segments here too was the
	 * same flush twice on every fsync. */
	if (durable && (f->s->flags & STORE_SYNC) && !rc)
		rc = file_sync(f);
	if (!rc)
		rc = runs_build(f, &c->runs, &c->nruns);
	if (!rc)
		rc = store_commit(f->s, fn, arg, durable ? COMMIT_DURABLE : 0,
				  NULL, NULL);
	free(c->runs);
	c->runs = NULL;
	return rc;
}

/*
 * The current segment is counted only by the record just sealed, and only
 * if the sealed map still uses it: a truncate may have dropped every chunk
 * written to it. Then nobody will ever count it, so it is unpinned as
 * unused now (which deletes it) instead of staying a pin that
 * store_file_free would release as an ordinary, counted segment.
 */
static void cur_drop_unused(struct store_file *f)
{
	size_t i;

	if (!f->cur_seg || last_chunk_in(f, f->cur_seg))
		return;
	for (i = 0; i < f->npins && f->pins[i] != f->cur_seg; i++)
		;
	if (i == f->npins)
		return;
	f->pins[i] = f->pins[--f->npins];
	for (i = f->nunsynced; i-- > 0;)
		if (f->unsynced[i] == f->cur_seg)
			f->unsynced[i] = f->unsynced[--f->nunsynced];
	seg_unpin(f->s, f->cur_seg, true);
}

/* Sealed data is immutable: later writes go elsewhere. */
static void seal_done(struct store_file *f)
{
	size_t c;

	for (c = 0; c < f->npages; c++) {
		size_t i;

		for (i = 0; f->pages[c] && i < MAP_PAGE; i++)
			f->pages[c][i].owned = false;
	}
	if (f->cur_fd >= 0)
		close(f->cur_fd);
	f->cur_fd = -1;
	cur_drop_unused(f);
	f->cur_seg = 0;
}

static int file_seal(struct store_file *f, uint64_t oid, uint64_t amend,
		     const struct store_attr *attr, unsigned flags,
		     struct store_entry *out)
{
	struct seal_arg a = { .oid = oid, .amend = amend, .attr = attr,
			      .out = out };
	bool durable = (flags & STORE_DURABLE) || (f->s->flags & STORE_SYNC);
	int rc;

	pthread_mutex_lock(&f->lock);
	a.draft = flags & STORE_DRAFT;
	a.dirty = f->dirty;
	rc = seal_commit(f, durable, seal_apply, &a, &a.c);
	if (!rc && (a.dirty || a.draft)) {
		seal_done(f);
		if (!a.draft)
			f->dirty = false;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

int store_file_seal(struct store_file *f, uint64_t oid,
		    const struct store_attr *attr, unsigned flags,
		    struct store_entry *out)
{
	return file_seal(f, oid, 0, attr, flags, out);
}

int store_file_reseal(struct store_file *f, uint64_t oid, uint64_t vseq,
		      const struct store_attr *attr, struct store_entry *out)
{
	return file_seal(f, oid, vseq, attr, 0, out);
}

int file_blank(struct store *s, struct store_file **out)
{
	struct store_file *f = calloc(1, sizeof(*f));

	*out = f;
	if (!f)
		return -ENOMEM;
	f->s = s;
	f->cur_fd = -1;
	pthread_mutex_init(&f->lock, NULL);
	return 0;
}

int file_seal_with(struct store_file *f, store_apply_fn fn, void *arg,
		   struct file_content *c)
{
	int rc;

	pthread_mutex_lock(&f->lock);
	c->used = false;
	rc = seal_commit(f, f->s->flags & STORE_SYNC, fn, arg, c);
	/* Content no record took stays owned: store_file_free collects. */
	if (!rc && c->used) {
		seal_done(f);
		f->dirty = false;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}
