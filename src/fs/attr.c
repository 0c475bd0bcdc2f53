/*
 * attr.c - turning nodes into what the kernel sees (stat, entry replies),
 * sealing working copies into versions, and cache invalidation.
 *
 * The attributes of a live file are the store head's, overlaid with what
 * the kernel has been told but the store does not hold yet: the size of an
 * unsealed working copy, and mode/times set while it was dirty (kept in
 * the node and passed to the seal, so the version gets them and the head
 * is not amended under the writer's feet).
 */
#include "fs/fs_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

int64_t fs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void ts_of(struct timespec *ts, int64_t ns)
{
	ts->tv_sec = (time_t)(ns / 1000000000);
	ts->tv_nsec = (long)(ns % 1000000000);
}

void fs_vnode(struct node *n, struct versions_node *vn)
{
	memset(vn, 0, sizeof(*vn));
	vn->kind = (enum versions_kind)n->kind;
	vn->oid = node_oid(n);
	vn->vseq = n->vseq;
	pthread_mutex_lock(&n->lock);
	atomic_store(&vn->type, atomic_load(&n->type));
	if (n->kind == NODE_VENTRY)
		vn->v = n->vinfo;
	pthread_mutex_unlock(&n->lock);
}

/* The link count is the store's: a folder's counts its subfolders, as on
 * ext4, so find's leaf optimisation holds. */
static void stat_of_attr(const struct store_attr *a, uint64_t ino,
			 uint32_t nlink, uint64_t alloc, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = a->mode;
	st->st_nlink = nlink ? nlink : 1;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_size = (off_t)a->size;
	st->st_blksize = STORE_CHUNK;
	st->st_blocks = (blkcnt_t)((alloc + 511) / 512);
	ts_of(&st->st_atim, a->atime_ns);
	ts_of(&st->st_mtim, a->mtime_ns);
	ts_of(&st->st_ctim, a->ctime_ns);
}

void fs_stat_of_entry(const struct store_entry *e, struct stat *st)
{
	stat_of_attr(&e->head.attr, e->ino, e->nlink, e->head.alloc_bytes,
		     st);
}

uint64_t fs_node_ino(struct node *n)
{
	uint64_t ino;

	pthread_mutex_lock(&n->lock);
	ino = n->ino ? n->ino : node_oid(n);
	pthread_mutex_unlock(&n->lock);
	return ino;
}

static void attr_overlay(struct store_attr *a, const struct store_attr *p,
			 unsigned mask)
{
	if (mask & STORE_SET_MODE)
		a->mode = (a->mode & S_IFMT) | (p->mode & 07777);
	if (mask & STORE_SET_UID)
		a->uid = p->uid;
	if (mask & STORE_SET_GID)
		a->gid = p->gid;
	if (mask & STORE_SET_ATIME)
		a->atime_ns = p->atime_ns;
	if (mask & STORE_SET_MTIME)
		a->mtime_ns = p->mtime_ns;
	if (mask & STORE_SET_CTIME)
		a->ctime_ns = p->ctime_ns;
}

/* Refresh n->base from the store head; node lock held. A key that is gone
 * (unlinked while open) keeps its last known attributes. */
static void node_refresh_locked(struct fs *fs, struct node *n)
{
	struct store_entry e;

	if (atomic_load(&n->unlinked) || n->pending)
		return;
	if (store_stat(fs->st, node_oid(n), &e) < 0 || e.pending)
		return;
	if (!e.live && n != &fs->nt.root)
		return;
	n->base = e.head.attr;
	n->alloc_bytes = e.head.alloc_bytes;
	n->ino = e.ino;
	n->nlink = e.nlink;
	atomic_store(&n->type, (int)e.type);
}

int fs_node_stat(struct fs *fs, struct node *n, struct stat *st)
{
	struct store_attr a;
	uint64_t alloc;

	if (n->kind != NODE_LIVE) {
		struct versions_node vn;

		fs_vnode(n, &vn);
		return versions_stat(fs->st, &vn, st);
	}
	pthread_mutex_lock(&n->lock);
	node_refresh_locked(fs, n);
	a = n->base;
	alloc = n->alloc_bytes;
	attr_overlay(&a, &n->pattr, n->pmask);
	if (!(a.mode & S_IFMT))
		a.mode |= node_type(n) == STORE_T_DIR ? S_IFDIR :
			   node_type(n) == STORE_T_SYMLINK ? S_IFLNK : S_IFREG;
	if (n->wc) {
		a.size = store_file_size(n->wc);
		alloc = store_file_blocks(n->wc) * 512;
	}
	stat_of_attr(&a, n->ino ? n->ino : node_oid(n), n->nlink, alloc, st);
	if (atomic_load(&n->unlinked))
		st->st_nlink = 0;
	pthread_mutex_unlock(&n->lock);
	return 0;
}

int fs_entry_of(struct fs *fs, struct node *n, struct fuse_entry_param *e)
{
	int rc;

	memset(e, 0, sizeof(*e));
	rc = fs_node_stat(fs, n, &e->attr);
	if (rc < 0) {
		node_forget(&fs->nt, n, 1);
		return rc;
	}
	e->ino = node_ino(&fs->nt, n);
	e->attr_timeout = fs->attr_timeout;
	e->entry_timeout = fs->entry_timeout;
	return 0;
}

struct node *fs_node_for_entry(struct fs *fs, const struct store_entry *e)
{
	struct node *n = node_get(&fs->nt, NODE_LIVE, e->oid, 0, e->type);

	if (!n)
		return NULL;
	pthread_mutex_lock(&n->lock);
	atomic_store(&n->type, (int)e->type);
	n->ino = e->ino;
	n->nlink = e->nlink;
	if (!e->pending) {
		n->base = e->head.attr;
		n->alloc_bytes = e->head.alloc_bytes;
		n->pending = false;
	} else if (!n->base.mode) {
		/* Pending key created by another node incarnation: its
		 * attributes live in the store only; show a plain file. */
		n->pending = true;
		n->base.mode = S_IFREG | 0644;
		n->base.mtime_ns = n->base.ctime_ns = n->base.atime_ns =
			fs_now_ns();
	}
	pthread_mutex_unlock(&n->lock);
	return n;
}

int fs_seal_locked(struct fs *fs, struct node *n, struct fs_handle *h,
		   unsigned flags)
{
	struct store_entry e;
	struct store_attr a;
	uint64_t amend = 0;
	int rc;

	if (!n->wc || atomic_load(&n->unlinked))
		return 0;
	if (!n->dirty && !n->pending && !store_file_dirty(n->wc)) {
		if (!(flags & STORE_DURABLE))
			return 0;
		flags &= ~(unsigned)STORE_DRAFT;	/* only a sync */
	}
	node_refresh_locked(fs, n);
	a = n->base;
	attr_overlay(&a, &n->pattr, n->pmask);
	a.size = store_file_size(n->wc);
	/* Nothing sealed since h's last close made a version: that close
	 * was not the last one of the open file (a dup, a child's copy). */
	if (h && h->made_vseq && h->made_cycle == n->cycle && !flags)
		amend = h->made_vseq;
	if (amend)
		rc = store_file_reseal(n->wc, node_oid(n), amend, &a, &e);
	else
		rc = store_file_seal(n->wc, node_oid(n), &a, flags, &e);
	if (rc == -ENOENT) {
		/* Deleted or replaced while open: no resurrection. */
		n->dirty = false;
		return 0;
	}
	if (rc < 0)
		return rc;
	if (flags & STORE_DRAFT)
		return 0;	/* the close still makes the version */
	n->dirty = false;
	n->trunc_only = false;
	n->orphan_dirty = false;
	n->cycle++;
	n->pending = false;
	n->pmask = 0;
	if (!e.pending) {
		n->base = e.head.attr;
		n->alloc_bytes = e.head.alloc_bytes;
	}
	if (h) {
		h->made_vseq = e.pending ? 0 : e.head.vseq;
		h->made_cycle = n->cycle;
	}
	return 0;
}

/*
 * A clean working copy still holds the old head: swap in the new one so
 * later writes build on it. Readers may be inside the old one without the
 * lock, so it is retired, not freed, until the last handle closes. A
 * dirty one is left alone: its close will make the newest version (the
 * last writer wins, as on a local disk).
 */
static void node_reload_locked(struct fs *fs, struct node *n)
{
	struct store_file *f = NULL, **r;

	if (!n->wc || n->dirty)
		return;
	r = realloc(n->retired, (n->nretired + 1) * sizeof(*r));
	if (!r)
		return;
	n->retired = r;
	if (store_file_open(fs->st, node_oid(n), 0, &f) < 0)
		return;
	n->retired[n->nretired++] = n->wc;
	n->wc = f;
}

void fs_inval_oid(struct fs *fs, uint64_t oid)
{
	struct node *n;
	uint64_t ino = 0;

	/* A lookup held pins n; its node lock is taken after the table lock
	 * is let go (table before node, never inside: see fs_int.h). */
	pthread_mutex_lock(&fs->nt.lock);
	n = node_find_locked(&fs->nt, NODE_LIVE, oid, 0);
	if (n)
		n->nlookup++;
	pthread_mutex_unlock(&fs->nt.lock);
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->gen++;
	node_reload_locked(fs, n);
	pthread_mutex_unlock(&n->lock);
	ino = node_ino(&fs->nt, n);
	node_forget(&fs->nt, n, 1);
	/* A node forgotten meanwhile only makes this a no-op (-ENOENT). */
	fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
}

int fs_check_new_name(struct node *dir, const char *name)
{
	if (dir->kind != NODE_LIVE)
		return -EROFS;
	if (strlen(name) > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	if (node_oid(dir) == STORE_ROOT_OID && !strcmp(name, VERSIONS_DIRNAME))
		return -EPERM;
	return 0;
}
