/*
 * ns.c - the namespace index: dirents, lookups, listing, and the key
 * helpers the mutating files share (new key, new version, remove key).
 *
 * Design: a dirent key is parent oid (8 bytes big-endian) + name + NUL +
 * kind (0 file or symlink, 1 folder). So the children of one folder are
 * one contiguous range, listed by a cursor in name order at a cost of
 * their own count; the two keys of one name ("x" and "x/") are adjacent;
 * and "after name" is simply the first key >= parent + name + 0x01. Dead
 * keys stay (their history is browsable); listings skip them.
 */
#include "store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/vid.h"

size_t dirent_key(uint8_t *k, uint64_t parent, const char *name,
		  size_t namelen, int kind)
{
	be64_put(k, parent);
	memcpy(k + 8, name, namelen);
	k[8 + namelen] = 0;
	k[9 + namelen] = (uint8_t)kind;
	return 10 + namelen;
}

int name_check(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return -EINVAL;
	if (n > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int dirent_get(struct store *s, MDB_txn *txn, uint64_t parent,
	       const char *name, int kind, uint64_t *oid)
{
	uint8_t k[16 + STORE_NAME_MAX];
	MDB_val v;
	int rc;

	rc = db_get(txn, s->dirents, k,
		    dirent_key(k, parent, name, strlen(name), kind), &v);
	if (rc)
		return rc;
	if (v.mv_size != 8)
		return -EIO;
	*oid = be64_get(v.mv_data);
	return 0;
}

int lookup_txn(struct store *s, MDB_txn *txn, uint64_t parent,
	       const char *name, bool any, uint64_t *oid, struct obj *o)
{
	uint64_t ids[2];
	struct obj objs[2];
	bool have[2] = { false, false };
	int kind, rc, pick = -1;

	if (name_check(name))
		return strlen(name) > STORE_NAME_MAX ? -ENAMETOOLONG : -ENOENT;
	for (kind = 0; kind < 2; kind++) {
		rc = dirent_get(s, txn, parent, name, kind, &ids[kind]);
		if (rc == -ENOENT)
			continue;
		if (!rc)
			rc = obj_get(s, txn, ids[kind], &objs[kind]);
		if (rc)
			return rc;
		have[kind] = true;
	}
	/* Live beats dead; among dead ones, the folder. */
	for (kind = 1; kind >= 0; kind--)
		if (have[kind] && obj_alive(&objs[kind]) && pick < 0)
			pick = kind;
	if (pick < 0 && any)
		pick = have[1] ? 1 : have[0] ? 0 : -1;
	if (pick < 0)
		return -ENOENT;
	*oid = ids[pick];
	*o = objs[pick];
	return 0;
}

static int lookup(struct store *s, uint64_t parent, const char *name,
		  bool any, struct store_entry *out)
{
	MDB_txn *txn;
	struct obj o;
	uint64_t oid;
	int rc;

	rc = store_rtxn(s, &txn);
	if (rc)
		return rc;
	rc = lookup_txn(s, txn, parent, name, any, &oid, &o);
	if (!rc)
		rc = entry_fill(s, txn, oid, &o, out);
	mdb_txn_abort(txn);
	return rc;
}

int store_lookup(struct store *s, uint64_t parent, const char *name,
		 struct store_entry *out)
{
	return lookup(s, parent, name, false, out);
}

int store_lookup_any(struct store *s, uint64_t parent, const char *name,
		     struct store_entry *out)
{
	return lookup(s, parent, name, true, out);
}

int store_stat(struct store *s, uint64_t oid, struct store_entry *out)
{
	MDB_txn *txn;
	struct obj o;
	int rc;

	rc = store_rtxn(s, &txn);
	if (rc)
		return rc;
	rc = obj_get(s, txn, oid, &o);
	if (!rc)
		rc = entry_fill(s, txn, oid, &o, out);
	mdb_txn_abort(txn);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Listing */

struct rd_group {
	char name[STORE_NAME_MAX + 1];
	uint64_t oid;
	struct obj o;
	bool set;
};

static int group_emit(struct store *s, MDB_txn *txn, struct rd_group *g,
		      unsigned flags, store_dirent_fn fn, void *arg)
{
	struct store_entry e;
	int rc;

	if (!g->set || (!(flags & STORE_RD_ALL) && !obj_alive(&g->o)))
		return 0;
	rc = entry_fill(s, txn, g->oid, &g->o, &e);
	if (rc)
		return rc;
	return fn(arg, g->name, &e);
}

int store_readdir(struct store *s, uint64_t dir, const char *after,
		  unsigned flags, store_dirent_fn fn, void *arg)
{
	uint8_t k[16 + STORE_NAME_MAX];
	struct rd_group g = { .set = false };
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	MDB_val key, val;
	size_t kl = 8;
	int rc, mrc;

	rc = store_rtxn(s, &txn);
	if (rc)
		return rc;
	rc = store_err(mdb_cursor_open(txn, s->dirents, &c));
	if (rc)
		goto out;
	be64_put(k, dir);
	if (after && *after && strlen(after) <= STORE_NAME_MAX) {
		memcpy(k + 8, after, strlen(after));
		kl = 8 + strlen(after);
		k[kl++] = 1;	/* just past every key of that name */
	}
	key.mv_data = k;
	key.mv_size = kl;
	for (mrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE); !mrc;
	     mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		const uint8_t *kp = key.mv_data;
		size_t nl;
		struct obj o;
		uint64_t oid;

		if (key.mv_size < 11 || be64_get(kp) != dir)
			break;
		nl = key.mv_size - 10;
		if (val.mv_size != 8 || nl > STORE_NAME_MAX) {
			rc = -EIO;
			goto out;
		}
		oid = be64_get(val.mv_data);
		rc = obj_get(s, txn, oid, &o);
		if (rc)
			goto out;
		if (!g.set || strlen(g.name) != nl ||
		    memcmp(g.name, kp + 8, nl)) {
			rc = group_emit(s, txn, &g, flags, fn, arg);
			if (rc)
				goto out;
			memcpy(g.name, kp + 8, nl);
			g.name[nl] = '\0';
			g.oid = oid;
			g.o = o;
			g.set = true;
		} else if (obj_alive(&o) || !obj_alive(&g.o)) {
			/* Second key of the same name: the folder one. */
			g.oid = oid;
			g.o = o;
		}
	}
	if (mrc && mrc != MDB_NOTFOUND) {
		rc = store_err(mrc);
		goto out;
	}
	rc = group_emit(s, txn, &g, flags, fn, arg);
out:
	if (c)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc == 1 ? 0 : rc;
}

int dir_children_count(struct store *s, MDB_txn *txn, uint64_t dir,
		       bool dirs_only, uint64_t most, uint64_t *n)
{
	uint8_t k[8];
	MDB_cursor *c = NULL;
	MDB_val key = { 8, k }, val;
	int rc, mrc;

	*n = 0;
	be64_put(k, dir);
	rc = store_err(mdb_cursor_open(txn, s->dirents, &c));
	for (mrc = rc ? MDB_NOTFOUND : mdb_cursor_get(c, &key, &val,
						      MDB_SET_RANGE);
	     !mrc; mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		const uint8_t *kp = key.mv_data;
		struct obj o;

		if (key.mv_size < 11 || be64_get(kp) != dir)
			break;
		/* The kind byte spares a folder count every file's record. */
		if (dirs_only && kp[key.mv_size - 1] != KIND_DIR)
			continue;
		rc = val.mv_size == 8 ? obj_get(s, txn, be64_get(val.mv_data),
						 &o) : -EIO;
		if (rc || (obj_alive(&o) && ++*n == most))
			break;
	}
	if (!rc && mrc && mrc != MDB_NOTFOUND)
		rc = store_err(mrc);
	if (c)
		mdb_cursor_close(c);
	return rc;
}

int dir_has_children_txn(struct store *s, MDB_txn *txn, uint64_t dir)
{
	uint64_t n;
	int rc = dir_children_count(s, txn, dir, false, 1, &n);

	return rc ? rc : n > 0;
}

int store_dir_has_children(struct store *s, uint64_t dir)
{
	MDB_txn *txn;
	int rc;

	rc = store_rtxn(s, &txn);
	if (rc)
		return rc;
	rc = dir_has_children_txn(s, txn, dir);
	mdb_txn_abort(txn);
	return rc;
}

int store_resolve(struct store *s, const char *path, struct store_entry *out)
{
	char *copy = strdup(path), *p, *slash;
	uint64_t cur = STORE_ROOT_OID;
	MDB_txn *txn = NULL;
	struct obj o;
	int rc;

	if (!copy)
		return -ENOMEM;
	rc = store_rtxn(s, &txn);
	if (rc)
		goto out;
	rc = obj_get(s, txn, cur, &o);
	for (p = copy; !rc && *p; p = slash ? slash + 1 : p + strlen(p)) {
		slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		if (!*p)
			continue;
		if (o.type != STORE_T_DIR) {
			rc = -ENOTDIR;
			break;
		}
		rc = lookup_txn(s, txn, cur, p, false, &cur, &o);
		if (!rc && slash && o.type != STORE_T_DIR)
			rc = -ENOTDIR;
	}
	if (!rc)
		rc = entry_fill(s, txn, cur, &o, out);
out:
	if (txn)
		mdb_txn_abort(txn);
	free(copy);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Helpers for mutations; all run inside the committer's transaction. */

void vid_next(struct store_txn *t, uint64_t *vseq, struct vrec *v)
{
	struct store *s = t->s;
	int64_t now = store_now_ns();
	uint64_t ms = (uint64_t)now / 1000000;

	/* Keep the id's time monotonic so ids sort in creation order. */
	if (ms < s->last_ms)
		ms = s->last_ms;
	s->last_ms = ms;
	*vseq = s->next_vseq++;
	vid_format(ms, s->tag, *vseq, v->vid);
	v->btime_ns = now;
	v->deadline_ns = now + (int64_t)s->amend_ms * 1000000;
}

int parent_check(struct store *s, MDB_txn *txn, uint64_t parent)
{
	struct obj o;
	int rc = obj_get(s, txn, parent, &o);

	if (rc)
		return rc;
	if (o.type != STORE_T_DIR)
		return -ENOTDIR;
	return o.head && !(o.flags & OBJ_DEAD) ? 0 : -ENOENT;
}

int key_new(struct store_txn *t, uint64_t parent, const char *name,
	    uint8_t type, uint64_t *oid, struct obj *o)
{
	struct store *s = t->s;
	uint8_t k[16 + STORE_NAME_MAX], v[8];
	size_t nl = strlen(name);
	int rc;

	/* A dead key of that name and kind: same S3 key, history goes on. */
	rc = dirent_get(s, t->txn, parent, name,
			type == STORE_T_DIR ? KIND_DIR : KIND_FILE, oid);
	if (!rc) {
		rc = obj_get(s, t->txn, *oid, o);
		if (rc)
			return rc;
		if (obj_alive(o))
			return -EEXIST;
		o->type = type;
		return obj_put(s, t->txn, *oid, o);
	}
	if (rc != -ENOENT)
		return rc;
	memset(o, 0, sizeof(*o));
	o->parent = parent;
	o->type = type;
	o->namelen = (uint16_t)nl;
	memcpy(o->name, name, nl);
	*oid = s->next_oid++;
	be64_put(v, *oid);
	rc = db_put(t->txn, s->dirents, k,
		    dirent_key(k, parent, name, nl,
			       type == STORE_T_DIR ? KIND_DIR : KIND_FILE),
		    v, 8);
	if (!rc)
		rc = obj_put(s, t->txn, *oid, o);
	return rc;
}

int pending_put(struct store_txn *t, uint64_t oid, struct obj *o,
		const struct vrec *v, bool pending)
{
	uint8_t k[8];
	int rc;

	be64_put(k, oid);
	rc = vrec_put(t->s, t->txn, oid, 0, v);
	if (!rc)
		rc = db_put(t->txn, t->s->drafts, k, 8, "", 0);
	if (pending && o->head)
		o->flags |= OBJ_PENDING;
	if (v->flags & V_DRAFT)
		o->flags |= OBJ_DRAFT;
	return rc ? rc : obj_put(t->s, t->txn, oid, o);
}

/* A pending key goes: without history entirely, else back to dead. */
int pending_end(struct store_txn *t, uint64_t oid, struct obj *o)
{
	int rc;

	if (!o->head)
		return key_remove(t, oid, o);
	rc = draft_drop(t, oid, o);
	o->flags &= ~OBJ_PENDING;
	return rc ? rc : obj_put(t->s, t->txn, oid, o);
}

int draft_drop(struct store_txn *t, uint64_t oid, struct obj *o)
{
	struct vrec v;
	uint8_t k[8];
	int rc;

	rc = vrec_get(t->s, t->txn, oid, 0, &v);
	if (rc == -ENOENT)
		return 0;
	if (!rc)
		rc = refs_adjust(t, &v, -1);
	if (!rc)
		rc = vrec_del(t->s, t->txn, oid, 0);
	be64_put(k, oid);
	if (!rc) {
		rc = db_del(t->txn, t->s->drafts, k, 8);
		if (rc == -ENOENT)
			rc = 0;
	}
	o->flags &= ~OBJ_DRAFT;
	return rc;
}

int version_add(struct store_txn *t, uint64_t oid, struct obj *o,
		struct vrec *v, bool hook)
{
	uint64_t vseq;

	vid_next(t, &vseq, v);
	v->flags &= ~(unsigned)(V_EXPOSED | V_DRAFT);
	return version_link(t, oid, o, vseq, v, hook);
}

int version_link(struct store_txn *t, uint64_t oid, struct obj *o,
		 uint64_t vseq, const struct vrec *v, bool hook)
{
	int rc;

	rc = vrec_put(t->s, t->txn, oid, vseq, v);
	if (!rc)
		rc = refs_adjust(t, v, +1);
	if (rc)
		return rc;
	o->head = vseq;
	o->flags &= ~OBJ_PENDING;
	if (v->flags & STORE_V_DELETE_MARKER)
		o->flags |= OBJ_DEAD;
	else
		o->flags &= ~OBJ_DEAD;
	rc = obj_put(t->s, t->txn, oid, o);
	if (!rc && hook)
		rc = hook_run(t, oid, vseq, o->type, v);
	return rc;
}

int key_remove(struct store_txn *t, uint64_t oid, const struct obj *o)
{
	struct store *s = t->s;
	uint8_t k[16 + STORE_NAME_MAX];
	MDB_cursor *c = NULL;
	MDB_val key, val;
	int rc, mrc;

	rc = store_err(mdb_cursor_open(t->txn, s->versions, &c));
	if (rc)
		return rc;
	/* Search afresh after each delete: simple and always valid. */
	for (;;) {
		struct vrec v;

		be64_put(k, oid);
		be64_put(k + 8, 0);
		key.mv_data = k;
		key.mv_size = 16;
		mrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
		if (mrc == MDB_NOTFOUND)
			break;
		rc = store_err(mrc);
		if (rc)
			break;
		if (key.mv_size != 16 || be64_get(key.mv_data) != oid)
			break;
		rc = vrec_decode(val.mv_data, val.mv_size, &v);
		if (!rc)
			rc = refs_adjust(t, &v, -1);
		if (!rc)
			rc = store_err(mdb_cursor_del(c, 0));
		if (rc)
			break;
	}
	mdb_cursor_close(c);
	if (rc)
		return rc;
	rc = db_del(t->txn, s->dirents, k,
		    dirent_key(k, o->parent, o->name, o->namelen,
			       o->type == STORE_T_DIR ? KIND_DIR : KIND_FILE));
	be64_put(k, oid);
	if (!rc)
		rc = db_del(t->txn, s->objects, k, 8);
	if (!rc) {
		rc = db_del(t->txn, s->drafts, k, 8);
		if (rc == -ENOENT)
			rc = 0;
	}
	if (!rc && obj_alive(o) && o->parent)
		rc = dir_changed(s, t->txn, o->parent,
				 o->type == STORE_T_DIR ? -1 : 0);
	return rc;
}

int conflict_check(struct store_txn *t, uint64_t oid, const struct obj *o)
{
	uint64_t other;
	struct obj oo;
	int rc;

	rc = dirent_get(t->s, t->txn, o->parent, o->name,
			o->type == STORE_T_DIR ? KIND_FILE : KIND_DIR, &other);
	if (rc == -ENOENT)
		return 0;
	if (!rc)
		rc = obj_get(t->s, t->txn, other, &oo);
	if (rc)
		return rc;
	return other != oid && obj_alive(&oo) ? -EEXIST : 0;
}
