/*
 * attr.c - changing POSIX attributes and user metadata (xattrs) of a key.
 *
 * Design: metadata belongs to a version, so a change either amends the
 * head in place or makes a new version sharing the head's runs. It amends
 * while the head is inside its amend window (btime + amend_window_ms) and
 * not exposed: this is what keeps "cp -a", "tar x" and "rsync -a" (which
 * set mode, owner and times right after the close) at one version per
 * file. An amend runs no hook: replication reads the record when it ships.
 * A pending key keeps its attributes in its vseq 0 record.
 */
#include "store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


/*
 * Store nv as the key's new metadata: amend, new version, or pending. A
 * folder's entry times were folded into nv (meta_base), so the record
 * speaks for itself again.
 */
static int meta_commit(struct store_txn *t, uint64_t oid, struct obj *o,
		       struct vrec *nv)
{
	int rc;

	if (obj_pending(o))
		return vrec_put(t->s, t->txn, oid, 0, nv);
	if (store_now_ns() < nv->deadline_ns && !(nv->flags & V_EXPOSED)) {
		rc = vrec_put(t->s, t->txn, oid, o->head, nv);
	} else {
		nv->flags &= V_SAME_BYTES;	/* same bytes, same digest */
		rc = version_add(t, oid, o, nv, true);
	}
	if (!rc && o->type == STORE_T_DIR && (o->dmtime_ns || o->dctime_ns))
		rc = dir_times_set(t->s, t->txn, oid, 0, 0);
	return rc;
}

/* The record metadata changes start from: head, or the pending one; a
 * folder's with the times of its last entry change. */
static int meta_base(struct store_txn *t, uint64_t oid, struct obj *o,
		     struct vrec *v)
{
	int rc = obj_get(t->s, t->txn, oid, o);

	if (!rc && !obj_alive(o))
		rc = -ENOENT;
	if (!rc)
		rc = vrec_get(t->s, t->txn, oid, obj_cur(o), v);
	if (rc || o->type != STORE_T_DIR)
		return rc;
	if (o->dmtime_ns)
		v->attr.mtime_ns = o->dmtime_ns;
	if (o->dctime_ns)
		v->attr.ctime_ns = o->dctime_ns;
	return 0;
}

struct setattr_arg {
	uint64_t oid;
	const struct store_attr *attr;
	unsigned mask;
	struct store_entry *out;
};

static int setattr_apply(struct store_txn *t, void *varg)
{
	struct setattr_arg *a = varg;
	struct vrec v, nv;
	struct obj o;
	void *buf = NULL;
	int rc;

	rc = meta_base(t, a->oid, &o, &v);
	if (!rc)
		rc = vrec_clone(&v, &nv, &buf);
	if (rc)
		return rc;
	if (a->mask & STORE_SET_MODE)
		nv.attr.mode = (nv.attr.mode & S_IFMT) | (a->attr->mode & 07777);
	if (a->mask & STORE_SET_UID)
		nv.attr.uid = a->attr->uid;
	if (a->mask & STORE_SET_GID)
		nv.attr.gid = a->attr->gid;
	if (a->mask & STORE_SET_ATIME)
		nv.attr.atime_ns = a->attr->atime_ns;
	if (a->mask & STORE_SET_MTIME)
		nv.attr.mtime_ns = a->attr->mtime_ns;
	nv.attr.ctime_ns = a->mask & STORE_SET_CTIME ? a->attr->ctime_ns :
						       store_now_ns();
	rc = meta_commit(t, a->oid, &o, &nv);
	free(buf);
	if (!rc && a->out)
		rc = entry_fill(t->s, t->txn, a->oid, &o, a->out);
	return rc;
}

int store_setattr(struct store *s, uint64_t oid, const struct store_attr *attr,
		  unsigned mask, struct store_entry *out)
{
	struct setattr_arg a = { oid, attr, mask, out };

	return store_commit(s, setattr_apply, &a, 0, NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* xattrs */

/* Find name in the blob; *val and *vlen get its value. */
static bool xattr_find(const struct vrec *v, const char *name,
		       const uint8_t **val, uint32_t *vlen)
{
	size_t nl = strlen(name);
	uint32_t off = 0;
	const char *n;
	uint8_t l;

	while (xattr_next(v->xattrs, v->xlen, &off, &n, &l, val, vlen) > 0)
		if (l == nl && !memcmp(n, name, nl))
			return true;
	return false;
}

static int read_base(struct store *s, MDB_txn *txn, uint64_t oid,
		     uint64_t vseq, struct vrec *v)
{
	struct obj o;
	int rc = obj_get(s, txn, oid, &o);

	if (rc)
		return rc;
	return vrec_get(s, txn, oid, vseq ? vseq : obj_cur(&o), v);
}

int store_getxattr(struct store *s, uint64_t oid, uint64_t vseq,
		   const char *name, void *buf, size_t size)
{
	const uint8_t *val;
	uint32_t vlen;
	MDB_txn *txn;
	struct vrec v;
	int rc;

	rc = store_rtxn(s, &txn);
	if (rc)
		return rc;
	rc = read_base(s, txn, oid, vseq, &v);
	if (!rc && !xattr_find(&v, name, &val, &vlen))
		rc = -ENODATA;
	if (!rc) {
		if (size && size < vlen) {
			rc = -ERANGE;
		} else {
			if (size)
				memcpy(buf, val, vlen);
			rc = (int)vlen;
		}
	}
	mdb_txn_abort(txn);
	return rc;
}

int store_listxattr(struct store *s, uint64_t oid, uint64_t vseq, char *buf,
		    size_t size)
{
	const uint8_t *val;
	uint32_t vlen, off = 0;
	size_t total = 0;
	const char *n;
	uint8_t nl;
	MDB_txn *txn;
	struct vrec v;
	int rc;

	rc = store_rtxn(s, &txn);
	if (rc)
		return rc;
	rc = read_base(s, txn, oid, vseq, &v);
	while (!rc && xattr_next(v.xattrs, v.xlen, &off, &n, &nl, &val,
				 &vlen) > 0) {
		if (size && total + nl + 1 > size) {
			rc = -ERANGE;
			break;
		}
		if (size) {
			memcpy(buf + total, n, nl);
			buf[total + nl] = '\0';
		}
		total += nl + 1;
	}
	mdb_txn_abort(txn);
	return rc ? rc : (int)total;
}

struct setx_arg {
	uint64_t oid;
	const char *name;
	const void *value;
	size_t size;
	unsigned flags;
};

/* New blob: old without name, plus (name, value) when value != NULL. */
static int blob_edit(const struct vrec *v, const struct setx_arg *a,
		     uint8_t **out, uint32_t *outlen)
{
	size_t nl = strlen(a->name), cap = v->xlen + 5 + nl + a->size;
	uint32_t off = 0, vlen, len = 0, v32;
	const uint8_t *val;
	const char *n;
	uint8_t l, *b = malloc(cap ? cap : 1);

	if (!b)
		return -ENOMEM;
	while (xattr_next(v->xattrs, v->xlen, &off, &n, &l, &val, &vlen) > 0) {
		if (l == nl && !memcmp(n, a->name, nl))
			continue;
		b[len] = l;
		memcpy(b + len + 1, &vlen, 4);
		memcpy(b + len + 5, n, l);
		memcpy(b + len + 5 + l, val, vlen);
		len += 5 + l + vlen;
	}
	if (a->value) {
		v32 = (uint32_t)a->size;
		b[len] = (uint8_t)nl;
		memcpy(b + len + 1, &v32, 4);
		memcpy(b + len + 5, a->name, nl);
		memcpy(b + len + 5 + nl, a->value, a->size);
		len += (uint32_t)(5 + nl + a->size);
	}
	if (len > STORE_XATTRS_TOTAL_MAX) {
		free(b);
		return -E2BIG;
	}
	*out = b;
	*outlen = len;
	return 0;
}

static int setx_apply(struct store_txn *t, void *varg)
{
	struct setx_arg *a = varg;
	const uint8_t *val;
	uint8_t *blob = NULL;
	struct vrec v, nv;
	struct obj o;
	void *buf = NULL;
	uint32_t vlen;
	bool exists;
	int rc;

	rc = meta_base(t, a->oid, &o, &v);
	if (rc)
		return rc;
	exists = xattr_find(&v, a->name, &val, &vlen);
	if (a->value && exists && (a->flags & STORE_XATTR_CREATE))
		return -EEXIST;
	if (!exists && (!a->value || (a->flags & STORE_XATTR_REPLACE)))
		return -ENODATA;
	rc = blob_edit(&v, a, &blob, &vlen);
	if (!rc)
		rc = vrec_clone(&v, &nv, &buf);
	if (!rc) {
		nv.xattrs = blob;
		nv.xlen = vlen;
		nv.attr.ctime_ns = store_now_ns();
		rc = meta_commit(t, a->oid, &o, &nv);
	}
	free(buf);
	free(blob);
	return rc;
}

int store_setxattr(struct store *s, uint64_t oid, const char *name,
		   const void *value, size_t size, unsigned flags)
{
	struct setx_arg a = { oid, name, value, size, flags };
	size_t nl = strlen(name);

	if (!nl || nl > 255)
		return nl ? -ERANGE : -EINVAL;
	if (value && size > STORE_XATTR_MAX)
		return -E2BIG;
	return store_commit(s, setx_apply, &a, 0, NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* Every xattr of a version at once (hook events, replication) */

static int xattr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct store_xattr *)a)->name,
		      ((const struct store_xattr *)b)->name);
}

/*
 * One malloc'ed block: the array, then each name (NUL-terminated) and
 * value, sorted by name. The blob keeps insertion order, which says
 * nothing to a reader; name order is what S3 and tag sets compare.
 */
int xattrs_unpack(const struct vrec *v, struct store_xattr **out, size_t *n)
{
	const uint8_t *val;
	uint32_t vlen, off = 0;
	const char *name;
	uint8_t nl;
	size_t cnt = 0, i = 0;
	struct store_xattr *x;
	char *p;

	*out = NULL;
	*n = 0;
	while (xattr_next(v->xattrs, v->xlen, &off, &name, &nl, &val,
			  &vlen) > 0)
		cnt++;
	if (!cnt)
		return 0;
	/* The names' NULs fit in the 5 header bytes each entry dropped. */
	x = malloc(cnt * sizeof(*x) + v->xlen);
	if (!x)
		return -ENOMEM;
	p = (char *)(x + cnt);
	off = 0;
	while (xattr_next(v->xattrs, v->xlen, &off, &name, &nl, &val,
			  &vlen) > 0) {
		memcpy(p, name, nl);
		p[nl] = '\0';
		x[i].name = p;
		p += nl + 1;
		memcpy(p, val, vlen);
		x[i].value = p;
		x[i].size = vlen;
		p += vlen;
		i++;
	}
	qsort(x, cnt, sizeof(*x), xattr_cmp);
	*out = x;
	*n = cnt;
	return 0;
}

int store_xattrs_get(struct store *s, uint64_t oid, uint64_t vseq,
		     struct store_xattr **out, size_t *n)
{
	MDB_txn *txn;
	struct vrec v;
	int rc;

	*out = NULL;
	*n = 0;
	rc = store_rtxn(s, &txn);
	if (rc)
		return rc;
	rc = read_base(s, txn, oid, vseq, &v);
	if (!rc)
		rc = xattrs_unpack(&v, out, n);
	mdb_txn_abort(txn);
	return rc;
}
