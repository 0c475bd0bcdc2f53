/*
 * history.c - a key's list of versions: listing, lookup by id, exposing,
 * digests, restore, version-specific deletes, undelete; and the commit
 * hook that replication uses.
 *
 * Design: versions of a key are the range (oid, 1..) of the versions DB,
 * in vseq (= arrival) order; the object's head field names the newest by
 * id (time, store, counter), which is the last by vseq except where a
 * replica older than the current version arrived late (replica.c).
 * A restore is a new version sharing the old one's runs (no copy). Version
 * specific deletes never run the hook (S3 never replicates them). The
 * SHA-256 is computed lazily, outside any transaction, and then stored.
 */
#include "store_int.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

/* A record whose variable parts live in one malloc'ed buffer (*buf). */
int vrec_clone(const struct vrec *src, struct vrec *dst, void **buf)
{
	size_t rl = (size_t)src->nruns * RUN_BYTES;
	uint8_t *p = malloc(rl + src->xlen + src->tlen + 1);

	*buf = p;
	if (!p)
		return -ENOMEM;
	*dst = *src;
	memcpy(p, src->runs, rl);
	dst->runs = p;
	memcpy(p + rl, src->xattrs, src->xlen);
	dst->xattrs = p + rl;
	memcpy(p + rl + src->xlen, src->target, src->tlen);
	dst->target = (const char *)p + rl + src->xlen;
	return 0;
}

int hook_run(struct store_txn *t, uint64_t oid, uint64_t vseq, uint8_t type,
	     const struct vrec *v)
{
	struct store *s = t->s;
	struct store_vinfo vi;
	struct store_event ev;
	struct store_xattr *x = NULL;
	store_hook_fn fn;
	void *arg;
	char *key = NULL;
	int rc;

	pthread_mutex_lock(&s->qlock);
	fn = s->hook;
	arg = s->hook_arg;
	pthread_mutex_unlock(&s->qlock);
	if (!fn)
		return 0;
	memset(&ev, 0, sizeof(ev));
	rc = key_path_txn(s, t->txn, oid, &key);
	if (!rc)
		rc = xattrs_unpack(v, &x, &ev.nxattrs);
	if (rc)
		goto out;
	vinfo_fill(oid, vseq, type, v, &vi);
	ev.oid = oid;
	ev.key = key;
	ev.v = &vi;
	ev.xattrs = x;
	rc = fn(arg, t, &ev);
	if (t->post)
		t->post->hooked = true;
out:
	free(x);
	free(key);
	return rc > 0 ? -EIO : rc;
}

/* Show versions that crash recovery made to the first hook set. */
static int replay_apply(struct store_txn *t, void *varg)
{
	struct store *s = t->s;
	size_t i;
	int rc = 0;

	(void)varg;
	for (i = 0; i < s->nrecovered && !rc; i++) {
		struct store_event_rec *e = &s->recovered[i];
		struct vrec v;
		struct obj o;

		if (obj_get(s, t->txn, e->oid, &o) ||
		    vrec_get(s, t->txn, e->oid, e->vseq, &v))
			continue;	/* gone meanwhile */
		rc = hook_run(t, e->oid, e->vseq, o.type, &v);
	}
	return rc;
}

void store_set_hook(struct store *s, store_hook_fn fn, void *arg)
{
	bool replay;

	pthread_mutex_lock(&s->qlock);
	s->hook = fn;
	s->hook_arg = arg;
	replay = fn && s->nrecovered;
	pthread_mutex_unlock(&s->qlock);
	if (replay && !store_commit(s, replay_apply, NULL, 0, NULL, NULL)) {
		free(s->recovered);
		s->recovered = NULL;
		s->nrecovered = 0;
	}
}

/* ------------------------------------------------------------------ */
/* Reading history */

/* Walk versions of oid (vseq >= 1) in a transaction; fn as store_versions. */
static int walk(struct store *s, MDB_txn *txn, uint64_t oid,
		int (*fn)(void *arg, uint64_t vseq, const struct vrec *v),
		void *arg)
{
	uint8_t k[16];
	MDB_cursor *c = NULL;
	MDB_val key = { 16, k }, val;
	int rc, mrc;

	be64_put(k, oid);
	be64_put(k + 8, 1);
	rc = store_err(mdb_cursor_open(txn, s->versions, &c));
	if (rc)
		return rc;
	for (mrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE); !mrc;
	     mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		struct vrec v;

		if (key.mv_size != 16 || be64_get(key.mv_data) != oid)
			break;
		rc = vrec_decode(val.mv_data, val.mv_size, &v);
		if (!rc)
			rc = fn(arg, be64_get((uint8_t *)key.mv_data + 8), &v);
		if (rc)
			break;
	}
	if (!rc && mrc && mrc != MDB_NOTFOUND)
		rc = store_err(mrc);
	mdb_cursor_close(c);
	return rc;
}

struct list_ctx {
	uint64_t oid;
	uint8_t type;
	store_version_fn fn;
	void *arg;
	const char *vid;
	struct store_vinfo *out;
	uint64_t vseq;
};

static int list_one(void *arg, uint64_t vseq, const struct vrec *v)
{
	struct list_ctx *c = arg;
	struct store_vinfo vi;

	vinfo_fill(c->oid, vseq, c->type, v, &vi);
	return c->fn(c->arg, &vi);
}

int store_versions(struct store *s, uint64_t oid, store_version_fn fn,
		   void *arg)
{
	struct list_ctx c = { .oid = oid, .fn = fn, .arg = arg };
	MDB_txn *txn;
	struct obj o;
	int rc;

	rc = store_rtxn(s, &txn);
	if (rc)
		return rc;
	rc = obj_get(s, txn, oid, &o);
	if (!rc) {
		c.type = o.type;
		rc = walk(s, txn, oid, list_one, &c);
	}
	mdb_txn_abort(txn);
	return rc == 1 ? 0 : rc;
}

static int find_vid(void *arg, uint64_t vseq, const struct vrec *v)
{
	struct list_ctx *c = arg;

	if (strcmp(v->vid, c->vid))
		return 0;
	c->vseq = vseq;
	if (c->out)
		vinfo_fill(c->oid, vseq, c->type, v, c->out);
	return 1;
}

/* vseq of version vid of oid, in txn; -ENOENT if none. */
int vid_lookup(struct store *s, MDB_txn *txn, uint64_t oid, uint8_t type,
	       const char *vid, uint64_t *vseq, struct store_vinfo *out)
{
	struct list_ctx c = { .oid = oid, .type = type, .vid = vid,
			      .out = out };
	int rc;

	if (!vid || strlen(vid) != STORE_VID_LEN)
		return -ENOENT;
	rc = walk(s, txn, oid, find_vid, &c);
	if (rc == 1) {
		*vseq = c.vseq;
		return 0;
	}
	return rc ? rc : -ENOENT;
}

int store_version_by_id(struct store *s, uint64_t oid, const char *vid,
			struct store_vinfo *out)
{
	MDB_txn *txn;
	struct obj o;
	uint64_t vseq;
	int rc;

	rc = store_rtxn(s, &txn);
	if (rc)
		return rc;
	rc = obj_get(s, txn, oid, &o);
	if (!rc)
		rc = vid_lookup(s, txn, oid, o.type, vid, &vseq, out);
	mdb_txn_abort(txn);
	return rc;
}

int store_version_get(struct store *s, uint64_t oid, uint64_t vseq,
		      struct store_vinfo *out)
{
	MDB_txn *txn;
	struct obj o;
	struct vrec v;
	int rc;

	rc = store_rtxn(s, &txn);
	if (rc)
		return rc;
	rc = obj_get(s, txn, oid, &o);
	if (!rc)
		rc = vrec_get(s, txn, oid, vseq, &v);
	if (!rc)
		vinfo_fill(oid, vseq, o.type, &v, out);
	mdb_txn_abort(txn);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Expose and digest */

struct mark_arg {
	uint64_t oid, vseq;
	const char *vid;	/* sha: only if still this version */
	const uint8_t *sha;	/* NULL: expose */
};

static int mark_apply(struct store_txn *t, void *varg)
{
	struct mark_arg *a = varg;
	struct vrec v;
	int rc;

	rc = vrec_get(t->s, t->txn, a->oid, a->vseq, &v);
	if (rc)
		return rc;
	if (a->sha) {
		if (strcmp(v.vid, a->vid))
			return 0;
		memcpy(v.sha256, a->sha, 32);
		v.flags |= STORE_V_HAS_SHA;
	} else {
		if (v.flags & V_EXPOSED)
			return 0;
		v.flags |= V_EXPOSED;
	}
	return vrec_put(t->s, t->txn, a->oid, a->vseq, &v);
}

/* Read the record of (oid, vseq or head) and its type. */
static int rec_peek(struct store *s, uint64_t oid, uint64_t *vseq,
		    uint32_t *flags, char *vid, uint8_t *type,
		    uint8_t sha[32])
{
	MDB_txn *txn;
	struct obj o;
	struct vrec v;
	int rc;

	rc = store_rtxn(s, &txn);
	if (rc)
		return rc;
	rc = obj_get(s, txn, oid, &o);
	if (!rc && !*vseq)
		*vseq = o.head;
	if (!rc)
		rc = *vseq ? vrec_get(s, txn, oid, *vseq, &v) : -ENOENT;
	if (!rc) {
		*flags = v.flags;
		*type = o.type;
		memcpy(vid, v.vid, STORE_VID_LEN + 1);
		memcpy(sha, v.sha256, 32);
	}
	mdb_txn_abort(txn);
	return rc;
}

int store_expose(struct store *s, uint64_t oid, uint64_t vseq)
{
	struct mark_arg a = { oid, vseq, NULL, NULL };
	char vid[STORE_VID_LEN + 1];
	uint8_t type, sha[32];
	uint32_t flags;
	int rc;

	rc = rec_peek(s, oid, &a.vseq, &flags, vid, &type, sha);
	if (rc || (flags & V_EXPOSED) || (s->flags & STORE_RDONLY))
		return rc;
	return store_commit(s, mark_apply, &a, 0, NULL, NULL);
}

struct damage_arg {
	uint64_t oid, vseq;
	const uint8_t *sha;
	bool marked;			/* out: newly marked */
	char vid[STORE_VID_LEN + 1];	/* out */
};

static int damage_apply(struct store_txn *t, void *varg)
{
	struct damage_arg *a = varg;
	struct vrec v;
	int rc;

	a->marked = false;
	rc = vrec_get(t->s, t->txn, a->oid, a->vseq, &v);
	if (rc || (v.flags & STORE_V_DAMAGED) ||
	    !(v.flags & STORE_V_HAS_SHA) || memcmp(v.sha256, a->sha, 32))
		return rc;
	v.flags |= STORE_V_DAMAGED;
	memcpy(a->vid, v.vid, sizeof(a->vid));
	rc = vrec_put(t->s, t->txn, a->oid, a->vseq, &v);
	a->marked = !rc;
	return rc;
}

int store_mark_damaged(struct store *s, uint64_t oid, uint64_t vseq,
		       const uint8_t sha[32])
{
	struct damage_arg a = { .oid = oid, .vseq = vseq, .sha = sha };
	char *key = NULL;
	int rc;

	rc = store_commit(s, damage_apply, &a, 0, NULL, NULL);
	if (rc || !a.marked)
		return rc;
	if (store_key_path(s, oid, &key))
		key = NULL;
	log_error("data of key '%s' version %s is damaged: marked; reads "
		  "fail with EIO until it is restored or purged",
		  key ? key : "?", a.vid);
	free(key);
	return 0;
}

int store_file_sha256(struct store_file *f, uint8_t out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *buf = malloc(1 << 20);
	uint64_t off = 0;
	int rc = ctx && buf ? 0 : -ENOMEM;

	if (!rc)
		EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while (!rc) {
		ssize_t n = store_file_read(f, buf, 1 << 20, off);

		if (n <= 0) {
			rc = (int)n;
			break;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		off += (uint64_t)n;
	}
	if (!rc)
		EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	free(buf);
	return rc;
}

/* A symlink's bytes are its target; a folder's are none. */
static int sha_data(struct store *s, uint64_t oid, uint64_t vseq,
		    uint8_t type, uint8_t out[32])
{
	struct store_file *f = NULL;
	char *target = NULL;
	int rc = 0;

	if (type == STORE_T_FILE) {
		rc = store_file_open(s, oid, vseq, &f);
		if (!rc)
			rc = store_file_sha256(f, out);
		store_file_free(f);
		return rc;
	}
	if (type == STORE_T_SYMLINK)
		rc = store_readlink(s, oid, vseq, &target);
	if (!rc && !EVP_Digest(target ? target : "",
			       target ? strlen(target) : 0, out, NULL,
			       EVP_sha256(), NULL))
		rc = -ENOMEM;
	free(target);
	return rc;
}

int store_sha256(struct store *s, uint64_t oid, uint64_t vseq,
		 uint8_t out[32])
{
	char vid[STORE_VID_LEN + 1];
	struct mark_arg a = { oid, vseq, vid, out };
	uint32_t flags;
	uint8_t type;
	int rc;

	rc = rec_peek(s, oid, &a.vseq, &flags, vid, &type, out);
	if (rc || (flags & STORE_V_HAS_SHA))
		return rc;
	if (flags & STORE_V_DELETE_MARKER)
		return -ENODATA;
	rc = sha_data(s, oid, a.vseq, type, out);
	if (rc || (s->flags & STORE_RDONLY))
		return rc;
	/* Keeping it is an optimisation: a failure here is not an error. */
	store_commit(s, mark_apply, &a, 0, NULL, NULL);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Restore, version-specific deletes, undelete */

static int ancestors_revive(struct store_txn *t, uint64_t parent);

struct restore_arg {
	uint64_t oid;
	const char *vid;
	struct store_entry *out;
};

static int restore_apply(struct store_txn *t, void *varg)
{
	struct restore_arg *a = varg;
	struct store *s = t->s;
	struct vrec v, nv;
	struct obj o;
	uint64_t vseq;
	void *buf = NULL;
	int rc;

	rc = obj_get(s, t->txn, a->oid, &o);
	if (!rc)
		rc = vid_lookup(s, t->txn, a->oid, o.type, a->vid, &vseq, NULL);
	if (!rc)
		rc = vrec_get(s, t->txn, a->oid, vseq, &v);
	if (rc)
		return rc;
	if (v.flags & STORE_V_DELETE_MARKER)
		return -EINVAL;
	if (o.flags & OBJ_DEAD) {
		rc = conflict_check(t, a->oid, &o);
		if (!rc)
			rc = ancestors_revive(t, o.parent);
		if (rc)
			return rc;
	}
	rc = vrec_clone(&v, &nv, &buf);
	if (!rc && obj_pending(&o))
		rc = draft_drop(t, a->oid, &o);
	if (!rc) {
		nv.flags &= V_SAME_BYTES;	/* same bytes, same digest */
		nv.attr.ctime_ns = store_now_ns();
		rc = version_add(t, a->oid, &o, &nv, true);
	}
	free(buf);
	if (!rc && a->out)
		rc = entry_fill(s, t->txn, a->oid, &o, a->out);
	return rc;
}

int store_restore(struct store *s, uint64_t oid, const char *vid,
		  struct store_entry *out)
{
	struct restore_arg a = { oid, vid, out };

	return store_commit(s, restore_apply, &a, 0, NULL, NULL);
}

struct newest {
	uint64_t vseq;
	bool dead;
	char vid[STORE_VID_LEN + 1];
};

/* The newest by id, not by vseq: an older replica may arrive late. */
static int newest_one(void *arg, uint64_t vseq, const struct vrec *v)
{
	struct newest *n = arg;

	if (n->vseq && strcmp(v->vid, n->vid) <= 0)
		return 0;
	n->vseq = vseq;
	n->dead = v->flags & STORE_V_DELETE_MARKER;
	memcpy(n->vid, v->vid, sizeof(n->vid));
	return 0;
}

/* After versions were removed: point the head at the newest left. */
static int head_recompute(struct store_txn *t, uint64_t oid, struct obj *o)
{
	struct newest last = { 0 };
	bool was_dead = o->flags & OBJ_DEAD;
	int rc;

	rc = walk(t->s, t->txn, oid, newest_one, &last);
	if (rc)
		return rc;
	if (!last.vseq) {
		/* No history left at all: the key goes. */
		rc = draft_drop(t, oid, o);
		return rc ? rc : key_remove(t, oid, o);
	}
	o->head = last.vseq;
	if (last.dead)
		o->flags |= OBJ_DEAD;
	else
		o->flags &= ~OBJ_DEAD;
	if (was_dead && !last.dead) {
		rc = conflict_check(t, oid, o);
		if (rc)
			return rc;
	}
	return obj_put(t->s, t->txn, oid, o);
}

struct delv_arg {
	uint64_t oid, vseq;
	bool purge;
};

static int delv_apply(struct store_txn *t, void *varg)
{
	struct delv_arg *a = varg;
	struct vrec v;
	struct obj o;
	int rc;

	if (!a->vseq)
		return -EINVAL;
	rc = obj_get(t->s, t->txn, a->oid, &o);
	if (!rc)
		rc = vrec_get(t->s, t->txn, a->oid, a->vseq, &v);
	if (rc)
		return rc;
	if (!(v.flags & STORE_V_DELETE_MARKER)) {
		if (!a->purge)
			return -EPERM;
		rc = refs_adjust(t, &v, -1);
	}
	if (!rc)
		rc = vrec_del(t->s, t->txn, a->oid, a->vseq);
	if (!rc)
		rc = head_recompute(t, a->oid, &o);
	return rc;
}

int store_delete_version(struct store *s, uint64_t oid, uint64_t vseq,
			 bool allow_purge)
{
	struct delv_arg a = { oid, vseq, allow_purge };

	return store_commit(s, delv_apply, &a, 0, NULL, NULL);
}

/* Take the delete markers off the top of dead key oid (version-specific
 * deletes); -ENOENT when only markers are left. */
static int markers_strip(struct store_txn *t, uint64_t oid, struct obj *o)
{
	struct vrec v;
	int rc;

	while (o->flags & OBJ_DEAD) {
		rc = vrec_get(t->s, t->txn, oid, o->head, &v);
		if (!rc && !(v.flags & STORE_V_DELETE_MARKER))
			rc = -EIO;	/* head flag and record disagree */
		if (!rc)
			rc = vrec_del(t->s, t->txn, oid, o->head);
		if (!rc)
			rc = head_recompute(t, oid, o);
		if (rc)
			return rc;
		if (obj_get(t->s, t->txn, oid, o))
			return -ENOENT;	/* only markers: nothing to show */
	}
	return 0;
}

/*
 * In S3 a folder is only a prefix: a key that comes back makes its
 * folders exist again. Here folders are keys of their own, so every dead
 * folder above a key that is undeleted or restored comes back too, top
 * down, in the same transaction, the same way the key itself does (its
 * markers are stripped: a version-specific delete, never replicated).
 * Without this the key would come back out of sight, and the caller would
 * be told it worked.
 */
static int ancestors_revive(struct store_txn *t, uint64_t parent)
{
	uint64_t *chain = NULL, *grown;
	size_t n = 0, cap = 0;
	struct obj o;
	int rc = 0;

	while (parent != STORE_ROOT_OID) {
		rc = obj_get(t->s, t->txn, parent, &o);
		if (rc || (o.head && !(o.flags & OBJ_DEAD)))
			break;	/* a live folder: everything above is live */
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			grown = realloc(chain, cap * sizeof(*chain));
			if (!grown) {
				rc = -ENOMEM;
				break;
			}
			chain = grown;
		}
		chain[n++] = parent;
		parent = o.parent;
	}
	while (!rc && n--) {
		rc = obj_get(t->s, t->txn, chain[n], &o);
		if (!rc && !o.head)
			rc = -ENOENT;
		if (!rc)
			rc = conflict_check(t, chain[n], &o);
		if (!rc)
			rc = markers_strip(t, chain[n], &o);
	}
	free(chain);
	return rc;
}

static int undelete_apply(struct store_txn *t, void *varg)
{
	uint64_t oid = *(uint64_t *)varg;
	struct obj o;
	int rc;

	rc = obj_get(t->s, t->txn, oid, &o);
	if (rc)
		return rc;
	if (!o.head || !(o.flags & OBJ_DEAD))
		return -ENOENT;
	rc = markers_strip(t, oid, &o);
	return rc ? rc : ancestors_revive(t, o.parent);
}

int store_undelete(struct store *s, uint64_t oid)
{
	return store_commit(s, undelete_apply, &oid, 0, NULL, NULL);
}
