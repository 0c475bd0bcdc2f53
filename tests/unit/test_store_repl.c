/*
 * test_store_repl.c - what the store gives replication: the queue table
 * (scan, tscan, update, tget), the post-commit wake-up, user xattrs and
 * tags in hook events, the walk over all versions, and store_put_replica
 * for every kind of version, checked again after a reopen and by fsck.
 */
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdatomic.h>

#include "store_test_util.h"

/* ------------------------------------------------------------------ */
/* Queue table */

struct qrec {
	char keys[16][32];
	char vals[16][32];
	int n, stop_at;
};

static int qrec_cb(void *arg, const void *key, size_t klen, const void *val,
		   size_t vlen)
{
	struct qrec *q = arg;

	if (q->n < 16 && klen < 32 && vlen < 32) {
		memcpy(q->keys[q->n], key, klen);
		q->keys[q->n][klen] = '\0';
		memcpy(q->vals[q->n], val, vlen);
		q->vals[q->n][vlen] = '\0';
	}
	q->n++;
	return q->stop_at && q->n == q->stop_at ? 1 : 0;
}

static int q_fill(void *arg, struct store_txn *t)
{
	static const char *const keys[] = { "J\x01" "a", "J\x01" "b", "J\x02",
					     "S1", "S2", "C" };
	size_t i;
	int rc = 0;

	(void)arg;
	for (i = 0; i < 6 && !rc; i++)
		rc = store_q_put(t, keys[i], strlen(keys[i]), keys[i],
				 strlen(keys[i]));
	return rc;
}

/* Deletes every J entry it is shown, and counts what tget sees. */
static int q_del_cb(void *arg, const void *key, size_t klen, const void *val,
		    size_t vlen)
{
	struct store_txn *t = arg;

	(void)val;
	(void)vlen;
	return store_q_del(t, key, klen);
}

static int q_drain(void *arg, struct store_txn *t)
{
	int *n = arg;
	void *v = NULL;
	size_t vl = 0;
	int rc;

	rc = store_q_tscan(t, "J", 1, NULL, 0, q_del_cb, t);
	if (!rc)
		rc = store_q_put(t, "Snew", 4, "x", 1);
	if (!rc)
		rc = store_q_tget(t, "Snew", 4, &v, &vl);
	if (!rc && vl == 1 && !memcmp(v, "x", 1))
		(*n)++;
	free(v);
	if (!rc && store_q_tget(t, "J\x02", 2, &v, &vl) == -ENOENT)
		(*n)++;
	return rc;
}

static int q_fail(void *arg, struct store_txn *t)
{
	(void)arg;
	store_q_put(t, "Zgone", 5, "", 0);
	return -EPERM;
}

static atomic_int post_calls;

static void post_cb(void *arg)
{
	(void)arg;
	atomic_fetch_add(&post_calls, 1);
}

static void test_queue(struct store *s)
{
	struct qrec q = { .n = 0 };
	uint64_t n = 0;
	void *v = NULL;
	size_t vl;
	int seen = 0, before;

	store_set_post_commit(s, post_cb, NULL);
	before = atomic_load(&post_calls);
	CHECK_EQ_INT(store_q_update(s, q_fill, NULL), 0);
	CHECK(atomic_load(&post_calls) > before);
	CHECK_EQ_INT(store_q_count(s, &n), 0);
	CHECK_EQ_INT(n, 6);

	CHECK_EQ_INT(store_q_scan(s, NULL, 0, NULL, 0, qrec_cb, &q), 0);
	CHECK_EQ_INT(q.n, 6);
	CHECK_EQ_STR(q.keys[0], "C");
	CHECK_EQ_STR(q.keys[5], "S2");

	memset(&q, 0, sizeof(q));
	CHECK_EQ_INT(store_q_scan(s, "J", 1, NULL, 0, qrec_cb, &q), 0);
	CHECK_EQ_INT(q.n, 3);
	CHECK_EQ_STR(q.keys[0], "J\x01" "a");
	CHECK_EQ_STR(q.vals[2], "J\x02");

	memset(&q, 0, sizeof(q));	/* from inside the prefix */
	CHECK_EQ_INT(store_q_scan(s, "J", 1, "J\x01" "b", 3, qrec_cb, &q), 0);
	CHECK_EQ_INT(q.n, 2);
	CHECK_EQ_STR(q.keys[0], "J\x01" "b");

	memset(&q, 0, sizeof(q));	/* from before the prefix */
	CHECK_EQ_INT(store_q_scan(s, "S", 1, "A", 1, qrec_cb, &q), 0);
	CHECK_EQ_INT(q.n, 2);

	memset(&q, 0, sizeof(q));	/* from past it */
	CHECK_EQ_INT(store_q_scan(s, "J", 1, "K", 1, qrec_cb, &q), 0);
	CHECK_EQ_INT(q.n, 0);

	memset(&q, 0, sizeof(q));
	q.stop_at = 2;
	CHECK_EQ_INT(store_q_scan(s, NULL, 0, NULL, 0, qrec_cb, &q), 0);
	CHECK_EQ_INT(q.n, 2);

	CHECK_EQ_INT(store_q_update(s, q_drain, &seen), 0);
	CHECK_EQ_INT(seen, 2);
	CHECK_EQ_INT(store_q_count(s, &n), 0);
	CHECK_EQ_INT(n, 4);	/* S1 S2 C Snew */

	CHECK_EQ_INT(store_q_update(s, q_fail, NULL), -EPERM);
	CHECK_EQ_INT(store_q_get(s, "Zgone", 5, &v, &vl), -ENOENT);
	CHECK_EQ_INT(store_q_get(s, "Snew", 4, &v, &vl), 0);
	free(v);
	CHECK_EQ_INT(store_sync(s), 0);
}

/* ------------------------------------------------------------------ */
/* Hook events carry xattrs; the post-commit callback fires */

struct hookrec {
	int calls;
	char key[64];
	int nx;
	char names[4][64];
	char tagval[16];
	unsigned vflags;
	int replicas;
};

static struct hookrec hr;

static int hook_cb(void *arg, struct store_txn *t, const struct store_event *ev)
{
	size_t i;

	(void)arg;
	hr.calls++;
	if (ev->v->flags & STORE_V_REPLICA)
		hr.replicas++;
	snprintf(hr.key, sizeof(hr.key), "%s", ev->key);
	hr.nx = (int)ev->nxattrs;
	hr.vflags = ev->v->flags;
	for (i = 0; i < ev->nxattrs && i < 4; i++) {
		snprintf(hr.names[i], sizeof(hr.names[i]), "%s",
			 ev->xattrs[i].name);
		if (!strcmp(ev->xattrs[i].name, "user.crrfs.tag.team") &&
		    ev->xattrs[i].size < sizeof(hr.tagval)) {
			memcpy(hr.tagval, ev->xattrs[i].value,
			       ev->xattrs[i].size);
			hr.tagval[ev->xattrs[i].size] = '\0';
		}
	}
	/* The job lands in the same transaction as the version. */
	return store_q_put(t, "H", 1, ev->key, strlen(ev->key));
}

static void test_hook_xattrs(struct store *s)
{
	struct store_xattr *x = NULL;
	size_t n = 0;
	uint64_t oid;
	void *v = NULL;
	size_t vl = 0;
	int before;

	store_set_hook(s, hook_cb, NULL);
	oid = tst_put(s, STORE_ROOT_OID, "tagged", "t", 1);
	CHECK(oid);
	CHECK_EQ_INT(hr.nx, 0);
	CHECK_EQ_INT(store_setxattr(s, oid, "user.zeta", "z", 1, 0), 0);
	CHECK_EQ_INT(store_setxattr(s, oid, "user.crrfs.tag.team", "blue", 4,
				    0), 0);
	CHECK_EQ_INT(store_xattrs_get(s, oid, 0, &x, &n), 0);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {	/* name order, not insertion order */
		CHECK_EQ_STR(x[0].name, "user.crrfs.tag.team");
		CHECK(x[0].size == 4 && !memcmp(x[0].value, "blue", 4));
		CHECK_EQ_STR(x[1].name, "user.zeta");
	}
	free(x);
	before = atomic_load(&post_calls);
	hr.calls = 0;
	/* A new version carries the head's xattrs into the event. */
	CHECK_EQ_INT(tst_put(s, STORE_ROOT_OID, "tagged", "tt", 2), oid);
	CHECK_EQ_INT(hr.calls, 1);
	CHECK_EQ_STR(hr.key, "tagged");
	CHECK_EQ_INT(hr.nx, 2);
	CHECK_EQ_STR(hr.names[0], "user.crrfs.tag.team");
	CHECK_EQ_STR(hr.tagval, "blue");
	CHECK(atomic_load(&post_calls) > before);
	CHECK_EQ_INT(store_q_get(s, "H", 1, &v, &vl), 0);
	CHECK(vl == 6 && !memcmp(v, "tagged", 6));
	free(v);
	CHECK_EQ_INT(store_unlink(s, STORE_ROOT_OID, "tagged", NULL), 0);
	CHECK(hr.vflags & STORE_V_DELETE_MARKER);
	CHECK_EQ_INT(hr.nx, 0);
	CHECK_EQ_INT(store_xattrs_get(s, oid, 0, &x, &n), 0);
	CHECK_EQ_INT(n, 0);
	free(x);
}

/* ------------------------------------------------------------------ */
/* Walk */

struct walkrec {
	int versions, markers;
	bool saw_dead, saw_live, ordered;
	uint64_t last_oid, last_vseq;
};

static int walk_cb(void *arg, const char *key, const struct store_vinfo *v)
{
	struct walkrec *w = arg;

	if (v->oid < w->last_oid ||
	    (v->oid == w->last_oid && v->vseq <= w->last_vseq))
		w->ordered = false;
	w->last_oid = v->oid;
	w->last_vseq = v->vseq;
	w->versions++;
	if (v->flags & STORE_V_DELETE_MARKER)
		w->markers++;
	if (!strcmp(key, "walk/dead"))
		w->saw_dead = true;
	if (!strcmp(key, "walk/live"))
		w->saw_live = true;
	return 0;
}

static void test_walk(struct store *s)
{
	struct store_attr da = tst_attr(0755), fa = tst_attr(0644);
	struct walkrec w = { .ordered = true };
	struct store_entry d, p;
	char name[32];
	int i;

	CHECK_EQ_INT(store_mkdir(s, STORE_ROOT_OID, "walk", &da, &d), 0);
	CHECK(tst_put(s, d.oid, "live", "1", 1));
	CHECK(tst_put(s, d.oid, "live", "22", 2));
	CHECK(tst_put(s, d.oid, "dead", "1", 1));
	CHECK_EQ_INT(store_unlink(s, d.oid, "dead", NULL), 0);
	CHECK_EQ_INT(store_create(s, d.oid, "pending", &fa, &p), 0);
	/* More than one batch of versions. */
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "many%03d", i);
		CHECK(tst_put(s, d.oid, name, name, strlen(name)));
	}
	CHECK_EQ_INT(store_walk(s, walk_cb, &w), 0);
	CHECK(w.ordered);
	CHECK(w.saw_dead && w.saw_live);
	CHECK(w.markers >= 2);	/* "tagged" and "walk/dead" */
	/* root 1, tagged 3 (two amends), walk 1, live 2, dead 2, many 300 */
	CHECK_EQ_INT(w.versions, 1 + 3 + 1 + 2 + 2 + 300);
}

/* ------------------------------------------------------------------ */

int main(void)
{
	char *dir = tst_tmpdir();
	struct store *s;

	s = tst_open(dir, 0, 60000);	/* setxattr amends */
	CHECK(s != NULL);
	if (!s)
		return check_done("test_store_repl");
	test_queue(s);
	test_hook_xattrs(s);
	test_walk(s);
	store_close(s);
	tst_rmrf(dir);
	free(dir);
	return check_done("test_store_repl");
}
