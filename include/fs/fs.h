/*
 * fs.h - the FUSE side: mounts a store and serves it with libfuse's
 * low-level API on several threads, until it is unmounted.
 *
 * The daemon's shape (fork, pipe back to the parent) belongs to the CLI;
 * this part opens the store itself, after any fork, as LMDB requires.
 */
#ifndef CRRFS_FS_H
#define CRRFS_FS_H

#include <stdbool.h>

struct fs_opts {
	const char *store_path;		/* not copied; outlives fs_run() */
	const char *mountpoint;		/* likewise */
	const char *fuse_opts;		/* extra -o options for libfuse, or NULL
					 * (allow_other, default_permissions,
					 * ro, fsname=..., ...) */
	bool read_only;			/* -o ro: store opened read-only */
	bool allow_purge;		/* -o allow_purge */
	bool default_permissions;	/* in fuse_opts: the kernel checks
					 * modes, and so do we where it
					 * cannot (see versions_cred) */
	bool sync;			/* -o sync: every commit power-safe */
	bool verify;			/* -o verify: check sequential reads */
	bool debug;			/* -d: libfuse debug output */
	bool create;			/* create STORE if missing */
	double attr_timeout;		/* seconds; < 0 means default (1.0) */
	double entry_timeout;		/* likewise */
	unsigned sync_interval_ms;	/* 0 = default */
	unsigned amend_window_ms;	/* 0 = default */
	unsigned max_threads;		/* 0 = default */
	const char *rules_path;		/* replication rules, already checked
					 * by the caller (absolute: the daemon
					 * runs in /), or NULL: STORE/rules.ini
					 * if it exists. Not copied. A
					 * read-only mount runs no
					 * replication. */
	unsigned repl_workers;		/* per destination; 0 = default */
};

/*
 * Called once: with err 0 when the mount is up and serving, or with the
 * -errno that stopped it before that. msg is then the one-line reason
 * when fs_run has one the caller should print (replication refused to
 * start: "destination 'eu': bucket 'b' has versioning Suspended"), or
 * NULL when a message has been logged already.
 */
typedef void (*fs_ready_fn)(void *arg, int err, const char *msg);

/*
 * Open the store, start replication (unless read-only), mount it, call
 * ready, serve until unmounted (or SIGINT/SIGTERM), then stop
 * replication (its backlog stays queued in the store) and close the
 * store cleanly. SIGHUP reloads the rule file instead of unmounting; the
 * result is logged. Returns 0 or -errno.
 */
int fs_run(const struct fs_opts *o, fs_ready_fn ready, void *arg);

#endif
