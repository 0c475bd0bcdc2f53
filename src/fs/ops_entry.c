/*
 * ops_entry.c - FUSE handlers for names and attributes: lookup, forget,
 * getattr/setattr, mkdir, mknod, symlink, readlink, unlink, rmdir, rename,
 * link, statfs.
 *
 * Each handler parses, calls one function that does the work and returns
 * 0 or -errno, and replies once. Renames hold the node table lock across
 * store_rename(): the store re-points oids through a callback (see
 * store_remap_fn) that runs on the committer thread while this thread
 * waits, so holding the lock here makes the whole remap one step that no
 * lookup can observe half-done.
 */
#include "fs/fs_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

static void reply_entry_or_err(fuse_req_t req, struct node *n, int rc)
{
	struct fuse_entry_param e;

	if (!rc && !n)
		rc = -ENOMEM;
	if (!rc)
		rc = fs_entry_of(fs_of(req), n, &e);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static int do_lookup(struct fs *fs, struct node *p, const char *name,
		     struct node **out)
{
	struct versions_node pv, cv;
	struct store_entry e;
	int rc;

	*out = NULL;
	if (strlen(name) > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	if (p->kind == NODE_LIVE) {
		if (p == &fs->nt.root && !strcmp(name, VERSIONS_DIRNAME)) {
			*out = node_get(&fs->nt, NODE_VDIR, STORE_ROOT_OID, 0,
					STORE_T_DIR);
			return 0;
		}
		pthread_rwlock_rdlock(&fs->rename_lock);
		rc = store_lookup(fs->st, node_oid(p), name, &e);
		if (!rc)
			*out = fs_node_for_entry(fs, &e);
		pthread_rwlock_unlock(&fs->rename_lock);
		return rc;
	}
	fs_vnode(p, &pv);
	rc = versions_lookup(fs->st, &pv, name, &cv);
	if (rc < 0)
		return rc;
	*out = node_get(&fs->nt, (enum node_kind)cv.kind, cv.oid, cv.vseq,
			cv.type);
	if (*out && cv.kind == VERSIONS_ENTRY) {
		pthread_mutex_lock(&(*out)->lock);
		(*out)->vinfo = cv.v;
		pthread_mutex_unlock(&(*out)->lock);
	}
	return 0;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node *n;
	int rc = do_lookup(fs_of(req), fs_node(req, parent), name, &n);

	reply_entry_or_err(req, n, rc);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	node_forget(&fs_of(req)->nt, fs_node(req, ino), nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	size_t i;

	for (i = 0; i < count; i++)
		node_forget(&fs_of(req)->nt, fs_node(req, forgets[i].ino),
			    forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct stat st;
	int rc = fs_node_stat(fs, fs_node(req, ino), &st);

	(void)fi;
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, fs->attr_timeout);
}

/* truncate(2)/ftruncate(2): through the working copy; sealed at once when
 * no writer is open (a truncate by path makes its version). */
static int truncate_locked(struct fs *fs, struct node *n, uint64_t size,
			   struct fs_handle *h)
{
	int64_t now = fs_now_ns();
	int rc;

	if (node_type(n) == STORE_T_DIR)
		return -EISDIR;
	if (node_type(n) != STORE_T_FILE)
		return -EINVAL;
	if (!n->wc) {
		rc = store_file_open(fs->st, node_oid(n), 0, &n->wc);
		if (rc < 0)
			return rc;
	}
	rc = store_file_truncate(n->wc, size);
	if (rc < 0)
		return rc;
	n->dirty = true;
	n->trunc_only = false;
	n->pattr.mtime_ns = n->pattr.ctime_ns = now;
	n->pmask |= STORE_SET_MTIME | STORE_SET_CTIME;
	if (h && h->writer) {
		h->cycle = n->cycle;	/* its close seals */
		return 0;
	}
	if (n->nwriters) {
		n->orphan_dirty = true;	/* the next writer's close seals */
		return 0;
	}
	rc = fs_seal_locked(fs, n, NULL, 0);
	if (!n->nopen)
		node_drop_wc_locked(n);
	return rc;
}

static unsigned attr_of_setattr(const struct stat *in, int to_set,
				struct store_attr *a)
{
	int64_t now = fs_now_ns();
	unsigned mask = 0;

	memset(a, 0, sizeof(*a));
	if (to_set & FUSE_SET_ATTR_MODE) {
		a->mode = in->st_mode;
		mask |= STORE_SET_MODE;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		a->uid = in->st_uid;
		mask |= STORE_SET_UID;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		a->gid = in->st_gid;
		mask |= STORE_SET_GID;
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)) {
		a->atime_ns = to_set & FUSE_SET_ATTR_ATIME_NOW ? now :
			(int64_t)in->st_atim.tv_sec * 1000000000 +
			in->st_atim.tv_nsec;
		mask |= STORE_SET_ATIME;
	}
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
		a->mtime_ns = to_set & FUSE_SET_ATTR_MTIME_NOW ? now :
			(int64_t)in->st_mtim.tv_sec * 1000000000 +
			in->st_mtim.tv_nsec;
		mask |= STORE_SET_MTIME;
	}
	if (to_set & FUSE_SET_ATTR_CTIME) {
		a->ctime_ns = (int64_t)in->st_ctim.tv_sec * 1000000000 +
			      in->st_ctim.tv_nsec;
		mask |= STORE_SET_CTIME;
	}
	if (mask && !(mask & STORE_SET_CTIME)) {
		a->ctime_ns = now;	/* any attribute change moves ctime */
		mask |= STORE_SET_CTIME;
	}
	return mask;
}

static int do_setattr(struct fs *fs, struct node *n, const struct stat *in,
		      int to_set, struct fs_handle *h)
{
	struct store_entry e;
	struct store_attr a;
	unsigned mask = attr_of_setattr(in, to_set, &a);
	int rc = 0;

	if (n->kind != NODE_LIVE)
		return -EROFS;
	if (fs->o->read_only)
		return -EROFS;
	pthread_rwlock_rdlock(&fs->rename_lock);	/* a store call by oid */
	pthread_mutex_lock(&n->lock);
	if (to_set & FUSE_SET_ATTR_SIZE) {
		rc = truncate_locked(fs, n, (uint64_t)in->st_size, h);
		if (rc < 0)
			goto out;
	}
	if (!mask)
		goto out;
	if ((n->wc && n->dirty) || n->pending) {
		/* The next seal makes the version; give it these. */
		if (mask & STORE_SET_MODE)
			n->pattr.mode = a.mode;
		if (mask & STORE_SET_UID)
			n->pattr.uid = a.uid;
		if (mask & STORE_SET_GID)
			n->pattr.gid = a.gid;
		if (mask & STORE_SET_ATIME)
			n->pattr.atime_ns = a.atime_ns;
		if (mask & STORE_SET_MTIME)
			n->pattr.mtime_ns = a.mtime_ns;
		n->pattr.ctime_ns = a.ctime_ns;
		n->pmask |= mask;
		goto out;
	}
	rc = store_setattr(fs->st, node_oid(n), &a, mask, &e);
	if (!rc && !e.pending) {
		n->base = e.head.attr;
		n->alloc_bytes = e.head.alloc_bytes;
	}
out:
	pthread_mutex_unlock(&n->lock);
	pthread_rwlock_unlock(&fs->rename_lock);
	return rc;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct node *n = fs_node(req, ino);
	struct stat st;
	int rc = do_setattr(fs, n, attr, to_set,
			    fi && n->kind == NODE_LIVE ? fs_handle_of(fi) :
			    NULL);

	if (!rc)
		rc = fs_node_stat(fs, n, &st);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, fs->attr_timeout);
}

static void attr_for_new(fuse_req_t req, mode_t mode, struct store_attr *a)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	memset(a, 0, sizeof(*a));
	a->mode = mode;
	a->uid = ctx->uid;
	a->gid = ctx->gid;
	a->atime_ns = a->mtime_ns = a->ctime_ns = fs_now_ns();
}

static int check_new(struct fs *fs, struct node *p, const char *name)
{
	int rc = fs_check_new_name(p, name);

	if (!rc && fs->o->read_only)
		rc = -EROFS;
	return rc;
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct fs *fs = fs_of(req);
	struct node *p = fs_node(req, parent), *n = NULL;
	struct store_entry e;
	struct store_attr a;
	int rc = check_new(fs, p, name);

	attr_for_new(req, S_IFDIR | (mode & 07777), &a);
	pthread_rwlock_rdlock(&fs->rename_lock);
	if (!rc)
		rc = store_mkdir(fs->st, node_oid(p), name, &a, &e);
	if (!rc)
		n = fs_node_for_entry(fs, &e);
	pthread_rwlock_unlock(&fs->rename_lock);
	reply_entry_or_err(req, n, rc);
}

/* Regular files only: a version store has no place for fifos or devices. */
static int do_mknod(struct fs *fs, struct node *p, const char *name,
		    const struct store_attr *a, struct node **out)
{
	struct store_file *f = NULL;
	struct store_entry e;
	int rc;

	*out = NULL;
	if (!S_ISREG(a->mode))
		return -EPERM;
	rc = store_create(fs->st, node_oid(p), name, a, &e);
	if (rc < 0)
		return rc;
	rc = store_file_open(fs->st, e.oid, 0, &f);
	if (!rc)
		rc = store_file_seal(f, e.oid, a, 0, &e);
	if (f)
		store_file_free(f);
	if (rc < 0)
		return rc;
	*out = fs_node_for_entry(fs, &e);
	return 0;
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	struct fs *fs = fs_of(req);
	struct node *p = fs_node(req, parent), *n = NULL;
	struct store_attr a;
	int rc = check_new(fs, p, name);

	(void)rdev;
	attr_for_new(req, mode, &a);
	pthread_rwlock_rdlock(&fs->rename_lock);
	if (!rc)
		rc = do_mknod(fs, p, name, &a, &n);
	pthread_rwlock_unlock(&fs->rename_lock);
	reply_entry_or_err(req, n, rc);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	struct fs *fs = fs_of(req);
	struct node *p = fs_node(req, parent), *n = NULL;
	struct store_entry e;
	struct store_attr a;
	int rc = check_new(fs, p, name);

	attr_for_new(req, S_IFLNK | 0777, &a);
	pthread_rwlock_rdlock(&fs->rename_lock);
	if (!rc)
		rc = store_symlink(fs->st, node_oid(p), name, link, &a, &e);
	if (!rc)
		n = fs_node_for_entry(fs, &e);
	pthread_rwlock_unlock(&fs->rename_lock);
	reply_entry_or_err(req, n, rc);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	struct node *n = fs_node(req, ino);
	char *target = NULL;
	int rc = -EINVAL;

	if (node_type(n) == STORE_T_SYMLINK && (n->kind == NODE_LIVE ||
					   n->kind == NODE_VENTRY)) {
		pthread_rwlock_rdlock(&fs->rename_lock);
		rc = store_readlink(fs->st, node_oid(n), n->vseq, &target);
		pthread_rwlock_unlock(&fs->rename_lock);
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, target);
	free(target);
}

/* rm of a .versions entry: a permanent, version-specific delete. */
static int unlink_version(struct fs *fs, struct node *p, const char *name,
			  uint64_t *changed)
{
	struct versions_node pv, cv;
	int rc;

	if (p->kind != NODE_VKEY)
		return -EROFS;
	fs_vnode(p, &pv);
	rc = versions_lookup(fs->st, &pv, name, &cv);
	if (rc < 0)
		return rc;
	if (!fs->o->allow_purge)
		return -EPERM;
	if (fs->o->read_only)
		return -EROFS;
	rc = store_delete_version(fs->st, cv.oid, cv.vseq, true);
	if (!rc)
		*changed = cv.oid;
	return rc;
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct node *p = fs_node(req, parent);
	uint64_t oid = 0, changed = 0;
	int rc;

	if (p->kind != NODE_LIVE) {
		rc = unlink_version(fs, p, name, &changed);
	} else {
		rc = check_new(fs, p, name);
		pthread_rwlock_rdlock(&fs->rename_lock);
		if (!rc)
			rc = store_unlink(fs->st, node_oid(p), name, &oid);
		if (!rc)
			node_detach(&fs->nt, oid);
		pthread_rwlock_unlock(&fs->rename_lock);
	}
	if (changed)
		fs_inval_oid(fs, changed);
	fuse_reply_err(req, -rc);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct node *p = fs_node(req, parent);
	uint64_t oid = 0;
	int rc = check_new(fs, p, name);

	pthread_rwlock_rdlock(&fs->rename_lock);	/* a store call by oid */
	if (!rc)
		rc = store_rmdir(fs->st, node_oid(p), name, &oid);
	if (!rc)
		node_detach(&fs->nt, oid);
	pthread_rwlock_unlock(&fs->rename_lock);
	fuse_reply_err(req, -rc);
}

struct remaps {
	size_t n, cap;
	struct {
		uint64_t from, to;
	} *v;
	int err;
};

/* Runs on the store's committer thread; must not call the store. */
static void remap_cb(void *arg, uint64_t old_oid, uint64_t new_oid)
{
	struct remaps *r = arg;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		void *v = realloc(r->v, cap * sizeof(*r->v));

		if (!v) {
			r->err = -ENOMEM;
			return;
		}
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n].from = old_oid;
	r->v[r->n].to = new_oid;
	r->n++;
}

/* A rename changes the moved content's ctime. The store's new version has
 * it; a working copy not sealed yet shows (and its seal writes) the times
 * kept in the node, so they get it too. Table lock held. */
static void node_renamed_locked(struct node *n, int64_t now)
{
	pthread_mutex_lock(&n->lock);
	if (n->pending || n->dirty) {
		n->pattr.ctime_ns = now;
		n->pmask |= STORE_SET_CTIME;
	}
	pthread_mutex_unlock(&n->lock);
}

/* Apply one rename's remaps as one step: find every holder first, detach
 * replaced ones, then re-key the moved ones. Table lock held. */
static int remaps_apply_locked(struct node_table *t, struct remaps *r)
{
	struct node **holder = calloc(r->n ? r->n : 1, sizeof(*holder));
	size_t i;

	if (!holder)
		return -ENOMEM;
	for (i = 0; i < r->n; i++)
		holder[i] = node_find_locked(t, NODE_LIVE, r->v[i].from, 0);
	for (i = 0; i < r->n; i++)
		if (holder[i] && !r->v[i].to)
			node_detach_locked(t, holder[i]);
	for (i = 0; i < r->n; i++) {
		if (holder[i] && r->v[i].to) {
			node_rekey_locked(t, holder[i], r->v[i].to);
			node_renamed_locked(holder[i], fs_now_ns());
		}
	}
	free(holder);
	return 0;
}

static int do_rename(struct fs *fs, struct node *p, const char *name,
		     struct node *np, const char *newname, unsigned flags)
{
	struct remaps r = { 0 };
	unsigned sflags = 0;
	int rc;

	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if (flags & RENAME_NOREPLACE)
		sflags |= STORE_RENAME_NOREPLACE;
	if (flags & RENAME_EXCHANGE)
		sflags |= STORE_RENAME_EXCHANGE;
	rc = check_new(fs, p, name);
	if (!rc)
		rc = check_new(fs, np, newname);
	if (rc)
		return rc;
	pthread_rwlock_wrlock(&fs->rename_lock);
	pthread_mutex_lock(&fs->nt.lock);
	rc = store_rename(fs->st, node_oid(p), name, node_oid(np), newname,
			  sflags, remap_cb, &r);
	if (!rc && !r.err)
		r.err = remaps_apply_locked(&fs->nt, &r);
	pthread_mutex_unlock(&fs->nt.lock);
	pthread_rwlock_unlock(&fs->rename_lock);
	if (!rc && r.err)
		log_warn("cannot re-point open files after rename of '%s': %s",
			 name, strerror(-r.err));
	free(r.v);
	return rc;
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	int rc = do_rename(fs_of(req), fs_node(req, parent), name,
			   fs_node(req, newparent), newname, flags);

	fuse_reply_err(req, -rc);
}

/* Hard links: a key is one object in S3; two names for it cannot be
 * versioned or replicated honestly, so they are refused (documented). */
static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	fuse_reply_err(req, EPERM);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	int rc = store_statfs(fs_of(req)->st, &sv);

	(void)ino;
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	sv.f_namemax = STORE_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

void fs_ops_entry(struct fuse_lowlevel_ops *ops)
{
	ops->lookup = op_lookup;
	ops->forget = op_forget;
	ops->forget_multi = op_forget_multi;
	ops->getattr = op_getattr;
	ops->setattr = op_setattr;
	ops->mkdir = op_mkdir;
	ops->mknod = op_mknod;
	ops->symlink = op_symlink;
	ops->readlink = op_readlink;
	ops->unlink = op_unlink;
	ops->rmdir = op_rmdir;
	ops->rename = op_rename;
	ops->link = op_link;
	ops->statfs = op_statfs;
}
