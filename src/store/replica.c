/*
 * replica.c - store_put_replica(): a version made by another store arrives
 * (a dir destination) and is added with its own id, creation time, flags,
 * attributes and user xattrs, flagged STORE_V_REPLICA and exposed.
 *
 * Design: no second data writer. A file's bytes are copied from the
 * caller's fd into a blank working copy with store_file_write() (so the
 * chunk, segment and pack rules are the ones every seal follows) while
 * they are hashed, and sealed by file_seal_with() through this file's
 * apply, which makes the record the replica's instead of a new one.
 * Everything else about the version is done in that one apply, in the
 * committer's transaction: missing or dead folders above the key get a
 * REPLICA version of their own (fresh ids: the source never named them),
 * the key is made if it was never seen (a delete marker may be all it
 * ever has), and the id is looked up first, so a replica that arrives
 * twice (a retried job) changes nothing. The id is also looked up before
 * the copy, so a retry of a big file costs no copy. A replica becomes
 * current only if its id is after the current version's (rep_newest), so
 * a late arrival never hides a newer version or delete marker.
 *
 * Unlike a local create, a replica is never refused because the other
 * kind of key of its name ("x" beside "x/") is live: in S3 both are keys
 * of their own, and the source may have deleted one without shipping the
 * marker (delete marker replication off). Both stay live; lookups and
 * listings show the folder, as they do for any name with two keys, and
 * the file shows again once the folder is deleted.
 */
#include "store_int.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/vid.h"

#define COPY_BUF ((size_t)1 << 20)

struct rep_arg {
	const struct store_replica *r;
	char *path;		/* r->key, '/' turned into NULs */
	size_t ncomp;		/* components, the last one the key's name */
	char **comp;
	bool dir;
	uint8_t type;
	uint8_t *xblob;
	uint32_t xlen;
	uint8_t sha[32];
	bool has_sha;
	struct file_content c;	/* a file's content (file_seal_with) */
};

static void rep_free(struct rep_arg *a)
{
	free(a->path);
	free(a->comp);
	free(a->xblob);
}

/* Split and check the key: components of 1..255 bytes, no "." or "..". */
static int key_split(struct rep_arg *a, const char *key)
{
	size_t len = key ? strlen(key) : 0, i, n = 0;
	char *p;

	if (!len)
		return -EINVAL;
	a->dir = key[len - 1] == '/';
	a->path = strdup(key);
	if (!a->path)
		return -ENOMEM;
	if (a->dir)
		a->path[--len] = '\0';
	a->comp = calloc(len + 1, sizeof(*a->comp));
	if (!a->comp)
		return -ENOMEM;
	for (p = a->path;; p++) {
		char *slash = strchr(p, '/');

		if (slash)
			*slash = '\0';
		a->comp[n++] = p;
		if (!slash)
			break;
		p = slash;
	}
	a->ncomp = n;
	for (i = 0; i < n; i++)
		if (name_check(a->comp[i]))
			return -EINVAL;
	return 0;
}

/* The user xattrs as a record blob (u8 nlen, u32 vlen, name, value). */
static int xblob_build(struct rep_arg *a)
{
	const struct store_replica *r = a->r;
	size_t i, total = 0, off = 0;

	for (i = 0; i < r->nxattrs; i++) {
		size_t nl = r->xattrs[i].name ? strlen(r->xattrs[i].name) : 0;

		if (!nl || nl > 255 || (r->xattrs[i].size && !r->xattrs[i].value))
			return -EINVAL;
		if (r->xattrs[i].size > STORE_XATTR_MAX)
			return -E2BIG;
		total += 5 + nl + r->xattrs[i].size;
	}
	if (total > STORE_XATTRS_TOTAL_MAX)
		return -E2BIG;
	if (!total)
		return 0;
	a->xblob = malloc(total);
	if (!a->xblob)
		return -ENOMEM;
	for (i = 0; i < r->nxattrs; i++) {
		uint32_t vl = (uint32_t)r->xattrs[i].size;
		size_t nl = strlen(r->xattrs[i].name);

		a->xblob[off] = (uint8_t)nl;
		memcpy(a->xblob + off + 1, &vl, 4);
		memcpy(a->xblob + off + 5, r->xattrs[i].name, nl);
		if (vl)
			memcpy(a->xblob + off + 5 + nl, r->xattrs[i].value, vl);
		off += 5 + nl + vl;
	}
	a->xlen = (uint32_t)total;
	return 0;
}

static int rep_check(struct rep_arg *a)
{
	const struct store_replica *r = a->r;
	int rc;

	rc = key_split(a, r->key);
	if (rc)
		return rc;
	if (!vid_valid(r->vid))
		return -EINVAL;
	if (r->delete_marker) {
		a->type = a->dir ? STORE_T_DIR :
			  r->type == STORE_T_SYMLINK ? STORE_T_SYMLINK :
						      STORE_T_FILE;
		return 0;
	}
	a->type = (uint8_t)r->type;
	if ((r->type == STORE_T_DIR) != a->dir)
		return -EINVAL;
	if (r->type == STORE_T_SYMLINK &&
	    (!r->target || !*r->target || strlen(r->target) >= 4096))
		return -EINVAL;
	if (r->type != STORE_T_FILE && r->type != STORE_T_DIR &&
	    r->type != STORE_T_SYMLINK)
		return -EINVAL;
	return xblob_build(a);
}

/* ------------------------------------------------------------------ */
/* In the committer's transaction */

/* The key (oid) of component i's folder, or of the key itself. */
static int comp_find(struct store *s, MDB_txn *txn, const struct rep_arg *a,
		     size_t upto, uint64_t *oid)
{
	uint64_t cur = STORE_ROOT_OID;
	size_t i;
	int rc = 0;

	for (i = 0; i < upto && !rc; i++) {
		bool folder = i + 1 < a->ncomp || a->dir;

		rc = dirent_get(s, txn, cur, a->comp[i],
				folder ? KIND_DIR : KIND_FILE, &cur);
	}
	*oid = cur;
	return rc;
}

/* Already has a version with this id: 1; not: 0; or -errno. */
static int rep_present(struct store *s, MDB_txn *txn, const struct rep_arg *a)
{
	struct obj o;
	uint64_t oid, vseq;
	int rc;

	rc = comp_find(s, txn, a, a->ncomp, &oid);
	if (!rc)
		rc = obj_get(s, txn, oid, &o);
	if (!rc)
		rc = vid_lookup(s, txn, oid, o.type, a->r->vid, &vseq, NULL);
	if (rc == -ENOENT)
		return 0;
	return rc ? rc : 1;
}

/* A REPLICA version of folder oid with an id of this store's own. */
static int folder_version(struct store_txn *t, uint64_t oid, struct obj *o,
			  const struct store_replica *r)
{
	uint64_t vseq;
	struct vrec v;

	memset(&v, 0, sizeof(v));
	vid_next(t, &vseq, &v);
	v.attr.mode = S_IFDIR | 0755;
	v.attr.uid = r->attr.uid;
	v.attr.gid = r->attr.gid;
	v.attr.atime_ns = v.attr.mtime_ns = v.attr.ctime_ns = v.btime_ns;
	v.flags = STORE_V_REPLICA | V_EXPOSED;
	return version_link(t, oid, o, vseq, &v, true);
}

/* Folder parent/name/ exists and, unless only a marker comes, is live. */
static int folder_ensure(struct store_txn *t, uint64_t parent,
			 const char *name, bool need_live,
			 const struct store_replica *r, uint64_t *oid)
{
	struct store *s = t->s;
	struct obj o;
	int rc;

	rc = dirent_get(s, t->txn, parent, name, KIND_DIR, oid);
	if (!rc) {
		rc = obj_get(s, t->txn, *oid, &o);
		if (rc || !need_live || obj_alive(&o))
			return rc;
	} else if (rc == -ENOENT) {
		rc = key_new(t, parent, name, STORE_T_DIR, oid, &o);
	}
	if (!rc)
		rc = folder_version(t, *oid, &o, r);
	return rc;
}

/*
 * Does the replica become the key's current version? Only when its id
 * is after the current one's: ids order by (time, store, counter), the
 * same order in every store, so two stores replicating to each other
 * agree on the current version whatever order versions arrive in. An
 * older one joins the history, behind the current version.
 */
static int rep_newest(struct store *s, MDB_txn *txn, uint64_t oid,
		      const struct obj *o, const char *vid, bool *newest)
{
	struct vrec cur;
	int rc;

	*newest = true;
	if (!o->head)
		return 0;
	rc = vrec_get(s, txn, oid, o->head, &cur);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	*newest = strcmp(vid, cur.vid) > 0;
	return 0;
}

/*
 * Link version v of oid as rep_newest says, and keep this store's clock
 * past the replica's, so a version made here later is also later by id
 * (a Lamport clock: the order survives clocks that disagree).
 */
static int rep_link(struct store_txn *t, uint64_t oid, struct obj *o,
		    const struct vrec *v, bool newest)
{
	struct store *s = t->s;
	uint64_t ms = vid_ms(v->vid), vseq = s->next_vseq++;
	int rc;

	if (ms >= s->last_ms)
		s->last_ms = ms + 1;
	if (newest)
		return version_link(t, oid, o, vseq, v, true);
	rc = vrec_put(s, t->txn, oid, vseq, v);
	if (!rc)
		rc = refs_adjust(t, v, +1);
	return rc;
}

static int rep_apply(struct store_txn *t, void *varg)
{
	static const uint32_t fmt[] = { 0, S_IFREG, S_IFDIR, S_IFLNK };
	struct rep_arg *a = varg;
	const struct store_replica *r = a->r;
	struct store *s = t->s;
	uint64_t parent = STORE_ROOT_OID, oid;
	const char *name = a->comp[a->ncomp - 1];
	struct vrec v;
	struct obj o;
	bool newest;
	size_t i;
	int rc;

	rc = rep_present(s, t->txn, a);
	if (rc)
		return rc < 0 ? rc : 0;
	for (i = 0; i + 1 < a->ncomp && !rc; i++)
		rc = folder_ensure(t, parent, a->comp[i], !r->delete_marker, r,
				   &parent);
	if (rc)
		return rc;
	rc = dirent_get(s, t->txn, parent, name,
			a->dir ? KIND_DIR : KIND_FILE, &oid);
	if (!rc)
		rc = obj_get(s, t->txn, oid, &o);
	else if (rc == -ENOENT)
		rc = key_new(t, parent, name, a->type, &oid, &o);
	if (!rc)
		rc = rep_newest(s, t->txn, oid, &o, r->vid, &newest);
	if (rc)
		return rc;
	memset(&v, 0, sizeof(v));
	memcpy(v.vid, r->vid, sizeof(v.vid));
	v.btime_ns = v.deadline_ns = r->btime_ns;
	v.flags = STORE_V_REPLICA | V_EXPOSED;
	v.attr = r->attr;
	v.attr.mode = (r->attr.mode & 07777) | fmt[a->type];
	if (r->delete_marker) {
		v.flags |= STORE_V_DELETE_MARKER;
		v.attr.size = 0;
	} else {
		/* A file and a symlink share a name kind: the newest says. */
		if (newest)
			o.type = a->type;
		v.xattrs = a->xblob;
		v.xlen = a->xlen;
		if (a->has_sha) {
			v.flags |= STORE_V_HAS_SHA;
			memcpy(v.sha256, a->sha, 32);
		}
		if (a->type == STORE_T_SYMLINK) {
			v.target = r->target;
			v.tlen = (uint32_t)strlen(r->target);
		}
		v.attr.size = a->type == STORE_T_FILE ? a->c.size : v.tlen;
		v.runs = a->c.runs;
		v.nruns = a->c.nruns;
	}
	rc = rep_link(t, oid, &o, &v, newest);
	if (!rc)
		a->c.used = true;
	return rc;
}

/* ------------------------------------------------------------------ */

/* Copy r's bytes into f, hashing them. */
static int data_copy(struct store_file *f, const struct store_replica *r,
		     uint8_t sha[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *buf = malloc(COPY_BUF);
	uint64_t done = 0;
	int rc = ctx && buf ? 0 : -ENOMEM;

	if (!rc)
		EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while (!rc && done < r->attr.size) {
		size_t want = r->attr.size - done < COPY_BUF ?
			      (size_t)(r->attr.size - done) : COPY_BUF;
		ssize_t n = pread(r->data_fd, buf, want,
				  (off_t)(r->data_off + done));
		ssize_t w;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;	/* shorter than said */
			break;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		w = store_file_write(f, buf, (size_t)n, done);
		if (w != n)
			rc = w < 0 ? (int)w : -EIO;
		done += (uint64_t)n;
	}
	if (!rc)
		EVP_DigestFinal_ex(ctx, sha, NULL);
	EVP_MD_CTX_free(ctx);
	free(buf);
	return rc;
}

/* The digest of a symlink's or folder's bytes (its target, or nothing). */
static void bytes_sha(const char *p, size_t n, uint8_t sha[32])
{
	EVP_Digest(p, n, sha, NULL, EVP_sha256(), NULL);
}

int store_put_replica(struct store *s, const struct store_replica *r)
{
	struct rep_arg a;
	struct store_file *f = NULL;
	MDB_txn *txn;
	int rc;

	memset(&a, 0, sizeof(a));
	a.r = r;
	if (s->flags & STORE_RDONLY)
		return -EROFS;
	rc = rep_check(&a);
	if (rc)
		goto out;
	/* Seen already (a retried job): no copy, no commit. */
	rc = store_rtxn(s, &txn);
	if (rc)
		goto out;
	rc = rep_present(s, txn, &a);
	mdb_txn_abort(txn);
	if (rc)
		goto out;
	if (r->delete_marker) {
		rc = store_commit(s, rep_apply, &a, 0, NULL, NULL);
		goto out;
	}
	if (r->type == STORE_T_FILE) {
		rc = file_blank(s, &f);
		if (!rc)
			rc = data_copy(f, r, a.sha);
	} else {
		bytes_sha(r->type == STORE_T_SYMLINK ? r->target : "",
			  r->type == STORE_T_SYMLINK ? strlen(r->target) : 0,
			  a.sha);
	}
	if (!rc && r->sha256 && memcmp(r->sha256, a.sha, 32))
		rc = -EBADMSG;
	if (rc)
		goto out;
	a.has_sha = true;
	if (f)
		rc = file_seal_with(f, rep_apply, &a, &a.c);
	else
		rc = store_commit(s, rep_apply, &a, 0, NULL, NULL);
out:
	store_file_free(f);
	rep_free(&a);
	return rc < 0 ? rc : 0;
}
