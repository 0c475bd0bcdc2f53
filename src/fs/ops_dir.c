/*
 * ops_dir.c - directory listings: opendir, readdir, readdirplus,
 * releasedir, fsyncdir, for live folders and .versions directories.
 *
 * Offsets: "." is 1, ".." is 2, child i is 3 + i. The store lists a
 * folder by name after a given name, so each open directory remembers the
 * last name it returned and the next offset: a sequential listing of
 * 100,000 names costs one store seek per reply buffer, not a rescan. A
 * seek elsewhere (rare: telldir/seekdir) rescans from the start. Version
 * lists (.versions/<key>/) are always skipped by index.
 */
#include "fs/fs_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct dir_handle {
	pthread_mutex_t lock;
	/* [lock] */
	uint64_t next_idx;	/* child index after 'last' */
	char *last;		/* last child name returned, or NULL */
};

struct fill {
	fuse_req_t req;
	struct fs *fs;
	struct dir_handle *dh;
	char *buf;
	size_t size, pos;
	bool plus;
	uint64_t idx;		/* index of the next child */
	uint64_t skip;		/* children still to skip (slow path) */
	int err;
};

static void opendir_reply(fuse_req_t req, struct node *n,
			  struct fuse_file_info *fi)
{
	struct dir_handle *dh;

	if (n->kind == NODE_VENTRY ||
	    (n->kind == NODE_LIVE && node_type(n) != STORE_T_DIR)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	dh = calloc(1, sizeof(*dh));
	if (!dh) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&dh->lock, NULL);
	fi->fh = (uint64_t)(uintptr_t)dh;
	fuse_reply_open(req, fi);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	opendir_reply(req, fs_node(req, ino), fi);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct dir_handle *dh = (struct dir_handle *)(uintptr_t)fi->fh;

	(void)ino;
	pthread_mutex_destroy(&dh->lock);
	free(dh->last);
	free(dh);
	fuse_reply_err(req, 0);
}

/* Add one entry; 1 when the buffer is full (entry not added). */
static int fill_add(struct fill *f, const char *name, const struct stat *st,
		    struct node *n, off_t off)
{
	size_t rem = f->size - f->pos, need;

	if (!f->plus) {
		need = fuse_add_direntry(f->req, NULL, 0, name, NULL, 0);
		if (need > rem)
			return 1;
		fuse_add_direntry(f->req, f->buf + f->pos, rem, name, st, off);
	} else {
		struct fuse_entry_param e;

		need = fuse_add_direntry_plus(f->req, NULL, 0, name, NULL, 0);
		if (need > rem)
			return 1;
		memset(&e, 0, sizeof(e));
		e.attr = *st;
		if (n) {
			e.ino = node_ino(&f->fs->nt, n);
			e.attr_timeout = f->fs->attr_timeout;
			e.entry_timeout = f->fs->entry_timeout;
		}
		fuse_add_direntry_plus(f->req, f->buf + f->pos, rem, name, &e,
				       off);
	}
	f->pos += need;
	return 0;
}

/*
 * Whether child 'name' goes into this reply now. When not, *ret is what
 * the listing callback returns: 0 to go on (a rescan passing a child an
 * earlier reply listed), 1 to stop (the buffer is full). Asked before the
 * callback takes a node reference, which a child left out would leak.
 */
static bool fill_begin(struct fill *f, const char *name, int *ret)
{
	size_t need;

	*ret = 0;
	if (f->skip) {
		f->skip--;
		return false;
	}
	need = f->plus ?
		fuse_add_direntry_plus(f->req, NULL, 0, name, NULL, 0) :
		fuse_add_direntry(f->req, NULL, 0, name, NULL, 0);
	*ret = need > f->size - f->pos;
	return !*ret;
}

/* Add child 'name' (fill_begin said it fits) at offset 3 + its index, and
 * record it as the last one listed so the next reply can go on after it. */
static void fill_child(struct fill *f, const char *name,
		       const struct stat *st, struct node *n)
{
	char *dup;

	fill_add(f, name, st, n, (off_t)(3 + f->idx));
	dup = strdup(name);
	f->idx++;
	free(f->dh->last);
	f->dh->last = dup;
	f->dh->next_idx = dup ? f->idx : 0;
}

static int live_cb(void *arg, const char *name, const struct store_entry *e)
{
	struct fill *f = arg;
	struct node *n = NULL;
	struct stat st;
	int rc;

	if (!fill_begin(f, name, &rc))
		return rc;
	if (f->plus) {
		n = fs_node_for_entry(f->fs, e);
		if (!n)
			return -ENOMEM;
	}
	if (n && (e->pending || n->wc)) {
		rc = fs_node_stat(f->fs, n, &st);
		if (rc < 0) {
			node_forget(&f->fs->nt, n, 1);
			return rc;
		}
	} else if (e->pending) {
		memset(&st, 0, sizeof(st));
		st.st_ino = e->ino;
		st.st_mode = S_IFREG;
	} else {
		fs_stat_of_entry(e, &st);
	}
	fill_child(f, name, &st, n);
	return 0;
}

static int virt_cb(void *arg, const char *name,
		   const struct versions_node *c)
{
	struct fill *f = arg;
	struct node *n = NULL;
	struct stat st;
	int rc;

	if (!fill_begin(f, name, &rc))
		return rc;
	rc = versions_stat(f->fs->st, c, &st);
	if (rc < 0)
		return rc;
	if (f->plus) {
		n = node_get(&f->fs->nt, (enum node_kind)c->kind, c->oid,
			     c->vseq, c->type);
		if (!n)
			return -ENOMEM;
		if (c->kind == VERSIONS_ENTRY) {
			pthread_mutex_lock(&n->lock);
			n->vinfo = c->v;
			pthread_mutex_unlock(&n->lock);
		}
	}
	fill_child(f, name, &st, n);
	return 0;
}

static int list_children(struct fill *f, struct node *n, uint64_t start)
{
	const char *after = NULL;
	struct versions_node vn;

	f->idx = start;
	if (n->kind != NODE_VKEY && start) {
		if (f->dh->last && f->dh->next_idx == start) {
			after = f->dh->last;
		} else {
			f->skip = start;	/* seek: rescan */
			f->idx = 0;
		}
	}
	if (n->kind == NODE_LIVE) {
		int rc;

		pthread_rwlock_rdlock(&f->fs->rename_lock);
		rc = store_readdir(f->fs->st, node_oid(n), after, 0, live_cb,
				   f);
		pthread_rwlock_unlock(&f->fs->rename_lock);
		return rc;
	}
	fs_vnode(n, &vn);
	if (n->kind == NODE_VKEY) {
		f->skip = 0;
		return versions_list(f->fs->st, &vn, NULL, start, virt_cb, f);
	}
	/* The rescan must count the children it skips. */
	return versions_list(f->fs->st, &vn, after, 0, virt_cb, f);
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi, bool plus)
{
	struct dir_handle *dh = (struct dir_handle *)(uintptr_t)fi->fh;
	struct node *n = fs_node(req, ino);
	struct fill f = { .req = req, .fs = fs_of(req), .dh = dh,
			  .size = size, .plus = plus };
	struct stat st;
	int rc = 0;

	f.buf = malloc(size);
	if (!f.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* glibc skips entries with d_ino 0: give . and .. numbers. */
	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFDIR;
	if (n->kind == NODE_LIVE) {
		st.st_ino = fs_node_ino(n);
	} else {
		struct versions_node vn;

		fs_vnode(n, &vn);
		st.st_ino = versions_ino(&vn);
	}
	pthread_mutex_lock(&dh->lock);
	if (off < 1 && fill_add(&f, ".", &st, NULL, 1))
		goto out;
	st.st_ino = STORE_ROOT_OID;	/* the parent is unknown here */
	if (off < 2 && fill_add(&f, "..", &st, NULL, 2))
		goto out;
	rc = list_children(&f, n, off < 2 ? 0 : (uint64_t)off - 2);
out:
	pthread_mutex_unlock(&dh->lock);
	/* An error after some entries: return what we have. */
	if (rc < 0 && !f.pos)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, f.buf, f.pos);
	free(f.buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, true);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);	/* namespace commits are already durable
				 * against a crash of the daemon */
}

void fs_ops_dir(struct fuse_lowlevel_ops *ops)
{
	ops->opendir = op_opendir;
	ops->readdir = op_readdir;
	ops->readdirplus = op_readdirplus;
	ops->releasedir = op_releasedir;
	ops->fsyncdir = op_fsyncdir;
}
