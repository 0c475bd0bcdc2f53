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
#include "util/vid.h"

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

/* The callback comes right after the commit, maybe after the caller woke. */
static bool post_seen(int before)
{
	int i;

	for (i = 0; i < 2000 && atomic_load(&post_calls) <= before; i++)
		usleep(1000);
	return atomic_load(&post_calls) > before;
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
	CHECK(post_seen(before));
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
	CHECK(post_seen(before));
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
/* Replicas */

static uint64_t vid_counter = 100;

static void new_vid(char out[STORE_VID_LEN + 1])
{
	/* Another store's tag: ids this store would never make. */
	vid_format(1700000000000ULL + vid_counter, 0xabcdef01u, vid_counter,
		   out);
	vid_counter++;
}

static void sha_of(const void *p, size_t n, uint8_t out[32])
{
	EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL);
}

/* A temporary file holding data at offset off; returns its fd. */
static int data_file(const char *dir, const void *data, size_t n, off_t off)
{
	char p[512];
	int fd;

	snprintf(p, sizeof(p), "%s/src-XXXXXX", dir);
	fd = mkstemp(p);
	if (fd < 0)
		return -1;
	unlink(p);
	if (pwrite(fd, data, n, off) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	return fd;
}

static struct store_replica rep_file(const char *key, int fd, uint64_t off,
				     uint64_t size)
{
	struct store_replica r;

	memset(&r, 0, sizeof(r));
	r.key = key;
	r.type = STORE_T_FILE;
	new_vid(r.vid);
	r.btime_ns = 1690000000123456789LL;
	r.attr = tst_attr(0640);
	r.attr.size = size;
	r.data_fd = fd;
	r.data_off = off;
	return r;
}

static int vinfo_cb(void *arg, const struct store_vinfo *v)
{
	struct store_vinfo *out = arg;

	out[0] = *v;	/* the last one seen: the head */
	return 0;
}

struct rep_state {
	char small_vid[STORE_VID_LEN + 1], big_vid[STORE_VID_LEN + 1];
	char *big;
	size_t big_len;
};

static void test_replica_files(struct store *s, const char *dir,
			       struct rep_state *st)
{
	static const struct store_xattr xs[] = {
		{ "user.crrfs.tag.team", "red", 3 },
		{ "user.meta", "m", 1 },
	};
	struct store_entry e, d;
	struct store_replica r;
	struct store_xattr *x = NULL;
	uint8_t sha[32];
	size_t n, i, len;
	int fd, nv, hooks, reps;
	char *got, buf[64];

	/* Small file, packed, under two folders that do not exist yet. */
	fd = data_file(dir, "hello replica", 13, 0);
	CHECK(fd >= 0);
	r = rep_file("r/a/small.txt", fd, 0, 13);
	r.xattrs = xs;
	r.nxattrs = 2;
	sha_of("hello replica", 13, sha);
	r.sha256 = sha;
	memcpy(st->small_vid, r.vid, sizeof(r.vid));
	hooks = hr.calls;
	reps = hr.replicas;
	CHECK_EQ_INT(store_put_replica(s, &r), 0);
	CHECK_EQ_INT(hr.calls - hooks, 3);	/* r/, r/a/, the file */
	CHECK_EQ_INT(hr.replicas - reps, 3);
	CHECK_EQ_INT(store_resolve(s, "r/a/small.txt", &e), 0);
	CHECK(e.live && e.type == STORE_T_FILE);
	CHECK_EQ_STR(e.head.vid, r.vid);
	CHECK_EQ_INT(e.head.btime_ns, r.btime_ns);
	CHECK_EQ_INT(e.head.attr.mode, S_IFREG | 0640);
	CHECK_EQ_INT(e.head.attr.size, 13);
	CHECK_EQ_INT(e.head.flags, STORE_V_REPLICA | STORE_V_HAS_SHA);
	CHECK(!memcmp(e.head.sha256, sha, 32));
	got = tst_get(s, e.oid, 0, &len);
	CHECK(got && len == 13 && !memcmp(got, "hello replica", 13));
	free(got);
	CHECK_EQ_INT(store_xattrs_get(s, e.oid, 0, &x, &n), 0);
	CHECK_EQ_INT(n, 2);
	for (i = 0; i < n && i < 2; i++) {
		CHECK_EQ_STR(x[i].name, xs[i].name);
		CHECK(x[i].size == xs[i].size &&
		      !memcmp(x[i].value, xs[i].value, x[i].size));
	}
	free(x);
	CHECK_EQ_INT(store_getxattr(s, e.oid, 0, "user.crrfs.tag.team", buf,
				    sizeof(buf)), 3);
	CHECK_EQ_STR(hr.tagval, "red");
	/* The folders above got REPLICA versions of their own. */
	CHECK_EQ_INT(store_resolve(s, "r/a/", &d), 0);
	CHECK(d.live && d.type == STORE_T_DIR);
	CHECK(d.head.flags & STORE_V_REPLICA);
	CHECK(strcmp(d.head.vid, r.vid) != 0);
	/* Exposed: a setxattr right away makes a version, no amend. */
	nv = tst_nversions(s, e.oid);
	CHECK_EQ_INT(store_setxattr(s, e.oid, "user.x", "1", 1, 0), 0);
	CHECK_EQ_INT(tst_nversions(s, e.oid), nv + 1);

	/* Idempotent: the same id again changes nothing. */
	hooks = hr.calls;
	nv = tst_nversions(s, e.oid);
	CHECK_EQ_INT(store_put_replica(s, &r), 0);
	CHECK_EQ_INT(tst_nversions(s, e.oid), nv);
	CHECK_EQ_INT(hr.calls, hooks);
	close(fd);

	/* Big file: many chunks, read at an offset, digest checked. */
	st->big_len = 3 * 512 * 1024 + 12345;	/* > 1 MiB, 13 chunks */
	st->big = malloc(st->big_len);
	for (i = 0; i < st->big_len; i++)
		st->big[i] = (char)(i * 7 + i / 4096);
	fd = data_file(dir, st->big, st->big_len, 4096);
	CHECK(fd >= 0);
	r = rep_file("r/big.bin", fd, 4096, st->big_len);
	sha_of(st->big, st->big_len, sha);
	r.sha256 = sha;
	memcpy(st->big_vid, r.vid, sizeof(r.vid));
	CHECK_EQ_INT(store_put_replica(s, &r), 0);
	CHECK_EQ_INT(store_resolve(s, "r/big.bin", &e), 0);
	CHECK_EQ_STR(e.head.vid, r.vid);
	CHECK_EQ_INT(e.head.alloc_bytes, st->big_len);
	got = tst_get(s, e.oid, 0, &len);
	CHECK(got && len == st->big_len && !memcmp(got, st->big, len));
	free(got);

	/* A bad digest: nothing made, no data left behind. */
	r = rep_file("r/bad.bin", fd, 4096, st->big_len);
	sha[0] ^= 1;
	r.sha256 = sha;
	CHECK_EQ_INT(store_put_replica(s, &r), -EBADMSG);
	CHECK_EQ_INT(store_resolve(s, "r/bad.bin", &e), -ENOENT);
	/* Data shorter than said. */
	r = rep_file("r/short.bin", fd, 4096, st->big_len + 10);
	CHECK_EQ_INT(store_put_replica(s, &r), -EIO);
	close(fd);

	/* An empty file. */
	r = rep_file("r/empty", -1, 0, 0);
	CHECK_EQ_INT(store_put_replica(s, &r), 0);
	CHECK_EQ_INT(store_resolve(s, "r/empty", &e), 0);
	CHECK(e.live && e.head.attr.size == 0);

	/*
	 * On top of a key made here: current only when newer by id. One
	 * made before (2023) joins the history; one from a clock an hour
	 * ahead becomes current, and a version made here afterwards is
	 * later by id still (the id clock moved past the replica's).
	 */
	CHECK(tst_put(s, STORE_ROOT_OID, "local", "mine", 4));
	fd = data_file(dir, "theirs", 6, 0);
	r = rep_file("local", fd, 0, 6);
	CHECK_EQ_INT(store_put_replica(s, &r), 0);
	CHECK_EQ_INT(store_resolve(s, "local", &e), 0);
	CHECK(strcmp(e.head.vid, r.vid) > 0);
	CHECK_EQ_INT(tst_nversions(s, e.oid), 2);
	got = tst_get(s, e.oid, 0, &len);
	CHECK(got && len == 4 && !memcmp(got, "mine", 4));
	free(got);
	r = rep_file("local", fd, 0, 6);
	vid_format((uint64_t)time(NULL) * 1000 + 3600000, 0xabcdef01u,
		   vid_counter++, r.vid);
	CHECK_EQ_INT(store_put_replica(s, &r), 0);
	close(fd);
	CHECK_EQ_INT(store_resolve(s, "local", &e), 0);
	CHECK_EQ_STR(e.head.vid, r.vid);
	CHECK_EQ_INT(tst_nversions(s, e.oid), 3);
	got = tst_get(s, e.oid, 0, &len);
	CHECK(got && len == 6 && !memcmp(got, "theirs", 6));
	free(got);
	CHECK(tst_put(s, STORE_ROOT_OID, "local", "again", 5));
	CHECK_EQ_INT(store_resolve(s, "local", &e), 0);
	CHECK(strcmp(e.head.vid, r.vid) > 0);
}

static void test_replica_kinds(struct store *s, const char *dir)
{
	struct store_entry e;
	struct store_replica r;
	struct store_vinfo last[1];
	uint8_t sha[32];
	char *target = NULL;

	(void)dir;
	/* Symlink. */
	r = rep_file("r/link", -1, 0, 0);
	r.type = STORE_T_SYMLINK;
	r.target = "a/small.txt";
	r.attr.mode = 0777;
	sha_of("a/small.txt", 11, sha);
	r.sha256 = sha;
	CHECK_EQ_INT(store_put_replica(s, &r), 0);
	CHECK_EQ_INT(store_resolve(s, "r/link", &e), 0);
	CHECK(e.live && e.type == STORE_T_SYMLINK);
	CHECK_EQ_INT(e.head.attr.mode, S_IFLNK | 0777);
	CHECK_EQ_INT(e.head.attr.size, 11);
	CHECK_EQ_INT(store_readlink(s, e.oid, 0, &target), 0);
	CHECK_EQ_STR(target, "a/small.txt");
	free(target);
	sha[0] ^= 1;
	new_vid(r.vid);
	CHECK_EQ_INT(store_put_replica(s, &r), -EBADMSG);

	/* Folder. */
	r = rep_file("r/dir2/", -1, 0, 0);
	r.type = STORE_T_DIR;
	r.attr.mode = 0700;
	CHECK_EQ_INT(store_put_replica(s, &r), 0);
	CHECK_EQ_INT(store_resolve(s, "r/dir2", &e), 0);
	CHECK(e.live && e.type == STORE_T_DIR);
	CHECK_EQ_INT(e.head.attr.mode, S_IFDIR | 0700);
	CHECK_EQ_STR(e.head.vid, r.vid);

	/* Delete marker on a live key, then on the now dead key. */
	CHECK_EQ_INT(store_resolve(s, "r/empty", &e), 0);
	r = rep_file("r/empty", -1, 0, 0);
	r.delete_marker = true;
	CHECK_EQ_INT(store_put_replica(s, &r), 0);
	CHECK_EQ_INT(store_resolve(s, "r/empty", &e), -ENOENT);
	new_vid(r.vid);
	CHECK_EQ_INT(store_put_replica(s, &r), 0);
	CHECK_EQ_INT(store_put_replica(s, &r), 0);	/* idempotent */
	CHECK_EQ_INT(store_resolve(s, "r", &e), 0);
	CHECK_EQ_INT(store_lookup_any(s, e.oid, "empty", &e), 0);
	CHECK(!e.live);
	CHECK_EQ_INT(tst_nversions(s, e.oid), 3);	/* file, 2 markers */

	/* A delete marker of a key never seen, under folders never seen. */
	r = rep_file("gone/deep/ghost", -1, 0, 0);
	r.delete_marker = true;
	CHECK_EQ_INT(store_put_replica(s, &r), 0);
	CHECK_EQ_INT(store_resolve(s, "gone/deep", &e), 0);
	CHECK_EQ_INT(store_lookup_any(s, e.oid, "ghost", &e), 0);
	CHECK(!e.live && !e.pending);
	CHECK_EQ_INT(tst_nversions(s, e.oid), 1);
	CHECK_EQ_INT(store_versions(s, e.oid, vinfo_cb, last), 0);
	CHECK_EQ_INT(last[0].flags,
		     STORE_V_REPLICA | STORE_V_DELETE_MARKER);
	CHECK_EQ_STR(last[0].vid, r.vid);

	/* A folder's delete marker; then a file under it revives it. */
	r = rep_file("r/dir2/", -1, 0, 0);
	r.type = STORE_T_DIR;
	r.delete_marker = true;
	CHECK_EQ_INT(store_put_replica(s, &r), 0);
	CHECK_EQ_INT(store_resolve(s, "r/dir2", &e), -ENOENT);
	r = rep_file("r/dir2/f", -1, 0, 0);
	CHECK_EQ_INT(store_put_replica(s, &r), 0);
	CHECK_EQ_INT(store_resolve(s, "r/dir2/f", &e), 0);
	CHECK(e.live);
	CHECK_EQ_INT(store_resolve(s, "r/dir2/", &e), 0);
	CHECK(e.head.flags & STORE_V_REPLICA);
	CHECK_EQ_INT(tst_nversions(s, e.oid), 3);
}

static void test_replica_refused(struct store *s)
{
	static const char *const bad_keys[] = {
		"", "/", "a//b", "./a", "a/../b", "a/.", "..",
	};
	struct store_replica r;
	struct store_entry e;
	char longname[300];
	size_t i;

	for (i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
		r = rep_file(bad_keys[i], -1, 0, 0);
		CHECK_EQ_INT(store_put_replica(s, &r), -EINVAL);
	}
	memset(longname, 'n', 256);
	longname[256] = '\0';
	r = rep_file(longname, -1, 0, 0);
	CHECK_EQ_INT(store_put_replica(s, &r), -EINVAL);
	r = rep_file("file-as-dir", -1, 0, 0);
	r.type = STORE_T_DIR;
	CHECK_EQ_INT(store_put_replica(s, &r), -EINVAL);
	r = rep_file("dir-as-file/", -1, 0, 0);
	CHECK_EQ_INT(store_put_replica(s, &r), -EINVAL);
	r = rep_file("badvid", -1, 0, 0);
	strcpy(r.vid, "short");
	CHECK_EQ_INT(store_put_replica(s, &r), -EINVAL);
	memset(r.vid, 'I', STORE_VID_LEN);	/* I is not in the alphabet */
	r.vid[STORE_VID_LEN] = '\0';
	CHECK_EQ_INT(store_put_replica(s, &r), -EINVAL);
	r = rep_file("nolink", -1, 0, 0);
	r.type = STORE_T_SYMLINK;
	CHECK_EQ_INT(store_put_replica(s, &r), -EINVAL);
	CHECK_EQ_INT(store_resolve(s, "badvid", &e), -ENOENT);
}

/* "x/" arrives while a file "x" is live: both keys, the folder shown. */
static void test_replica_both_kinds(struct store *s)
{
	struct store_replica r;
	struct store_entry file, e;

	CHECK_EQ_INT(store_resolve(s, "local", &file), 0);
	CHECK(file.type == STORE_T_FILE);
	r = rep_file("local/x", -1, 0, 0);
	CHECK_EQ_INT(store_put_replica(s, &r), 0);
	CHECK_EQ_INT(store_resolve(s, "local/x", &e), 0);
	CHECK(e.live);
	CHECK_EQ_INT(store_resolve(s, "local", &e), 0);
	CHECK(e.type == STORE_T_DIR && e.live);
	CHECK_EQ_INT(store_stat(s, file.oid, &e), 0);
	CHECK(e.live && e.type == STORE_T_FILE);
}

static void check_fsck(struct store *s, int pending)
{
	struct store_fsck_report rep;

	CHECK_EQ_INT(store_fsck(s, 0, &rep), 0);
	CHECK_EQ_INT(rep.orphan_segments, 0);
	CHECK_EQ_INT(rep.bad_refcounts, 0);
	CHECK_EQ_INT(rep.missing_data, 0);
	CHECK_EQ_INT(rep.index_errors, 0);
	CHECK_EQ_INT(rep.pending_keys, pending);
}

static void test_reopened(struct store *s, struct rep_state *st)
{
	struct store_entry e;
	size_t len;
	char *got;

	CHECK_EQ_INT(store_resolve(s, "r/big.bin", &e), 0);
	CHECK_EQ_STR(e.head.vid, st->big_vid);
	CHECK(e.head.flags & STORE_V_REPLICA);
	got = tst_get(s, e.oid, 0, &len);
	CHECK(got && len == st->big_len && !memcmp(got, st->big, len));
	free(got);
	CHECK_EQ_INT(store_resolve(s, "r/a/small.txt", &e), 0);
	got = tst_get(s, e.oid, 0, &len);
	CHECK(got && len == 13 && !memcmp(got, "hello replica", 13));
	free(got);
	check_fsck(s, 0);	/* walk/pending went at the reopen */
}

/* ------------------------------------------------------------------ */

int main(void)
{
	char *dir = tst_tmpdir();
	struct rep_state st = { .big = NULL };
	struct store *s;

	s = tst_open(dir, 0, 60000);	/* setxattr amends */
	CHECK(s != NULL);
	if (!s)
		return check_done("test_store_repl");
	test_queue(s);
	test_hook_xattrs(s);
	test_walk(s);
	test_replica_files(s, dir, &st);
	test_replica_kinds(s, dir);
	test_replica_refused(s);
	test_replica_both_kinds(s);
	check_fsck(s, 1);	/* walk/pending: open, never closed */
	store_close(s);
	s = tst_open(dir, 0, 60000);
	CHECK(s != NULL);
	if (s)
		test_reopened(s, &st);
	store_close(s);
	free(st.big);
	tst_rmrf(dir);
	free(dir);
	return check_done("test_store_repl");
}
