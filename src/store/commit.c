/*
 * commit.c - the one path every mutation takes: group commit.
 *
 * Design: callers build an op (apply function + argument) and queue it;
 * one committer thread takes every queued op, opens ONE write transaction,
 * runs each op in a nested child transaction (so a failing op rolls back
 * alone and the rest of the batch goes on), saves the counters, commits
 * once, syncs if any op asked for durability (or the store is STORE_SYNC),
 * runs the post-commit actions (segment deletion, remap callbacks) and only
 * then wakes the callers. Under load many closes share one commit; alone,
 * an op waits for nothing but its own commit.
 *
 * The environment is opened MDB_NOSYNC: a commit is a write() into the page
 * cache, which survives kill -9 but not power loss. Every sync_interval_ms,
 * when something was committed, the flusher asks the committer to sync
 * (snap_sync: the store's filesystem, then the synced snapshot is saved
 * and pinned, see snapshot.c); STORE_DURABLE ops sync before the caller
 * returns; STORE_SYNC stores sync every commit.
 *
 * States of an op: queued (on qhead list) -> taken (committer's batch) ->
 * done (rc set, caller woken). Only the caller frees it (it lives on the
 * caller's stack).
 */
#include "store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "util/clock.h"
#include "util/log.h"

struct store_op {
	store_apply_fn apply;
	void *arg;
	unsigned flags;
	store_remap_fn remap;
	void *remap_arg;
	struct post post;
	int rc;
	bool done;
	struct store_op *next;
};

int store_meta_save(struct store *s, MDB_txn *txn, bool clean);

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap * 2 : 8;
	void *p;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

int post_remap(struct store_txn *t, uint64_t old_oid, uint64_t new_oid)
{
	struct post *p = t->post;
	int rc;

	if (!p)
		return 0;
	rc = grow((void **)&p->remaps, &p->capremaps, p->nremaps + 1,
		  sizeof(p->remaps[0]));
	if (rc)
		return rc;
	p->remaps[p->nremaps][0] = old_oid;
	p->remaps[p->nremaps][1] = new_oid;
	p->nremaps++;
	return 0;
}

int post_freed(struct store_txn *t, uint64_t seg)
{
	struct post *p = t->post;
	int rc;

	if (!p)
		return 0;
	rc = grow((void **)&p->freed, &p->capfreed, p->nfreed + 1,
		  sizeof(p->freed[0]));
	if (rc)
		return rc;
	p->freed[p->nfreed++] = seg;
	return 0;
}

static void post_reset(struct post *p)
{
	p->nremaps = 0;
	p->nfreed = 0;
	p->hooked = false;
}

static void post_run(struct store *s, struct store_op *op)
{
	size_t i;

	for (i = 0; i < op->post.nfreed; i++)
		seg_release(s, op->post.freed[i]);
	if (op->remap)
		for (i = 0; i < op->post.nremaps; i++)
			op->remap(op->remap_arg, op->post.remaps[i][0],
				  op->post.remaps[i][1]);
}

/* Run one op in its own child transaction. */
static void op_apply(struct store *s, MDB_txn *parent, struct store_op *op)
{
	struct store_txn t = { s, NULL, &op->post };
	int rc;

	rc = store_err(mdb_txn_begin(s->env, parent, 0, &t.txn));
	if (rc) {
		op->rc = rc;
		return;
	}
	rc = op->apply(&t, op->arg);
	if (rc) {
		mdb_txn_abort(t.txn);
		post_reset(&op->post);
	} else {
		rc = store_err(mdb_txn_commit(t.txn));
		if (rc)
			post_reset(&op->post);
	}
	op->rc = rc;
}

/*
 * LMDB reports a short write of its pages, which is how a full disk shows
 * while its file grows, as EIO. Said as it is: ENOSPC.
 */
static int commit_err(struct store *s, int mrc)
{
	struct statvfs st;
	int rc = store_err(mrc);

	if (rc == -EIO && !statvfs(s->path, &st) && st.f_bavail == 0)
		return -ENOSPC;
	return rc;
}

static void batch_run(struct store *s, struct store_op *batch)
{
	struct store_op *op;
	MDB_txn *txn = NULL;
	bool sync = s->flags & STORE_SYNC, hooked = false;
	void (*post_fn)(void *arg);
	void *post_arg;
	int rc, src = 0;

	rc = store_err(mdb_txn_begin(s->env, NULL, 0, &txn));
	for (op = batch; op && !rc; op = op->next) {
		op_apply(s, txn, op);
		if (op->flags & COMMIT_DURABLE)
			sync = true;
	}
	if (!rc)
		rc = store_meta_save(s, txn, false);
	if (!rc) {
		/* Never abort after a failed commit: LMDB freed the txn. */
		rc = commit_err(s, mdb_txn_commit(txn));
	} else if (txn) {
		mdb_txn_abort(txn);
	}
	atomic_fetch_add(&s->commits, 1);
	if (!rc && sync) {
		src = snap_sync(s);
		if (src)
			log_error("cannot sync store '%s': %s", s->path,
				  strerror(-src));
	}
	for (op = batch; op; op = op->next) {
		atomic_fetch_add(&s->ops_done, 1);
		if (rc) {
			op->rc = rc;
			post_reset(&op->post);
			continue;
		}
		/* Committed either way; only who asked for the sync (or
		 * every op of a STORE_SYNC store) hears it failed. */
		if (!op->rc)
			post_run(s, op);
		if (!op->rc && op->post.hooked)
			hooked = true;
		if (!op->rc && src && ((op->flags & COMMIT_DURABLE) ||
				       (s->flags & STORE_SYNC)))
			op->rc = src;
	}
	pthread_mutex_lock(&s->qlock);
	if (!rc && (!sync || src)) {
		s->unsynced = true;
		/* While a synced snapshot is pinned LMDB reuses none of the
		 * pages freed since, so the index grows with every commit:
		 * a busy store syncs every SNAP_COMMITS commits, not only
		 * every sync_interval, to bound that growth. */
		if (++s->commits_unsynced >= SNAP_COMMITS)
			s->sync_wanted = true;
	} else if (!rc) {
		s->commits_unsynced = 0;
	}
	for (op = batch; op; op = op->next)
		op->done = true;
	pthread_cond_broadcast(&s->qdone);
	post_fn = s->post_fn;
	post_arg = s->post_arg;
	pthread_mutex_unlock(&s->qlock);
	/* What a hook wrote is visible now: wake its reader, outside any
	 * transaction and after the callers, so a caller that holds the
	 * reader's lock while it waits for its commit cannot deadlock it. */
	if (hooked && post_fn)
		post_fn(post_arg);
}

static void *committer_main(void *arg)
{
	struct store *s = arg;
	struct store_op *batch;

	pthread_mutex_lock(&s->qlock);
	for (;;) {
		while (!s->qhead && !s->stop && !s->sync_wanted)
			pthread_cond_wait(&s->qcond, &s->qlock);
		if (s->sync_wanted) {
			/* The flusher's tick, or enough commits: synced here,
			 * between batches, so the saved snapshot is exactly
			 * what is synced. */
			s->sync_wanted = false;
			s->commits_unsynced = 0;
			pthread_mutex_unlock(&s->qlock);
			if (snap_sync(s))
				log_warn("cannot sync store '%s' (will retry)",
					 s->path);
			pthread_mutex_lock(&s->qlock);
			continue;
		}
		if (!s->qhead)
			break;
		batch = s->qhead;
		s->qhead = s->qtail = NULL;
		pthread_mutex_unlock(&s->qlock);
		batch_run(s, batch);
		pthread_mutex_lock(&s->qlock);
	}
	pthread_mutex_unlock(&s->qlock);
	return NULL;
}

static void *flusher_main(void *arg)
{
	struct store *s = arg;
	struct timespec ts;

	pthread_mutex_lock(&s->qlock);
	while (!s->stop) {
		ts = clock_deadline_ms(s->sync_ms);
		pthread_cond_timedwait(&s->fcond, &s->qlock, &ts);
		if (s->stop || !s->unsynced)
			continue;
		s->unsynced = false;
		s->sync_wanted = true;
		pthread_cond_signal(&s->qcond);
	}
	pthread_mutex_unlock(&s->qlock);
	return NULL;
}

int store_commit_start(struct store *s)
{
	int rc;

	rc = pthread_create(&s->committer, NULL, committer_main, s);
	if (rc)
		return -rc;
	rc = pthread_create(&s->flusher, NULL, flusher_main, s);
	if (rc) {
		pthread_mutex_lock(&s->qlock);
		s->stop = true;
		pthread_cond_broadcast(&s->qcond);
		pthread_mutex_unlock(&s->qlock);
		pthread_join(s->committer, NULL);
		return -rc;
	}
	s->started = true;
	return 0;
}

void store_commit_stop(struct store *s)
{
	pthread_mutex_lock(&s->qlock);
	s->stop = true;
	pthread_cond_broadcast(&s->qcond);
	pthread_cond_broadcast(&s->fcond);
	pthread_mutex_unlock(&s->qlock);
	pthread_join(s->committer, NULL);
	pthread_join(s->flusher, NULL);
}

int store_commit(struct store *s, store_apply_fn fn, void *arg,
		 unsigned flags, store_remap_fn remap, void *remap_arg)
{
	struct store_op op;

	if (s->flags & STORE_RDONLY)
		return -EROFS;
	memset(&op, 0, sizeof(op));
	op.apply = fn;
	op.arg = arg;
	op.flags = flags;
	op.remap = remap;
	op.remap_arg = remap_arg;
	pthread_mutex_lock(&s->qlock);
	if (s->stop) {
		pthread_mutex_unlock(&s->qlock);
		return -ESHUTDOWN;
	}
	if (s->qtail)
		s->qtail->next = &op;
	else
		s->qhead = &op;
	s->qtail = &op;
	pthread_cond_signal(&s->qcond);
	while (!op.done)
		pthread_cond_wait(&s->qdone, &s->qlock);
	pthread_mutex_unlock(&s->qlock);
	free(op.post.remaps);
	free(op.post.freed);
	return op.rc;
}

void store_stats(struct store *s, uint64_t *commits, uint64_t *ops)
{
	*commits = atomic_load(&s->commits);
	*ops = atomic_load(&s->ops_done);
}

void store_set_post_commit(struct store *s, void (*fn)(void *arg),
			   void *arg)
{
	pthread_mutex_lock(&s->qlock);
	s->post_fn = fn;
	s->post_arg = arg;
	pthread_mutex_unlock(&s->qlock);
}
