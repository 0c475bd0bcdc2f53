/*
 * jobmap.c - the jobs a destination's workers have loaded in memory, and
 * their loading from the queue.
 *
 * Design: loaded jobs hang off a hash of oids (a FIFO per oid, in vseq
 * order); the head of each FIFO that may run sits in a min-heap by vseq
 * (ready) or, while backing off, in a min-heap by retry time (delay). So
 * picking the next job, settling one and arming the next of its key are
 * each O(log n). Jobs are loaded in batches of REPL_LOAD_BATCH with
 * store_q_scan from the cursor (the next vseq not yet loaded), only when
 * the ready heap runs low (worker.c decides when), so the queue is never
 * rescanned, except after repl_dest_reset() (resync), which starts over
 * from vseq 0. Everything here runs with dest.lock held.
 */
#include "repl/worker_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

/* ---- heaps ---- */

static bool heap_less(const struct repl_heap *h, const struct repl_mjob *a,
		      const struct repl_mjob *b)
{
	if (h->by_time && a->next_ns != b->next_ns)
		return a->next_ns < b->next_ns;
	return a->vseq < b->vseq;
}

static void heap_set(struct repl_heap *h, size_t i, struct repl_mjob *j)
{
	h->a[i] = j;
	j->hidx = i;
}

static void heap_up(struct repl_heap *h, size_t i)
{
	struct repl_mjob *j = h->a[i];

	while (i && heap_less(h, j, h->a[(i - 1) / 2])) {
		heap_set(h, i, h->a[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(h, i, j);
}

static void heap_down(struct repl_heap *h, size_t i)
{
	struct repl_mjob *j = h->a[i];

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

int repl_heap_push(struct repl_heap *h, struct repl_mjob *j)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		struct repl_mjob **a = realloc(h->a, cap * sizeof(*a));

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

void repl_heap_remove(struct repl_heap *h, struct repl_mjob *j)
{
	size_t i = j->hidx;

	j->hidx = REPL_NOHEAP;
	if (--h->n == i)
		return;
	heap_set(h, i, h->a[h->n]);
	heap_up(h, i);
	heap_down(h, i);	/* whatever heap_up left at i */
}

struct repl_mjob *repl_heap_pop(struct repl_heap *h)
{
	struct repl_mjob *top = h->a[0];

	top->hidx = REPL_NOHEAP;
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

struct repl_okey *repl_okey_find(struct repl_dest *d, uint64_t oid)
{
	struct repl_okey *k;

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
	struct repl_okey **old = d->buckets, **b = calloc(n, sizeof(*b));
	size_t on = d->nbuckets;

	if (!b)
		return -ENOMEM;
	d->buckets = b;
	d->nbuckets = n;
	for (size_t i = 0; i < on; i++) {
		struct repl_okey *k = old[i], *nx;

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

static struct repl_okey *okey_add(struct repl_dest *d, uint64_t oid)
{
	struct repl_okey *k = repl_okey_find(d, oid);
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

void repl_okey_del(struct repl_dest *d, struct repl_okey *k)
{
	struct repl_okey **p = &d->buckets[okey_slot(d, k->oid)];

	while (*p != k)
		p = &(*p)->hnext;
	*p = k->hnext;
	d->nkeys--;
	free(k);
}

/* ---- arming and loading ---- */

/* j became the head of its oid: let it run when it may. */
void repl_job_arm(struct repl_dest *d, struct repl_mjob *j)
{
	struct repl_heap *h = j->next_ns > repl_now_ns() ? &d->delay
							: &d->ready;

	if (j->failed)
		return;
	if (repl_heap_push(h, j))
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
		return b->n + 1 >= REPL_LOAD_BATCH;
	}
	b->recs[b->n].oid = j.oid;
	b->recs[b->n].vseq = vseq;
	b->recs[b->n].btime_ns = j.btime_ns;
	b->recs[b->n].attempts = j.attempts;
	b->recs[b->n].failed = j.state == REPL_FAILED;
	b->n++;
	repl_job_release(&j);
	return b->n >= REPL_LOAD_BATCH;
}

/* Is vseq loaded already (in flight since before a reset)? */
static bool fifo_has(const struct repl_okey *k, uint64_t vseq)
{
	for (const struct repl_mjob *j = k->head; j; j = j->next)
		if (j->vseq == vseq)
			return true;
	return false;
}

/*
 * Put j in its place by vseq in k's FIFO. An older job loaded late (a
 * resync queues old versions) must not wait for the next process: it
 * goes before the newer ones still waiting, though not before a head
 * already in flight. A head it displaces leaves the heaps.
 */
void repl_fifo_insert(struct repl_dest *d, struct repl_okey *k,
		      struct repl_mjob *j)
{
	struct repl_mjob **pp = &k->head, *old = k->head;

	if (old && old->inflight)
		pp = &old->next;
	while (*pp && (*pp)->vseq < j->vseq)
		pp = &(*pp)->next;
	j->next = *pp;
	*pp = j;
	if (!j->next)
		k->tail = j;
	if (k->head != j)
		return;
	if (old && old->hidx != REPL_NOHEAP)
		repl_heap_remove(old->hidx < d->delay.n &&
				 d->delay.a[old->hidx] == old ? &d->delay
							      : &d->ready, old);
	repl_job_arm(d, j);
}

static void load_insert(struct repl_dest *d, const struct load_rec *rec)
{
	struct repl_okey *k = okey_add(d, rec->oid);
	struct repl_mjob *j;
	bool append;

	if (!k)
		return;
	append = !k->tail || k->tail->vseq < rec->vseq;
	if (!append && fifo_has(k, rec->vseq))
		return;		/* in flight since before a reset */
	j = calloc(1, sizeof(*j));
	if (!j) {
		if (!k->head)
			repl_okey_del(d, k);
		return;
	}
	j->oid = rec->oid;
	j->vseq = rec->vseq;
	j->btime_ns = rec->btime_ns;
	j->attempts = rec->attempts;
	j->failed = rec->failed;
	j->hidx = REPL_NOHEAP;
	if (j->failed)
		d->nfailed++;
	if (!append) {
		repl_fifo_insert(d, k, j);
		return;
	}
	if (k->tail)
		k->tail->next = j;
	else
		k->head = j;
	k->tail = j;
	if (k->head == j)
		repl_job_arm(d, j);
}

/* Load the next batch; drops the lock during the scan. */
void repl_jobs_load(struct repl_dest *d)
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
	b.recs = malloc(REPL_LOAD_BATCH * sizeof(*b.recs));
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
		if ((rc || b.n < REPL_LOAD_BATCH) && wakes == d->wakes)
			d->exhausted = true;
	}
	free(b.recs);
	pthread_cond_broadcast(&d->cond);
}

void repl_jobs_clear(struct repl_dest *d, bool keep_inflight)
{
	for (size_t i = 0; i < d->nbuckets; i++) {
		struct repl_okey *k = d->buckets[i], *nk;

		for (; k; k = nk) {
			struct repl_mjob *j = k->head, *nj;

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
				repl_okey_del(d, k);
		}
	}
	d->ready.n = d->delay.n = 0;
	d->nfailed = 0;
}
