/*
 * nsops.c - making and deleting keys: create, mkdir, symlink, unlink,
 * rmdir. Each is an apply function run by the committer plus the public
 * wrapper that builds its argument and waits for the commit.
 *
 * Design: a created file is *pending* (object with head 0 and a vseq 0
 * record holding its attributes, listed in the drafts DB) until its first
 * seal, so "create + write + close" is one version, never an empty one
 * plus a data one. Deleting puts a delete marker on top; only a pending
 * key, which nobody outside ever saw, is removed without a trace.
 */
#include "store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct mk_arg {
	uint64_t parent;
	const char *name;
	uint8_t type;
	const struct store_attr *attr;
	const char *target;
	struct store_entry *out;
};

static int mk_apply(struct store_txn *t, void *varg)
{
	struct mk_arg *a = varg;
	struct store *s = t->s;
	static const uint32_t fmt[] = { 0, S_IFREG, S_IFDIR, S_IFLNK };
	struct vrec v;
	struct obj o;
	uint64_t oid;
	int rc;

	rc = parent_check(s, t->txn, a->parent);
	if (rc)
		return rc;
	rc = lookup_txn(s, t->txn, a->parent, a->name, false, &oid, &o);
	if (rc != -ENOENT)
		return rc ? rc : -EEXIST;
	rc = key_new(t, a->parent, a->name, a->type, &oid, &o);
	if (rc)
		return rc;
	memset(&v, 0, sizeof(v));
	v.attr = *a->attr;
	v.attr.mode = (a->attr->mode & 07777) | fmt[a->type];
	v.attr.size = 0;
	if (a->type == STORE_T_SYMLINK) {
		v.attr.mode = S_IFLNK | 0777;
		v.target = a->target;
		v.tlen = (uint32_t)strlen(a->target);
		v.attr.size = v.tlen;
	}
	if (a->type == STORE_T_FILE)
		rc = pending_put(t, oid, &o, &v, true);
	else
		rc = version_add(t, oid, &o, &v, true);
	if (!rc && a->out)
		rc = entry_fill(s, t->txn, oid, &o, a->out);
	return rc;
}

static int mk(struct store *s, uint64_t parent, const char *name,
	      uint8_t type, const struct store_attr *attr, const char *target,
	      struct store_entry *out)
{
	struct mk_arg a = { parent, name, type, attr, target, out };
	int rc = name_check(name);

	if (rc)
		return rc;
	if (target && (!*target || strlen(target) >= 4096))
		return strlen(target) ? -ENAMETOOLONG : -ENOENT;
	return store_commit(s, mk_apply, &a, 0, NULL, NULL);
}

int store_create(struct store *s, uint64_t parent, const char *name,
		 const struct store_attr *attr, struct store_entry *out)
{
	return mk(s, parent, name, STORE_T_FILE, attr, NULL, out);
}

int store_mkdir(struct store *s, uint64_t parent, const char *name,
		const struct store_attr *attr, struct store_entry *out)
{
	return mk(s, parent, name, STORE_T_DIR, attr, NULL, out);
}

int store_symlink(struct store *s, uint64_t parent, const char *name,
		  const char *target, const struct store_attr *attr,
		  struct store_entry *out)
{
	return mk(s, parent, name, STORE_T_SYMLINK, attr, target, out);
}

int store_readlink(struct store *s, uint64_t oid, uint64_t vseq, char **out)
{
	MDB_txn *txn;
	struct vrec v;
	struct obj o;
	int rc;

	rc = store_rtxn(s, &txn);
	if (rc)
		return rc;
	rc = obj_get(s, txn, oid, &o);
	if (!rc && o.type != STORE_T_SYMLINK)
		rc = -EINVAL;
	if (!rc)
		rc = vrec_get(s, txn, oid, vseq ? vseq : o.head, &v);
	if (!rc && (v.flags & STORE_V_DELETE_MARKER))
		rc = -ENOENT;
	if (!rc) {
		*out = malloc(v.tlen + 1);
		if (!*out) {
			rc = -ENOMEM;
		} else {
			memcpy(*out, v.target, v.tlen);
			(*out)[v.tlen] = '\0';
		}
	}
	mdb_txn_abort(txn);
	return rc;
}

/* ------------------------------------------------------------------ */

struct rm_arg {
	uint64_t parent;
	const char *name;
	bool dir;
	uint64_t *oid_out;
};

/* Put a delete marker on top of key oid (its head must be live). */
int delete_marker_add(struct store_txn *t, uint64_t oid, struct obj *o)
{
	struct vrec head, v;
	int rc;

	rc = vrec_get(t->s, t->txn, oid, o->head, &head);
	if (rc)
		return rc;
	memset(&v, 0, sizeof(v));
	v.flags = STORE_V_DELETE_MARKER;
	v.attr = head.attr;
	v.attr.size = 0;
	v.attr.ctime_ns = store_now_ns();
	rc = draft_drop(t, oid, o);
	if (!rc)
		rc = version_add(t, oid, o, &v, true);
	return rc;
}

static int rm_apply(struct store_txn *t, void *varg)
{
	struct rm_arg *a = varg;
	struct obj o;
	uint64_t oid;
	int rc;

	rc = lookup_txn(t->s, t->txn, a->parent, a->name, false, &oid, &o);
	if (rc)
		return rc;
	if (a->oid_out)
		*a->oid_out = oid;
	if (a->dir) {
		if (o.type != STORE_T_DIR)
			return -ENOTDIR;
		rc = dir_has_children_txn(t->s, t->txn, oid);
		if (rc)
			return rc > 0 ? -ENOTEMPTY : rc;
	} else if (o.type == STORE_T_DIR) {
		return -EISDIR;
	}
	if (obj_pending(&o))
		return pending_end(t, oid, &o);
	return delete_marker_add(t, oid, &o);
}

int store_unlink(struct store *s, uint64_t parent, const char *name,
		 uint64_t *oid_out)
{
	struct rm_arg a = { parent, name, false, oid_out };

	return store_commit(s, rm_apply, &a, 0, NULL, NULL);
}

int store_rmdir(struct store *s, uint64_t parent, const char *name,
		uint64_t *oid_out)
{
	struct rm_arg a = { parent, name, true, oid_out };

	return store_commit(s, rm_apply, &a, 0, NULL, NULL);
}
