/*
 * test_store_data.c - version data: sharing between versions (append and
 * small overwrites cost a chunk, not the file), truncates, holes, renames
 * (no data copy, delete markers, the amend-window exception, NOREPLACE,
 * EXCHANGE), commit hooks, group commit and big folders.
 */
#include <pthread.h>

#include "store_test_util.h"
#include "store/store_int.h"

#define MiB (1024 * 1024)

static uint64_t stored_bytes(struct store *s)
{
	struct store_fsck_report r;

	store_fsck(s, 0, &r);
	return r.bytes_stored;
}

static void fill(char *buf, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = (char)(seed + i * 7 + i / 4096);
}

static int seal(struct store *s, struct store_file *f, uint64_t oid)
{
	(void)s;
	struct store_attr a = tst_attr(0644);

	return store_file_seal(f, oid, &a, 0, NULL);
}

static void test_append_and_overwrite(struct store *s)
{
	size_t big = 40 * MiB, len;
	char *data = malloc(big + 1024), *got;
	struct store_file *f;
	struct store_entry e;
	uint64_t before, oid, v1;

	fill(data, big + 1024, 1);
	oid = tst_put(s, STORE_ROOT_OID, "big", data, big);
	CHECK(oid);
	CHECK_EQ_INT(store_stat(s, oid, &e), 0);
	v1 = e.head.vseq;
	CHECK_EQ_INT(e.head.alloc_bytes, big);
	before = stored_bytes(s);
	/* Append 1 KiB. */
	CHECK_EQ_INT(store_file_open(s, oid, 0, &f), 0);
	CHECK_EQ_INT(store_file_write(f, data + big, 1024, big), 1024);
	CHECK_EQ_INT(seal(s, f, oid), 0);
	store_file_free(f);
	CHECK(stored_bytes(s) - before <= 2 * STORE_CHUNK);
	got = tst_get(s, oid, 0, &len);
	CHECK(got && len == big + 1024 && !memcmp(got, data, len));
	free(got);
	got = tst_get(s, oid, v1, &len);
	CHECK(got && len == big && !memcmp(got, data, len));
	free(got);
	/* Overwrite 4 KiB in the middle. */
	before = stored_bytes(s);
	CHECK_EQ_INT(store_file_open(s, oid, 0, &f), 0);
	memset(data + 20 * MiB + 100, 'Z', 4096);
	CHECK_EQ_INT(store_file_write(f, data + 20 * MiB + 100, 4096,
				      20 * MiB + 100), 4096);
	CHECK_EQ_INT(seal(s, f, oid), 0);
	store_file_free(f);
	CHECK(stored_bytes(s) - before <= 2 * STORE_CHUNK);
	got = tst_get(s, oid, 0, &len);
	CHECK(got && len == big + 1024 && !memcmp(got, data, len));
	free(got);
	got = tst_get(s, oid, v1, &len);
	CHECK(got && len == big && got[20 * MiB + 100] != 'Z');
	free(got);
	CHECK_EQ_INT(tst_nversions(s, oid), 3);
	/*
	 * One write over several chunks, unaligned at both ends, some owned
	 * already (a chunk written just before), the rest shared with the
	 * head: the copied-on-write edges keep their old bytes, and the head
	 * before it stays as it was.
	 */
	CHECK_EQ_INT(store_stat(s, oid, &e), 0);
	v1 = e.head.vseq;
	CHECK_EQ_INT(store_file_open(s, oid, 0, &f), 0);
	memset(data + 3 * STORE_CHUNK, 'A', 10);
	CHECK_EQ_INT(store_file_write(f, data + 3 * STORE_CHUNK, 10,
				      3 * STORE_CHUNK), 10);
	len = 5 * STORE_CHUNK + 333;
	memset(data + STORE_CHUNK + 7, 'B', len);
	CHECK_EQ_INT(store_file_write(f, data + STORE_CHUNK + 7, len,
				      STORE_CHUNK + 7), (ssize_t)len);
	CHECK_EQ_INT(seal(s, f, oid), 0);
	store_file_free(f);
	got = tst_get(s, oid, 0, &len);
	CHECK(got && len == big + 1024 && !memcmp(got, data, len));
	free(got);
	got = tst_get(s, oid, v1, &len);
	CHECK(got && len == big + 1024 && got[STORE_CHUNK + 7] != 'B' &&
	      got[3 * STORE_CHUNK] != 'A');
	free(got);
	free(data);
}

static void test_truncate_holes(struct store *s)
{
	char buf[300000], *got;
	struct store_file *f;
	struct store_entry e;
	size_t len, i;
	uint64_t oid;
	bool zero = true;

	memset(buf, 'q', sizeof(buf));
	oid = tst_put(s, STORE_ROOT_OID, "tr", buf, sizeof(buf));
	CHECK_EQ_INT(store_file_open(s, oid, 0, &f), 0);
	CHECK_EQ_INT(store_file_truncate(f, 1000), 0);
	CHECK_EQ_INT(store_file_truncate(f, 200000), 0);
	CHECK_EQ_INT(store_file_read(f, buf, sizeof(buf), 0), 200000);
	for (i = 1000; i < 200000; i++)
		zero = zero && buf[i] == 0;
	CHECK(zero && buf[999] == 'q');
	CHECK_EQ_INT(seal(s, f, oid), 0);
	/* The same again on a chunk this copy owns now. */
	CHECK_EQ_INT(store_file_write(f, "abc", 3, 10), 3);
	CHECK_EQ_INT(store_file_truncate(f, 5), 0);
	CHECK_EQ_INT(store_file_write(f, "X", 1, 150000), 1);
	CHECK_EQ_INT(store_file_read(f, buf, sizeof(buf), 0), 150001);
	zero = true;
	for (i = 5; i < 150000; i++)
		zero = zero && buf[i] == 0;
	CHECK(zero && buf[150000] == 'X' && !memcmp(buf, "qqqqq", 5));
	CHECK_EQ_INT(seal(s, f, oid), 0);
	store_file_free(f);
	got = tst_get(s, oid, 0, &len);
	CHECK(got && len == 150001 && got[20] == 0 && got[150000] == 'X');
	free(got);
	/* Sparse: one byte at 1 GiB. */
	CHECK_EQ_INT(store_file_open(s, oid, 0, &f), 0);
	CHECK_EQ_INT(store_file_truncate(f, 0), 0);
	CHECK_EQ_INT(store_file_write(f, "e", 1, 1ULL << 30), 1);
	CHECK_EQ_INT(store_file_size(f), (1ULL << 30) + 1);
	CHECK(store_file_blocks(f) <= 8);
	CHECK_EQ_INT(seal(s, f, oid), 0);
	CHECK_EQ_INT(store_file_read(f, buf, 10, 500 * MiB), 10);
	CHECK(buf[0] == 0 && buf[9] == 0);
	store_file_free(f);
	CHECK_EQ_INT(store_stat(s, oid, &e), 0);
	CHECK(e.head.alloc_bytes <= 1);
	CHECK_EQ_INT(e.head.attr.size, (1ULL << 30) + 1);
}

static uint64_t seg_count(struct store *s)
{
	struct store_fsck_report r;

	store_fsck(s, 0, &r);
	return r.segments;
}

struct remaps {
	uint64_t pairs[32][2];
	int n;
};

static void remap_cb(void *arg, uint64_t a, uint64_t b)
{
	struct remaps *r = arg;

	if (r->n < 32) {
		r->pairs[r->n][0] = a;
		r->pairs[r->n][1] = b;
	}
	r->n++;
}

static void test_rename(struct store *s, struct store *fresh)
{
	struct store_attr da = tst_attr(0755);
	struct store_entry d, e, e2;
	struct remaps r = { .n = 0 };
	uint64_t oid, segs, sub;
	char *got;
	size_t len;

	/* fresh: amend window 0 -> every key is "old" already. */
	oid = tst_put(fresh, STORE_ROOT_OID, "f1", "content", 7);
	usleep(5000);	/* past its 1 ms amend window */
	segs = seg_count(fresh);
	CHECK_EQ_INT(store_rename(fresh, STORE_ROOT_OID, "f1", STORE_ROOT_OID,
				  "f2", 0, remap_cb, &r), 0);
	CHECK_EQ_INT(seg_count(fresh), segs);
	CHECK_EQ_INT(r.n, 1);
	CHECK_EQ_INT(store_lookup(fresh, STORE_ROOT_OID, "f2", &e), 0);
	CHECK(r.pairs[0][0] == oid && r.pairs[0][1] == e.oid);
	got = tst_get(fresh, e.oid, 0, &len);
	CHECK(got && len == 7 && !memcmp(got, "content", 7));
	free(got);
	CHECK_EQ_INT(store_lookup_any(fresh, STORE_ROOT_OID, "f1", &e2), 0);
	CHECK(e2.head.flags & STORE_V_DELETE_MARKER);

	/* Folder with children. */
	CHECK_EQ_INT(store_mkdir(fresh, STORE_ROOT_OID, "d", &da, &d), 0);
	CHECK_EQ_INT(store_mkdir(fresh, d.oid, "sub", &da, &e), 0);
	sub = e.oid;
	CHECK(tst_put(fresh, sub, "leaf", "L", 1));
	CHECK(tst_put(fresh, d.oid, "top", "T", 1));
	usleep(5000);
	r.n = 0;
	CHECK_EQ_INT(store_rename(fresh, STORE_ROOT_OID, "d", d.oid, "x", 0,
				  remap_cb, &r), -EINVAL);
	CHECK_EQ_INT(store_rename(fresh, STORE_ROOT_OID, "d", STORE_ROOT_OID,
				  "d2", 0, remap_cb, &r), 0);
	CHECK_EQ_INT(r.n, 4);
	CHECK_EQ_INT(r.pairs[0][0], d.oid);
	CHECK_EQ_INT(store_resolve(fresh, "d2/sub/leaf", &e), 0);
	got = tst_get(fresh, e.oid, 0, &len);
	CHECK(got && len == 1 && got[0] == 'L');
	free(got);
	CHECK_EQ_INT(store_resolve(fresh, "d/sub/leaf", &e), -ENOENT);
	CHECK_EQ_INT(store_lookup_any(fresh, sub, "leaf", &e), 0);
	CHECK(!e.live && (e.head.flags & STORE_V_DELETE_MARKER));

	/* Onto an existing file: its history continues. */
	oid = tst_put(fresh, STORE_ROOT_OID, "t", "old", 3);
	CHECK(tst_put(fresh, STORE_ROOT_OID, "s", "new", 3));
	usleep(5000);
	CHECK_EQ_INT(store_rename(fresh, STORE_ROOT_OID, "s", STORE_ROOT_OID,
				  "t", STORE_RENAME_NOREPLACE, NULL, NULL),
		     -EEXIST);
	r.n = 0;
	CHECK_EQ_INT(store_rename(fresh, STORE_ROOT_OID, "s", STORE_ROOT_OID,
				  "t", 0, remap_cb, &r), 0);
	CHECK_EQ_INT(r.n, 2);
	CHECK(r.pairs[0][0] == oid && r.pairs[0][1] == 0);
	CHECK_EQ_INT(r.pairs[1][1], oid);
	CHECK_EQ_INT(tst_nversions(fresh, oid), 2);
	got = tst_get(fresh, oid, 0, &len);
	CHECK(got && len == 3 && !memcmp(got, "new", 3));
	free(got);

	/* Exchange. */
	CHECK(tst_put(fresh, STORE_ROOT_OID, "ea", "A", 1));
	CHECK(tst_put(fresh, STORE_ROOT_OID, "eb", "BB", 2));
	r.n = 0;
	CHECK_EQ_INT(store_rename(fresh, STORE_ROOT_OID, "ea", STORE_ROOT_OID,
				  "eb", STORE_RENAME_EXCHANGE, remap_cb, &r),
		     0);
	CHECK_EQ_INT(r.n, 2);
	CHECK_EQ_INT(store_lookup(fresh, STORE_ROOT_OID, "ea", &e), 0);
	CHECK_EQ_INT(e.head.attr.size, 2);
	CHECK_EQ_INT(store_rename(fresh, STORE_ROOT_OID, "ea", STORE_ROOT_OID,
				  "nothere", STORE_RENAME_EXCHANGE, NULL, NULL),
		     -ENOENT);

	/* s (long window): a fresh temp file vanishes without a trace. */
	oid = tst_put(s, STORE_ROOT_OID, ".tmp.XXXX", "rsync", 5);
	CHECK_EQ_INT(store_rename(s, STORE_ROOT_OID, ".tmp.XXXX",
				  STORE_ROOT_OID, "final", 0, NULL, NULL), 0);
	CHECK_EQ_INT(store_lookup_any(s, STORE_ROOT_OID, ".tmp.XXXX", &e),
		     -ENOENT);
	CHECK_EQ_INT(store_stat(s, oid, &e), -ENOENT);
	CHECK_EQ_INT(store_lookup(s, STORE_ROOT_OID, "final", &e), 0);
	CHECK_EQ_INT(tst_nversions(s, e.oid), 1);
	/* rsync over an existing file: one new version, no marker. */
	oid = e.oid;
	CHECK(tst_put(s, STORE_ROOT_OID, ".tmp.YYYY", "rsync2", 6));
	CHECK_EQ_INT(store_rename(s, STORE_ROOT_OID, ".tmp.YYYY",
				  STORE_ROOT_OID, "final", 0, NULL, NULL), 0);
	CHECK_EQ_INT(store_lookup_any(s, STORE_ROOT_OID, ".tmp.YYYY", &e),
		     -ENOENT);
	CHECK_EQ_INT(tst_nversions(s, oid), 2);
	/* A pending key moves and stays pending. */
	CHECK_EQ_INT(store_create(s, STORE_ROOT_OID, "pend", &da, &e), 0);
	CHECK_EQ_INT(store_rename(s, STORE_ROOT_OID, "pend", STORE_ROOT_OID,
				  "pend2", 0, NULL, NULL), 0);
	CHECK_EQ_INT(store_lookup(s, STORE_ROOT_OID, "pend2", &e), 0);
	CHECK(e.pending);
	CHECK_EQ_INT(store_lookup_any(s, STORE_ROOT_OID, "pend", &e), -ENOENT);
}

static int hook_fail;
static int hook_calls;

static int hook(void *arg, struct store_txn *t, const struct store_event *ev)
{
	char k[32];

	(void)arg;
	hook_calls++;
	if (hook_fail)
		return -EIO;
	snprintf(k, sizeof(k), "q/%s", ev->v->vid);
	return store_q_put(t, k, strlen(k), ev->key, strlen(ev->key));
}

static void test_hook(struct store *s)
{
	struct store_entry e;
	uint64_t n0 = 0, n1 = 0, oid;
	void *val = NULL;
	size_t vlen = 0;
	char k[32];

	store_q_count(s, &n0);
	store_set_hook(s, hook, NULL);
	oid = tst_put(s, STORE_ROOT_OID, "hooked", "h", 1);
	CHECK(oid);
	CHECK_EQ_INT(store_q_count(s, &n1), 0);
	CHECK_EQ_INT(n1, n0 + 1);
	CHECK_EQ_INT(store_stat(s, oid, &e), 0);
	snprintf(k, sizeof(k), "q/%s", e.head.vid);
	CHECK_EQ_INT(store_q_get(s, k, strlen(k), &val, &vlen), 0);
	CHECK(vlen == 6 && !memcmp(val, "hooked", 6));
	free(val);
	/* A failing hook fails the op and leaves no version. */
	hook_fail = 1;
	CHECK(tst_put(s, STORE_ROOT_OID, "hooked", "h2", 2) == 0);
	CHECK_EQ_INT(tst_nversions(s, oid), 1);
	CHECK_EQ_INT(store_unlink(s, STORE_ROOT_OID, "hooked", NULL), -EIO);
	CHECK_EQ_INT(store_lookup(s, STORE_ROOT_OID, "hooked", &e), 0);
	hook_fail = 0;
	store_set_hook(s, NULL, NULL);
}

struct gc_arg {
	struct store *s;
	uint64_t dir;
	int id;
	int fails;
};

static void *gc_thread(void *varg)
{
	struct gc_arg *a = varg;
	char name[32];
	int i;

	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "t%d-%d", a->id, i);
		if (!tst_put(a->s, a->dir, name, name, strlen(name)))
			a->fails++;
	}
	return NULL;
}

static int count_cb(void *arg, const char *name, const struct store_entry *e)
{
	(void)name;
	(void)e;
	(*(int *)arg)++;
	return 0;
}

static void test_group_commit(struct store *s)
{
	struct store_attr da = tst_attr(0755);
	struct gc_arg args[8];
	pthread_t th[8];
	struct store_entry d;
	uint64_t c0, o0, c1, o1;
	int i, n = 0;

	CHECK_EQ_INT(store_mkdir(s, STORE_ROOT_OID, "gc", &da, &d), 0);
	store_stats(s, &c0, &o0);
	for (i = 0; i < 8; i++) {
		args[i] = (struct gc_arg){ s, d.oid, i, 0 };
		pthread_create(&th[i], NULL, gc_thread, &args[i]);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_INT(args[i].fails, 0);
	}
	store_stats(s, &c1, &o1);
	CHECK_EQ_INT(store_readdir(s, d.oid, NULL, 0, count_cb, &n), 0);
	CHECK_EQ_INT(n, 1600);
	CHECK_EQ_INT(o1 - o0, 3200);	/* create + seal each */
	CHECK(c1 - c0 < o1 - o0);
	printf("group commit: %llu ops in %llu commits\n",
	       (unsigned long long)(o1 - o0), (unsigned long long)(c1 - c0));
}

struct stop_ctx {
	int n;
	char last[32];
};

static int stop_cb(void *arg, const char *name, const struct store_entry *e)
{
	struct stop_ctx *c = arg;

	(void)e;
	if (c->n && strcmp(c->last, name) >= 0)
		return -EIO;	/* out of order */
	snprintf(c->last, sizeof(c->last), "%s", name);
	return ++c->n == 100 ? 1 : 0;
}

static void test_big_dir(struct store *s)
{
	struct store_attr a = tst_attr(0644), da = tst_attr(0755);
	struct stop_ctx c = { 0 };
	struct store_entry d, e;
	char name[32];
	int i, n = 0;

	CHECK_EQ_INT(store_mkdir(s, STORE_ROOT_OID, "bigdir", &da, &d), 0);
	for (i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "n%05d", (i * 7919) % 10000);
		if (store_create(s, d.oid, name, &a, &e))
			break;
	}
	CHECK_EQ_INT(i, 10000);
	CHECK_EQ_INT(store_readdir(s, d.oid, NULL, 0, count_cb, &n), 0);
	CHECK_EQ_INT(n, 10000);
	CHECK_EQ_INT(store_readdir(s, d.oid, NULL, 0, stop_cb, &c), 0);
	CHECK_EQ_INT(c.n, 100);
	CHECK_EQ_STR(c.last, "n00099");
	c.n = 0;
	CHECK_EQ_INT(store_readdir(s, d.oid, "n09990", 0, stop_cb, &c), 0);
	CHECK_EQ_INT(c.n, 9);
	CHECK_EQ_STR(c.last, "n09999");
}

int main(void)
{
	char *dir = tst_tmpdir(), *dir2 = tst_tmpdir();
	struct store *s = tst_open(dir, 0, 60000);
	struct store *fresh = tst_open(dir2, 0, 1);
	struct store_fsck_report r;

	CHECK(s && fresh);
	if (!s || !fresh)
		return check_done("test_store_data");
	test_append_and_overwrite(s);
	test_truncate_holes(s);
	test_rename(s, fresh);
	test_hook(s);
	test_group_commit(s);
	test_big_dir(s);
	CHECK_EQ_INT(store_fsck(s, 0, &r), 0);
	CHECK_EQ_INT(store_fsck(fresh, 0, &r), 0);
	store_close(s);
	store_close(fresh);
	tst_rmrf(dir);
	tst_rmrf(dir2);
	free(dir);
	free(dir2);
	return check_done("test_store_data");
}
