/*
 * repl_int.h - what the files of src/repl/ share: the queue records
 * (queue.c), the rule snapshots the hook reads (hook.c), the per
 * destination dispatch state (worker.c, whose files share worker_int.h)
 * and struct repl itself (repl.c).
 *
 * Lock order: repl.lock -> repl.wake_lock -> dest.lock. repl.rlock is a
 * leaf (held only to swap or take a reference on the rule snapshot). No
 * lock of this part is held across a store call or network I/O, so the
 * store's committer (which runs the hook and the post-commit callback,
 * and which those calls wait for) can never wait for us in a cycle.
 */
#ifndef CRRFS_REPL_INT_H
#define CRRFS_REPL_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "conf/rules.h"
#include "remote/remote.h"
#include "repl/repl.h"
#include "store/store.h"

/* ---- queue.c: records (see repl.h for the key layout) ---- */

#define REPL_REC_VERSION 1

enum repl_state {
	REPL_PENDING = 1,
	REPL_COMPLETED = 2,
	REPL_FAILED = 3,
};

#define REPL_UPLOAD_MAX 256	/* longest upload id kept */
#define REPL_JKEY_MAX (1 + RULES_NAME_MAX + 1 + 8)
#define REPL_SKEY_MAX (1 + 8 + 8 + RULES_NAME_MAX)

/* A job record ('J' DEST '\0' vseq), decoded. */
struct repl_job {
	unsigned state;			/* REPL_PENDING or REPL_FAILED */
	bool delete_marker;
	bool rematch;			/* decide by the tags it settles with */
	uint32_t attempts;
	uint64_t oid, vseq, bytes;
	uint64_t epoch;			/* the process that queued it */
	int64_t enq_ns, btime_ns;
	char vid[STORE_VID_LEN + 1];
	char rule[RULES_NAME_MAX + 1];
	char upload[REPL_UPLOAD_MAX];
	char err[REMOTE_WHY_MAX];
	char *key;			/* malloc'ed; repl_job_release */
};

/* A destination's counters ('C' DEST). */
struct repl_counts {
	uint64_t ops, bytes, failed;
};

size_t repl_jkey(char *out, const char *dest, uint64_t vseq);
size_t repl_skey(char *out, uint64_t oid, uint64_t vseq, const char *dest);
size_t repl_ckey(char *out, const char *dest);
/* Split a J key into dest (NUL-terminated copy) and vseq; -EINVAL. */
int repl_jkey_parse(const void *k, size_t klen, char *dest, uint64_t *vseq);

/* Encode into a malloc'ed buffer (*out, *len). */
int repl_job_encode(const struct repl_job *j, void **out, size_t *len);
/* -EBADMSG for a malformed record (the caller logs and skips it). */
int repl_job_decode(const void *v, size_t len, struct repl_job *j);
void repl_job_release(struct repl_job *j);

size_t repl_status_encode(unsigned state, const char *reason, uint8_t *out,
			  size_t size);
int repl_status_decode(const void *v, size_t len, unsigned *state,
		       char *reason, size_t rlen);

/* Read-modify-write of DEST's counters inside t (deltas may be < 0). */
int repl_counts_add(struct store_txn *t, const char *dest, int64_t ops,
		    int64_t bytes, int64_t failed);
int repl_counts_get(struct store *s, const char *dest, struct repl_counts *c);

/* Queue job j for dest in t: J, S = PENDING, counters. */
int repl_queue_put(struct store_txn *t, const char *dest,
		   const struct repl_job *j);

/* How a job leaves the pending state (ship.c, worker.c). */
enum repl_outcome {
	REPL_OUT_DONE,		/* COMPLETED: J gone, S = COMPLETED */
	REPL_OUT_DROP,		/* the version is gone: J and S gone */
	REPL_OUT_FAILED,	/* J and S = FAILED with the reason */
	REPL_OUT_RETRY,		/* still PENDING: attempts and error kept */
	REPL_OUT_UPLOAD,	/* PENDING: upload id recorded */
	REPL_OUT_WAIT,		/* PENDING behind an older job of its key:
				 * the reason kept, no attempt counted */
};

int repl_queue_finish(struct store *s, const char *dest, uint64_t vseq,
		      enum repl_outcome how, uint32_t attempts,
		      const char *text);

/*
 * The oldest job at dest for a version of oid older than vseq that is
 * still PENDING or FAILED (a J record, not just an S record): 1 with its
 * vseq, state and version id, 0 when there is none, or -errno.
 */
int repl_queue_older(struct store *s, const char *dest, uint64_t oid,
		     uint64_t vseq, uint64_t *older, unsigned *state,
		     char vid[STORE_VID_LEN + 1]);

const char *repl_state_name(unsigned state);
int64_t repl_now_ns(void);

/* ---- hook.c: rule snapshots and the store hook ---- */

struct repl_rules {
	struct rules *rules;	/* NULL: nothing replicates */
	atomic_int refs;
};

struct repl_rules *repl_rules_get(struct repl *r);
void repl_rules_put(struct repl_rules *rr);
/*
 * The tags of a version from its xattrs ("user.crrfs.tag.NAME"); names
 * and values are copied into buf, NUL-terminated as rules_match wants
 * them. Returns the number of tags, at most max.
 */
#define REPL_TAGS_MAX 64
#define REPL_TAGBUF_MAX (STORE_XATTRS_TOTAL_MAX + 2 * REPL_TAGS_MAX)
size_t repl_tags_collect(const struct store_xattr *xa, size_t nxa,
			 struct rules_tag *tags, size_t max, char *buf,
			 size_t buflen);
/* Bytes of buf repl_tags_collect needs for these xattrs (at least 1). */
size_t repl_tags_need(const struct store_xattr *xa, size_t nxa);
int repl_hook(void *arg, struct store_txn *t, const struct store_event *ev);
void repl_post_commit(void *arg);

/* ---- worker.c: one destination (worker_int.h: its insides) ---- */

struct repl_dest;

int repl_dest_new(struct repl *r, struct repl_rules *rr, size_t idx,
		  struct repl_dest **out, char *err, size_t errlen);
int repl_dest_start(struct repl_dest *d);
void repl_dest_free(struct repl_dest *d);
const char *repl_dest_name(const struct repl_dest *d);
/* True when d was opened from the same settings as rr->rules->dests[i]. */
bool repl_dest_same(const struct repl_dest *d, const struct rules_dest *c);
/* Forget what is loaded (but jobs in flight) and load the queue again. */
void repl_dest_reset(struct repl_dest *d);
/*
 * Stop d's workers from taking jobs and cancel the ships in flight
 * (remote_obj.cancel), without waiting: repl_dest_free then returns
 * within about 100 ms however slow the destination. A cancelled job stays
 * queued as it was. Called by repl_free only: a reload lets the ships of
 * a destination it replaces finish, since this process ships their jobs
 * again at once, without maybe_sent.
 */
void repl_dest_cancel(struct repl_dest *d);
/* Wake the workers: the queue may have new jobs. Never blocks long. */
void repl_dest_wake(struct repl_dest *d);
/* True when d has nothing runnable left; *failed set when it holds
 * FAILED jobs in memory. */
bool repl_dest_idle(struct repl_dest *d, bool *failed);

/* ---- repl.c ---- */

struct repl {
	struct store *store;
	char *store_path;
	char *rules_path;		/* NULL: no rule file */
	unsigned workers, settle_ms, backoff_ms, backoff_max_ms;
	bool no_check;
	int (*open_remote)(void *arg, const struct rules_dest *d,
			   struct remote **out, char *why, size_t whylen);
	void *open_remote_arg;
	uint64_t epoch;			/* random, per process */

	pthread_mutex_t rlock;		/* protects cur (swap only) */
	struct repl_rules *cur;

	pthread_mutex_t lock;		/* protects dests, ndests, started */
	struct repl_dest **dests;
	size_t ndests;
	bool started;

	/* wake_lock protects wake[] (the post-commit's view of dests). */
	pthread_mutex_t wake_lock;
	struct repl_dest **wake;
	size_t nwake;

	atomic_bool stop;
	atomic_uint_fast64_t done;	/* jobs completed by this process */

	pthread_t inbox_thread, ctl_thread;
	bool inbox_running, ctl_running;
	int ctl_fd, stop_fd;		/* stop_fd: eventfd waking threads */
	int ctl_dir;			/* O_PATH of the store dir, holding
					 * the socket file; -1 when none */
};

/* status.c */
int repl_report_int(struct store *s, const struct rules *rules, FILE *f,
		    bool json);

/* ctl.c */
int repl_ctl_start(struct repl *r);
void repl_ctl_stop(struct repl *r);

/* ingest.c */
int repl_inbox_start(struct repl *r);
void repl_inbox_stop(struct repl *r);
/* Wake the threads polling stop_fd (stop is set). */
void repl_stop_signal(struct repl *r);

/* resync.c */
int repl_resync_run(struct repl *r, const char *rule_id, bool failed,
		    uint64_t *queued, uint64_t *skipped);
void repl_reset_all(struct repl *r);

#endif
