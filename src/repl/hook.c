/*
 * hook.c - the store hook that queues replication jobs, in the write
 * transaction that makes the version, and the rule snapshots it reads.
 *
 * Design: the hook runs on the store's committer thread and must never
 * block, so it reads the rules through a reference-counted immutable
 * snapshot (struct repl_rules): taking one is a pointer copy and an
 * increment under a leaf mutex, and a reload swaps the pointer; the old
 * snapshot is freed by whoever drops its last reference. The hook does no
 * I/O but the queue writes of its own transaction, and wakes nobody
 * itself: the post-commit callback does, once the jobs are visible.
 */
#include "repl/repl_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define TAG_PREFIX "user.crrfs.tag."

struct repl_rules *repl_rules_get(struct repl *r)
{
	struct repl_rules *rr;

	pthread_mutex_lock(&r->rlock);
	rr = r->cur;
	if (rr)
		atomic_fetch_add(&rr->refs, 1);
	pthread_mutex_unlock(&r->rlock);
	return rr;
}

void repl_rules_put(struct repl_rules *rr)
{
	if (rr && atomic_fetch_sub(&rr->refs, 1) == 1) {
		rules_free(rr->rules);
		free(rr);
	}
}

size_t repl_tags_collect(const struct store_xattr *xa, size_t nxa,
			 struct rules_tag *tags, size_t max, char *buf,
			 size_t buflen)
{
	size_t pl = strlen(TAG_PREFIX), n = 0, used = 0;

	for (size_t i = 0; i < nxa && n < max; i++) {
		const struct store_xattr *x = &xa[i];
		size_t nl;

		if (strncmp(x->name, TAG_PREFIX, pl))
			continue;
		nl = strlen(x->name + pl);
		if (used + nl + x->size + 2 > buflen)
			break;
		memcpy(buf + used, x->name + pl, nl + 1);
		tags[n].name = buf + used;
		used += nl + 1;
		memcpy(buf + used, x->value, x->size);
		buf[used + x->size] = '\0';
		tags[n].value = buf + used;
		used += x->size + 1;
		n++;
	}
	return n;
}

/*
 * A rule with a tag filter that could still pick destination di for key.
 * Tags are often set right after the close (cp -a, tar, rsync -X), and
 * that amends the version without a hook: such a version is queued for
 * the destinations a tag rule could pick, flagged rematch, and the worker
 * decides once the version has settled, by the tags it then has.
 */
size_t repl_tags_need(const struct store_xattr *xa, size_t nxa)
{
	size_t pl = strlen(TAG_PREFIX), need = 1;

	for (size_t i = 0; i < nxa; i++)
		if (!strncmp(xa[i].name, TAG_PREFIX, pl))
			need += strlen(xa[i].name) + xa[i].size + 2;
	return need;
}

static const struct rules_rule *tag_rule(const struct rules *rules,
					 size_t di, const char *key)
{
	const struct rules_rule *best = NULL;

	for (size_t i = 0; i < rules->nrules; i++) {
		const struct rules_rule *ru = &rules->rules[i];

		if (ru->enabled && ru->dest == di && ru->ntags &&
		    !strncmp(key, ru->prefix, strlen(ru->prefix)) &&
		    (!best || ru->priority > best->priority))
			best = ru;
	}
	return best;
}

static int hook_queue(struct repl *r, struct store_txn *t,
		      const struct store_event *ev, const struct rules *rules,
		      const struct rules_choice *choice)
{
	const struct store_vinfo *v = ev->v;
	bool dm = v->flags & STORE_V_DELETE_MARKER;
	struct repl_job j;
	int rc = 0;

	memset(&j, 0, sizeof(j));
	j.state = REPL_PENDING;
	j.delete_marker = dm;
	j.oid = ev->oid;
	j.vseq = v->vseq;
	j.bytes = dm || v->type != STORE_T_FILE ? 0 : v->attr.size;
	j.epoch = r->epoch;
	j.enq_ns = repl_now_ns();
	j.btime_ns = v->btime_ns;
	memcpy(j.vid, v->vid, sizeof(j.vid));
	j.key = (char *)ev->key;
	for (size_t i = 0; i < rules->ndests && !rc; i++) {
		const struct rules_rule *ru = choice[i].rule;

		if (dm && ru && !choice[i].delete_markers)
			continue;
		j.rematch = !dm && (!ru || ru->ntags);
		if (!ru && (dm || !(ru = tag_rule(rules, i, ev->key))))
			continue;
		snprintf(j.rule, sizeof(j.rule), "%s", ru->id);
		rc = repl_queue_put(t, rules->dests[i].name, &j);
	}
	return rc;
}

int repl_hook(void *arg, struct store_txn *t, const struct store_event *ev)
{
	struct repl *r = arg;
	struct repl_rules *rr;
	struct rules_choice *choice = NULL;
	struct rules_tag tags[REPL_TAGS_MAX];
	char *buf = NULL;
	size_t ntags = 0;
	int rc = 0;

	if (ev->v->flags & STORE_V_REPLICA)
		return 0;	/* never shipped again: no loops */
	if (!ev->key[0])
		return 0;	/* the root is no object (see resync.c) */
	rr = repl_rules_get(r);
	if (!rr || !rr->rules || !rr->rules->ndests)
		goto out;
	choice = calloc(rr->rules->ndests, sizeof(*choice));
	if (!choice) {
		rc = -ENOMEM;
		goto out;
	}
	if (!(ev->v->flags & STORE_V_DELETE_MARKER) && ev->nxattrs) {
		size_t need = repl_tags_need(ev->xattrs, ev->nxattrs);

		buf = malloc(need);
		if (!buf) {
			rc = -ENOMEM;
			goto out;
		}
		ntags = repl_tags_collect(ev->xattrs, ev->nxattrs, tags,
					  REPL_TAGS_MAX, buf, need);
	}
	rules_match(rr->rules, ev->key, tags, ntags, choice);
	rc = hook_queue(r, t, ev, rr->rules, choice);
	if (rc)
		log_error("cannot queue replication of '%s': %s", ev->key,
			  strerror(-rc));
out:
	free(buf);
	free(choice);
	repl_rules_put(rr);
	return rc;
}

void repl_post_commit(void *arg)
{
	struct repl *r = arg;

	pthread_mutex_lock(&r->wake_lock);
	for (size_t i = 0; i < r->nwake; i++)
		repl_dest_wake(r->wake[i]);
	pthread_mutex_unlock(&r->wake_lock);
}
