/*
 * rename.c - rename(2) in S3 terms: the new key gets a version sharing the
 * old head's runs (no data is copied), the old key gets a delete marker,
 * all in one transaction; a folder takes every live key below it along.
 *
 * Design: keys never move (an oid is one key path forever), so a rename
 * makes or reuses keys at the destination and reports through the remap
 * callback which oid now holds which content. A key nobody outside has
 * seen yet (pending, or one version still inside its amend window and not
 * exposed) moves without a trace: its record (same id, a new vseq) goes to
 * the new key and the old key disappears, so rsync's temporary files leave no delete markers.
 * RENAME_EXCHANGE swaps the content of two files or symlinks as two new
 * versions; exchanging folders is refused with -EINVAL (documented).
 */
#include "store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct child {
	uint64_t oid;
	char name[STORE_NAME_MAX + 1];
};

/* Live and pending children of dir, copied out (the move edits the DB). */
static int children_list(struct store_txn *t, uint64_t dir,
			 struct child **out, size_t *n, bool *any)
{
	uint8_t k[8];
	MDB_cursor *c = NULL;
	MDB_val key = { 8, k }, val;
	struct child *arr = NULL, *tmp;
	size_t cap = 0;
	int rc, mrc;

	*n = 0;
	*any = false;
	be64_put(k, dir);
	rc = store_err(mdb_cursor_open(t->txn, t->s->dirents, &c));
	if (rc)
		return rc;
	for (mrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE); !mrc;
	     mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		size_t nl = key.mv_size - 10;
		struct obj o;
		uint64_t oid;

		if (key.mv_size < 11 || be64_get(key.mv_data) != dir)
			break;
		*any = true;
		if (val.mv_size != 8 || nl > STORE_NAME_MAX) {
			rc = -EIO;
			break;
		}
		oid = be64_get(val.mv_data);
		rc = obj_get(t->s, t->txn, oid, &o);
		if (rc)
			break;
		if (!obj_alive(&o))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			tmp = realloc(arr, cap * sizeof(*arr));
			if (!tmp) {
				rc = -ENOMEM;
				break;
			}
			arr = tmp;
		}
		arr[*n].oid = oid;
		memcpy(arr[*n].name, (uint8_t *)key.mv_data + 8, nl);
		arr[*n].name[nl] = '\0';
		(*n)++;
	}
	mdb_cursor_close(c);
	if (rc) {
		free(arr);
		return rc;
	}
	*out = arr;
	return 0;
}

static int count_two(void *arg, uint64_t vseq, const struct vrec *v)
{
	(void)vseq;
	(void)v;
	return ++*(int *)arg >= 2 ? 1 : 0;
}

/* Nobody outside saw this key: it may vanish instead of being deleted. */
static int key_movable(struct store_txn *t, uint64_t oid, const struct obj *o,
		       const struct vrec *head, bool *movable)
{
	uint8_t k[16];
	MDB_cursor *c = NULL;
	MDB_val key = { 16, k }, val;
	int n = 0, rc, mrc;

	*movable = false;
	if (obj_pending(o)) {
		*movable = true;
		return 0;
	}
	if (store_now_ns() >= head->deadline_ns || (head->flags & V_EXPOSED))
		return 0;
	be64_put(k, oid);
	be64_put(k + 8, 1);
	rc = store_err(mdb_cursor_open(t->txn, t->s->versions, &c));
	if (rc)
		return rc;
	for (mrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE); !mrc && n < 2;
	     mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		if (key.mv_size != 16 || be64_get(key.mv_data) != oid)
			break;
		count_two(&n, 0, NULL);
	}
	mdb_cursor_close(c);
	*movable = n == 1;
	return 0;
}

/* Copy the draft of src (if any) to dst, counted. */
static int draft_copy(struct store_txn *t, uint64_t src, uint64_t dst,
		      struct obj *dobj, bool pending)
{
	struct vrec v, nv;
	void *buf = NULL;
	int rc;

	rc = vrec_get(t->s, t->txn, src, 0, &v);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	rc = draft_drop(t, dst, dobj);
	if (!rc)
		rc = vrec_get(t->s, t->txn, src, 0, &v);
	if (!rc)
		rc = vrec_clone(&v, &nv, &buf);
	if (!rc)
		rc = refs_adjust(t, &nv, +1);
	if (!rc)
		rc = pending_put(t, dst, dobj, &nv, pending);
	free(buf);
	return rc;
}

static int move_key(struct store_txn *t, uint64_t soid, struct obj *so,
		    uint64_t dparent, const char *dname, uint64_t doid,
		    struct obj *dobj);

static int move_children(struct store_txn *t, uint64_t soid, uint64_t newoid,
			 bool *left)
{
	struct child *kids = NULL;
	size_t i, n;
	bool any;
	int rc;

	rc = children_list(t, soid, &kids, &n, &any);
	for (i = 0; !rc && i < n; i++) {
		struct obj co;

		rc = obj_get(t->s, t->txn, kids[i].oid, &co);
		if (!rc)
			rc = move_key(t, kids[i].oid, &co, newoid,
				      kids[i].name, 0, NULL);
	}
	free(kids);
	if (!rc)
		rc = children_list(t, soid, &kids, &n, left);
	if (!rc)
		free(kids);
	return rc;
}

/*
 * Give the content of key soid to dparent/dname (existing key doid, or a
 * new key when doid is 0), then delete or drop soid.
 */
static int move_key(struct store_txn *t, uint64_t soid, struct obj *so,
		    uint64_t dparent, const char *dname, uint64_t doid,
		    struct obj *dobj)
{
	struct store *s = t->s;
	struct vrec v, nv;
	struct obj no;
	uint64_t newoid = doid;
	int64_t dmtime;
	void *buf = NULL;
	bool movable, left = false;
	int rc;

	rc = vrec_get(s, t->txn, soid, obj_cur(so), &v);
	if (!rc)
		rc = key_movable(t, soid, so, &v, &movable);
	if (!rc)
		rc = vrec_clone(&v, &nv, &buf);
	if (rc)
		return rc;
	if (doid) {
		no = *dobj;
		rc = post_remap(t, doid, 0);
		if (!rc)
			rc = draft_drop(t, doid, &no);
	} else {
		rc = key_new(t, dparent, dname, so->type, &newoid, &no);
	}
	if (!rc)
		rc = post_remap(t, soid, newoid);
	if (rc)
		goto out;
	/* The content keeps its inode number; the folder its entry time. */
	no.ino = obj_ino(so, soid);
	no.ino_given = true;
	dmtime = so->dmtime_ns ? so->dmtime_ns : nv.attr.mtime_ns;
	nv.flags &= ~(uint32_t)V_DRAFT;
	if (obj_pending(so) && !doid) {
		/* Pending stays pending: its first seal lands on newoid. */
		rc = draft_copy(t, soid, newoid, &no, true);
	} else if (movable && !doid && !obj_pending(so) && !no.head) {
		/*
		 * Same record, same id: the key never existed elsewhere. But
		 * a new vseq: vseqs must grow in commit order, since the
		 * replication queue ships in vseq order and loads only past
		 * what it has read; the old key's job finds its version gone
		 * and is dropped.
		 */
		nv.attr.ctime_ns = store_now_ns();
		rc = version_link(t, newoid, &no, s->next_vseq++, &nv, true);
	} else {
		nv.flags &= V_SAME_BYTES;
		nv.attr.ctime_ns = store_now_ns();
		rc = version_add(t, newoid, &no, &nv, true);
	}
	if (!rc && !obj_pending(so) && (so->flags & OBJ_DRAFT))
		rc = draft_copy(t, soid, newoid, &no, false);
	if (!rc && so->type == STORE_T_DIR)
		rc = move_children(t, soid, newoid, &left);
	if (!rc && so->type == STORE_T_DIR)
		rc = dir_times_set(s, t->txn, newoid, dmtime, store_now_ns());
	if (rc)
		goto out;
	/* A folder with dead children keeps its key: they hang below it. */
	if (obj_pending(so))
		rc = pending_end(t, soid, so);
	else if (movable && !left)
		rc = key_remove(t, soid, so);
	else
		rc = delete_marker_add(t, soid, so);
out:
	free(buf);
	return rc;
}

static int exchange(struct store_txn *t, uint64_t a, struct obj *ao,
		    uint64_t b, struct obj *bo)
{
	struct vrec va, vb, na, nb;
	void *bufa = NULL, *bufb = NULL;
	int rc;

	if (ao->type == STORE_T_DIR || bo->type == STORE_T_DIR ||
	    ao->type != bo->type)
		return -EINVAL;
	rc = vrec_get(t->s, t->txn, a, obj_cur(ao), &va);
	if (!rc)
		rc = vrec_clone(&va, &na, &bufa);
	if (!rc)
		rc = vrec_get(t->s, t->txn, b, obj_cur(bo), &vb);
	if (!rc)
		rc = vrec_clone(&vb, &nb, &bufb);
	if (!rc) {
		uint64_t ia = obj_ino(ao, a);

		ao->ino = obj_ino(bo, b);
		bo->ino = ia;
		na.flags &= V_SAME_BYTES;
		nb.flags &= V_SAME_BYTES;
		na.attr.ctime_ns = nb.attr.ctime_ns = store_now_ns();
		rc = version_add(t, a, ao, &nb, true);
	}
	if (!rc)
		rc = version_add(t, b, bo, &na, true);
	if (!rc)
		rc = post_remap(t, a, b);
	if (!rc)
		rc = post_remap(t, b, a);
	free(bufa);
	free(bufb);
	return rc;
}

struct rename_arg {
	uint64_t parent, newparent;
	const char *name, *newname;
	unsigned flags;
};

/* -EINVAL when dir is the folder 'anc' or lies below it. */
static int not_below(struct store_txn *t, uint64_t dir, uint64_t anc)
{
	struct obj o;
	int depth = 0, rc;

	while (dir && dir != STORE_ROOT_OID) {
		if (dir == anc)
			return -EINVAL;
		rc = obj_get(t->s, t->txn, dir, &o);
		if (rc)
			return rc;
		if (++depth > 100000)
			return -ELOOP;
		dir = o.parent;
	}
	return dir == anc ? -EINVAL : 0;
}

/* Both folders changed, even where no key came or went (a replace). */
static int dirs_touch(struct store_txn *t, const struct rename_arg *a)
{
	int rc = dir_changed(t->s, t->txn, a->parent, 0);

	if (!rc && a->newparent != a->parent)
		rc = dir_changed(t->s, t->txn, a->newparent, 0);
	return rc;
}

static int rename_apply(struct store_txn *t, void *varg)
{
	struct rename_arg *a = varg;
	struct obj so, dobj;
	uint64_t soid, doid = 0;
	int rc;

	rc = lookup_txn(t->s, t->txn, a->parent, a->name, false, &soid, &so);
	if (!rc)
		rc = parent_check(t->s, t->txn, a->newparent);
	if (rc)
		return rc;
	rc = lookup_txn(t->s, t->txn, a->newparent, a->newname, false, &doid,
			&dobj);
	if (rc == -ENOENT) {
		doid = 0;
		rc = 0;
	} else if (rc)
		return rc;
	if (doid == soid)
		return 0;
	if (doid && (a->flags & STORE_RENAME_NOREPLACE))
		return -EEXIST;
	if (a->flags & STORE_RENAME_EXCHANGE) {
		rc = doid ? exchange(t, soid, &so, doid, &dobj) : -ENOENT;
		return rc ? rc : dirs_touch(t, a);
	}
	if (so.type == STORE_T_DIR) {
		rc = not_below(t, a->newparent, soid);
		if (!rc && doid && dobj.type != STORE_T_DIR)
			rc = -ENOTDIR;
		if (!rc && doid) {
			struct child *kids = NULL;
			size_t n;
			bool any;

			rc = children_list(t, doid, &kids, &n, &any);
			free(kids);
			if (!rc && n)
				rc = -ENOTEMPTY;
		}
	} else if (doid && dobj.type == STORE_T_DIR) {
		rc = -EISDIR;
	}
	if (!rc)
		rc = move_key(t, soid, &so, a->newparent, a->newname, doid,
			      doid ? &dobj : NULL);
	return rc ? rc : dirs_touch(t, a);
}

int store_rename(struct store *s, uint64_t parent, const char *name,
		 uint64_t newparent, const char *newname, unsigned flags,
		 store_remap_fn fn, void *arg)
{
	struct rename_arg a = { parent, newparent, name, newname, flags };
	int rc;

	if ((flags & STORE_RENAME_NOREPLACE) && (flags & STORE_RENAME_EXCHANGE))
		return -EINVAL;
	rc = name_check(name);
	if (!rc)
		rc = name_check(newname);
	if (rc)
		return rc;
	return store_commit(s, rename_apply, &a, 0, fn, arg);
}
