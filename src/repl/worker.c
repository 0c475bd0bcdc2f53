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
 *    FAILED, the later ones wait. So versions arrive in order.
 *
 * Dispatch: loaded jobs hang off a hash of oids (a FIFO per oid, in vseq
 * order); the head of each FIFO that may run sits in a min-heap by vseq
 * (ready) or, while backing off, in a min-heap by retry time (delay).
 * Jobs are loaded in batches of LOAD_BATCH with store_q_scan from the
 * cursor (the next vseq not yet loaded), only when the ready heap runs
 * low, so each job costs O(log n) and the queue is never rescanned, except
 * after repl_dest_reset() (resync), which starts over from vseq 0.
 */
#include "repl/repl_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

#define LOAD_BATCH 1024
#define NOHEAP ((size_t)-1)

struct mjob {			/* a loaded job; all fields: dest.lock */
	uint64_t oid, vseq;
	int64_t btime_ns, next_ns;
	uint32_t attempts;
	bool inflight, failed, tried;
	struct mjob *next;	/* the oid's next job */
	size_t hidx;		/* index in ready or delay, or NOHEAP */
};

struct okey {
	uint64_t oid;
	struct mjob *head, *tail;
	struct okey *hnext;
};

struct heap {
	struct mjob **a;
	size_t n, cap;
	bool by_time;
};

struct repl_dest {
	struct repl *r;
	char name[RULES_NAME_MAX + 1];
	struct repl_rules *snap;	/* the settings it was opened from */
	size_t idx;
	struct remote *remote;
	pthread_t *threads;
	unsigned nthreads;

	pthread_mutex_t lock;		/* protects everything below */
	pthread_cond_t cond;
	bool stop, loading, exhausted, checked;
	bool down;			/* last ship failed transiently */
	uint64_t wakes;			/* post-commit calls seen */
	char refusal[REMOTE_WHY_MAX];	/* permanent remote_check answer */
	uint64_t cursor, gen;
	struct okey **buckets;
	size_t nbuckets, nkeys;
	struct heap ready, delay;
	unsigned inflight;
	size_t nfailed;
};

/* ---- heaps ---- */

static bool heap_less(const struct heap *h, const struct mjob *a,
		      const struct mjob *b)
{
	if (h->by_time && a->next_ns != b->next_ns)
		return a->next_ns < b->next_ns;
	return a->vseq < b->vseq;
}

static void heap_set(struct heap *h, size_t i, struct mjob *j)
{
	h->a[i] = j;
	j->hidx = i;
}

static void heap_up(struct heap *h, size_t i)
{
	struct mjob *j = h->a[i];

	while (i && heap_less(h, j, h->a[(i - 1) / 2])) {
		heap_set(h, i, h->a[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(h, i, j);
}

static void heap_down(struct heap *h, size_t i)
{
	struct mjob *j = h->a[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && heap_less(h, h->a[c + 1], h->a[c]))
			c++;
		if (!heap_less(h, h->a[c], j))
			break;
		heap_set(h, i, h->a[c]);
		i = c;
	}
	heap_set(h, i, j);
}

static int heap_push(struct heap *h, struct mjob *j)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		struct mjob **a = realloc(h->a, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		h->a = a;
		h->cap = cap;
	}
	h->a[h->n] = j;
	j->hidx = h->n++;
	heap_up(h, h->n - 1);
	return 0;
}

static struct mjob *heap_pop(struct heap *h)
{
	struct mjob *top = h->a[0];

	top->hidx = NOHEAP;
	if (--h->n) {
		h->a[0] = h->a[h->n];
		heap_down(h, 0);
	}
	return top;
}

/* ---- the oid hash ---- */

static size_t okey_slot(const struct repl_dest *d, uint64_t oid)
{
	return (size_t)((oid * 0x9E3779B97F4A7C15ULL) >> 20) &
	       (d->nbuckets - 1);
}

static struct okey *okey_find(struct repl_dest *d, uint64_t oid)
{
	struct okey *k;

	if (!d->nbuckets)
		return NULL;
	for (k = d->buckets[okey_slot(d, oid)]; k; k = k->hnext)
		if (k->oid == oid)
			return k;
	return NULL;
}

static int okey_grow(struct repl_dest *d)
{
	size_t n = d->nbuckets ? 2 * d->nbuckets : 256;
	struct okey **old = d->buckets, **b = calloc(n, sizeof(*b));
	size_t on = d->nbuckets;

	if (!b)
		return -ENOMEM;
	d->buckets = b;
	d->nbuckets = n;
	for (size_t i = 0; i < on; i++) {
		struct okey *k = old[i], *nx;

		for (; k; k = nx) {
			size_t s = okey_slot(d, k->oid);

			nx = k->hnext;
			k->hnext = b[s];
			b[s] = k;
		}
	}
	free(old);
	return 0;
}

static struct okey *okey_add(struct repl_dest *d, uint64_t oid)
{
	struct okey *k = okey_find(d, oid);
	size_t s;

	if (k)
		return k;
	if (d->nkeys >= d->nbuckets && okey_grow(d))
		return NULL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->oid = oid;
	s = okey_slot(d, oid);
	k->hnext = d->buckets[s];
	d->buckets[s] = k;
	d->nkeys++;
	return k;
}

static void okey_del(struct repl_dest *d, struct okey *k)
{
	struct okey **p = &d->buckets[okey_slot(d, k->oid)];

	while (*p != k)
		p = &(*p)->hnext;
	*p = k->hnext;
	d->nkeys--;
	free(k);
}

/* ---- dispatch (dest.lock held) ---- */

/* j became the head of its oid: let it run when it may. */
static void job_arm(struct repl_dest *d, struct mjob *j)
{
	if (j->failed)
		return;
	if (heap_push(j->next_ns > repl_now_ns() ? &d->delay : &d->ready, j))
		log_error("replication to '%s': out of memory", d->name);
}

struct load_rec {
	uint64_t oid, vseq;
	int64_t btime_ns;
	uint32_t attempts;
	bool failed;
};

struct load_batch {
	struct repl_dest *d;
	struct load_rec *recs;
	size_t n;
	uint64_t last;
};

static int load_cb(void *arg, const void *key, size_t klen, const void *val,
		   size_t vlen)
{
	struct load_batch *b = arg;
	char dest[RULES_NAME_MAX + 1];
	struct repl_job j;
	uint64_t vseq;

	if (repl_jkey_parse(key, klen, dest, &vseq))
		return 1;
	b->last = vseq;
	if (repl_job_decode(val, vlen, &j)) {
		log_warn("replication job %llu of '%s' unreadable: skipped",
			 (unsigned long long)vseq, b->d->name);
		return b->n + 1 >= LOAD_BATCH;
	}
	b->recs[b->n].oid = j.oid;
	b->recs[b->n].vseq = vseq;
	b->recs[b->n].btime_ns = j.btime_ns;
	b->recs[b->n].attempts = j.attempts;
	b->recs[b->n].failed = j.state == REPL_FAILED;
	b->n++;
	repl_job_release(&j);
	return b->n >= LOAD_BATCH;
}

static void load_insert(struct repl_dest *d, const struct load_rec *rec)
{
	struct okey *k = okey_add(d, rec->oid);
	struct mjob *j;

	if (!k)
		return;
	if (k->tail && k->tail->vseq >= rec->vseq)
		return;		/* in flight since before a reset */
	j = calloc(1, sizeof(*j));
	if (!j) {
		if (!k->head)
			okey_del(d, k);
		return;
	}
	j->oid = rec->oid;
	j->vseq = rec->vseq;
	j->btime_ns = rec->btime_ns;
	j->attempts = rec->attempts;
	j->failed = rec->failed;
	j->hidx = NOHEAP;
	if (j->failed)
		d->nfailed++;
	if (k->tail)
		k->tail->next = j;
	else
		k->head = j;
	k->tail = j;
	if (k->head == j)
		job_arm(d, j);
}

/* Load the next batch; drops the lock during the scan. */
static void dest_load(struct repl_dest *d)
{
	struct load_batch b = { d, NULL, 0, 0 };
	uint64_t gen = d->gen, wakes = d->wakes, from = d->cursor;
	char prefix[REPL_JKEY_MAX], fk[REPL_JKEY_MAX];
	size_t plen, flen;
	int rc;

	d->loading = true;
	pthread_mutex_unlock(&d->lock);
	flen = repl_jkey(fk, d->name, from);
	plen = flen - 8;
	memcpy(prefix, fk, plen);
	b.recs = malloc(LOAD_BATCH * sizeof(*b.recs));
	rc = b.recs ? store_q_scan(d->r->store, prefix, plen, fk, flen,
				   load_cb, &b)
		    : -ENOMEM;
	pthread_mutex_lock(&d->lock);
	d->loading = false;
	if (rc)
		log_error("cannot read the replication queue of '%s': %s",
			  d->name, strerror(-rc));
	if (gen == d->gen) {
		for (size_t i = 0; i < b.n; i++)
			load_insert(d, &b.recs[i]);
		if (b.last >= d->cursor)
			d->cursor = b.last + 1;
		if ((rc || b.n < LOAD_BATCH) && wakes == d->wakes)
			d->exhausted = true;
	}
	free(b.recs);
	pthread_cond_broadcast(&d->cond);
}

/* The job to run now, or NULL and *wait_ns: when to look again (0: on
 * a wake only). */
static struct mjob *dest_pick(struct repl_dest *d, int64_t *wait_ns)
{
	int64_t now = repl_now_ns(), settle;
	struct mjob *j;

	*wait_ns = 0;
	while (d->delay.n && d->delay.a[0]->next_ns <= now)
		if (heap_push(&d->ready, heap_pop(&d->delay)))
			break;
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
	heap_pop(&d->ready);
	j->inflight = true;
	d->inflight++;
	return j;
}

static int64_t backoff_ns(const struct repl *r, const struct mjob *j)
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

/* What ship decided, applied to the in-memory state. */
static void job_settle(struct repl_dest *d, struct mjob *j,
		       enum repl_outcome how)
{
	struct okey *k = okey_find(d, j->oid);

	j->inflight = false;
	d->inflight--;
	switch (how) {
	case REPL_OUT_DONE:
	case REPL_OUT_DROP:
		if (k && k->head == j) {
			k->head = j->next;
			if (!k->head)
				okey_del(d, k);
			else
				job_arm(d, k->head);
		}
		if (how == REPL_OUT_DONE)
			atomic_fetch_add(&d->r->done, 1);
		free(j);
		if (how == REPL_OUT_DONE && d->down) {
			/* the destination is back: retry the keys that
			 * backed off now, rather than up to a minute on */
			d->down = false;
			while (d->delay.n)
				if (heap_push(&d->ready, heap_pop(&d->delay)))
					break;
		}
		break;
	case REPL_OUT_FAILED:
		j->failed = true;
		d->nfailed++;
		break;
	default:
		d->down = true;
		j->attempts++;
		j->next_ns = repl_now_ns() + backoff_ns(d->r, j);
		job_arm(d, j);
		break;
	}
	pthread_cond_broadcast(&d->cond);
}

/* ---- shipping (no lock held) ---- */

/* remote_check once before the first ship, when the start could not. */
static int dest_check(struct repl_dest *d, char *why, size_t wl)
{
	bool checked;
	int rc;

	pthread_mutex_lock(&d->lock);
	checked = d->checked;
	if (d->refusal[0])
		snprintf(why, wl, "%s", d->refusal);
	pthread_mutex_unlock(&d->lock);
	if (checked)
		return why[0] ? -EPERM : 0;
	rc = remote_check(d->remote, why, wl);
	pthread_mutex_lock(&d->lock);
	if (rc != -EAGAIN) {
		d->checked = true;
		if (rc)
			snprintf(d->refusal, sizeof(d->refusal), "%s", why);
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

struct note_arg {
	struct repl_dest *d;
	uint64_t vseq;
};

static int note_upload(void *arg, const char *upload_id)
{
	struct note_arg *n = arg;

	return repl_queue_finish(n->d->r->store, n->d->name, n->vseq,
				 REPL_OUT_UPLOAD, 0, upload_id);
}

static const char *rule_class(struct repl_rules *rr, const char *id)
{
	if (!rr || !rr->rules)
		return NULL;
	for (size_t i = 0; i < rr->rules->nrules; i++)
		if (!strcmp(rr->rules->rules[i].id, id))
			return rr->rules->rules[i].storage_class;
	return NULL;
}

/* Does a rule still pick destination dest for j, with the tags it has
 * now? *sclass gets that rule's storage class. */
static bool rematch(struct repl_rules *rr, const char *dest,
		    const struct repl_job *j, const struct store_xattr *xa,
		    size_t nxa, const char **sclass)
{
	struct rules_tag tags[REPL_TAGS_MAX];
	struct rules_choice *choice;
	char *buf;
	long di;
	bool ok = false;

	if (!rr || !rr->rules || (di = rules_dest_find(rr->rules, dest)) < 0)
		return false;
	choice = calloc(rr->rules->ndests, sizeof(*choice));
	buf = malloc(repl_tags_need(xa, nxa));
	if (choice && buf) {
		size_t nt = repl_tags_collect(xa, nxa, tags, REPL_TAGS_MAX,
					      buf, repl_tags_need(xa, nxa));

		rules_match(rr->rules, j->key, tags, nt, choice);
		ok = choice[di].rule != NULL;
		if (ok)
			*sclass = choice[di].rule->storage_class;
	}
	free(choice);
	free(buf);
	return ok;
}

static enum repl_outcome ship_version(struct repl_dest *d,
				      const struct repl_job *j, bool tried,
				      char *why, size_t wl)
{
	struct store *s = d->r->store;
	struct note_arg na = { d, j->vseq };
	struct store_xattr *xa = NULL;
	struct repl_rules *rr = NULL;
	struct remote_obj o;
	size_t nxa = 0;
	int rc;

	memset(&o, 0, sizeof(o));
	rc = store_expose(s, j->oid, j->vseq);
	if (!rc)
		rc = store_version_get(s, j->oid, j->vseq, &o.v);
	if (!rc && !j->delete_marker)
		rc = store_xattrs_get(s, j->oid, j->vseq, &xa, &nxa);
	if (rc == -ENOENT)
		return REPL_OUT_DROP;	/* purged, or a temp file gone */
	if (rc) {
		snprintf(why, wl, "cannot read the version: %s",
			 strerror(-rc));
		return REPL_OUT_RETRY;
	}
	rr = repl_rules_get(d->r);
	if (j->rematch && !rematch(rr, d->name, j, xa, nxa, &o.storage_class)) {
		repl_rules_put(rr);
		free(xa);
		return REPL_OUT_DROP;	/* its settled tags match no rule */
	}
	if (!j->rematch)
		o.storage_class = rule_class(rr, j->rule);
	o.src = s;
	o.oid = j->oid;
	o.key = j->key;
	o.xattrs = xa;
	o.nxattrs = nxa;
	o.maybe_sent = tried || j->epoch != d->r->epoch;
	o.prev_upload = j->upload;
	o.note_upload = note_upload;
	o.note_arg = &na;
	why[0] = '\0';
	rc = remote_ship(d->remote, &o, why, wl);
	repl_rules_put(rr);
	free(xa);
	if (rc && !why[0])
		snprintf(why, wl, "%s", strerror(-rc));
	if (!rc)
		return REPL_OUT_DONE;
	return rc == -EAGAIN ? REPL_OUT_RETRY : REPL_OUT_FAILED;
}

static enum repl_outcome job_ship(struct repl_dest *d, struct mjob *mj,
				  bool tried, char *why, size_t wl)
{
	char k[REPL_JKEY_MAX];
	size_t kl = repl_jkey(k, d->name, mj->vseq);
	enum repl_outcome how;
	struct repl_job j;
	void *v = NULL;
	size_t vl;
	int rc;

	why[0] = '\0';
	rc = store_q_get(d->r->store, k, kl, &v, &vl);
	if (rc == -ENOENT)
		return REPL_OUT_DROP;
	if (rc) {
		snprintf(why, wl, "cannot read the queue: %s", strerror(-rc));
		return REPL_OUT_RETRY;
	}
	rc = repl_job_decode(v, vl, &j);
	free(v);
	if (rc) {
		log_warn("replication job %llu of '%s' unreadable: dropped",
			 (unsigned long long)mj->vseq, d->name);
		return REPL_OUT_DROP;
	}
	rc = dest_check(d, why, wl);
	if (rc == -EAGAIN)
		how = REPL_OUT_RETRY;
	else if (rc)
		how = REPL_OUT_FAILED;
	else
		how = ship_version(d, &j, tried, why, wl);
	if (how == REPL_OUT_FAILED)
		log_warn("replication of '%s' (%s) to '%s' failed: %s", j.key,
			 j.vid, d->name, why);
	repl_job_release(&j);
	return how;
}

/* Record the outcome durably; a failure to do so is retried later. */
static enum repl_outcome job_record(struct repl_dest *d, struct mjob *mj,
				    enum repl_outcome how, const char *why)
{
	uint32_t att = mj->attempts + 1;
	int rc = 0;

	if (how == REPL_OUT_RETRY) {
		if (!(att & (att - 1)))	/* 1, 2, 4, 8...: keep the error */
			rc = repl_queue_finish(d->r->store, d->name, mj->vseq,
					       how, att, why);
	} else {
		rc = repl_queue_finish(d->r->store, d->name, mj->vseq, how,
				       att, why);
	}
	if (rc) {
		log_error("cannot record replication to '%s': %s", d->name,
			  strerror(-rc));
		return REPL_OUT_RETRY;
	}
	return how;
}

static void *worker_main(void *arg)
{
	struct repl_dest *d = arg;
	char why[REMOTE_WHY_MAX];

	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		enum repl_outcome how;
		struct mjob *j;
		int64_t wait_ns;
		bool tried;

		if (!d->exhausted && !d->loading &&
		    d->ready.n < 2 * d->nthreads + 16) {
			dest_load(d);
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
		how = job_ship(d, j, tried, why, sizeof(why));
		how = job_record(d, j, how, why);
		pthread_mutex_lock(&d->lock);
		job_settle(d, j, how);
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
			log_warn("destination '%s' not reachable, will retry: "
				 "%s", c->name, why);
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

static void dest_clear(struct repl_dest *d, bool keep_inflight)
{
	for (size_t i = 0; i < d->nbuckets; i++) {
		struct okey *k = d->buckets[i], *nk;

		for (; k; k = nk) {
			struct mjob *j = k->head, *nj;

			nk = k->hnext;
			if (keep_inflight && j && j->inflight) {
				j = j->next;
				k->head->next = NULL;
				k->tail = k->head;
			} else {
				k->head = k->tail = NULL;
			}
			for (; j; j = nj) {
				nj = j->next;
				free(j);
			}
			if (!k->head)
				okey_del(d, k);
		}
	}
	d->ready.n = d->delay.n = 0;
	d->nfailed = 0;
}

void repl_dest_reset(struct repl_dest *d)
{
	pthread_mutex_lock(&d->lock);
	dest_clear(d, true);
	d->gen++;
	d->cursor = 0;
	d->exhausted = false;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
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
	dest_clear(d, false);
	free(d->buckets);
	free(d->ready.a);
	free(d->delay.a);
	repl_rules_put(d->snap);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	free(d);
}
