/*
 * ops_file.c - FUSE handlers for open files: create, open, read, write,
 * flush, release, fsync.
 *
 * When versions are made (SPEC section 1, no version bloat): all handles
 * of a file share the node's one working copy. Every close(2) of a handle
 * opened for writing (flush) and its release seal the working copy if it
 * holds anything new, so `echo x > f` is one version and three
 * write+close rounds are three. A handle is one open file: closes of its
 * dup'd or inherited descriptors flush it again, and those seals replace
 * the version its earlier close made unless someone saw it, so the file
 * ends as one version made by the last close (fs_seal_locked). A created
 * file that is closed unwritten still gets its first (empty) version.
 * fsync records a durable draft, not a version. Readers read the working
 * copy when there is one (they see unsealed writes, as on a local disk),
 * else their own view of the head as it was at open.
 */
#include "fs/fs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

static int handle_new(struct node *n, int flags, struct fs_handle **out)
{
	struct fs_handle *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->n = n;
	h->writer = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
	h->append = flags & O_APPEND;
	h->cycle = UINT64_MAX;
	*out = h;
	return 0;
}

/* Attach handle h to live node n; rename_lock (read) and node lock held. */
static int open_live_locked(struct fs *fs, struct node *n,
			    struct fs_handle *h, int flags)
{
	int rc = 0;

	if (!n->wc) {
		rc = store_file_open(fs->st, node_oid(n), 0,
				     h->writer ? &n->wc : &h->ro);
		if (rc < 0)
			return rc;
	}
	if ((flags & O_TRUNC) && !n->pending) {
		rc = store_file_truncate(n->wc, 0);
		if (rc < 0)
			return rc;
		n->trunc_only = !n->dirty;
		n->dirty = true;
		h->cycle = n->cycle;
		n->pattr.mtime_ns = n->pattr.ctime_ns = fs_now_ns();
		n->pmask |= STORE_SET_MTIME | STORE_SET_CTIME;
	}
	n->nopen++;
	if (h->writer)
		n->nwriters++;
	return 0;
}

/* created: the handle made the key, so its close makes version 1 even
 * when it was opened read-only. */
static int do_open(struct fs *fs, struct node *n, struct fuse_file_info *fi,
		   bool created)
{
	struct fs_handle *h = NULL;
	int rc;

	if (n->kind == NODE_VDIR || n->kind == NODE_VKEY ||
	    node_type(n) == STORE_T_DIR)
		return -EISDIR;
	rc = handle_new(n, fi->flags, &h);
	if (rc)
		return rc;
	h->writer |= created;
	if (n->kind == NODE_VENTRY) {
		rc = h->writer ? -EROFS : 0;
		/* Bytes someone read are final: a later close of the open
		 * file that made them adds a version instead of replacing
		 * it (store_file_reseal), so keep_cache stays true. */
		if (!rc && fs->store_rw && !fs->o->read_only)
			rc = store_expose(fs->st, node_oid(n), n->vseq);
		pthread_mutex_lock(&n->lock);
		if (!rc && !(n->vinfo.flags & STORE_V_DELETE_MARKER))
			rc = store_file_open(fs->st, node_oid(n), n->vseq,
					     &h->ro);
		pthread_mutex_unlock(&n->lock);
		fi->keep_cache = 1;	/* a version never changes */
		goto out;
	}
	if (h->writer && (fs->o->read_only || atomic_load(&n->unlinked))) {
		rc = fs->o->read_only ? -EROFS : -ENOENT;
		goto out;
	}
	pthread_rwlock_rdlock(&fs->rename_lock);
	pthread_mutex_lock(&n->lock);
	rc = open_live_locked(fs, n, h, fi->flags);
	if (!rc && n->gen == n->kgen && !(fi->flags & O_TRUNC))
		fi->keep_cache = 1;
	n->kgen = n->gen;
	pthread_mutex_unlock(&n->lock);
	pthread_rwlock_unlock(&fs->rename_lock);
out:
	if (rc) {
		if (h && h->ro)
			store_file_free(h->ro);
		free(h);
		return rc;
	}
	if (fi->flags & O_DIRECT)
		fi->direct_io = 1;
	pthread_mutex_lock(&fs->hlock);
	h->next = fs->handles;
	if (h->next)
		h->next->prev = h;
	fs->handles = h;
	pthread_mutex_unlock(&fs->hlock);
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int rc = do_open(fs_of(req), fs_node(req, ino), fi, false);

	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_open(req, fi);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fs *fs = fs_of(req);
	struct node *p = fs_node(req, parent), *n = NULL;
	struct fuse_entry_param ep;
	struct store_entry e;
	struct store_attr a;
	int rc = fs_check_new_name(p, name);

	if (!rc && fs->o->read_only)
		rc = -EROFS;
	memset(&a, 0, sizeof(a));
	a.mode = S_IFREG | (mode & 07777);
	a.uid = ctx->uid;
	a.gid = ctx->gid;
	a.atime_ns = a.mtime_ns = a.ctime_ns = fs_now_ns();
	pthread_rwlock_rdlock(&fs->rename_lock);
	if (!rc)
		rc = store_create(fs->st, node_oid(p), name, &a, &e);
	if (rc == -EEXIST && !(fi->flags & O_EXCL))
		rc = store_lookup(fs->st, node_oid(p), name, &e);
	else if (!rc)
		e.pending = true;
	if (!rc) {
		n = fs_node_for_entry(fs, &e);
		rc = n ? 0 : -ENOMEM;
	}
	pthread_rwlock_unlock(&fs->rename_lock);
	if (!rc && e.pending) {
		pthread_mutex_lock(&n->lock);
		if (!n->nopen) {
			n->base = a;
			n->pending = true;
		}
		pthread_mutex_unlock(&n->lock);
	}
	if (!rc) {
		rc = do_open(fs, n, fi, e.pending);
		if (rc)
			node_forget(&fs->nt, n, 1);
	}
	if (!rc)
		rc = fs_entry_of(fs, n, &ep);	/* forgets n on failure */
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_create(req, &ep, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_handle *h = fs_handle_of(fi);
	struct node *n = h->n;
	struct store_file *f;
	char *buf;
	ssize_t r;

	(void)ino;
	pthread_mutex_lock(&n->lock);
	/* The working copy lives while any handle is open: safe unlocked. */
	f = n->wc ? n->wc : h->ro;
	pthread_mutex_unlock(&n->lock);
	if (!f) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = store_file_read(f, buf, size, (uint64_t)off);
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_buf(req, buf, (size_t)r);
	free(buf);
}

static ssize_t do_write(struct fs_handle *h, const char *buf, size_t size,
			off_t off)
{
	struct node *n = h->n;
	int64_t now = fs_now_ns();
	ssize_t r;

	if (!h->writer)
		return -EBADF;
	pthread_mutex_lock(&n->lock);
	if (!n->wc) {
		r = -EIO;
		goto out;
	}
	if (h->append)
		off = (off_t)store_file_size(n->wc);
	r = store_file_write(n->wc, buf, size, (uint64_t)off);
	if (r >= 0) {
		n->dirty = true;
		n->trunc_only = false;
		h->cycle = n->cycle;
		n->pattr.mtime_ns = n->pattr.ctime_ns = now;
		n->pmask |= STORE_SET_MTIME | STORE_SET_CTIME;
	}
out:
	pthread_mutex_unlock(&n->lock);
	return r;
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t r = do_write(fs_handle_of(fi), buf, size, off);

	(void)ino;
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_write(req, (size_t)r);
}

/*
 * Which close makes the version. Releases are asynchronous: an old
 * handle's release may arrive while a new handle is mid-way, so a handle
 * seals only changes made in the current cycle by itself (or by a
 * truncate with no handle). A pending key, or a wc only truncated by an
 * O_TRUNC open, waits for the release: shells dup2() and close the new
 * fd before writing, which flushes an empty file.
 */
bool fs_close_seals(struct fs_handle *h, bool release)
{
	struct node *n = h->n;

	if (!h->writer)
		return false;
	if (n->pending && !n->dirty)
		return release;
	if (!n->dirty)
		return false;
	if (h->cycle != n->cycle && !n->orphan_dirty && !n->pending)
		return false;
	return release || !n->trunc_only;
}

static void op_flush(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi)
{
	struct fs_handle *h = fs_handle_of(fi);
	int rc = 0;

	(void)ino;
	if (h->writer) {
		pthread_rwlock_rdlock(&fs_of(req)->rename_lock);
		pthread_mutex_lock(&h->n->lock);
		if (fs_close_seals(h, false))
			rc = fs_seal_locked(fs_of(req), h->n, h, 0);
		pthread_mutex_unlock(&h->n->lock);
		pthread_rwlock_unlock(&fs_of(req)->rename_lock);
	}
	fuse_reply_err(req, -rc);
}

/* What a RELEASE does; frees h. */
static void handle_release(struct fs *fs, struct fs_handle *h)
{
	struct node *n = h->n;
	int rc = 0;

	pthread_mutex_lock(&fs->hlock);
	if (h->prev)
		h->prev->next = h->next;
	else
		fs->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&fs->hlock);
	if (n->kind == NODE_LIVE) {
		pthread_rwlock_rdlock(&fs->rename_lock);
		pthread_mutex_lock(&n->lock);
		/* Seal here too: mmap writes may arrive after the last
		 * flush. */
		if (fs_close_seals(h, true))
			rc = fs_seal_locked(fs, n, h, 0);
		if (h->writer)
			n->nwriters--;
		if (!--n->nopen)
			node_drop_wc_locked(n);
		pthread_mutex_unlock(&n->lock);
		pthread_rwlock_unlock(&fs->rename_lock);
	}
	if (rc)
		log_warn("cannot make a version of inode %llu on close: %s",
			 (unsigned long long)node_oid(n), strerror(-rc));
	if (h->ro)
		store_file_free(h->ro);
	free(h);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	(void)ino;
	handle_release(fs_of(req), fs_handle_of(fi));
	fuse_reply_err(req, 0);
}

void fs_release_all(struct fs *fs)
{
	while (fs->handles)
		handle_release(fs, fs->handles);
}

static int do_fsync(struct fs *fs, struct node *n)
{
	struct store_file *f = NULL;
	struct store_attr a;
	int rc;

	if (n->kind != NODE_LIVE || node_type(n) != STORE_T_FILE ||
	    fs->o->read_only)
		return 0;
	pthread_rwlock_rdlock(&fs->rename_lock);
	pthread_mutex_lock(&n->lock);
	if (n->wc) {
		rc = fs_seal_locked(fs, n, NULL,
				    STORE_DURABLE | STORE_DRAFT);
		goto out;
	}
	/* Clean file: nothing to seal, but earlier commits must be synced. */
	a = n->base;
	rc = store_file_open(fs->st, node_oid(n), 0, &f);
	if (!rc)
		rc = store_file_seal(f, node_oid(n), &a, STORE_DURABLE, NULL);
	if (rc == -ENOENT)
		rc = 0;
out:
	pthread_mutex_unlock(&n->lock);
	pthread_rwlock_unlock(&fs->rename_lock);
	if (f)
		store_file_free(f);
	return rc;
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, -do_fsync(fs_of(req), fs_node(req, ino)));
}

void fs_ops_file(struct fuse_lowlevel_ops *ops)
{
	ops->create = op_create;
	ops->open = op_open;
	ops->read = op_read;
	ops->write = op_write;
	ops->flush = op_flush;
	ops->release = op_release;
	ops->fsync = op_fsync;
}
