/*
 * fs.c - fs_run(): open the store and its replication, mount it with
 * libfuse's low-level API, serve requests on a pool of threads until
 * unmounted or signalled, then close both cleanly.
 *
 * Design: the kernel's caches are used where they are correct. Attribute
 * and entry timeouts come from the options (1 s by default); negative
 * entries are never cached (timeout 0) so a file that reappears through
 * an undelete or restore is seen at once. No writeback cache: every
 * write reaches us before close(2) returns, which is what makes one close
 * one version.
 */
#include "fs/fs_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

#define FS_MAX_WRITE (1024 * 1024)
#define FS_DEFAULT_THREADS 16

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO)
		conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
	/* Our versions must see every byte before close returns. */
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	conn->max_write = FS_MAX_WRITE;
}

static int fs_args(const struct fs_opts *o, struct fuse_args *args)
{
	int rc = 0;

	rc |= fuse_opt_add_arg(args, "crrfs");
	if (o->debug)
		rc |= fuse_opt_add_arg(args, "-d");
	if (o->read_only) {
		rc |= fuse_opt_add_arg(args, "-o");
		rc |= fuse_opt_add_arg(args, "ro");
	}
	if (o->fuse_opts && *o->fuse_opts) {
		rc |= fuse_opt_add_arg(args, "-o");
		rc |= fuse_opt_add_arg(args, o->fuse_opts);
	}
	return rc ? -ENOMEM : 0;
}

/*
 * -o ro makes the mount read-only, not the store: a replica store mounted
 * to be looked at must go on taking in the replicas other stores ship to
 * it, and its own backlog must go on shipping. Only a store we cannot
 * write (read-only media, permissions) is opened read-only, and then no
 * replication runs.
 */
static int fs_open_store(struct fs *fs, const struct fs_opts *o)
{
	struct store_opts so;
	int rc;

	memset(&so, 0, sizeof(so));
	so.path = o->store_path;
	so.flags = (o->create ? STORE_CREATE : 0) |
		   (o->sync ? STORE_SYNC : 0) |
		   (o->verify ? STORE_VERIFY : 0);
	so.sync_interval_ms = o->sync_interval_ms;
	so.amend_window_ms = o->amend_window_ms;
	fs->store_rw = true;
	if (o->read_only && access(o->store_path, W_OK) == 0) {
		rc = store_open(&so, &fs->st);
		if (rc != -EROFS && rc != -EACCES && rc != -EPERM)
			return rc;
	}
	if (o->read_only) {
		so.flags |= STORE_RDONLY;
		fs->store_rw = false;
	}
	return store_open(&so, &fs->st);
}

/* The root's attributes until the store has a version of it. */
static void fs_root_init(struct fs *fs)
{
	struct node *r = &fs->nt.root;

	r->base.mode = S_IFDIR | 0755;
	r->base.uid = getuid();
	r->base.gid = getgid();
	r->base.atime_ns = r->base.mtime_ns = r->base.ctime_ns = fs_now_ns();
}

static int fs_serve(struct fs *fs, const struct fs_opts *o)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	int rc;

	if (!cfg)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	fuse_loop_cfg_set_max_threads(cfg, o->max_threads ? o->max_threads :
				      FS_DEFAULT_THREADS);
	rc = fuse_session_loop_mt(fs->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	/* The loop returns the signal number when a signal ended it. */
	return rc < 0 ? rc : 0;
}

int fs_run(const struct fs_opts *o, fs_ready_fn ready, void *arg)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_lowlevel_ops ops;
	struct fs fs;
	bool table = false, signals = false, mounted = false;
	char why[1024] = "";
	int rc;

	memset(&fs, 0, sizeof(fs));
	memset(&ops, 0, sizeof(ops));
	pthread_mutex_init(&fs.hlock, NULL);
	pthread_rwlock_init(&fs.rename_lock, NULL);
	fs.hup_pipe[0] = fs.hup_pipe[1] = -1;
	fs.o = o;
	fs.attr_timeout = o->attr_timeout < 0 ? 1.0 : o->attr_timeout;
	fs.entry_timeout = o->entry_timeout < 0 ? 1.0 : o->entry_timeout;
	ops.init = op_init;
	fs_ops_entry(&ops);
	fs_ops_file(&ops);
	fs_ops_dir(&ops);
	fs_ops_xattr(&ops);

	rc = fs_args(o, &args);
	if (rc)
		goto out;
	rc = fs_open_store(&fs, o);
	if (rc)
		goto out;
	/* Before mounting: a refused destination mounts nothing. */
	rc = fs_repl_open(&fs, why, sizeof(why));
	if (rc)
		goto out;
	rc = node_table_init(&fs.nt);
	if (rc)
		goto out;
	table = true;
	fs_root_init(&fs);
	fs.se = fuse_session_new(&args, &ops, sizeof(ops), &fs);
	if (!fs.se) {
		log_error("cannot start fuse session for '%s'", o->mountpoint);
		rc = -EINVAL;
		goto out;
	}
	if (fuse_set_signal_handlers(fs.se)) {
		rc = -EIO;
		goto out;
	}
	signals = true;
	if (fuse_session_mount(fs.se, o->mountpoint)) {
		log_error("cannot mount '%s'", o->mountpoint);
		rc = -EIO;
		goto out;
	}
	mounted = true;
	rc = fs_repl_start(&fs);
	if (rc)
		goto out;
	if (ready)
		ready(arg, 0, NULL);
	ready = NULL;
	rc = fs_serve(&fs, o);
out:
	if (ready)
		ready(arg, rc ? rc : -EIO, why[0] ? why : NULL);
	if (mounted)
		fuse_session_unmount(fs.se);
	if (signals)
		fuse_remove_signal_handlers(fs.se);
	if (fs.se)
		fuse_session_destroy(fs.se);
	if (table) {
		fs_release_all(&fs);
		node_table_release(&fs.nt);
	}
	/* After the last seal, so its version is queued too. */
	fs_repl_stop(&fs);
	store_close(fs.st);
	pthread_mutex_destroy(&fs.hlock);
	pthread_rwlock_destroy(&fs.rename_lock);
	fuse_opt_free_args(&args);
	return rc;
}
