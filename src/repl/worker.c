/*
 * worker.c - the workers of one destination: they load its jobs from the
 * queue in creation order and ship them, keeping versions of one key in
 * order while different keys go in parallel.
 *
 * The state machine of a job (the J record and its S record):
 *
 *   (hook or resync) --> PENDING --ship ok--------------> COMPLETED
 *                          |  ^  \--version gone-------> (dropped)
 *              transient   |  |   \--permanent error--> FAILED
 *              error: stays|  |                           |
 *              PENDING,    v  |    resync --failed        |
 *              backoff   (retry) <------------------------/
 *
 *  - PENDING and FAILED are J records; COMPLETED is only an S record (the
 *    J record is deleted in the same transaction that writes it), and a
 *    dropped job (purged version, vanished temp file) leaves neither.
 *  - A job leaves PENDING only after the remote answered, in one
 *    transaction that also updates the C counters; a crash before that
 *    leaves it PENDING, and the next process ships it with maybe_sent.
 *  - Retries: 200 ms doubling to 60 s, each delay jittered to 50-150% so
 *    keys that failed together retry apart; the attempt count and last
 *    error reach the record at attempts 1, 2, 4, 8... (not every retry
 *    is a commit). The first success after a transient failure retries
 *    every backed-off key at once: the destination is back.
 *  - Per key (oid) order: of one destination's jobs of an oid, only the
 *    oldest loaded one may run; while it is in flight, backing off or
 *    FAILED, the later ones wait. So versions arrive in order. The queue
 *    has the last word: before shipping, a job looks for an older job of
 *    its key still queued there (ship.c); if there is one (queued below
 *    the load cursor, so not loaded), the job waits (REPL_OUT_WAIT: no
 *    attempt, the reason kept in its record), loading starts again from
 *    the older job, and that one takes its place at the head.
 *
 * Dispatch: of the jobs loaded in memory (jobmap.c), the head of each
 * key's FIFO that may run waits in a heap by vseq (ready) or, backing
 * off, in a heap by retry time (delay); a worker takes the oldest ready
 * job once it has settled (REPL_SETTLE_MS), ships it without a lock
 * (ship.c), and settles the outcome in memory here: the next job of the
 * key is armed, or the job backs off, or it stays FAILED. A worker loads
 * the next batch when the ready heap runs low. So each job costs
 * O(log n) and the queue is read once (again only after a resync).
 */
#include "repl/worker_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

/* Jobs backing off until upto (or sooner) may run now. */
static void delay_end(struct repl_dest *d, int64_t upto)
{
	while (d->delay.n && d->delay.a[0]->next_ns <= upto)
		if (repl_heap_push(&d->ready, repl_heap_pop(&d->delay)))
			break;
}

/* The job to run now, or NULL and *wait_ns: when to look again (0: on
 * a wake only). */
static struct repl_mjob *dest_pick(struct repl_dest *d, int64_t *wait_ns)
{
	int64_t now = repl_now_ns(), settle;
	struct repl_mjob *j;

	*wait_ns = 0;
	delay_end(d, now);
	if (d->delay.n)
		*wait_ns = d->delay.a[0]->next_ns;
	if (!d->ready.n)
		return NULL;
	j = d->ready.a[0];
	settle = j->btime_ns + (int64_t)d->r->settle_ms * 1000000;
	if (settle > now) {
		if (!*wait_ns || settle < *wait_ns)
			*wait_ns = settle;
		return NULL;
	}
	repl_heap_pop(&d->ready);
	j->inflight = true;
	d->inflight++;
	return j;
}

static int64_t backoff_ns(const struct repl *r, const struct repl_mjob *j)
{
	uint64_t ms = r->backoff_ms, h;
	uint32_t a = j->attempts;

	while (a-- > 1 && ms < r->backoff_max_ms)
		ms *= 2;
	if (ms > r->backoff_max_ms)
		ms = r->backoff_max_ms;
	/* jitter 50..150%, so keys that failed together retry apart */
	h = (j->vseq ^ (uint64_t)repl_now_ns()) * 0x9E3779B97F4A7C15ULL;
	ms = ms * (50 + (h >> 33) % 101) / 100;
	return (int64_t)(ms ? ms : 1) * 1000000;
}

/*
 * A cancelled ship (the replicator stops): the job is as it was before
 * dest_pick took it, as a kill -9 would leave it; no attempt counted.
 */
static void job_unclaim(struct repl_dest *d, struct repl_mjob *j)
{
	j->inflight = false;
	d->inflight--;
	repl_job_arm(d, j);
	pthread_cond_broadcast(&d->cond);
}

/*
 * An older job of j's key is queued but not loaded (it was queued below
 * the load cursor): load again from it; it goes before j in the key's
 * FIFO (jobmap.c), and j looks again soon in case it has not.
 */
static void job_wait(struct repl_dest *d, struct repl_mjob *j)
{
	struct repl_okey *k = repl_okey_find(d, j->oid);

	j->waiting = true;
	if (k && k->head == j && j->next && j->next->vseq < j->vseq) {
		/* loaded while j was in flight: the older go first */
		k->head = j->next;
		j->next = NULL;
		repl_job_arm(d, k->head);
		repl_fifo_insert(d, k, j);
		return;
	}
	if (j->wait_vseq < d->cursor) {
		d->gen++;	/* a load under way would move the cursor */
		d->cursor = j->wait_vseq;
		d->exhausted = false;
	}
	j->next_ns = repl_now_ns() + REPL_WAIT_MS * 1000000;
	repl_job_arm(d, j);
}

/* What ship decided, applied to the in-memory state. */
static void job_settle(struct repl_dest *d, struct repl_mjob *j,
		       enum repl_outcome how)
{
	struct repl_okey *k = repl_okey_find(d, j->oid);

	j->inflight = false;
	d->inflight--;
	switch (how) {
	case REPL_OUT_DONE:
	case REPL_OUT_DROP:
		if (k && k->head == j) {
			k->head = j->next;
			if (!k->head)
				repl_okey_del(d, k);
			else
				repl_job_arm(d, k->head);
		}
		if (how == REPL_OUT_DONE)
			atomic_fetch_add(&d->r->done, 1);
		free(j);
		if (how == REPL_OUT_DONE && d->down) {
			/* the destination is back: retry the keys that
			 * backed off now, rather than up to a minute on */
			d->down = false;
			delay_end(d, INT64_MAX);
		}
		break;
	case REPL_OUT_FAILED:
		j->failed = true;
		d->nfailed++;
		break;
	case REPL_OUT_WAIT:
		job_wait(d, j);
		break;

	default:
		d->down = true;
		j->attempts++;
		j->next_ns = repl_now_ns() + backoff_ns(d->r, j);
		repl_job_arm(d, j);
		break;
	}
	pthread_cond_broadcast(&d->cond);
}

/*
 * One log line when an outage begins and one when it ends, however many
 * retries lie between (a line per retry would bury everything else).
 * Called with d->lock held; drops it to count what is waiting.
 */
static void outage_note(struct repl_dest *d, enum repl_outcome how,
			const char *why)
{
	struct repl_counts c;
	int64_t secs;

	if (how == REPL_OUT_RETRY && !d->down_since_ns) {
		d->down_since_ns = repl_now_ns();
		log_warn("destination '%s' unreachable: %s; retrying", d->name,
			 why);
	} else if (how == REPL_OUT_DONE && d->down_since_ns) {
		secs = (repl_now_ns() - d->down_since_ns) / 1000000000;
		d->down_since_ns = 0;
		pthread_mutex_unlock(&d->lock);
		if (repl_counts_get(d->r->store, d->name, &c))
			c.ops = 0;
		log_info("destination '%s' reachable again after %lld s, %llu "
			 "version%s waiting", d->name, (long long)secs,
			 (unsigned long long)c.ops, c.ops == 1 ? "" : "s");
		pthread_mutex_lock(&d->lock);
	}
}

static void *worker_main(void *arg)
{
	struct repl_dest *d = arg;
	char why[REMOTE_WHY_MAX];

	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		enum repl_outcome how;
		struct repl_mjob *j;
		int64_t wait_ns;
		bool tried, cancelled;

		if (!d->exhausted && !d->loading &&
		    d->ready.n < 2 * d->nthreads + 16) {
			repl_jobs_load(d);
			continue;
		}
		j = dest_pick(d, &wait_ns);
		if (!j) {
			if (wait_ns) {
				struct timespec ts = {
					wait_ns / 1000000000,
					wait_ns % 1000000000 };

				pthread_cond_timedwait(&d->cond, &d->lock,
						       &ts);
			} else {
				pthread_cond_wait(&d->cond, &d->lock);
			}
			continue;
		}
		tried = j->tried;
		j->tried = true;
		pthread_mutex_unlock(&d->lock);
		how = repl_job_ship(d, j, tried, &cancelled, why, sizeof(why));
		if (!cancelled)
			how = repl_job_record(d, j, how, why);
		pthread_mutex_lock(&d->lock);
		if (cancelled) {
			job_unclaim(d, j);
		} else {
			job_settle(d, j, how);
			outage_note(d, how, why);
		}
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* ---- life cycle ---- */

int repl_dest_new(struct repl *r, struct repl_rules *rr, size_t idx,
		  struct repl_dest **out, char *err, size_t errlen)
{
	const struct rules_dest *c = &rr->rules->dests[idx];
	char why[REMOTE_WHY_MAX] = "";
	struct repl_dest *d = calloc(1, sizeof(*d));
	int rc;

	*out = NULL;
	if (!d)
		return -ENOMEM;
	d->r = r;
	snprintf(d->name, sizeof(d->name), "%s", c->name);
	d->delay.by_time = true;
	atomic_init(&d->cancel, false);
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	if (r->open_remote)
		rc = r->open_remote(r->open_remote_arg, c, &d->remote, why,
				    sizeof(why));
	else
		rc = remote_open(c, r->store_path, &d->remote, why,
				 sizeof(why));
	if (rc) {
		snprintf(err, errlen, "cannot open destination '%s': %s",
			 c->name, why[0] ? why : strerror(-rc));
		goto fail;
	}
	d->checked = r->no_check;
	if (!r->no_check) {
		rc = remote_check(d->remote, why, sizeof(why));
		if (rc == -EAGAIN) {
			/* the outage begins now: the retries add no line */
			d->down_since_ns = repl_now_ns();
			log_warn("destination '%s' unreachable: %s; retrying",
				 c->name, why);
		} else if (rc) {
			snprintf(err, errlen, "destination '%s' refused: %s",
				 c->name, why);
			goto fail;
		} else {
			d->checked = true;
		}
	}
	atomic_fetch_add(&rr->refs, 1);
	d->snap = rr;
	d->idx = idx;
	*out = d;
	return 0;
fail:
	remote_free(d->remote);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	free(d);
	return rc ? rc : -EIO;
}

int repl_dest_start(struct repl_dest *d)
{
	unsigned n = d->r->workers;
	int rc = 0;

	d->threads = calloc(n, sizeof(*d->threads));
	if (!d->threads)
		return -ENOMEM;
	pthread_mutex_lock(&d->lock);
	for (d->nthreads = 0; d->nthreads < n; d->nthreads++) {
		rc = -pthread_create(&d->threads[d->nthreads], NULL,
				     worker_main, d);
		if (rc)
			break;
	}
	pthread_mutex_unlock(&d->lock);
	return d->nthreads ? 0 : rc;
}

void repl_dest_reset(struct repl_dest *d)
{
	pthread_mutex_lock(&d->lock);
	repl_jobs_clear(d, true);
	d->gen++;
	d->cursor = 0;
	d->exhausted = false;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

void repl_dest_cancel(struct repl_dest *d)
{
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	atomic_store(&d->cancel, true);
}

void repl_dest_wake(struct repl_dest *d)
{
	pthread_mutex_lock(&d->lock);
	d->wakes++;
	d->exhausted = false;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

bool repl_dest_idle(struct repl_dest *d, bool *failed)
{
	bool idle;

	pthread_mutex_lock(&d->lock);
	idle = d->exhausted && !d->loading && !d->ready.n && !d->delay.n &&
	       !d->inflight;
	*failed = d->nfailed > 0;
	pthread_mutex_unlock(&d->lock);
	return idle;
}

const char *repl_dest_name(const struct repl_dest *d)
{
	return d->name;
}

static bool str_same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

bool repl_dest_same(const struct repl_dest *d, const struct rules_dest *c)
{
	const struct rules_dest *o = &d->snap->rules->dests[d->idx];

	return str_same(o->name, c->name) && o->type == c->type &&
	       str_same(o->endpoint, c->endpoint) &&
	       str_same(o->region, c->region) &&
	       str_same(o->bucket, c->bucket) &&
	       str_same(o->credentials, c->credentials) &&
	       str_same(o->profile, c->profile) &&
	       str_same(o->storage_class, c->storage_class) &&
	       str_same(o->ca_file, c->ca_file) &&
	       o->path_style == c->path_style && str_same(o->path, c->path);
}

void repl_dest_free(struct repl_dest *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	for (unsigned i = 0; i < d->nthreads; i++)
		pthread_join(d->threads[i], NULL);
	free(d->threads);
	remote_free(d->remote);
	repl_jobs_clear(d, false);
	free(d->buckets);
	free(d->ready.a);
	free(d->delay.a);
	repl_rules_put(d->snap);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	free(d);
}
