/*
 * worker_int.h - what the three files of a destination's workers share:
 * worker.c (the job state machine, dispatch, the threads, life cycle),
 * jobmap.c (the jobs loaded in memory: a FIFO per oid, two heaps, and
 * loading them from the queue) and ship.c (shipping one job and recording
 * its outcome). Not for use outside src/repl/.
 */
#ifndef CRRFS_REPL_WORKER_INT_H
#define CRRFS_REPL_WORKER_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "repl/repl_int.h"

#define REPL_LOAD_BATCH 1024
#define REPL_NOHEAP ((size_t)-1)
#define REPL_WAIT_MS 200	/* a job behind an unloaded older one */

struct repl_mjob {		/* a loaded job; all fields: dest.lock */
	uint64_t oid, vseq;
	int64_t btime_ns, next_ns;
	uint32_t attempts;
	bool inflight, failed, tried;
	bool waiting;		/* its wait reason is in the J record */
	uint64_t wait_vseq;	/* the older job it waits for (REPL_OUT_WAIT);
				 * set by its worker while in flight */
	struct repl_mjob *next;	/* the oid's next job */
	size_t hidx;		/* index in ready or delay, or NOHEAP */
};

struct repl_okey {		/* the loaded jobs of one oid */
	uint64_t oid;
	struct repl_mjob *head, *tail;
	struct repl_okey *hnext;
};

struct repl_heap {
	struct repl_mjob **a;
	size_t n, cap;
	bool by_time;		/* by next_ns, then vseq; else by vseq */
};

struct repl_dest {
	struct repl *r;
	char name[RULES_NAME_MAX + 1];
	struct repl_rules *snap;	/* the settings it was opened from */
	size_t idx;
	struct remote *remote;
	pthread_t *threads;
	unsigned nthreads;
	atomic_bool cancel;		/* repl_dest_cancel: give up ships */

	pthread_mutex_t lock;		/* protects everything below */
	pthread_cond_t cond;
	bool stop, loading, exhausted, checked;
	bool down;			/* last ship failed transiently */
	int64_t down_since_ns;		/* outage began (logged), or 0 */
	uint64_t wakes;			/* post-commit calls seen */
	char refusal[REMOTE_WHY_MAX];	/* permanent remote_check answer */
	uint64_t cursor, gen;
	struct repl_okey **buckets;
	size_t nbuckets, nkeys;
	struct repl_heap ready, delay;
	unsigned inflight;
	size_t nfailed;
};

/* ---- jobmap.c (dest.lock held) ---- */

int repl_heap_push(struct repl_heap *h, struct repl_mjob *j);
struct repl_mjob *repl_heap_pop(struct repl_heap *h);
void repl_heap_remove(struct repl_heap *h, struct repl_mjob *j);

struct repl_okey *repl_okey_find(struct repl_dest *d, uint64_t oid);
void repl_okey_del(struct repl_dest *d, struct repl_okey *k);

/*
 * Put j in its place by vseq in k's FIFO (but never before a head in
 * flight); when it becomes the head, the old head leaves the heaps and
 * j is armed.
 */
void repl_fifo_insert(struct repl_dest *d, struct repl_okey *k,
		      struct repl_mjob *j);

/* j became the head of its oid: let it run when it may. */
void repl_job_arm(struct repl_dest *d, struct repl_mjob *j);

/* Load the next batch from the queue; drops the lock during the scan. */
void repl_jobs_load(struct repl_dest *d);

/* Forget every loaded job (but, with keep_inflight, those in flight). */
void repl_jobs_clear(struct repl_dest *d, bool keep_inflight);

/* ---- ship.c (no lock held) ---- */

/*
 * Ship job mj (tried: an earlier attempt of this process may have
 * reached the remote); why gets the reason of a failure. *cancelled is
 * set when the ship gave up for repl_dest_cancel: then there is no
 * outcome to record, the job stays as it was.
 */
enum repl_outcome repl_job_ship(struct repl_dest *d, struct repl_mjob *mj,
				bool tried, bool *cancelled, char *why,
				size_t wl);

/* Record the outcome durably; a failure to do so is retried later. */
enum repl_outcome repl_job_record(struct repl_dest *d, struct repl_mjob *mj,
				  enum repl_outcome how, const char *why);

#endif
