/*
 * resync.c - `crrfs resync`: queue what the rules would ship but never
 * queued (versions made before a rule was enabled), or put FAILED jobs
 * back to PENDING.
 *
 * Design: store_walk visits every version; the walk callback may not call
 * the store, so it only collects the versions whose key some enabled rule's
 * prefix could match. Then, key by key: the S records of the key say which
 * of its versions each destination already has (or has queued), and a
 * version is queued only when it has no S record there and is newer than
 * every version of the key COMPLETED or PENDING there: shipping an older
 * one would make it the destination's current version. Jobs are written
 * in batches, each re-checked inside its transaction (a hook may have
 * queued the version meanwhile). The workers then reload the queue from
 * the start, since these jobs have old vseqs.
 */
#include "repl/repl_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define FLUSH_AT 256

struct cand {
	uint64_t oid;
	struct store_vinfo v;
	char *key;		/* shared by the versions of one key */
};

struct walk_arg {
	const struct rules *rules;
	const char *rule_id;
	struct cand *c;
	size_t n, cap;
	int rc;
};

static bool prefix_possible(const struct walk_arg *a, const char *key)
{
	for (size_t i = 0; i < a->rules->nrules; i++) {
		const struct rules_rule *ru = &a->rules->rules[i];

		if (!ru->enabled ||
		    (a->rule_id && strcmp(a->rule_id, ru->id)))
			continue;
		if (!strncmp(key, ru->prefix, strlen(ru->prefix)))
			return true;
	}
	return false;
}

static int walk_cb(void *arg, const char *key, const struct store_vinfo *v)
{
	struct walk_arg *a = arg;
	struct cand *c;

	/* The root "" is the mount point, not an object: S3 has no key
	 * for it, so it is never shipped. */
	if ((v->flags & STORE_V_REPLICA) || !*key || !prefix_possible(a, key))
		return 0;
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 256;

		c = realloc(a->c, cap * sizeof(*c));
		if (!c)
			return -ENOMEM;
		a->c = c;
		a->cap = cap;
	}
	c = &a->c[a->n];
	c->oid = v->oid;
	c->v = *v;
	if (a->n && a->c[a->n - 1].oid == v->oid)
		c->key = a->c[a->n - 1].key;
	else if (!(c->key = strdup(key)))
		return -ENOMEM;
	a->n++;
	return 0;
}

/* What one key's S records say, per destination of the rules. */
struct kstat {
	const struct rules *rules;
	uint64_t *newest;	/* [ndests]: newest PENDING/COMPLETED vseq */
	struct {
		uint64_t vseq;
		long dest;
	} *has;
	size_t nhas, caphas;
};

static int kstat_cb(void *arg, const void *key, size_t klen, const void *val,
		    size_t vlen)
{
	struct kstat *ks = arg;
	const uint8_t *k = key;
	char dest[RULES_NAME_MAX + 1];
	uint64_t vseq = 0;
	unsigned st;
	long di;

	if (klen < 18 || klen - 17 > RULES_NAME_MAX ||
	    repl_status_decode(val, vlen, &st, NULL, 0))
		return 0;
	for (int i = 0; i < 8; i++)
		vseq = vseq << 8 | k[9 + i];
	memcpy(dest, k + 17, klen - 17);
	dest[klen - 17] = '\0';
	di = rules_dest_find(ks->rules, dest);
	if (di < 0)
		return 0;
	if (st != REPL_FAILED && vseq > ks->newest[di])
		ks->newest[di] = vseq;
	if (ks->nhas == ks->caphas) {
		size_t cap = ks->caphas ? 2 * ks->caphas : 16;
		void *p = realloc(ks->has, cap * sizeof(*ks->has));

		if (!p)
			return -ENOMEM;
		ks->has = p;
		ks->caphas = cap;
	}
	ks->has[ks->nhas].vseq = vseq;
	ks->has[ks->nhas++].dest = di;
	return 0;
}

static bool kstat_has(const struct kstat *ks, uint64_t vseq, long dest)
{
	for (size_t i = 0; i < ks->nhas; i++)
		if (ks->has[i].vseq == vseq && ks->has[i].dest == dest)
			return true;
	return false;
}

struct qitem {
	char dest[RULES_NAME_MAX + 1];
	struct repl_job j;
};

struct flush_arg {
	struct qitem *items;
	size_t n;
	uint64_t queued;
};

static int flush_apply(void *varg, struct store_txn *t)
{
	struct flush_arg *a = varg;
	int rc = 0;

	a->queued = 0;
	for (size_t i = 0; i < a->n && !rc; i++) {
		const struct repl_job *j = &a->items[i].j;
		char sk[REPL_SKEY_MAX];
		size_t skl = repl_skey(sk, j->oid, j->vseq, a->items[i].dest);
		void *v = NULL;
		size_t vl;

		rc = store_q_tget(t, sk, skl, &v, &vl);
		free(v);
		if (!rc)
			continue;	/* queued meanwhile */
		if (rc != -ENOENT)
			break;
		rc = repl_queue_put(t, a->items[i].dest, j);
		a->queued++;
	}
	return rc;
}

static int flush(struct repl *r, struct flush_arg *fa, uint64_t *queued)
{
	int rc;

	if (!fa->n)
		return 0;
	rc = store_q_update(r->store, flush_apply, fa);
	if (!rc)
		*queued += fa->queued;
	fa->n = 0;
	return rc;
}

/* Tags of a version, for rules_match, stored in buf. */
static size_t tags_of(struct store *s, const struct cand *c,
		      struct rules_tag *tags, char *buf)
{
	struct store_xattr *xa = NULL;
	size_t nx = 0, n;

	if ((c->v.flags & STORE_V_DELETE_MARKER) ||
	    store_xattrs_get(s, c->oid, c->v.vseq, &xa, &nx))
		return 0;
	n = repl_tags_collect(xa, nx, tags, REPL_TAGS_MAX, buf,
			      REPL_TAGBUF_MAX);
	free(xa);
	return n;
}

struct key_ctx {
	struct repl *r;
	const struct rules *rules;
	const char *rule_id;
	struct rules_choice *choice;
	char *tagbuf;		/* REPL_TAGBUF_MAX bytes */
	struct flush_arg fa;
	uint64_t *queued, *skipped;
};

static int key_resync(struct key_ctx *kc, const struct cand *c, size_t n)
{
	struct kstat ks = { kc->rules, NULL, NULL, 0, 0 };
	char sk[REPL_SKEY_MAX];
	int rc;

	ks.newest = calloc(kc->rules->ndests, sizeof(*ks.newest));
	if (!ks.newest)
		return -ENOMEM;
	rc = store_q_scan(kc->r->store, sk, repl_skey(sk, c->oid, 0, NULL) - 8,
			  NULL, 0, kstat_cb, &ks);
	for (size_t i = 0; !rc && i < n; i++) {
		bool dm = c[i].v.flags & STORE_V_DELETE_MARKER;
		struct rules_tag tags[REPL_TAGS_MAX];
		size_t nt = tags_of(kc->r->store, &c[i], tags, kc->tagbuf);

		rules_match(kc->rules, c[i].key, tags, nt, kc->choice);
		for (size_t d = 0; !rc && d < kc->rules->ndests; d++) {
			const struct rules_choice *ch = &kc->choice[d];
			struct qitem *q;

			if (!ch->rule || (dm && !ch->delete_markers) ||
			    (kc->rule_id && strcmp(kc->rule_id, ch->rule->id)) ||
			    kstat_has(&ks, c[i].v.vseq, (long)d))
				continue;
			if (c[i].v.vseq < ks.newest[d]) {
				(*kc->skipped)++;
				continue;
			}
			q = &kc->fa.items[kc->fa.n++];
			snprintf(q->dest, sizeof(q->dest), "%s",
				 kc->rules->dests[d].name);
			memset(&q->j, 0, sizeof(q->j));
			q->j.state = REPL_PENDING;
			q->j.delete_marker = dm;
			q->j.oid = c[i].oid;
			q->j.vseq = c[i].v.vseq;
			q->j.bytes = dm || c[i].v.type != STORE_T_FILE
					     ? 0 : c[i].v.attr.size;
			q->j.epoch = kc->r->epoch;
			q->j.enq_ns = repl_now_ns();
			q->j.btime_ns = c[i].v.btime_ns;
			memcpy(q->j.vid, c[i].v.vid, sizeof(q->j.vid));
			snprintf(q->j.rule, sizeof(q->j.rule), "%s",
				 ch->rule->id);
			q->j.key = c[i].key;
			if (kc->fa.n == FLUSH_AT)
				rc = flush(kc->r, &kc->fa, kc->queued);
		}
	}
	/* the batch points at keys freed by the caller: flush per key */
	if (!rc)
		rc = flush(kc->r, &kc->fa, kc->queued);
	free(ks.newest);
	free(ks.has);
	return rc;
}

static int resync_new(struct repl *r, const struct rules *rules,
		      const char *rule_id, uint64_t *queued, uint64_t *skipped)
{
	struct walk_arg a = { rules, rule_id, NULL, 0, 0, 0 };
	struct key_ctx kc = { r, rules, rule_id, NULL, NULL, { 0 }, queued,
			      skipped };
	size_t i, start;
	int rc;

	rc = store_walk(r->store, walk_cb, &a);
	kc.choice = calloc(rules->ndests + 1, sizeof(*kc.choice));
	kc.fa.items = calloc(FLUSH_AT, sizeof(*kc.fa.items));
	kc.tagbuf = malloc(REPL_TAGBUF_MAX);
	if (!rc && (!kc.choice || !kc.fa.items || !kc.tagbuf))
		rc = -ENOMEM;
	for (i = 0, start = 0; !rc && i <= a.n; i++) {
		if (i < a.n && a.c[i].oid == a.c[start].oid)
			continue;
		if (i > start)
			rc = key_resync(&kc, &a.c[start], i - start);
		start = i;
	}
	for (i = 0; i < a.n; i++)
		if (!i || a.c[i].key != a.c[i - 1].key)
			free(a.c[i].key);
	free(a.c);
	free(kc.choice);
	free(kc.fa.items);
	free(kc.tagbuf);
	return rc;
}

/* ---- --failed ---- */

#define UNFAIL_BATCH 512

struct unfail_item {
	char key[REPL_JKEY_MAX];
	size_t klen;
	struct repl_job j;
};

struct unfail_arg {
	const char *rule_id;
	char from[REPL_JKEY_MAX + 1];
	size_t flen;
	uint64_t queued;
	bool more;
	struct unfail_item *items;
	size_t n;
};

/* Collect FAILED jobs; the writes happen after the scan. */
static int unfail_cb(void *arg, const void *key, size_t klen,
		     const void *val, size_t vlen)
{
	struct unfail_arg *a = arg;
	struct unfail_item *it;

	if (klen > REPL_JKEY_MAX)
		return 0;
	if (a->n == UNFAIL_BATCH) {
		/* the next transaction starts at this key */
		memcpy(a->from, key, klen);
		a->flen = klen;
		a->more = true;
		return 1;
	}
	it = &a->items[a->n];
	if (repl_job_decode(val, vlen, &it->j))
		return 0;
	if (it->j.state != REPL_FAILED ||
	    (a->rule_id && strcmp(a->rule_id, it->j.rule))) {
		repl_job_release(&it->j);
		return 0;
	}
	memcpy(it->key, key, klen);
	it->klen = klen;
	a->n++;
	return 0;
}

static int unfail_one(struct store_txn *t, struct unfail_item *it)
{
	char dest[RULES_NAME_MAX + 1], sk[REPL_SKEY_MAX];
	struct repl_job *j = &it->j;
	uint8_t sv[8];
	void *v = NULL;
	size_t vl;
	uint64_t vseq;
	int rc;

	if (repl_jkey_parse(it->key, it->klen, dest, &vseq))
		return 0;
	j->state = REPL_PENDING;
	j->attempts = 0;
	j->err[0] = '\0';
	rc = repl_job_encode(j, &v, &vl);
	if (!rc)
		rc = store_q_put(t, it->key, it->klen, v, vl);
	free(v);
	if (!rc)
		rc = store_q_put(t, sk, repl_skey(sk, j->oid, j->vseq, dest),
				 sv, repl_status_encode(REPL_PENDING, NULL, sv,
							sizeof(sv)));
	if (!rc)
		rc = repl_counts_add(t, dest, 1, (int64_t)j->bytes, -1);
	return rc;
}

static void unfail_clear(struct unfail_arg *a)
{
	for (size_t i = 0; i < a->n; i++)
		repl_job_release(&a->items[i].j);
	a->n = 0;
}

static int unfail_apply(void *varg, struct store_txn *t)
{
	struct unfail_arg *a = varg;
	int rc;

	unfail_clear(a);
	a->more = false;
	rc = store_q_tscan(t, "J", 1, a->from, a->flen, unfail_cb, a);
	for (size_t i = 0; !rc && i < a->n; i++)
		rc = unfail_one(t, &a->items[i]);
	return rc;
}

static int resync_failed(struct repl *r, const char *rule_id,
			 uint64_t *queued)
{
	struct unfail_arg a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.rule_id = rule_id;
	a.items = calloc(UNFAIL_BATCH, sizeof(*a.items));
	if (!a.items)
		return -ENOMEM;
	do {
		rc = store_q_update(r->store, unfail_apply, &a);
		if (!rc)
			*queued += a.n;
	} while (!rc && a.more);
	unfail_clear(&a);
	free(a.items);
	return rc;
}

static bool rule_exists(const struct repl_rules *rr, const char *id)
{
	if (!rr || !rr->rules)
		return false;
	for (size_t i = 0; i < rr->rules->nrules; i++)
		if (!strcmp(rr->rules->rules[i].id, id))
			return true;
	return false;
}

int repl_resync_run(struct repl *r, const char *rule_id, bool failed,
		    uint64_t *queued, uint64_t *skipped)
{
	struct repl_rules *rr = repl_rules_get(r);
	int rc = 0;

	*queued = *skipped = 0;
	if (rule_id && !rule_exists(rr, rule_id)) {
		rc = -ENOENT;
		goto out;
	}
	if (failed)
		rc = resync_failed(r, rule_id, queued);
	else if (rr && rr->rules && rr->rules->ndests)
		rc = resync_new(r, rr->rules, rule_id, queued, skipped);
	if (*queued)
		repl_reset_all(r);
out:
	repl_rules_put(rr);
	return rc;
}
