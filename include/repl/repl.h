/*
 * repl.h - replication: the durable queue, the workers that ship it to
 * the destinations of the rule file, and the status they leave behind.
 *
 * Design (docs/design-repl.md):
 *  - The queue lives in the store's queue table and is written by the
 *    store's commit hook, in the same LMDB transaction as the version it
 *    ships: a crash loses neither. Records (all keys bytewise ordered):
 *      'J' DEST '\0' vseq(be64)     a job: ship this version to DEST
 *      'S' oid(be64) vseq(be64) DEST  the version's status at DEST
 *      'C' DEST                      DEST's backlog counters
 *    Jobs of one destination are therefore scanned in creation order.
 *  - Per destination, N workers (default 16) take jobs in that order; a
 *    key with a job in flight, backing off, or FAILED holds back its later
 *    versions, so versions of one key arrive in the order they were made
 *    while different keys go in parallel.
 *  - A job leaves the queue only in the transaction that records it
 *    COMPLETED (or FAILED), after the remote said so; a job that survives
 *    a restart is shipped with remote_obj.maybe_sent, so the remote checks
 *    before it ships twice.
 *  - Rules are matched in the hook when the version is made: a rule new
 *    or newly enabled by a reload applies to versions made from then on;
 *    older ones go only by repl_resync().
 *
 * Threads: every function may be called from any thread; the hook runs on
 * the store's committer thread and never blocks.
 */
#ifndef CRRFS_REPL_H
#define CRRFS_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf/rules.h"
#include "store/store.h"

struct repl;
struct remote;

/*
 * Workers per destination unless told otherwise. Small objects are bound
 * by the server's time per request, not by bandwidth, so more requests in
 * flight is what makes them go faster: against one RGW on 2 cores, 4
 * workers shipped 191 small files a second, 16 236, 32 255. Memory stays
 * bounded: multipart part buffers are shared per destination.
 */
#define REPL_WORKERS_DEFAULT 16

struct repl_opts {
	struct store *store;		/* open for writing; outlives the repl */
	const char *store_path;		/* STORE; copied */
	const char *rules_path;		/* NULL: STORE/rules.ini when it
					 * exists, else nothing replicates
					 * (but replicas are still taken
					 * in). Copied. */
	unsigned workers;		/* per destination; 0 = default */
	bool no_check;			/* skip remote_check at start */
	/*
	 * Tests: open destinations with this instead of remote_open (NULL:
	 * remote_open); the remote is freed with remote_free().
	 */
	int (*open_remote)(void *arg, const struct rules_dest *d,
			   struct remote **out, char *why, size_t whylen);
	void *open_remote_arg;
	unsigned settle_ms;		/* 0 = REPL_SETTLE_MS */
	unsigned backoff_ms;		/* first retry delay; 0 = 200 */
	unsigned backoff_max_ms;	/* retry delay cap; 0 = 60000 */
};

/*
 * A version is shipped once it is this old, so the attribute changes
 * `tar`/`cp -a` make right after the close amend it rather than make a
 * second version (shipping exposes it, which ends its amend window).
 */
#define REPL_SETTLE_MS 250

/*
 * Load and check the rule file, open and check every destination
 * (remote_check: a permanent refusal fails here, an unreachable server
 * only logs a warning), and install the store hook, so every version
 * made from now on is queued. Starts no thread. On failure *out is NULL
 * and err holds one line naming the file and line, or the destination,
 * and the reason.
 */
int repl_new(const struct repl_opts *o, struct repl **out, char *err,
	     size_t errlen);

/*
 * Start the workers, the ingest of STORE/inbox (replicas arriving from
 * other stores' dir destinations) and, when ctl is true, the control
 * socket that `crrfs status/resync/reload` use while mounted.
 */
int repl_start(struct repl *r, bool ctl);

/* Stop the threads (an upload in flight is abandoned; its job stays
 * queued), remove the hook, free. NULL ok. */
void repl_free(struct repl *r);

/*
 * Read the rule file again and swap it in (SIGHUP). On a bad file, the
 * old rules stay and err says why (-EINVAL).
 */
int repl_reload(struct repl *r, char *err, size_t errlen);

/*
 * Queue what the rules would ship but was never queued (versions made
 * before a rule was enabled), only for rule rule_id when not NULL; with
 * failed, put FAILED jobs back to PENDING instead. A version older than
 * one its key already has at that destination is skipped (it would make
 * the destination's current version differ from the source's).
 */
int repl_resync(struct repl *r, const char *rule_id, bool failed,
		uint64_t *queued, uint64_t *skipped);

/* Called while draining: jobs done so far and jobs left. */
typedef void (*repl_progress_fn)(void *arg, uint64_t done, uint64_t left);

/*
 * Wait until no job can run any more: everything shipped, or FAILED
 * (repl_start must have been called). Returns 0 when nothing is left,
 * 1 when FAILED jobs remain, -errno.
 */
int repl_drain(struct repl *r, repl_progress_fn fn, void *arg);

/* repl_drain, but give up with -ETIMEDOUT when nothing was shipped for
 * stall_ms while jobs remain (a destination down: `crrfs replicate` from
 * a timer must end). stall_ms 0 waits for ever. */
int repl_drain_stall(struct repl *r, repl_progress_fn fn, void *arg,
		     unsigned stall_ms);

/* ---- reads that need only the store (the CLI, the xattrs) ---- */

/*
 * user.crrfs.replication-status[.DEST] of version (oid, vseq) with
 * flags vflags (a STORE_V_REPLICA version says "REPLICA"): dest NULL
 * gives the combined status as S3 does (FAILED if any destination failed,
 * else PENDING if any is pending, else COMPLETED). Writes the value (no
 * NUL) into buf as getxattr does: returns its length, -ERANGE when size
 * is too small but not 0, -ENODATA when no rule applied to the version.
 */
int repl_version_status(struct store *s, uint64_t oid, uint64_t vseq,
			unsigned vflags, const char *dest, char *buf,
			size_t size);

/* The backlog of one destination, or of all (repl_backlog_total). */
struct repl_backlog {
	uint64_t ops;		/* pending jobs */
	uint64_t bytes;		/* their data bytes */
	uint64_t failed;	/* FAILED jobs */
	int64_t oldest_ns;	/* creation time of the oldest pending
				 * version, 0 when none */
};

int repl_backlog_total(struct store *s, struct repl_backlog *out);

/*
 * The report of `crrfs status`: per destination and rule, pending
 * operations and bytes, age of the oldest pending version, failures with
 * their last error; as text or JSON (docs/user-guide.md shows both).
 */
int repl_report(struct store *s, FILE *f, bool json);

/*
 * The same, knowing the rule file in force (may be NULL): destinations of
 * the file with nothing queued are listed too, and queued jobs of a
 * destination the file no longer has are flagged "not in the rule file".
 */
int repl_report_rules(struct store *s, const struct rules *rules, FILE *f,
		      bool json);

/* ---- the control socket (repl_ctl.c) ---- */

/*
 * Send one request line to the daemon that has STORE mounted ("reload",
 * "status", "status --json", "resync [--rule ID] [--failed]", "progress")
 * and copy its answer to out. Returns 0, a positive exit status the
 * daemon gave, -ENOENT/-ECONNREFUSED when no daemon serves STORE, or
 * -errno.
 */
int repl_ctl_call(const char *store_path, const char *request, FILE *out);

#endif
