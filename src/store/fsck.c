/*
 * fsck.c - crash recovery at open, and the consistency check.
 *
 * Design: a crash can leave (1) pending keys and drafts, listed in the
 * drafts DB so recovery never scans the whole index: a draft (fsync'ed
 * content of a file still open) becomes a version, a pending key without
 * one goes; and (2) segment files nobody counts (written, never sealed; or
 * freed by a commit just before the crash): after an unclean shutdown the
 * data directory is scanned and those are deleted. Data is always written
 * before the commit that counts it, so the index never points at bytes
 * that were not written. store_fsck() recomputes every reference count
 * from the version records and compares index and files both ways.
 */
#include "store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

int store_meta_save(struct store *s, MDB_txn *txn, bool clean);

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct u64v {
	uint64_t *v;
	size_t n, cap;
};

static int u64v_push(struct u64v *a, uint64_t x)
{
	if (a->n == a->cap) {
		size_t nc = a->cap ? a->cap * 2 : 64;
		uint64_t *p = realloc(a->v, nc * sizeof(*p));

		if (!p)
			return -ENOMEM;
		a->v = p;
		a->cap = nc;
	}
	a->v[a->n++] = x;
	return 0;
}

static bool u64v_has(const struct u64v *a, uint64_t x)
{
	return bsearch(&x, a->v, a->n, sizeof(x), u64_cmp) != NULL;
}

/* ------------------------------------------------------------------ */
/* Recovery */

static int recover_one(struct store_txn *t, uint64_t oid)
{
	struct store *s = t->s;
	struct vrec v, nv;
	struct obj o;
	void *buf = NULL;
	uint8_t k[8];
	int rc;

	be64_put(k, oid);
	rc = obj_get(s, t->txn, oid, &o);
	if (!rc)
		rc = vrec_get(s, t->txn, oid, 0, &v);
	if (rc == -ENOENT)
		return db_del(t->txn, s->drafts, k, 8);
	if (rc)
		return rc;
	if (!(v.flags & V_DRAFT))
		return pending_end(t, oid, &o);
	/* fsync'ed bytes are never lost: the draft becomes a version. */
	rc = vrec_clone(&v, &nv, &buf);
	if (!rc)
		rc = version_add(t, oid, &o, &nv, false);
	if (!rc)
		rc = draft_drop(t, oid, &o);
	if (!rc)
		rc = obj_put(s, t->txn, oid, &o);
	free(buf);
	if (!rc) {
		struct store_event_rec *p = realloc(s->recovered,
			(s->nrecovered + 1) * sizeof(*p));

		if (p) {
			s->recovered = p;
			p[s->nrecovered].oid = oid;
			p[s->nrecovered++].vseq = o.head;
		}
		log_info("store '%s': fsync'ed draft of key %" PRIu64
			 " recovered as a version", s->path, oid);
	}
	return rc;
}

struct orphan_ctx {
	struct store *s;
	MDB_txn *txn;
	uint64_t max;
	uint64_t removed;
};

static int orphan_one(void *arg, uint64_t seg, const char *path)
{
	struct orphan_ctx *c = arg;
	uint8_t k[8];
	MDB_val v;

	if (seg > c->max)
		c->max = seg;
	be64_put(k, seg);
	if (db_get(c->txn, c->s->segments, k, 8, &v) == 0)
		return 0;
	if (unlink(path) == 0)
		c->removed++;
	return 0;
}

int store_recover(struct store *s)
{
	struct post post = { 0 };
	struct store_txn t = { s, NULL, &post };
	struct orphan_ctx oc = { s, NULL, 0, 0 };
	struct u64v ids = { 0 };
	MDB_cursor *c = NULL;
	MDB_val key, val;
	uint64_t clean = 0;
	size_t i;
	int rc, mrc;

	rc = store_err(mdb_txn_begin(s->env, NULL, 0, &t.txn));
	if (rc)
		return rc;
	rc = store_err(mdb_cursor_open(t.txn, s->drafts, &c));
	for (mrc = rc ? -1 : mdb_cursor_get(c, &key, &val, MDB_FIRST);
	     !mrc && !rc; mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT))
		if (key.mv_size == 8)
			rc = u64v_push(&ids, be64_get(key.mv_data));
	if (c)
		mdb_cursor_close(c);
	for (i = 0; i < ids.n && !rc; i++)
		rc = recover_one(&t, ids.v[i]);
	/* Segment ids go on after the highest one counted or on disk. */
	if (!rc && !mdb_cursor_open(t.txn, s->segments, &c)) {
		if (!mdb_cursor_get(c, &key, &val, MDB_LAST) &&
		    key.mv_size == 8)
			oc.max = be64_get(key.mv_data);
		mdb_cursor_close(c);
	}
	if (!rc && db_get(t.txn, s->meta, "clean", 5, &val) == 0 &&
	    val.mv_size == 8)
		memcpy(&clean, val.mv_data, 8);
	if (!rc && !clean) {
		oc.txn = t.txn;
		rc = seg_scan(s, orphan_one, &oc);
		if (oc.removed)
			log_info("store '%s': removed %" PRIu64
				 " orphan segment(s) after a crash", s->path,
				 oc.removed);
	}
	atomic_store(&s->next_seg, oc.max + 1);
	if (s->short_seg_from == UINT64_MAX)
		s->short_seg_from = oc.max + 1;
	if (!rc)
		rc = store_meta_save(s, t.txn, false);
	if (rc) {
		mdb_txn_abort(t.txn);
	} else {
		rc = store_err(mdb_txn_commit(t.txn));
		if (!rc)
			rc = store_err(mdb_env_sync(s->env, 1));
	}
	for (i = 0; !rc && i < post.nfreed; i++)
		seg_release(s, post.freed[i]);
	free(post.freed);
	free(post.remaps);
	free(ids.v);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Check */

struct fsck_ctx {
	struct store *s;
	MDB_txn *txn;
	struct store_fsck_report *r;
	struct u64v refs;	/* one entry per (record, segment) */
	struct u64v known;	/* distinct segments referenced */
	struct u64v orphans;
	struct u64v deep;	/* (oid, vseq) pairs to read, with --deep */
	bool repair, deep_on;
};

static int check_objects(struct fsck_ctx *c)
{
	MDB_cursor *cur = NULL;
	MDB_val key, val;
	int rc, mrc;

	rc = store_err(mdb_cursor_open(c->txn, c->s->objects, &cur));
	if (rc)
		return rc;
	for (mrc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); !mrc;
	     mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		uint64_t oid = key.mv_size == 8 ? be64_get(key.mv_data) : 0, d;
		struct obj o;

		c->r->keys++;
		if (!oid || obj_decode(val.mv_data, val.mv_size, &o)) {
			c->r->index_errors++;
			log_warn("fsck: bad object record");
			continue;
		}
		if (obj_pending(&o))
			c->r->pending_keys++;
		if (oid == STORE_ROOT_OID)
			continue;
		if (dirent_get(c->s, c->txn, o.parent, o.name,
			       o.type == STORE_T_DIR ? KIND_DIR : KIND_FILE,
			       &d) || d != oid) {
			c->r->index_errors++;
			log_warn("fsck: key %" PRIu64 " ('%s') has no dirent",
				 oid, o.name);
		}
	}
	mdb_cursor_close(cur);
	return 0;
}

/* Count what fsck_seg_check found; queue whole data for --deep. */
static int data_count(struct fsck_ctx *c, uint64_t oid, uint64_t vseq,
		      const struct vrec *v, int data)
{
	int rc = 0;

	if (data == -ENOENT)
		c->r->missing_data++;
	else if (data)
		c->r->short_data++;
	else if (c->deep_on && vseq && v->nruns) {
		rc = u64v_push(&c->deep, oid);
		if (!rc)
			rc = u64v_push(&c->deep, vseq);
	}
	return rc;
}

static int check_versions(struct fsck_ctx *c)
{
	MDB_cursor *cur = NULL;
	MDB_val key, val;
	int rc, mrc;

	rc = store_err(mdb_cursor_open(c->txn, c->s->versions, &cur));
	if (rc)
		return rc;
	for (mrc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); !mrc && !rc;
	     mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		uint64_t oid, vseq;
		struct u64v segs = { 0 };
		size_t j;
		struct vrec v;
		struct obj o;
		int data = 0;
		struct run r;
		uint32_t i;

		if (key.mv_size != 16 ||
		    vrec_decode(val.mv_data, val.mv_size, &v)) {
			c->r->index_errors++;
			log_warn("fsck: bad version record");
			continue;
		}
		oid = be64_get(key.mv_data);
		vseq = be64_get((uint8_t *)key.mv_data + 8);
		if (obj_get(c->s, c->txn, oid, &o)) {
			c->r->index_errors++;
			log_warn("fsck: version of unknown key %" PRIu64, oid);
		}
		if (vseq) {
			c->r->versions++;
			if (v.flags & STORE_V_DELETE_MARKER)
				c->r->delete_markers++;
		}
		/* A record counts each segment once, however many runs. */
		for (i = 0; i < v.nruns && !rc; i++) {
			run_at(&v, i, &r);
			rc = u64v_push(&segs, r.seg);
		}
		if (segs.n)
			qsort(segs.v, segs.n, 8, u64_cmp);
		for (j = 0; j < segs.n && !rc; j++) {
			if (j && segs.v[j] == segs.v[j - 1])
				continue;
			rc = u64v_push(&c->refs, segs.v[j]);
			if (!data)
				data = fsck_seg_check(c->s, c->txn, oid, &v,
						      segs.v[j]);
		}
		free(segs.v);
		if (!rc)
			rc = data_count(c, oid, vseq, &v, data);
	}
	mdb_cursor_close(cur);
	return rc;
}

static int check_counts(struct fsck_ctx *c, struct u64v *fix)
{
	MDB_cursor *cur = NULL;
	MDB_val key, val;
	size_t i = 0, j;
	int rc, mrc;

	if (c->refs.n)	/* qsort(NULL, 0) is undefined */
		qsort(c->refs.v, c->refs.n, sizeof(uint64_t), u64_cmp);
	for (i = 0; i < c->refs.n; i = j) {
		for (j = i; j < c->refs.n && c->refs.v[j] == c->refs.v[i]; j++)
			;
		rc = u64v_push(&c->known, c->refs.v[i]);
		if (rc)
			return rc;
	}
	rc = store_err(mdb_cursor_open(c->txn, c->s->segments, &cur));
	if (rc)
		return rc;
	for (mrc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); !mrc;
	     mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		uint64_t seg = key.mv_size == 8 ? be64_get(key.mv_data) : 0;
		uint64_t have = 0, want = 0, *lo;

		if (val.mv_size == 8)
			memcpy(&have, val.mv_data, 8);
		c->r->segments++;
		lo = bsearch(&seg, c->refs.v, c->refs.n, 8, u64_cmp);
		if (lo) {
			while (lo > c->refs.v && lo[-1] == seg)
				lo--;
			while (lo + want < c->refs.v + c->refs.n &&
			       lo[want] == seg)
				want++;
		}
		if (have != want) {
			c->r->bad_refcounts++;
			log_warn("fsck: segment %016" PRIx64 " counted %" PRIu64
				 " times, used %" PRIu64, seg, have, want);
			u64v_push(fix, seg);
		}
	}
	mdb_cursor_close(cur);
	/* Used but not counted at all. */
	for (i = 0; i < c->known.n; i++) {
		uint8_t k[8];

		be64_put(k, c->known.v[i]);
		if (db_get(c->txn, c->s->segments, k, 8, &val) == -ENOENT) {
			c->r->bad_refcounts++;
			log_warn("fsck: segment %016" PRIx64 " is not counted",
				 c->known.v[i]);
			u64v_push(fix, c->known.v[i]);
		}
	}
	return 0;
}

static int file_one(void *arg, uint64_t seg, const char *path)
{
	struct fsck_ctx *c = arg;
	struct stat st;

	if (stat(path, &st))
		return 0;
	c->r->bytes_stored += (uint64_t)st.st_blocks * 512;
	if (u64v_has(&c->known, seg) || seg_pinned(c->s, seg))
		return 0;
	c->r->orphan_segments++;
	c->r->orphan_bytes += (uint64_t)st.st_blocks * 512;
	log_warn("fsck: orphan segment '%s'", path);
	if (c->repair && unlink(path) == 0)
		return 0;
	return u64v_push(&c->orphans, seg);
}

struct fix_arg {
	struct u64v *segs, *refs;
};

static int fix_apply(struct store_txn *t, void *varg)
{
	struct fix_arg *a = varg;
	size_t i;
	int rc = 0;

	for (i = 0; i < a->segs->n && !rc; i++) {
		uint64_t seg = a->segs->v[i], want = 0, *lo;
		uint8_t k[8];

		lo = bsearch(&seg, a->refs->v, a->refs->n, 8, u64_cmp);
		if (lo) {
			while (lo > a->refs->v && lo[-1] == seg)
				lo--;
			while (lo + want < a->refs->v + a->refs->n &&
			       lo[want] == seg)
				want++;
		}
		be64_put(k, seg);
		if (want)
			rc = db_put(t->txn, t->s->segments, k, 8, &want, 8);
		else if (db_del(t->txn, t->s->segments, k, 8) == 0)
			rc = post_freed(t, seg);
	}
	return rc;
}

int store_fsck(struct store *s, unsigned flags, struct store_fsck_report *r)
{
	struct fsck_ctx c = { .s = s, .r = r };
	struct u64v fix = { 0 };
	int rc;

	memset(r, 0, sizeof(*r));
	c.repair = flags & STORE_FSCK_REPAIR;
	c.deep_on = flags & STORE_FSCK_DEEP;
	if (c.repair && (s->flags & STORE_RDONLY))
		return -EROFS;
	rc = store_rtxn(s, &c.txn);
	if (rc)
		return rc;
	rc = check_objects(&c);
	if (!rc)
		rc = check_versions(&c);
	if (!rc)
		rc = check_counts(&c, &fix);
	if (!rc)
		rc = seg_scan(s, file_one, &c);
	mdb_txn_abort(c.txn);
	if (!rc && c.deep_on)
		rc = fsck_deep(s, c.deep.v, c.deep.n, c.repair, r);
	if (!rc && c.repair && fix.n) {
		struct fix_arg a = { &fix, &c.refs };

		rc = store_commit(s, fix_apply, &a, COMMIT_DURABLE, NULL, NULL);
	}
	if (!rc) {
		bool bad = r->missing_data || r->index_errors ||
			   r->short_data || r->bad_data;

		if (!c.repair)
			bad = bad || r->bad_refcounts || r->orphan_segments;
		rc = bad ? 1 : 0;
	}
	free(c.refs.v);
	free(c.known.v);
	free(c.orphans.v);
	free(c.deep.v);
	free(fix.v);
	return rc;
}
