/*
 * fs_int.h - what the files of src/fs/ share: the mount's state, the
 * open-file handle, and the helpers every handler uses to turn a node into
 * a stat or an entry reply. Private to src/fs/.
 */
#ifndef CRRFS_FS_INT_H
#define CRRFS_FS_INT_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fs/fs.h"
#include "fs/inode.h"
#include "store/store.h"
#include "versions/versions.h"

struct repl;

struct fs {
	struct store *st;
	struct repl *repl;		/* NULL on a read-only store */
	bool store_rw;			/* store open for writing (an -o ro
					 * mount still takes in replicas) */
	int hup_pipe[2];		/* SIGHUP -> the reload thread */
	pthread_t hup_thread;
	bool hup_running;
	struct fuse_session *se;
	const struct fs_opts *o;
	double attr_timeout;
	double entry_timeout;
	struct node_table nt;
	/* Open handles, so the ones the kernel never released (a SIGTERM
	 * right after a close) are released, and sealed, at shutdown. */
	pthread_mutex_t hlock;
	struct fs_handle *handles;	/* [hlock] */
	/*
	 * A rename re-points nodes only after the store committed it, so a
	 * store call that names a node's oid (a seal, an open, a setattr),
	 * or whose oid becomes a node (lookup, create, readdirplus), could
	 * land on or name the key the rename just deleted: a close's version
	 * would be lost, a node would hold a dead key. Such calls hold this
	 * for reading until the oid is used (and the node made); a rename
	 * holds it for writing from store_rename() until its nodes are
	 * re-keyed. Order: rename_lock before the table lock before node
	 * locks; a thread never holds it twice.
	 */
	pthread_rwlock_t rename_lock;
};

/* An open file: the handle's own read-only view, unless the node has a
 * working copy, which then serves every handle. */
struct fs_handle {
	struct node *n;
	struct store_file *ro;	/* head (or the version) at open, or NULL */
	bool writer;		/* its closes seal the node's working copy */
	bool append;		/* O_APPEND */
	uint64_t cycle;		/* node cycle when it last changed the wc,
				 * or UINT64_MAX */
	/* [node lock] The version its last close made and the node cycle
	 * right after it: while nothing else sealed, a later close of the
	 * same open file (FUSE flushes each close(2) of a dup'd or inherited
	 * fd) replaces that version instead of adding one. */
	uint64_t made_vseq;
	uint64_t made_cycle;
	struct fs_handle *prev, *next;	/* [fs->hlock] */
};

static inline struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static inline struct node *fs_node(fuse_req_t req, fuse_ino_t ino)
{
	return node_of(&fs_of(req)->nt, ino);
}

static inline struct fs_handle *fs_handle_of(struct fuse_file_info *fi)
{
	return (struct fs_handle *)(uintptr_t)fi->fh;
}

int64_t fs_now_ns(void);

/* The node as the versions part sees it. */
void fs_vnode(struct node *n, struct versions_node *vn);

/* stat(2) of any node, with unsealed writes and pending attrs applied. */
int fs_node_stat(struct fs *fs, struct node *n, struct stat *st);

/* st_ino of a live node: the key's, which renames keep. */
uint64_t fs_node_ino(struct node *n);

/* stat of a live key from a store entry, for readdirplus. */
void fs_stat_of_entry(const struct store_entry *e, struct stat *st);

/*
 * Fill an entry reply for a node that was just counted by node_get();
 * on failure the lookup is given back.
 */
int fs_entry_of(struct fs *fs, struct node *n, struct fuse_entry_param *e);

/* Node for a live store entry (one lookup counted), or NULL on ENOMEM. */
struct node *fs_node_for_entry(struct fs *fs, const struct store_entry *e);

/*
 * Seal the node's working copy into a version if it holds anything new
 * (or the key is pending). rename_lock held for reading, then the node
 * lock. A key deleted or replaced while open makes no version and no
 * error. h is the handle whose close seals (NULL for other seals): see
 * fs_handle.made_vseq.
 */
int fs_seal_locked(struct fs *fs, struct node *n, struct fs_handle *h,
		   unsigned flags);

/* Whether closing (flush) or releasing h must seal; node lock held. */
bool fs_close_seals(struct fs_handle *h, bool release);

/* After the session loop ended: release every handle still open, as the
 * kernel's RELEASE would have (sealing what it would have sealed). */
void fs_release_all(struct fs *fs);

/* Tell the kernel that the live key oid changed behind its back: its
 * next open drops cached pages, cached attributes go now. No lock held;
 * call before replying so the caller never sees stale data. */
void fs_inval_oid(struct fs *fs, uint64_t oid);

/* Check a name for create/mkdir/rename targets in live folder dir. */
int fs_check_new_name(struct node *dir, const char *name);

/*
 * Replication in the mount's life (fs_repl.c): open it after the store
 * (err gets the reason it refused), start it once the mount serves (with
 * its control socket and the SIGHUP reload thread), stop it before the
 * store closes. fs_repl_stop is safe after a failed or missing open.
 */
int fs_repl_open(struct fs *fs, char *err, size_t errlen);
int fs_repl_start(struct fs *fs);
void fs_repl_stop(struct fs *fs);

/* Handler tables, one per file. */
void fs_ops_entry(struct fuse_lowlevel_ops *ops);
void fs_ops_file(struct fuse_lowlevel_ops *ops);
void fs_ops_dir(struct fuse_lowlevel_ops *ops);
void fs_ops_xattr(struct fuse_lowlevel_ops *ops);

#endif
