/*
 * cli.h - what the crrfs subcommands share: the command table, one-line
 * errors, finding the crrfs mount a path lives in, reading a key's
 * versions through the mount, and JSON output.
 *
 * Design: each subcommand is one file (cmd_*.c) with one entry point
 * `int cmd_NAME(int argc, char **argv)` returning the exit status (0 ok,
 * 1 failure, 2 bad usage). argv[0] is the subcommand's name. The commands
 * that work on a mounted tree use only the public interface (the
 * `.versions` directory and xattrs), as a script would: the CLI never
 * needs a private channel into the daemon.
 */
#ifndef CRRFS_CLI_H
#define CRRFS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "fs/fs.h"
#include "util/vid.h"

enum cli_exit { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Entry points, one per cmd_*.c file. */
int cmd_mount(int argc, char **argv);
int cmd_mount_helper(int argc, char **argv);	/* argv[0] "mount.crrfs" */
int cmd_versions(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_rules(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_resync(int argc, char **argv);
int cmd_replicate(int argc, char **argv);
int cmd_explain(int argc, char **argv);

/*
 * Mount options (-o), parsed into fs_opts plus the list handed to libfuse.
 * Options may come in several -o arguments; later ones win.
 */
struct cli_mount_opts {
	struct fs_opts fs;	/* fuse_opts is set by cli_mount_opts_finish */
	char *pass;		/* malloc'ed "a,b,..." for libfuse, or NULL */
	char *fuse;		/* malloc'ed; what fs.fuse_opts points at */
	char *rules;		/* malloc'ed: rules=FILE (mount.crrfs), or NULL */
	bool has_fsname;
	bool has_subtype;
	bool allow_other;	/* given: default_permissions is added */
	bool default_permissions;
};

void cli_mount_opts_init(struct cli_mount_opts *m);

/*
 * Parse one comma-separated list. Unknown options are an error (a message
 * is printed, -EINVAL returned), unless sloppy (mount -s): then they are
 * skipped. -ENOMEM when out of memory.
 */
int cli_mount_opts_add(struct cli_mount_opts *m, const char *list,
		       bool sloppy);

/*
 * Build m->fs.fuse_opts (adding fsname=STORE and subtype=crrfs unless
 * given; "ro" is fs_run's to add, from fs.read_only) and set m->fs.store_path / mountpoint.
 * The strings must outlive m. 0 or -ENOMEM.
 */
int cli_mount_opts_finish(struct cli_mount_opts *m, const char *store,
			  const char *mountpoint);
void cli_mount_opts_release(struct cli_mount_opts *m);

/* Print "crrfs: <message>" on stderr as one line. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "crrfs: <message>" and "Try 'crrfs CMD --help'." and return
 * CLI_USAGE, so a caller can write `return cli_usage(...)`. */
int cli_usage(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * The usage error for what getopt returned as c ('?' or ':', with an
 * optstring starting with ':'): names the option. Returns CLI_USAGE.
 */
int cli_bad_option(const char *cmd, int c, char **argv);

/*
 * Make path absolute against the working directory, without touching the
 * file system (the path may not exist yet). Removes "." components and
 * repeated slashes; ".." is kept as it is. Returns a malloc'ed string or
 * NULL (out of memory).
 */
char *cli_abspath(const char *path);

/*
 * Where a path in a crrfs mount is: the mount's root directory and the
 * key (the path relative to the root, no leading slash). The last
 * component need not exist (a deleted file); the directory holding it
 * must. Both strings are malloc'ed and owned by the struct.
 */
struct cli_where {
	char *root;
	char *key;
};

/*
 * Find the mount root by walking up from path's directory while the
 * device stays the same, then check that ROOT/.versions exists. Missing
 * directories above the last component (a deleted folder) become part of
 * the key. Errors: -EXDEV when path is not inside a crrfs mount; -EISDIR
 * when path is a mount root; -EINVAL when it ends in ".."; else the errno
 * of the failed lookup.
 */
int cli_where_find(const char *path, struct cli_where *w);
void cli_where_release(struct cli_where *w);

/* ROOT/.versions/KEY, malloc'ed; NULL when out of memory. */
char *cli_where_versions_dir(const struct cli_where *w);

/* One version of a key, as the CLI shows it. */
struct cli_version {
	char vid[VID_LEN + 1];
	int64_t created_ms;		/* creation time, ms since the epoch */
	uint64_t size;
	bool delete_marker;
	bool current;			/* the newest (S3's IsLatest) */
	bool has_sha;
	char sha256[65];		/* hex, when has_sha */
};

/*
 * Read every version of the key through ROOT/.versions/KEY/, oldest
 * first, with its size and (when want_sha) its SHA-256. *out is a
 * malloc'ed array of *n entries the caller frees. -ENOENT when the key
 * has no history, -EISDIR when KEY names a folder (whose .versions
 * directory lists children, not versions).
 */
int cli_versions_read(const struct cli_where *w, bool want_sha,
		      struct cli_version **out, size_t *n);

/*
 * Sort versions oldest first, in the order every store picks the current
 * version by (the id: time, store, counter), and mark the last current.
 */
void cli_versions_sort(struct cli_version *v, size_t n);

/*
 * Say in one line why a key's versions could not be had: "cannot DOING
 * 'PATH': ..." for an error of cli_where_find or cli_versions_read
 * (DOING is e.g. "restore"). Kept in one place so every command words
 * these the same.
 */
void cli_versions_err(const char *doing, const char *path, int err);

/* "2026-11-22T04:25:12.123Z" into out (24 characters and a NUL). */
void cli_format_time(int64_t ms, char out[32]);

/* Print versions as text or as a JSON array (key is escaped). */
void cli_versions_print(FILE *f, const char *key,
			const struct cli_version *v, size_t n, bool json);

/*
 * Write s (len bytes, any content) as a JSON string with its quotes.
 * Valid UTF-8 passes through; '"', '\\' and control characters are
 * escaped; each byte that is not part of valid UTF-8 is written as
 * \u00XX, so the output is always valid JSON (a byte-exact round trip
 * of such names is not possible in JSON).
 */
void cli_json_string(FILE *f, const char *s, size_t len);

/* ---- replication commands (cli_store.c, cli_ctl.c) ---- */

struct store;

/*
 * The mount at exactly mnt (an absolute, resolved path) in
 * /proc/self/mountinfo: 1 with its type ("fuse.crrfs") and source (the
 * fsname) malloc'ed, 0 when mnt is no mount point, -errno.
 */
int cli_mountinfo_find(const char *mnt, char **type, char **source);

/*
 * The store a `status`/`resync` argument names: a crrfs mount point (its
 * store is the fsname in /proc/self/mountinfo) or a store directory.
 * *out is the store's absolute path, malloc'ed. Prints the error
 * ("cannot find store 'ARG': ...") and returns -errno on failure.
 */
int cli_store_of(const char *arg, char **out);

/* Is STORE a crrfs store? 0, or -errno after printing why not. */
int cli_store_check(const char *path);

/*
 * Open STORE read-only without its lock (safe while a daemon serves it,
 * as fsck without --repair). Prints the one-line error and returns
 * -errno on failure. Close with store_close().
 */
int cli_store_open_ro(const char *path, struct store **out);

/*
 * STORE/rules.ini when it exists (malloc'ed), else NULL with *err 0; on
 * other errors (a rules.ini that is no regular file) NULL with *err set.
 */
char *cli_rules_default(const char *store, int *err);

/*
 * Send one request to the daemon serving STORE (repl_ctl_call) and copy
 * its answer to stdout (success) or stderr (failure). Returns what
 * repl_ctl_call returned.
 */
int cli_ctl(const char *store, const char *request);

/* The same, keeping the answer: *answer is malloc'ed, NUL-terminated,
 * set whenever the return is >= 0. */
int cli_ctl_ask(const char *store, const char *request, char **answer);

/* Drop the trailing newlines of an answer, to quote it in one line. */
void cli_ctl_trim(char *answer);

/*
 * A progress display on stderr for a backlog that drains: a bar redrawn
 * in place when stderr is a terminal, nothing until the end otherwise.
 */
struct cli_progress {
	const char *what;	/* "resync", "replicate" */
	bool tty;
	uint64_t total;		/* largest done + left seen */
	uint64_t done;		/* last done seen */
	int64_t last_ns;	/* last redraw */
};

void cli_progress_init(struct cli_progress *p, const char *what);
/* Safe to call often: redraws at most 10 times a second. */
void cli_progress_update(struct cli_progress *p, uint64_t done,
			 uint64_t left);
/* What `crrfs resync` asks for. */
struct cli_resync {
	const char *rule;	/* --rule ID, or NULL: every rule */
	bool failed;		/* --failed: retry FAILED versions */
};

/*
 * Replicate STORE without a mount (cli_drain.c): open it with its lock
 * ("store 'X' is mounted: its daemon replicates it" when busy), start
 * replication with rules (NULL: STORE/rules.ini), queue a resync when rs
 * is not NULL, then drain the backlog with a progress display named what.
 * Returns 0 when all was shipped, 1 when FAILED versions remain (said on
 * stderr), -errno after printing the error.
 */
int cli_drain_offline(const char *store, const char *rules, const char *what,
		      const struct cli_resync *rs, unsigned stall_s);

/* Seconds without progress after which an unmounted replicate or resync
 * gives up (a destination that is down), unless --timeout says else. */
#define CLI_DRAIN_STALL_S 600

/* Say how many versions FAILED in one line; 1 if any, else 0. */
int cli_failed_report(const char *what, const char *store, uint64_t failed);

/* Clear the bar; print "WHAT: N versions shipped, F failed" on stdout. */
void cli_progress_end(struct cli_progress *p, uint64_t done,
		      uint64_t failed);

#endif
