/*
 * repl.c - the life of a replicator: open the rule file and the
 * destinations, install the store hook, start and stop the threads,
 * reload the rules, and wait for the backlog to drain.
 *
 * Design: a destination is a struct repl_dest with its own remote and
 * workers (worker.c), keyed by name. A reload builds the new set of
 * destinations first (keeping those whose settings did not change,
 * opening and checking new ones) and only then swaps the rules the hook
 * sees, so a job is never queued for a destination without workers; a
 * destination that leaves the rule file loses its workers but keeps its
 * jobs in the queue (repl_report shows them) for when it comes back.
 */
#include "repl/repl_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

static int snap_load(struct repl *r, struct repl_rules **out, char *err,
		     size_t errlen)
{
	struct repl_rules *rr = calloc(1, sizeof(*rr));
	int rc = 0;

	*out = NULL;
	if (!rr)
		return -ENOMEM;
	atomic_init(&rr->refs, 1);
	if (r->rules_path)
		rc = rules_load(r->rules_path, r->store_path, &rr->rules, err,
				errlen);
	if (rc) {
		free(rr);
		return rc;
	}
	*out = rr;
	return 0;
}

static struct repl_dest *dest_take(struct repl_dest **v, size_t n,
				   const struct rules_dest *c)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] && repl_dest_same(v[i], c)) {
			struct repl_dest *d = v[i];

			v[i] = NULL;
			return d;
		}
	return NULL;
}

/*
 * Make r's destinations those of rr: keep the unchanged ones, open the
 * new ones (started when r is), free the others. r->lock held. On error
 * nothing changes.
 */
static int dests_sync(struct repl *r, struct repl_rules *rr, char *err,
		      size_t errlen)
{
	size_t n = rr->rules ? rr->rules->ndests : 0, i;
	struct repl_dest **nv = calloc(n + 1, sizeof(*nv));
	struct repl_dest **wake = calloc(n + 1, sizeof(*wake));
	struct repl_dest **old;
	bool *fresh = calloc(n + 1, sizeof(*fresh));
	int rc = nv && wake && fresh ? 0 : -ENOMEM;

	for (i = 0; !rc && i < n; i++) {
		nv[i] = dest_take(r->dests, r->ndests, &rr->rules->dests[i]);
		if (nv[i])
			continue;
		fresh[i] = true;
		rc = repl_dest_new(r, rr, i, &nv[i], err, errlen);
	}
	if (rc) {
		/* give back what was taken, free what was opened */
		for (i = 0; i < n; i++) {
			if (!nv || !nv[i])
				continue;
			if (fresh[i]) {
				repl_dest_free(nv[i]);
				continue;
			}
			for (size_t k = 0; k < r->ndests; k++)
				if (!r->dests[k]) {
					r->dests[k] = nv[i];
					break;
				}
		}
		goto out;
	}
	memcpy(wake, nv, n * sizeof(*nv));
	pthread_mutex_lock(&r->wake_lock);
	old = r->wake;
	r->wake = wake;
	r->nwake = n;
	pthread_mutex_unlock(&r->wake_lock);
	wake = old;
	/* the old workers of a destination whose settings changed stop
	 * before the new ones start: never two pools on one queue */
	for (i = 0; i < r->ndests; i++)
		if (r->dests[i]) {
			log_info("destination '%s' left the rule file or "
				 "changed: its jobs stay queued",
				 repl_dest_name(r->dests[i]));
			repl_dest_free(r->dests[i]);
		}
	for (i = 0; i < n && r->started; i++)
		if (fresh[i] && repl_dest_start(nv[i]))
			log_error("cannot start the workers of destination "
				  "'%s'", repl_dest_name(nv[i]));
	free(r->dests);
	r->dests = nv;
	r->ndests = n;
	nv = NULL;
out:
	free(nv);
	free(wake);
	free(fresh);
	return rc;
}

static void snap_swap(struct repl *r, struct repl_rules *rr)
{
	struct repl_rules *old;

	pthread_mutex_lock(&r->rlock);
	old = r->cur;
	r->cur = rr;
	pthread_mutex_unlock(&r->rlock);
	repl_rules_put(old);
}

static uint64_t epoch_make(void)
{
	uint64_t e = 0;

	if (getrandom(&e, sizeof(e), 0) != sizeof(e))
		e = (uint64_t)repl_now_ns() ^ ((uint64_t)getpid() << 32);
	return e ? e : 1;
}

int repl_new(const struct repl_opts *o, struct repl **out, char *err,
	     size_t errlen)
{
	struct repl *r = calloc(1, sizeof(*r));
	struct repl_rules *rr = NULL;
	int rc;

	*out = NULL;
	err[0] = '\0';
	if (!r)
		return -ENOMEM;
	/* curl_global_init before any of our threads (or a remote) runs */
	rc = remote_global_init();
	if (rc) {
		snprintf(err, errlen, "cannot initialise libcurl");
		free(r);
		return rc;
	}
	pthread_mutex_init(&r->rlock, NULL);
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->wake_lock, NULL);
	r->ctl_fd = r->stop_fd = r->ctl_dir = -1;
	r->store = o->store;
	r->store_path = strdup(o->store_path);
	if (o->rules_path) {
		r->rules_path = strdup(o->rules_path);
	} else if (r->store_path &&
		   asprintf(&r->rules_path, "%s/rules.ini", r->store_path) > 0 &&
		   access(r->rules_path, F_OK)) {
		free(r->rules_path);
		r->rules_path = NULL;
	}
	r->workers = o->workers ? o->workers : REPL_WORKERS_DEFAULT;
	r->settle_ms = o->settle_ms ? o->settle_ms : REPL_SETTLE_MS;
	r->backoff_ms = o->backoff_ms ? o->backoff_ms : 200;
	r->backoff_max_ms = o->backoff_max_ms ? o->backoff_max_ms : 60000;
	r->no_check = o->no_check;
	r->open_remote = o->open_remote;
	r->open_remote_arg = o->open_remote_arg;
	r->epoch = epoch_make();
	r->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!r->store_path || r->stop_fd < 0) {
		rc = r->store_path ? -errno : -ENOMEM;
		goto fail;
	}
	rc = snap_load(r, &rr, err, errlen);
	if (rc)
		goto fail;
	pthread_mutex_lock(&r->lock);
	rc = dests_sync(r, rr, err, errlen);
	pthread_mutex_unlock(&r->lock);
	if (rc)
		goto fail;
	r->cur = rr;
	rr = NULL;
	store_set_post_commit(r->store, repl_post_commit, r);
	store_set_hook(r->store, repl_hook, r);
	*out = r;
	return 0;
fail:
	if (!err[0])
		snprintf(err, errlen, "cannot start replication: %s",
			 strerror(-rc));
	repl_rules_put(rr);
	repl_free(r);
	return rc;
}

int repl_start(struct repl *r, bool ctl)
{
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; !rc && i < r->ndests && !r->started; i++)
		rc = repl_dest_start(r->dests[i]);
	r->started = true;
	pthread_mutex_unlock(&r->lock);
	if (!rc)
		rc = repl_inbox_start(r);
	if (!rc && ctl)
		rc = repl_ctl_start(r);
	return rc;
}

static int txn_nothing(void *arg, struct store_txn *t)
{
	(void)arg;
	(void)t;
	return 0;
}

void repl_free(struct repl *r)
{
	if (!r)
		return;
	atomic_store(&r->stop, true);
	/* First: the control thread's reloads write r->cur. */
	repl_ctl_stop(r);
	if (r->store && r->cur) {
		store_set_hook(r->store, NULL, NULL);
		store_set_post_commit(r->store, NULL, NULL);
		/* one commit through the committer: a hook or post-commit
		 * call that began before the lines above has returned */
		store_q_update(r->store, txn_nothing, NULL);
	}
	repl_inbox_stop(r);
	pthread_mutex_lock(&r->wake_lock);
	r->nwake = 0;
	pthread_mutex_unlock(&r->wake_lock);
	pthread_mutex_lock(&r->lock);
	/* all at once, so the ships in flight give up in parallel */
	for (size_t i = 0; i < r->ndests; i++)
		repl_dest_cancel(r->dests[i]);
	for (size_t i = 0; i < r->ndests; i++)
		repl_dest_free(r->dests[i]);
	pthread_mutex_unlock(&r->lock);
	free(r->dests);
	free(r->wake);
	repl_rules_put(r->cur);
	free(r->store_path);
	free(r->rules_path);
	if (r->stop_fd >= 0)
		close(r->stop_fd);
	pthread_mutex_destroy(&r->rlock);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->wake_lock);
	free(r);
}

int repl_reload(struct repl *r, char *err, size_t errlen)
{
	struct repl_rules *rr = NULL;
	int rc;

	err[0] = '\0';
	rc = snap_load(r, &rr, err, errlen);
	if (rc)
		return rc == -ENOMEM ? rc : -EINVAL;
	pthread_mutex_lock(&r->lock);
	rc = dests_sync(r, rr, err, errlen);
	pthread_mutex_unlock(&r->lock);
	if (rc) {
		repl_rules_put(rr);
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	snap_swap(r, rr);
	log_info("replication rules reloaded from '%s'",
		 r->rules_path ? r->rules_path : "(none)");
	return 0;
}

void repl_reset_all(struct repl *r)
{
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->ndests; i++)
		repl_dest_reset(r->dests[i]);
	pthread_mutex_unlock(&r->lock);
}

int repl_resync(struct repl *r, const char *rule_id, bool failed,
		uint64_t *queued, uint64_t *skipped)
{
	return repl_resync_run(r, rule_id, failed, queued, skipped);
}

/* Jobs still pending at destinations that have workers. */
static uint64_t served_left(struct repl *r)
{
	uint64_t left = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->ndests; i++) {
		struct repl_counts c;

		if (!repl_counts_get(r->store, repl_dest_name(r->dests[i]), &c))
			left += c.ops;
	}
	pthread_mutex_unlock(&r->lock);
	return left;
}

static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int repl_drain(struct repl *r, repl_progress_fn fn, void *arg)
{
	return repl_drain_stall(r, fn, arg, 0);
}

int repl_drain_stall(struct repl *r, repl_progress_fn fn, void *arg,
		     unsigned stall_ms)
{
	uint64_t done0 = atomic_load(&r->done), seen = done0;
	struct timespec ts = { 0, 100 * 1000000 };
	int64_t moved = mono_ms();

	if (!r->started)
		return -EINVAL;
	/* what was committed before this call is looked at, whether or
	 * not its post-commit wake-up has run yet */
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->ndests; i++)
		repl_dest_wake(r->dests[i]);
	pthread_mutex_unlock(&r->lock);
	for (;;) {
		bool idle = true, failed = false;

		pthread_mutex_lock(&r->lock);
		for (size_t i = 0; i < r->ndests; i++) {
			bool f = false;

			if (!repl_dest_idle(r->dests[i], &f))
				idle = false;
			failed |= f;
		}
		pthread_mutex_unlock(&r->lock);
		if (fn)
			fn(arg, atomic_load(&r->done) - done0,
			   idle ? 0 : served_left(r));
		if (idle)
			return failed ? 1 : 0;
		if (atomic_load(&r->stop))
			return -EINTR;
		if (atomic_load(&r->done) != seen) {
			seen = atomic_load(&r->done);
			moved = mono_ms();
		} else if (stall_ms && mono_ms() - moved > (int64_t)stall_ms) {
			return -ETIMEDOUT;
		}
		nanosleep(&ts, NULL);
	}
}
