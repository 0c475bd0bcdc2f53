/*
 * qtable.c - the generic queue table (the "queue" DB) that replication
 * keeps its jobs in, and store_sync().
 *
 * Design: the store gives the table no meaning; keys are opaque bytes in
 * bytewise order, so a user lays out its own prefixes and scans ranges.
 * Writes happen only inside a write transaction of the committer: either
 * a commit hook's (the job commits with its version), or store_q_update's
 * own op, which is one child transaction of a group commit like every
 * other mutation. Reads outside the committer are short read-only
 * transactions; store_q_scan calls back inside its transaction, so its
 * callback must stay short (copy what it needs, no I/O).
 */
#include "store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define Q_KEY_MAX 400

static bool qkey_ok(size_t klen)
{
	return klen && klen <= Q_KEY_MAX;
}

int store_q_put(struct store_txn *t, const void *key, size_t klen,
		const void *val, size_t vlen)
{
	if (!qkey_ok(klen))
		return -EINVAL;
	return db_put(t->txn, t->s->queue, key, klen, val, vlen);
}

int store_q_del(struct store_txn *t, const void *key, size_t klen)
{
	if (!qkey_ok(klen))
		return -EINVAL;
	return db_del(t->txn, t->s->queue, key, klen);
}

static int q_get_txn(struct store *s, MDB_txn *txn, const void *key,
		     size_t klen, void **val, size_t *vlen)
{
	MDB_val v;
	int rc;

	if (!qkey_ok(klen))
		return -EINVAL;
	rc = db_get(txn, s->queue, key, klen, &v);
	if (rc)
		return rc;
	*val = malloc(v.mv_size ? v.mv_size : 1);
	if (!*val)
		return -ENOMEM;
	memcpy(*val, v.mv_data, v.mv_size);
	*vlen = v.mv_size;
	return 0;
}

int store_q_get(struct store *s, const void *key, size_t klen, void **val,
		size_t *vlen)
{
	MDB_txn *txn;
	int rc;

	rc = store_rtxn(s, &txn);
	if (rc)
		return rc;
	rc = q_get_txn(s, txn, key, klen, val, vlen);
	mdb_txn_abort(txn);
	return rc;
}

int store_q_tget(struct store_txn *t, const void *key, size_t klen,
		 void **val, size_t *vlen)
{
	return q_get_txn(t->s, t->txn, key, klen, val, vlen);
}

int store_q_count(struct store *s, uint64_t *out)
{
	MDB_txn *txn;
	MDB_stat st;
	int rc;

	rc = store_rtxn(s, &txn);
	if (rc)
		return rc;
	rc = store_err(mdb_stat(txn, s->queue, &st));
	if (!rc)
		*out = st.ms_entries;
	mdb_txn_abort(txn);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Scans */

/* Bytewise order of two byte strings, as LMDB's default comparison. */
static int bytes_cmp(const void *a, size_t al, const void *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c ? c : (al > bl) - (al < bl);
}

struct qscan {
	const void *prefix, *from;
	size_t plen, flen;
	store_q_fn fn;
	void *arg;
};

/* Where a scan starts: from, unless it lies before the prefix. */
static void scan_start(const struct qscan *q, MDB_val *k)
{
	if (q->flen && (!q->plen ||
			bytes_cmp(q->from, q->flen, q->prefix, q->plen) > 0)) {
		k->mv_data = (void *)q->from;
		k->mv_size = q->flen;
	} else {
		k->mv_data = (void *)q->prefix;
		k->mv_size = q->plen;
	}
}

static bool in_prefix(const struct qscan *q, const MDB_val *k)
{
	return !q->plen || (k->mv_size >= q->plen &&
			    !memcmp(k->mv_data, q->prefix, q->plen));
}

static int qscan_check(const struct qscan *q)
{
	if (q->plen > Q_KEY_MAX || q->flen > Q_KEY_MAX ||
	    (q->plen && !q->prefix) || (q->flen && !q->from))
		return -EINVAL;
	return 0;
}

/* Read-only: one cursor, callbacks inside the transaction. */
static int scan_ro(struct store *s, MDB_txn *txn, const struct qscan *q)
{
	MDB_cursor *c = NULL;
	MDB_val k, v;
	int rc, mrc;

	rc = store_err(mdb_cursor_open(txn, s->queue, &c));
	if (rc)
		return rc;
	scan_start(q, &k);
	mrc = k.mv_size ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) :
			  mdb_cursor_get(c, &k, &v, MDB_FIRST);
	for (; !mrc; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (!in_prefix(q, &k))
			break;
		rc = q->fn(q->arg, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
		if (rc)
			break;
	}
	if (!rc && mrc && mrc != MDB_NOTFOUND)
		rc = store_err(mrc);
	mdb_cursor_close(c);
	return rc == 1 ? 0 : rc;
}

int store_q_scan(struct store *s, const void *prefix, size_t plen,
		 const void *from, size_t flen, store_q_fn fn, void *arg)
{
	struct qscan q = { prefix, from, plen, flen, fn, arg };
	MDB_txn *txn;
	int rc;

	rc = qscan_check(&q);
	if (rc)
		return rc;
	rc = store_rtxn(s, &txn);
	if (rc)
		return rc;
	rc = scan_ro(s, txn, &q);
	mdb_txn_abort(txn);
	return rc;
}

/*
 * In a write transaction fn may put and delete entries, even the one it
 * is shown: so each entry is copied out, and the next one is found by a
 * fresh search for the smallest key after it (the key plus a 0 byte)
 * instead of trusting a cursor across changes.
 */
int store_q_tscan(struct store_txn *t, const void *prefix, size_t plen,
		  const void *from, size_t flen, store_q_fn fn, void *arg)
{
	struct qscan q = { prefix, from, plen, flen, fn, arg };
	uint8_t kbuf[Q_KEY_MAX + 1];
	void *vbuf = NULL;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	size_t kl;
	int rc, mrc;

	rc = qscan_check(&q);
	if (rc)
		return rc;
	scan_start(&q, &k);
	kl = k.mv_size;
	if (kl)
		memcpy(kbuf, k.mv_data, kl);
	for (;;) {
		rc = store_err(mdb_cursor_open(t->txn, t->s->queue, &c));
		if (rc)
			break;
		k.mv_data = kbuf;
		k.mv_size = kl;
		mrc = kl ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) :
			   mdb_cursor_get(c, &k, &v, MDB_FIRST);
		if (!mrc && (!in_prefix(&q, &k) || k.mv_size > Q_KEY_MAX))
			mrc = MDB_NOTFOUND;
		if (!mrc) {
			kl = k.mv_size;
			memcpy(kbuf, k.mv_data, kl);
			free(vbuf);
			vbuf = malloc(v.mv_size ? v.mv_size : 1);
			if (vbuf)
				memcpy(vbuf, v.mv_data, v.mv_size);
		}
		mdb_cursor_close(c);
		if (mrc) {
			rc = mrc == MDB_NOTFOUND ? 0 : store_err(mrc);
			break;
		}
		if (!vbuf) {
			rc = -ENOMEM;
			break;
		}
		rc = fn(arg, kbuf, kl, vbuf, v.mv_size);
		if (rc)
			break;
		kbuf[kl++] = 0;	/* the smallest key after this one */
	}
	free(vbuf);
	return rc == 1 ? 0 : rc;
}

/* ------------------------------------------------------------------ */
/* Updates outside a hook, and sync */

struct qupd_arg {
	store_txn_fn fn;
	void *arg;
};

static int qupd_apply(struct store_txn *t, void *varg)
{
	struct qupd_arg *a = varg;
	int rc = a->fn(a->arg, t);

	/* The queue's reader wants to hear about this commit too. */
	if (!rc && t->post)
		t->post->hooked = true;
	return rc;
}

int store_q_update(struct store *s, store_txn_fn fn, void *arg)
{
	struct qupd_arg a = { fn, arg };

	return store_commit(s, qupd_apply, &a, 0, NULL, NULL);
}

static int nop_apply(struct store_txn *t, void *varg)
{
	(void)t;
	(void)varg;
	return 0;
}

/*
 * A durable op of nothing: the committer syncs (snap_sync) after the
 * commit that carries it, which follows every commit made before.
 */
int store_sync(struct store *s)
{
	if (s->flags & STORE_RDONLY)
		return 0;
	return store_commit(s, nop_apply, NULL, COMMIT_DURABLE, NULL, NULL);
}
