/*
 * queue.c - the replication queue's records and their reads and writes.
 *
 * Design: three kinds of records in the store's queue table (repl.h):
 * J (a job), S (a version's status at a destination), C (a destination's
 * counters). Every change to a job changes its S record and the C
 * counters in the same transaction, so the counters are exact without a
 * scan. Values are versioned and length-checked: a record this code
 * cannot read is reported as -EBADMSG, which callers log and skip; it is
 * never trusted and never a crash.
 *
 * Job value, version 1 (integers big-endian):
 *   u8 version, u8 state, u8 flags (1 = delete marker, 2 = rematch), u8 0,
 *   u32 attempts, u64 oid, vseq, bytes, epoch, enq_ns, btime_ns,
 *   26 bytes vid, then four strings (u16 length + bytes):
 *   rule id, key, upload id, last error.
 * Status value: u8 version, u8 state, u16 length + reason.
 * Counters value: u8 version, 7 bytes 0, u64 ops, bytes, failed.
 */
#include "repl/repl_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

#define JOB_FIXED (8 + 6 * 8 + STORE_VID_LEN)

static void be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t be64_get(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int64_t repl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const char *repl_state_name(unsigned state)
{
	switch (state) {
	case REPL_PENDING:
		return "PENDING";
	case REPL_COMPLETED:
		return "COMPLETED";
	case REPL_FAILED:
		return "FAILED";
	}
	return "UNKNOWN";
}

/* ---- keys ---- */

static size_t dest_len(const char *dest)
{
	size_t n = strlen(dest);

	return n > RULES_NAME_MAX ? RULES_NAME_MAX : n;
}

size_t repl_jkey(char *out, const char *dest, uint64_t vseq)
{
	size_t n = dest_len(dest);

	out[0] = 'J';
	memcpy(out + 1, dest, n);
	out[1 + n] = '\0';
	be64_put((uint8_t *)out + 2 + n, vseq);
	return 2 + n + 8;
}

size_t repl_skey(char *out, uint64_t oid, uint64_t vseq, const char *dest)
{
	size_t n = dest ? dest_len(dest) : 0;

	out[0] = 'S';
	be64_put((uint8_t *)out + 1, oid);
	be64_put((uint8_t *)out + 9, vseq);
	if (n)
		memcpy(out + 17, dest, n);
	return 17 + n;
}

size_t repl_ckey(char *out, const char *dest)
{
	size_t n = dest_len(dest);

	out[0] = 'C';
	memcpy(out + 1, dest, n);
	return 1 + n;
}

int repl_jkey_parse(const void *k, size_t klen, char *dest, uint64_t *vseq)
{
	const char *p = k;
	size_t n;

	if (klen < 11 || p[0] != 'J' || klen - 10 > RULES_NAME_MAX ||
	    p[klen - 9] != '\0')
		return -EINVAL;
	n = klen - 10;
	memcpy(dest, p + 1, n);
	dest[n] = '\0';
	*vseq = be64_get((const uint8_t *)p + klen - 8);
	return 0;
}

/* ---- job values ---- */

static uint8_t *str_put(uint8_t *p, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n > 0xffff)
		n = 0xffff;
	p[0] = (uint8_t)(n >> 8);
	p[1] = (uint8_t)n;
	if (n)
		memcpy(p + 2, s, n);
	return p + 2 + n;
}

/* Read one string; copies at most size-1 bytes into out (or mallocs it
 * when size is 0). Returns the bytes consumed, or 0 when malformed. */
static size_t str_get(const uint8_t *p, size_t left, char *out, size_t size,
		      char **dup)
{
	size_t n;

	if (left < 2)
		return 0;
	n = (size_t)p[0] << 8 | p[1];
	if (n > left - 2)
		return 0;
	if (dup) {
		*dup = malloc(n + 1);
		if (!*dup)
			return 0;
		memcpy(*dup, p + 2, n);
		(*dup)[n] = '\0';
	} else {
		size_t c = n < size ? n : size - 1;

		memcpy(out, p + 2, c);
		out[c] = '\0';
	}
	return 2 + n;
}

int repl_job_encode(const struct repl_job *j, void **out, size_t *len)
{
	size_t n = JOB_FIXED + 8 + strlen(j->rule) +
		   (j->key ? strlen(j->key) : 0) + strlen(j->upload) +
		   strlen(j->err);
	uint8_t *b = malloc(n), *p;

	if (!b)
		return -ENOMEM;
	b[0] = REPL_REC_VERSION;
	b[1] = (uint8_t)j->state;
	b[2] = (j->delete_marker ? 1 : 0) | (j->rematch ? 2 : 0);
	b[3] = 0;
	b[4] = (uint8_t)(j->attempts >> 24);
	b[5] = (uint8_t)(j->attempts >> 16);
	b[6] = (uint8_t)(j->attempts >> 8);
	b[7] = (uint8_t)j->attempts;
	be64_put(b + 8, j->oid);
	be64_put(b + 16, j->vseq);
	be64_put(b + 24, j->bytes);
	be64_put(b + 32, j->epoch);
	be64_put(b + 40, (uint64_t)j->enq_ns);
	be64_put(b + 48, (uint64_t)j->btime_ns);
	memcpy(b + 56, j->vid, STORE_VID_LEN);
	p = b + JOB_FIXED;
	p = str_put(p, j->rule);
	p = str_put(p, j->key);
	p = str_put(p, j->upload);
	p = str_put(p, j->err);
	*out = b;
	*len = (size_t)(p - b);
	return 0;
}

int repl_job_decode(const void *v, size_t len, struct repl_job *j)
{
	const uint8_t *b = v;
	size_t off, n;

	memset(j, 0, sizeof(*j));
	if (len < JOB_FIXED || b[0] != REPL_REC_VERSION ||
	    (b[1] != REPL_PENDING && b[1] != REPL_FAILED))
		return -EBADMSG;
	j->state = b[1];
	j->delete_marker = b[2] & 1;
	j->rematch = b[2] & 2;
	j->attempts = (uint32_t)b[4] << 24 | (uint32_t)b[5] << 16 |
		      (uint32_t)b[6] << 8 | b[7];
	j->oid = be64_get(b + 8);
	j->vseq = be64_get(b + 16);
	j->bytes = be64_get(b + 24);
	j->epoch = be64_get(b + 32);
	j->enq_ns = (int64_t)be64_get(b + 40);
	j->btime_ns = (int64_t)be64_get(b + 48);
	memcpy(j->vid, b + 56, STORE_VID_LEN);
	j->vid[STORE_VID_LEN] = '\0';
	off = JOB_FIXED;
	n = str_get(b + off, len - off, j->rule, sizeof(j->rule), NULL);
	if (!n)
		goto bad;
	off += n;
	n = str_get(b + off, len - off, NULL, 0, &j->key);
	if (!n)
		goto bad;
	off += n;
	n = str_get(b + off, len - off, j->upload, sizeof(j->upload), NULL);
	if (!n)
		goto bad;
	off += n;
	n = str_get(b + off, len - off, j->err, sizeof(j->err), NULL);
	if (!n)
		goto bad;
	return 0;
bad:
	repl_job_release(j);
	return -EBADMSG;
}

void repl_job_release(struct repl_job *j)
{
	free(j->key);
	j->key = NULL;
}

/* ---- status and counters ---- */

size_t repl_status_encode(unsigned state, const char *reason, uint8_t *out,
			  size_t size)
{
	size_t n = reason ? strlen(reason) : 0;

	if (n > size - 4)
		n = size - 4;
	out[0] = REPL_REC_VERSION;
	out[1] = (uint8_t)state;
	out[2] = (uint8_t)(n >> 8);
	out[3] = (uint8_t)n;
	if (n)
		memcpy(out + 4, reason, n);
	return 4 + n;
}

int repl_status_decode(const void *v, size_t len, unsigned *state,
		       char *reason, size_t rlen)
{
	const uint8_t *b = v;

	if (len < 4 || b[0] != REPL_REC_VERSION || b[1] < REPL_PENDING ||
	    b[1] > REPL_FAILED)
		return -EBADMSG;
	*state = b[1];
	if (reason && !str_get(b + 2, len - 2, reason, rlen, NULL))
		return -EBADMSG;
	return 0;
}

static int counts_decode(const void *v, size_t len, struct repl_counts *c)
{
	const uint8_t *b = v;

	if (len < 32 || b[0] != REPL_REC_VERSION)
		return -EBADMSG;
	c->ops = be64_get(b + 8);
	c->bytes = be64_get(b + 16);
	c->failed = be64_get(b + 24);
	return 0;
}

static uint64_t add_clamped(uint64_t v, int64_t d)
{
	if (d < 0 && (uint64_t)-d > v)
		return 0;
	return v + (uint64_t)d;
}

int repl_counts_add(struct store_txn *t, const char *dest, int64_t ops,
		    int64_t bytes, int64_t failed)
{
	struct repl_counts c = { 0 };
	char k[1 + RULES_NAME_MAX];
	size_t kl = repl_ckey(k, dest);
	uint8_t b[32] = { REPL_REC_VERSION };
	void *v = NULL;
	size_t vl;
	int rc;

	rc = store_q_tget(t, k, kl, &v, &vl);
	if (!rc && counts_decode(v, vl, &c))
		log_warn("replication counters of '%s' unreadable: reset",
			 dest);
	free(v);
	if (rc && rc != -ENOENT)
		return rc;
	be64_put(b + 8, add_clamped(c.ops, ops));
	be64_put(b + 16, add_clamped(c.bytes, bytes));
	be64_put(b + 24, add_clamped(c.failed, failed));
	return store_q_put(t, k, kl, b, sizeof(b));
}

int repl_counts_get(struct store *s, const char *dest, struct repl_counts *c)
{
	char k[1 + RULES_NAME_MAX];
	size_t kl = repl_ckey(k, dest);
	void *v = NULL;
	size_t vl;
	int rc;

	memset(c, 0, sizeof(*c));
	rc = store_q_get(s, k, kl, &v, &vl);
	if (!rc && counts_decode(v, vl, c))
		rc = -EBADMSG;
	free(v);
	return rc == -ENOENT ? 0 : rc;
}

/* ---- ordering ---- */

struct older_arg {
	const char *dest;
	uint64_t below, found;
};

static int older_cb(void *arg, const void *key, size_t klen, const void *val,
		    size_t vlen)
{
	struct older_arg *a = arg;
	size_t dl = dest_len(a->dest);
	uint64_t vseq;
	unsigned st;

	if (klen < 17)
		return 0;
	vseq = be64_get((const uint8_t *)key + 9);
	if (vseq >= a->below)
		return 1;
	if (klen - 17 != dl || memcmp((const char *)key + 17, a->dest, dl) ||
	    repl_status_decode(val, vlen, &st, NULL, 0) ||
	    st == REPL_COMPLETED)
		return 0;
	a->found = vseq;
	return 1;
}

/* Is there a job (vseq) of oid at dest? Its state and id if so. */
static int job_of(struct store *s, const char *dest, uint64_t oid,
		  uint64_t vseq, unsigned *state, char *vid)
{
	char k[REPL_JKEY_MAX];
	struct repl_job j;
	void *v = NULL;
	size_t vl;
	int rc;

	rc = store_q_get(s, k, repl_jkey(k, dest, vseq), &v, &vl);
	if (!rc)
		rc = repl_job_decode(v, vl, &j);
	free(v);
	if (rc)
		return rc == -ENOENT || rc == -EBADMSG ? 0 : rc;
	rc = j.oid == oid;
	*state = j.state;
	memcpy(vid, j.vid, STORE_VID_LEN + 1);
	repl_job_release(&j);
	return rc;
}

int repl_queue_older(struct store *s, const char *dest, uint64_t oid,
		     uint64_t vseq, uint64_t *older, unsigned *state,
		     char vid[STORE_VID_LEN + 1])
{
	struct older_arg a = { dest, vseq, 0 };
	char k[REPL_SKEY_MAX];
	size_t kl;
	int rc;

	/* S records say where to look; the J record must confirm it */
	for (uint64_t from = 0;; from = a.found + 1) {
		a.found = 0;
		kl = repl_skey(k, oid, from, NULL);
		rc = store_q_scan(s, k, kl - 8, k, kl, older_cb, &a);
		if (rc || !a.found)
			return rc;
		rc = job_of(s, dest, oid, a.found, state, vid);
		if (rc) {
			*older = a.found;
			return rc;
		}
	}
}

/* ---- writes ---- */

static int status_put(struct store_txn *t, uint64_t oid, uint64_t vseq,
		      const char *dest, unsigned state, const char *reason)
{
	char k[REPL_SKEY_MAX];
	size_t kl = repl_skey(k, oid, vseq, dest);
	uint8_t v[4 + REMOTE_WHY_MAX];
	size_t vl = repl_status_encode(state, reason, v, sizeof(v));

	return store_q_put(t, k, kl, v, vl);
}

static int job_put(struct store_txn *t, const char *dest,
		   const struct repl_job *j)
{
	char k[REPL_JKEY_MAX];
	size_t kl = repl_jkey(k, dest, j->vseq);
	void *v = NULL;
	size_t vl;
	int rc;

	rc = repl_job_encode(j, &v, &vl);
	if (!rc)
		rc = store_q_put(t, k, kl, v, vl);
	free(v);
	return rc;
}

int repl_queue_put(struct store_txn *t, const char *dest,
		   const struct repl_job *j)
{
	int rc = job_put(t, dest, j);

	if (!rc)
		rc = status_put(t, j->oid, j->vseq, dest, REPL_PENDING, NULL);
	if (!rc)
		rc = repl_counts_add(t, dest, 1, (int64_t)j->bytes, 0);
	return rc;
}

struct finish_arg {
	const char *dest;
	uint64_t vseq;
	enum repl_outcome how;
	uint32_t attempts;
	const char *text;
};

static int finish_apply(void *varg, struct store_txn *t)
{
	struct finish_arg *a = varg;
	char k[REPL_JKEY_MAX];
	size_t kl = repl_jkey(k, a->dest, a->vseq);
	struct repl_job j;
	void *v = NULL;
	size_t vl;
	int rc;

	rc = store_q_tget(t, k, kl, &v, &vl);
	if (rc == -ENOENT)
		return 0;	/* already gone: nothing to do */
	if (rc)
		return rc;
	rc = repl_job_decode(v, vl, &j);
	free(v);
	if (rc) {
		log_warn("replication job %llu of '%s' unreadable: dropped",
			 (unsigned long long)a->vseq, a->dest);
		return store_q_del(t, k, kl);
	}
	switch (a->how) {
	case REPL_OUT_DONE:
	case REPL_OUT_DROP:
		rc = store_q_del(t, k, kl);
		if (!rc && a->how == REPL_OUT_DONE)
			rc = status_put(t, j.oid, j.vseq, a->dest,
					REPL_COMPLETED, NULL);
		else if (!rc) {
			char sk[REPL_SKEY_MAX];

			rc = store_q_del(t, sk,
					 repl_skey(sk, j.oid, j.vseq, a->dest));
			if (rc == -ENOENT)
				rc = 0;
		}
		if (!rc && j.state == REPL_PENDING)
			rc = repl_counts_add(t, a->dest, -1,
					     -(int64_t)j.bytes, 0);
		else if (!rc)
			rc = repl_counts_add(t, a->dest, 0, 0, -1);
		break;
	case REPL_OUT_FAILED:
		if (j.state == REPL_FAILED)
			break;
		j.state = REPL_FAILED;
		j.attempts = a->attempts;
		snprintf(j.err, sizeof(j.err), "%s", a->text ? a->text : "");
		rc = job_put(t, a->dest, &j);
		if (!rc)
			rc = status_put(t, j.oid, j.vseq, a->dest, REPL_FAILED,
					j.err);
		if (!rc)
			rc = repl_counts_add(t, a->dest, -1, -(int64_t)j.bytes,
					     1);
		break;
	case REPL_OUT_RETRY:
		j.attempts = a->attempts;
		snprintf(j.err, sizeof(j.err), "%s", a->text ? a->text : "");
		rc = job_put(t, a->dest, &j);
		break;
	case REPL_OUT_UPLOAD:
		snprintf(j.upload, sizeof(j.upload), "%s",
			 a->text ? a->text : "");
		rc = job_put(t, a->dest, &j);
		break;
	case REPL_OUT_WAIT:
		snprintf(j.err, sizeof(j.err), "%s", a->text ? a->text : "");
		rc = job_put(t, a->dest, &j);
		break;
	}
	repl_job_release(&j);
	return rc;
}

int repl_queue_finish(struct store *s, const char *dest, uint64_t vseq,
		      enum repl_outcome how, uint32_t attempts,
		      const char *text)
{
	struct finish_arg a = { dest, vseq, how, attempts, text };

	return store_q_update(s, finish_apply, &a);
}
