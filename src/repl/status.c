/*
 * status.c - what the queue says about replication: a version's status
 * at each destination (the xattrs), the backlog (the mount root's
 * xattrs), and the report of `crrfs status`.
 *
 * Design: these need only the store, so the CLI can answer without a
 * daemon. Per-version status is one S record per destination (a prefix
 * scan of 'S' oid vseq); the backlog is the C counters, kept exact by
 * every queue change, plus the first pending J record of each
 * destination (jobs are in creation order, so it is the oldest). Only
 * the report walks every job, since it groups them by rule; in that walk
 * (in vseq order) it also finds the stuck jobs, each with its reason: the
 * error of its last attempt, or the older job of its key that holds it
 * back (FAILED or stuck itself), or none yet after STUCK_NS in the queue.
 */
#include "repl/repl_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define REPORT_ERRORS 5		/* failed jobs listed per destination */
#define REPORT_STUCK 5		/* stuck jobs listed per destination */
#define STUCK_NS (60 * 1000000000LL)	/* pending this long: stuck */

/* ---- one version ---- */

struct vstat_arg {
	unsigned combined;	/* worst state seen */
	bool any;
};

static unsigned state_rank(unsigned st)
{
	return st == REPL_FAILED ? 3 : st == REPL_PENDING ? 2 : 1;
}

static int vstat_cb(void *arg, const void *key, size_t klen, const void *val,
		    size_t vlen)
{
	struct vstat_arg *a = arg;
	unsigned st;

	(void)key;
	(void)klen;
	if (repl_status_decode(val, vlen, &st, NULL, 0))
		return 0;
	if (!a->any || state_rank(st) > state_rank(a->combined))
		a->combined = st;
	a->any = true;
	return 0;
}

static int value_out(const char *v, char *buf, size_t size)
{
	size_t n = strlen(v);

	if (!size)
		return (int)n;
	if (size < n)
		return -ERANGE;
	memcpy(buf, v, n);
	return (int)n;
}

int repl_version_status(struct store *s, uint64_t oid, uint64_t vseq,
			unsigned vflags, const char *dest, char *buf,
			size_t size)
{
	char k[REPL_SKEY_MAX];
	size_t kl;
	int rc;

	if (vflags & STORE_V_REPLICA)
		return value_out("REPLICA", buf, size);
	if (dest && (!*dest || strlen(dest) > RULES_NAME_MAX))
		return -ENODATA;
	kl = repl_skey(k, oid, vseq, dest);
	if (dest) {
		void *v = NULL;
		size_t vl;
		unsigned st;

		rc = store_q_get(s, k, kl, &v, &vl);
		if (!rc)
			rc = repl_status_decode(v, vl, &st, NULL, 0);
		free(v);
		if (rc == -ENOENT || rc == -EBADMSG)
			return -ENODATA;
		return rc ? rc : value_out(repl_state_name(st), buf, size);
	}
	struct vstat_arg a = { 0, false };

	rc = store_q_scan(s, k, kl, NULL, 0, vstat_cb, &a);
	if (rc)
		return rc;
	if (!a.any)
		return -ENODATA;
	return value_out(repl_state_name(a.combined), buf, size);
}

/* ---- the backlog ---- */

struct names {
	char (*v)[RULES_NAME_MAX + 1];
	size_t n, cap;
};

static int names_add(struct names *nm, const char *name, size_t len)
{
	if (len > RULES_NAME_MAX)
		return 0;
	for (size_t i = 0; i < nm->n; i++)
		if (strlen(nm->v[i]) == len && !memcmp(nm->v[i], name, len))
			return 0;
	if (nm->n == nm->cap) {
		size_t cap = nm->cap ? 2 * nm->cap : 8;
		void *p = realloc(nm->v, cap * sizeof(*nm->v));

		if (!p)
			return -ENOMEM;
		nm->v = p;
		nm->cap = cap;
	}
	memcpy(nm->v[nm->n], name, len);
	nm->v[nm->n++][len] = '\0';
	return 0;
}

static int cnames_cb(void *arg, const void *key, size_t klen,
		     const void *val, size_t vlen)
{
	(void)val;
	(void)vlen;
	return names_add(arg, (const char *)key + 1, klen - 1);
}

/* Every destination with counters (ever queued to), plus rules'. */
static int dest_names(struct store *s, const struct rules *rules,
		      struct names *nm)
{
	int rc = store_q_scan(s, "C", 1, NULL, 0, cnames_cb, nm);

	for (size_t i = 0; !rc && rules && i < rules->ndests; i++)
		rc = names_add(nm, rules->dests[i].name,
			       strlen(rules->dests[i].name));
	return rc;
}

static int oldest_cb(void *arg, const void *key, size_t klen,
		     const void *val, size_t vlen)
{
	struct repl_job j;

	(void)key;
	(void)klen;
	if (repl_job_decode(val, vlen, &j))
		return 0;
	repl_job_release(&j);
	if (j.state != REPL_PENDING)
		return 0;
	*(int64_t *)arg = j.btime_ns;
	return 1;
}

static int dest_oldest(struct store *s, const char *dest, int64_t *out)
{
	char k[REPL_JKEY_MAX];
	size_t kl = repl_jkey(k, dest, 0) - 8;

	*out = 0;
	return store_q_scan(s, k, kl, NULL, 0, oldest_cb, out);
}

int repl_backlog_total(struct store *s, struct repl_backlog *out)
{
	struct names nm = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	rc = dest_names(s, NULL, &nm);
	for (size_t i = 0; !rc && i < nm.n; i++) {
		struct repl_counts c;
		int64_t old = 0;

		rc = repl_counts_get(s, nm.v[i], &c);
		if (rc == -EBADMSG)
			rc = 0;
		out->ops += c.ops;
		out->bytes += c.bytes;
		out->failed += c.failed;
		if (!rc && c.ops)
			rc = dest_oldest(s, nm.v[i], &old);
		if (old && (!out->oldest_ns || old < out->oldest_ns))
			out->oldest_ns = old;
	}
	free(nm.v);
	return rc;
}

/* ---- the report ---- */

struct rstat {
	char rule[RULES_NAME_MAX + 1];
	uint64_t ops, bytes, failed;
	int64_t oldest_ns;
};

struct rfail {
	char *key;
	char vid[STORE_VID_LEN + 1];
	char err[REMOTE_WHY_MAX];
};

/* A pending job that is stuck: tried and failed, waiting, or old. */
struct rstuck {
	char *key;
	char vid[STORE_VID_LEN + 1];
	double age_s;
	uint32_t attempts;
	char reason[REMOTE_WHY_MAX + 64];
};

/* The first job of a key that holds the key's later jobs back. */
struct blocker {
	uint64_t oid;			/* 0: a free slot */
	unsigned state;
	char vid[STORE_VID_LEN + 1];
};

struct dreport {
	struct rstat total;
	struct rstat *rules;
	size_t nrules;
	struct rfail fails[REPORT_ERRORS];
	size_t nfails;
	uint64_t retrying;		/* pending jobs that failed before */
	char retry_err[REMOTE_WHY_MAX];	/* the error of the first of them */
	struct rstuck stuck[REPORT_STUCK];
	size_t nstuck;
	uint64_t stuck_total;
	struct blocker *blk;		/* open addressing, by oid */
	size_t nblk, blkcap;
	int64_t now;
};

static struct rstat *rstat_of(struct dreport *dr, const char *rule)
{
	struct rstat *p;

	for (size_t i = 0; i < dr->nrules; i++)
		if (!strcmp(dr->rules[i].rule, rule))
			return &dr->rules[i];
	p = realloc(dr->rules, (dr->nrules + 1) * sizeof(*p));
	if (!p)
		return NULL;
	dr->rules = p;
	p = &dr->rules[dr->nrules++];
	memset(p, 0, sizeof(*p));
	snprintf(p->rule, sizeof(p->rule), "%s", rule);
	return p;
}

static void rstat_add(struct rstat *st, const struct repl_job *j)
{
	if (j->state == REPL_FAILED) {
		st->failed++;
		return;
	}
	st->ops++;
	st->bytes += j->bytes;
	if (!st->oldest_ns || j->btime_ns < st->oldest_ns)
		st->oldest_ns = j->btime_ns;
}

static size_t blk_slot(const struct dreport *dr, uint64_t oid)
{
	size_t i = (size_t)(oid * 0x9E3779B97F4A7C15ULL >> 20) &
		   (dr->blkcap - 1);

	while (dr->blk[i].oid && dr->blk[i].oid != oid)
		i = (i + 1) & (dr->blkcap - 1);
	return i;
}

static const struct blocker *blk_find(const struct dreport *dr, uint64_t oid)
{
	size_t i;

	if (!dr->blkcap)
		return NULL;
	i = blk_slot(dr, oid);
	return dr->blk[i].oid ? &dr->blk[i] : NULL;
}

/* j holds its key's later jobs back (best effort: out of memory, not). */
static void blk_add(struct dreport *dr, const struct repl_job *j)
{
	size_t i;

	if (2 * (dr->nblk + 1) > dr->blkcap) {
		struct blocker *old = dr->blk;
		size_t ocap = dr->blkcap, cap = ocap ? 2 * ocap : 64;

		dr->blk = calloc(cap, sizeof(*dr->blk));
		if (!dr->blk) {
			dr->blk = old;
			return;
		}
		dr->blkcap = cap;
		for (size_t k = 0; k < ocap; k++)
			if (old[k].oid)
				dr->blk[blk_slot(dr, old[k].oid)] = old[k];
		free(old);
	}
	i = blk_slot(dr, j->oid);
	if (dr->blk[i].oid)
		return;
	dr->blk[i].oid = j->oid;
	dr->blk[i].state = j->state;
	memcpy(dr->blk[i].vid, j->vid, sizeof(dr->blk[i].vid));
	dr->nblk++;
}

/*
 * A pending job is stuck when it was tried and failed, waits for an
 * older job of its key that is FAILED or stuck, or has been queued for
 * STUCK_NS: say which, with its reason.
 */
static void stuck_note(struct dreport *dr, const struct repl_job *j)
{
	const struct blocker *b = blk_find(dr, j->oid);
	int64_t age = dr->now - j->enq_ns;
	struct rstuck *st;

	if (j->state == REPL_FAILED) {
		blk_add(dr, j);
		return;
	}
	if (!b && !j->attempts && !j->err[0] && age < STUCK_NS)
		return;
	if (!b)
		blk_add(dr, j);
	if (dr->stuck_total++ >= REPORT_STUCK)
		return;
	st = &dr->stuck[dr->nstuck];
	st->key = strdup(j->key ? j->key : "");
	if (!st->key)
		return;
	dr->nstuck++;
	memcpy(st->vid, j->vid, sizeof(st->vid));
	st->age_s = (double)age / 1e9;
	st->attempts = j->attempts;
	if (b)
		snprintf(st->reason, sizeof(st->reason),
			 "waiting for older version %s of the same key (%s)",
			 b->vid, repl_state_name(b->state));
	else if (j->err[0])
		snprintf(st->reason, sizeof(st->reason), "%s", j->err);
	else
		snprintf(st->reason, sizeof(st->reason), "not tried yet");
}

static int report_cb(void *arg, const void *key, size_t klen,
		     const void *val, size_t vlen)
{
	struct dreport *dr = arg;
	struct repl_job j;
	struct rstat *st;

	(void)key;
	(void)klen;
	if (repl_job_decode(val, vlen, &j))
		return 0;
	rstat_add(&dr->total, &j);
	st = rstat_of(dr, j.rule);
	if (st)
		rstat_add(st, &j);
	stuck_note(dr, &j);
	if (j.state == REPL_PENDING && j.attempts && j.err[0] &&
	    !dr->retrying++)
		memcpy(dr->retry_err, j.err, sizeof(dr->retry_err));
	if (j.state == REPL_FAILED && dr->nfails < REPORT_ERRORS) {
		struct rfail *f = &dr->fails[dr->nfails++];

		f->key = j.key;
		j.key = NULL;
		memcpy(f->vid, j.vid, sizeof(f->vid));
		memcpy(f->err, j.err, sizeof(f->err));
	}
	repl_job_release(&j);
	return 0;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static double age_s(int64_t oldest_ns, int64_t now)
{
	return oldest_ns ? (double)(now - oldest_ns) / 1e9 : 0.0;
}

static void rstat_json(FILE *f, const struct rstat *st, int64_t now)
{
	fprintf(f, "\"pending_ops\":%llu,\"pending_bytes\":%llu,"
		"\"oldest_pending_age_s\":%.3f,\"failed\":%llu",
		(unsigned long long)st->ops, (unsigned long long)st->bytes,
		age_s(st->oldest_ns, now), (unsigned long long)st->failed);
}

static void rstat_text(FILE *f, const struct rstat *st, int64_t now)
{
	fprintf(f, "%llu pending (%llu bytes)", (unsigned long long)st->ops,
		(unsigned long long)st->bytes);
	if (st->ops)
		fprintf(f, ", oldest %.1f s", age_s(st->oldest_ns, now));
	fprintf(f, ", %llu failed\n", (unsigned long long)st->failed);
}

static void stuck_text(FILE *f, const struct dreport *dr)
{
	if (!dr->stuck_total)
		return;
	fprintf(f, "  stuck: %llu version%s retried, held back or pending "
		"over %lld s\n", (unsigned long long)dr->stuck_total,
		dr->stuck_total == 1 ? "" : "s", STUCK_NS / 1000000000LL);
	for (size_t i = 0; i < dr->nstuck; i++) {
		const struct rstuck *st = &dr->stuck[i];

		fprintf(f, "  stuck: '%s' version %s, pending %.1f s, %u "
			"attempt%s: %s\n", st->key, st->vid, st->age_s,
			st->attempts, st->attempts == 1 ? "" : "s",
			st->reason);
	}
}

static void stuck_json(FILE *f, const struct dreport *dr)
{
	fprintf(f, ",\"stuck_count\":%llu,\"stuck\":[",
		(unsigned long long)dr->stuck_total);
	for (size_t i = 0; i < dr->nstuck; i++) {
		const struct rstuck *st = &dr->stuck[i];

		fprintf(f, "%s{\"key\":", i ? "," : "");
		json_str(f, st->key);
		fprintf(f, ",\"version_id\":");
		json_str(f, st->vid);
		fprintf(f, ",\"pending_s\":%.3f,\"attempts\":%u,"
			"\"reason\":", st->age_s, st->attempts);
		json_str(f, st->reason);
		fputc('}', f);
	}
	fputc(']', f);
}

static void dest_print(FILE *f, bool json, const char *name,
		       const char *note, const struct dreport *dr, bool first)
{
	int64_t now = repl_now_ns();

	if (!json) {
		fprintf(f, "destination %s%s: ", name, note);
		rstat_text(f, &dr->total, now);
		for (size_t i = 0; i < dr->nrules; i++) {
			fprintf(f, "  rule %s: ", dr->rules[i].rule);
			rstat_text(f, &dr->rules[i], now);
		}
		if (dr->retrying)
			fprintf(f, "  retrying: %llu version%s, last error: "
				"%s\n", (unsigned long long)dr->retrying,
				dr->retrying == 1 ? "" : "s", dr->retry_err);
		for (size_t i = 0; i < dr->nfails; i++)
			fprintf(f, "  failed: '%s' version %s: %s\n",
				dr->fails[i].key, dr->fails[i].vid,
				dr->fails[i].err);
		stuck_text(f, dr);
		return;
	}
	fprintf(f, "%s{\"name\":", first ? "" : ",");
	json_str(f, name);
	if (*note)
		fprintf(f, ",\"in_rule_file\":false");
	fputc(',', f);
	rstat_json(f, &dr->total, now);
	fprintf(f, ",\"rules\":[");
	for (size_t i = 0; i < dr->nrules; i++) {
		fprintf(f, "%s{\"id\":", i ? "," : "");
		json_str(f, dr->rules[i].rule);
		fputc(',', f);
		rstat_json(f, &dr->rules[i], now);
		fputc('}', f);
	}
	fprintf(f, "],\"retrying\":%llu,\"retry_error\":",
		(unsigned long long)dr->retrying);
	json_str(f, dr->retry_err);
	fprintf(f, ",\"last_errors\":[");
	for (size_t i = 0; i < dr->nfails; i++) {
		fprintf(f, "%s{\"key\":", i ? "," : "");
		json_str(f, dr->fails[i].key);
		fprintf(f, ",\"version_id\":");
		json_str(f, dr->fails[i].vid);
		fprintf(f, ",\"error\":");
		json_str(f, dr->fails[i].err);
		fputc('}', f);
	}
	fputc(']', f);
	stuck_json(f, dr);
	fputc('}', f);
}

int repl_report_int(struct store *s, const struct rules *rules, FILE *f,
		    bool json)
{
	struct names nm = { 0 };
	int rc;

	rc = dest_names(s, rules, &nm);
	if (json)
		fprintf(f, "{\"destinations\":[");
	else if (!rc && !nm.n)
		fprintf(f, "no replication destinations\n");
	for (size_t i = 0; !rc && i < nm.n; i++) {
		struct dreport dr;
		char k[REPL_JKEY_MAX];
		size_t kl = repl_jkey(k, nm.v[i], 0) - 8;
		const char *note = "";

		memset(&dr, 0, sizeof(dr));
		dr.now = repl_now_ns();
		rc = store_q_scan(s, k, kl, NULL, 0, report_cb, &dr);
		if (rules && rules_dest_find(rules, nm.v[i]) < 0)
			note = " (not in the rule file: its jobs wait)";
		if (!rc)
			dest_print(f, json, nm.v[i], note, &dr, i == 0);
		for (size_t e = 0; e < dr.nfails; e++)
			free(dr.fails[e].key);
		for (size_t e = 0; e < dr.nstuck; e++)
			free(dr.stuck[e].key);
		free(dr.blk);
		free(dr.rules);
	}
	if (json)
		fprintf(f, "]}\n");
	free(nm.v);
	return rc;
}

int repl_report(struct store *s, FILE *f, bool json)
{
	return repl_report_int(s, NULL, f, json);
}

int repl_report_rules(struct store *s, const struct rules *rules, FILE *f,
		      bool json)
{
	return repl_report_int(s, rules, f, json);
}
