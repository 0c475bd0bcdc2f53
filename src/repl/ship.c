/*
 * ship.c - shipping one job of a destination and recording its outcome.
 *
 * Design: a worker holds no lock across I/O. It reads the job record
 * again from the queue (the in-memory job in jobmap.c keeps only what
 * ordering needs), makes the version visible for good (store_expose ends
 * its amend window), matches a rematch job again with the tags it
 * settled with, hands the version to the remote, and turns the answer
 * into an outcome: 0 is DONE, -EAGAIN is RETRY, anything else FAILED, and
 * a version or job that vanished is DROP. The outcome reaches the queue in one
 * transaction (repl_queue_finish), which is what makes it durable; a
 * retry is recorded only at attempts 1, 2, 4, 8..., so a long outage
 * does not commit once per try.
 */
#include "repl/worker_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

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
				      bool *cancelled, char *why, size_t wl)
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
	o.cancel = &d->cancel;
	why[0] = '\0';
	rc = remote_ship(d->remote, &o, why, wl);
	repl_rules_put(rr);
	free(xa);
	if (rc && !why[0])
		snprintf(why, wl, "%s", strerror(-rc));
	if (!rc)
		return REPL_OUT_DONE;
	*cancelled = rc == -ECANCELED;
	return rc == -EAGAIN ? REPL_OUT_RETRY : REPL_OUT_FAILED;
}

/*
 * Versions of a key reach a destination in order, whatever the jobs in
 * memory say: a job waits while an older job of its key is still queued
 * there (PENDING or FAILED). 1 (why says for what), 0, or -errno.
 */
static int older_check(struct repl_dest *d, struct repl_mjob *mj,
		       const struct repl_job *j, char *why, size_t wl)
{
	char vid[STORE_VID_LEN + 1];
	uint64_t older = 0;
	unsigned st = 0;
	int rc;

	rc = repl_queue_older(d->r->store, d->name, j->oid, j->vseq, &older,
			      &st, vid);
	if (rc < 0)
		snprintf(why, wl, "cannot read the queue: %s", strerror(-rc));
	if (rc <= 0)
		return rc;
	mj->wait_vseq = older;
	snprintf(why, wl, "waiting for older version %s of the same key (%s)",
		 vid, repl_state_name(st));
	return 1;
}

enum repl_outcome repl_job_ship(struct repl_dest *d, struct repl_mjob *mj,
				bool tried, bool *cancelled, char *why,
				size_t wl)
{
	char k[REPL_JKEY_MAX];
	size_t kl = repl_jkey(k, d->name, mj->vseq);
	enum repl_outcome how;
	struct repl_job j;
	void *v = NULL;
	size_t vl;
	int rc;

	why[0] = '\0';
	*cancelled = false;
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
	rc = older_check(d, mj, &j, why, wl);
	if (rc)
		how = rc > 0 ? REPL_OUT_WAIT : REPL_OUT_RETRY;
	else if ((rc = dest_check(d, why, wl)) == -EAGAIN)
		how = REPL_OUT_RETRY;
	else if (rc)
		how = REPL_OUT_FAILED;
	else
		how = ship_version(d, &j, tried, cancelled, why, wl);
	if (how == REPL_OUT_FAILED && !*cancelled)
		log_warn("replication of '%s' (%s) to '%s' failed: %s", j.key,
			 j.vid, d->name, why);
	repl_job_release(&j);
	return how;
}

/* Record the outcome durably; a failure to do so is retried later. */
enum repl_outcome repl_job_record(struct repl_dest *d, struct repl_mjob *mj,
				    enum repl_outcome how, const char *why)
{
	uint32_t att = mj->attempts + 1;
	int rc = 0;

	if (how == REPL_OUT_RETRY) {
		if (!(att & (att - 1)))	/* 1, 2, 4, 8...: keep the error */
			rc = repl_queue_finish(d->r->store, d->name, mj->vseq,
					       how, att, why);
	} else if (how == REPL_OUT_WAIT) {
		if (!mj->waiting)	/* the reason, once: no attempt */
			rc = repl_queue_finish(d->r->store, d->name, mj->vseq,
					       how, 0, why);
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
