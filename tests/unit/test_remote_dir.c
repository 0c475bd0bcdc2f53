/*
 * test_remote_dir.c - the dir destination between two real stores: every
 * kind of version shipped, applied at once when the destination is free
 * and by its holder when it is not, idempotent re-shipping, bad records
 * quarantined, destinations refused for what they are, and a cancelled
 * ship that leaves nothing behind; all through the remote.h face, as the
 * replicator drives it.
 */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "remote/inbox.h"
#include "remote/remote.h"
#include "store_test_util.h"

static char *src_dir, *dst_dir;
static char src_path[512], dst_path[512];

static struct remote *dir_open(const char *path, const char *store)
{
	struct rules_dest d = { 0 };
	struct remote *r = NULL;
	char why[REMOTE_WHY_MAX] = "";

	d.name = (char *)"replica";
	d.type = RULES_DEST_DIR;
	d.path = (char *)path;
	CHECK_EQ_INT(remote_open(&d, store, &r, why, sizeof(why)), 0);
	return r;
}

/* Ship the head of key (by oid) as the replicator would. */
static int ship_head_c(struct remote *r, struct store *s, uint64_t oid,
		       const atomic_bool *cancel, char *why)
{
	struct remote_obj o = { 0 };
	struct store_entry e;
	struct store_xattr *xa = NULL;
	size_t nxa = 0;
	char *key = NULL;
	int rc;

	rc = store_stat(s, oid, &e);
	if (!rc)
		rc = store_key_path(s, oid, &key);
	if (!rc && !(e.head.flags & STORE_V_DELETE_MARKER))
		rc = store_xattrs_get(s, oid, e.head.vseq, &xa, &nxa);
	if (rc)
		return rc;
	o.src = s;
	o.oid = oid;
	o.key = key;
	o.v = e.head;
	o.xattrs = xa;
	o.nxattrs = nxa;
	o.prev_upload = "";
	o.cancel = cancel;
	why[0] = '\0';
	rc = remote_ship(r, &o, why, REMOTE_WHY_MAX);
	if (rc && rc != -ECANCELED)
		fprintf(stderr, "ship '%s': %s\n", key, why);
	free(xa);
	free(key);
	return rc;
}

static int ship_head(struct remote *r, struct store *s, uint64_t oid,
		     char *why)
{
	return ship_head_c(r, s, oid, NULL, why);
}

static struct store *dst_open(void)
{
	struct store_opts o = { 0 };
	struct store *s = NULL;

	o.path = dst_path;
	CHECK_EQ_INT(store_open(&o, &s), 0);
	return s;
}

static int inbox_count(const char *sub)
{
	char cmd[1024], buf[64] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "ls -A '%s/%s' 2>/dev/null | grep -c '\\.rec$'", dst_path, sub);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (!fgets(buf, sizeof(buf), p))
		buf[0] = '\0';
	pclose(p);
	return atoi(buf);
}

/* The replica of src's head of oid must be exact. */
static void check_replica(struct store *src, uint64_t oid, struct store *dst)
{
	struct store_entry se, de;
	struct store_xattr *sx = NULL, *dx = NULL;
	size_t sn = 0, dn = 0, i, sl = 0, dl = 0;
	char *key = NULL, *sd = NULL, *dd = NULL;

	CHECK_EQ_INT(store_stat(src, oid, &se), 0);
	CHECK_EQ_INT(store_key_path(src, oid, &key), 0);
	if (!key)
		return;
	if (se.head.flags & STORE_V_DELETE_MARKER) {
		CHECK_EQ_INT(store_lookup_any(dst, STORE_ROOT_OID, key, &de),
			     0);
	} else {
		CHECK_EQ_INT(store_resolve(dst, key, &de), 0);
	}
	CHECK_EQ_STR(de.head.vid, se.head.vid);
	CHECK_EQ_INT(de.head.btime_ns, se.head.btime_ns);
	CHECK_EQ_INT(de.head.type, se.head.type);
	CHECK_EQ_INT(de.head.attr.mode, se.head.attr.mode);
	CHECK_EQ_INT(de.head.attr.uid, se.head.attr.uid);
	CHECK_EQ_INT(de.head.attr.gid, se.head.attr.gid);
	CHECK_EQ_INT(de.head.attr.size, se.head.attr.size);
	/* A folder's times say when its entries last changed in each
	 * store (design-store.md), which replicas arriving change. */
	if (se.head.type != STORE_T_DIR) {
		CHECK_EQ_INT(de.head.attr.mtime_ns, se.head.attr.mtime_ns);
		CHECK_EQ_INT(de.head.attr.ctime_ns, se.head.attr.ctime_ns);
	}
	CHECK(de.head.flags & STORE_V_REPLICA);
	CHECK_EQ_INT(de.head.flags & STORE_V_DELETE_MARKER,
		     se.head.flags & STORE_V_DELETE_MARKER);
	if (se.head.flags & STORE_V_DELETE_MARKER)
		goto out;
	CHECK_EQ_INT(store_xattrs_get(src, oid, 0, &sx, &sn), 0);
	CHECK_EQ_INT(store_xattrs_get(dst, de.oid, 0, &dx, &dn), 0);
	CHECK_EQ_INT(dn, sn);
	for (i = 0; i < sn && i < dn; i++) {
		CHECK_EQ_STR(dx[i].name, sx[i].name);
		CHECK(dx[i].size == sx[i].size &&
		      !memcmp(dx[i].value, sx[i].value, sx[i].size));
	}
	if (se.head.type == STORE_T_FILE) {
		sd = tst_get(src, oid, 0, &sl);
		dd = tst_get(dst, de.oid, 0, &dl);
		CHECK(sd && dd && sl == dl && !memcmp(sd, dd, sl));
	} else if (se.head.type == STORE_T_SYMLINK) {
		CHECK_EQ_INT(store_readlink(src, oid, 0, &sd), 0);
		CHECK_EQ_INT(store_readlink(dst, de.oid, 0, &dd), 0);
		CHECK_EQ_STR(dd, sd ? sd : "");
	}
out:
	free(sx);
	free(dx);
	free(sd);
	free(dd);
	free(key);
}

struct keys {
	uint64_t small, big, dir, inner, link, gone;
};

static void make_source(struct store *s, struct keys *k)
{
	struct store_attr a = tst_attr(S_IFDIR | 0750);
	struct store_entry e;
	size_t big_len = 5 * 1024 * 1024 + 123, i;
	char *big = malloc(big_len);

	for (i = 0; i < big_len; i++)
		big[i] = (char)(i * 131 + i / 4093);
	k->small = tst_put(s, STORE_ROOT_OID, "a.txt", "hello replica\n", 14);
	CHECK(k->small);
	CHECK_EQ_INT(store_setxattr(s, k->small, "user.color", "blue", 4, 0),
		     0);
	CHECK_EQ_INT(store_setxattr(s, k->small, "user.crrfs.tag.project",
				    "x y", 3, 0), 0);
	k->big = tst_put(s, STORE_ROOT_OID, "big.bin", big, big_len);
	CHECK(k->big);
	CHECK_EQ_INT(store_mkdir(s, STORE_ROOT_OID, "docs", &a, &e), 0);
	k->dir = e.oid;
	k->inner = tst_put(s, k->dir, "b c.txt", "inner", 5);
	CHECK(k->inner);
	a = tst_attr(S_IFLNK | 0777);
	CHECK_EQ_INT(store_symlink(s, STORE_ROOT_OID, "ln", "docs/b c.txt", &a,
				   &e), 0);
	k->link = e.oid;
	k->gone = tst_put(s, STORE_ROOT_OID, "gone.txt", "soon gone", 9);
	CHECK(k->gone);
	free(big);
}

/* Every kind of version, applied at once (nobody holds DEST). */
static void test_ship_free(struct store *src, struct keys *k,
			   struct remote *r)
{
	char why[REMOTE_WHY_MAX];
	struct store *dst;
	uint64_t gone_oid = 0;

	CHECK_EQ_INT(ship_head(r, src, k->small, why), 0);
	CHECK_EQ_INT(ship_head(r, src, k->big, why), 0);
	CHECK_EQ_INT(ship_head(r, src, k->dir, why), 0);
	CHECK_EQ_INT(ship_head(r, src, k->inner, why), 0);
	CHECK_EQ_INT(ship_head(r, src, k->link, why), 0);
	CHECK_EQ_INT(ship_head(r, src, k->gone, why), 0);
	CHECK_EQ_INT(store_unlink(src, STORE_ROOT_OID, "gone.txt", &gone_oid),
		     0);
	CHECK_EQ_INT(gone_oid, k->gone);
	CHECK_EQ_INT(ship_head(r, src, k->gone, why), 0);
	CHECK_EQ_INT(inbox_count("inbox"), 0);

	dst = dst_open();
	if (!dst)
		return;
	check_replica(src, k->small, dst);
	check_replica(src, k->big, dst);
	check_replica(src, k->dir, dst);
	check_replica(src, k->inner, dst);
	check_replica(src, k->link, dst);
	check_replica(src, k->gone, dst);
	store_close(dst);
}

/* DEST held by someone else: the record waits, the holder applies it. */
static void test_ship_held(struct store *src, struct keys *k,
			   struct remote *r)
{
	struct store_opts o = { 0 };
	struct store *held = dst_open(), *again = NULL;
	struct store_entry e;
	char why[REMOTE_WHY_MAX];
	uint64_t v1;

	if (!held)
		return;
	o.path = dst_path;
	CHECK_EQ_INT(store_open(&o, &again), -EBUSY);
	CHECK(tst_put(src, STORE_ROOT_OID, "a.txt", "second", 6) == k->small);
	CHECK_EQ_INT(store_stat(src, k->small, &e), 0);
	v1 = e.head.vseq;
	CHECK_EQ_INT(ship_head(r, src, k->small, why), 0);
	CHECK(tst_put(src, STORE_ROOT_OID, "a.txt", "third!!", 7) == k->small);
	CHECK_EQ_INT(store_stat(src, k->small, &e), 0);
	CHECK(e.head.vseq > v1);
	CHECK_EQ_INT(ship_head(r, src, k->small, why), 0);
	/* idempotent: the same version again replaces its record */
	CHECK_EQ_INT(ship_head(r, src, k->small, why), 0);
	CHECK_EQ_INT(inbox_count("inbox"), 2);
	CHECK_EQ_INT(store_resolve(held, "a.txt", &e), 0);
	CHECK_EQ_INT(tst_nversions(held, e.oid), 1);

	CHECK_EQ_INT(remote_dir_ingest(held, dst_path), 2);
	CHECK_EQ_INT(inbox_count("inbox"), 0);
	CHECK_EQ_INT(tst_nversions(held, e.oid), 3);
	check_replica(src, k->small, held);
	CHECK_EQ_INT(remote_dir_ingest(held, dst_path), 0);
	store_close(held);

	/* shipped again after it was applied: nothing new */
	CHECK_EQ_INT(ship_head(r, src, k->small, why), 0);
	held = dst_open();
	if (held) {
		CHECK_EQ_INT(tst_nversions(held, e.oid), 3);
		store_close(held);
	}
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, p, n) == (ssize_t)n);
	close(fd);
}

static char *read_file(const char *path, size_t *n)
{
	struct stat st;
	char *p;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st))
		return NULL;
	p = malloc((size_t)st.st_size + 1);
	*n = (size_t)st.st_size;
	if (read(fd, p, *n) != (ssize_t)*n) {
		free(p);
		p = NULL;
	}
	close(fd);
	return p;
}

/* Bad records go to inbox/bad with a reason; the others are applied. */
static void test_bad_records(struct store *src, struct keys *k,
			     struct remote *r)
{
	char p[1024], q[1024], name[INBOX_NAME_MAX], why[REMOTE_WHY_MAX];
	struct store *held = dst_open();
	struct store_entry e;
	struct timeval old[2] = { { 0, 0 }, { 0, 0 } };
	size_t n = 0;
	char *rec;

	if (!held)
		return;
	CHECK(tst_put(src, STORE_ROOT_OID, "big.bin", "small now", 9) ==
	      k->big);
	CHECK_EQ_INT(ship_head(r, src, k->big, why), 0);
	CHECK_EQ_INT(store_stat(src, k->big, &e), 0);
	remote_inbox_name(e.head.vid, name);
	snprintf(p, sizeof(p), "%s/inbox/%s", dst_path, name);
	rec = read_file(p, &n);
	CHECK(rec && n > 100);
	if (!rec) {
		store_close(held);
		return;
	}
	/* names sorting before the valid record of the same version, which
	 * would otherwise make them no-ops */
	/* truncated: the end of a valid record cut off */
	snprintf(q, sizeof(q), "%s/inbox/-0-truncated.rec", dst_path);
	write_file(q, rec, n - 20);
	/* a data byte flipped: only the data digest can tell */
	rec[n - 72 - 1] ^= 1;
	snprintf(q, sizeof(q), "%s/inbox/-1-flipped.rec", dst_path);
	write_file(q, rec, n);
	snprintf(q, sizeof(q), "%s/inbox/-2-garbage.rec", dst_path);
	write_file(q, "not a record at all, not at all", 31);
	/* a shipper that died mid-write, long ago, and one still writing */
	snprintf(q, sizeof(q), "%s/inbox/.tmp-old", dst_path);
	write_file(q, "x", 1);
	CHECK_EQ_INT(utimes(q, old), 0);
	snprintf(q, sizeof(q), "%s/inbox/.tmp-fresh", dst_path);
	write_file(q, "x", 1);

	CHECK_EQ_INT(remote_dir_ingest(held, dst_path), 1);
	CHECK_EQ_INT(inbox_count("inbox"), 0);
	CHECK_EQ_INT(inbox_count("inbox/bad"), 3);
	snprintf(q, sizeof(q), "%s/inbox/bad/-1-flipped.rec.why", dst_path);
	CHECK_EQ_INT(access(q, F_OK), 0);
	snprintf(q, sizeof(q), "%s/inbox/.tmp-old", dst_path);
	CHECK(access(q, F_OK) != 0);
	snprintf(q, sizeof(q), "%s/inbox/.tmp-fresh", dst_path);
	CHECK_EQ_INT(access(q, F_OK), 0);
	unlink(q);
	check_replica(src, k->big, held);
	store_close(held);
	free(rec);
}

/* Workers ship in parallel: every record is applied, none left over. */
#define PAR_THREADS 4
#define PAR_FILES 40

struct par {
	struct store *src;
	struct remote *r;
	uint64_t oids[PAR_FILES];
	int failures;
};

static void *par_worker(void *arg)
{
	struct par *pa = ((void **)arg)[0];
	long t = (long)((void **)arg)[1];
	char why[REMOTE_WHY_MAX];
	int i;

	for (i = (int)t; i < PAR_FILES; i += PAR_THREADS)
		if (ship_head(pa->r, pa->src, pa->oids[i], why))
			__atomic_add_fetch(&pa->failures, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void test_parallel(struct store *src, struct remote *r)
{
	static struct par pa;
	void *args[PAR_THREADS][2];
	pthread_t th[PAR_THREADS];
	struct store *dst;
	char name[32];
	long t;
	int i;

	pa.src = src;
	pa.r = r;
	for (i = 0; i < PAR_FILES; i++) {
		snprintf(name, sizeof(name), "par-%02d", i);
		pa.oids[i] = tst_put(src, STORE_ROOT_OID, name, name, 6);
		CHECK(pa.oids[i]);
	}
	for (t = 0; t < PAR_THREADS; t++) {
		args[t][0] = &pa;
		args[t][1] = (void *)t;
		CHECK_EQ_INT(pthread_create(&th[t], NULL, par_worker, args[t]),
			     0);
	}
	for (t = 0; t < PAR_THREADS; t++)
		pthread_join(th[t], NULL);
	CHECK_EQ_INT(pa.failures, 0);
	CHECK_EQ_INT(inbox_count("inbox"), 0);
	dst = dst_open();
	if (!dst)
		return;
	for (i = 0; i < PAR_FILES; i++)
		check_replica(src, pa.oids[i], dst);
	store_close(dst);
}

static int tmp_count(void)
{
	char cmd[1024], buf[64] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls -A '%s/inbox' | grep -c '^%s'",
		 dst_path, INBOX_TMP_PREFIX);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (!fgets(buf, sizeof(buf), p))
		buf[0] = '\0';
	pclose(p);
	return atoi(buf);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct canceller {
	atomic_bool flag;
	double at;		/* when the flag was set */
};

static void *cancel_soon(void *arg)
{
	struct canceller *c = arg;

	usleep(5000);	/* well inside the copy of 48 MiB */
	c->at = mono_s();
	atomic_store(&c->flag, true);
	return NULL;
}

/*
 * A cancel before or during the copy: -ECANCELED, no temporary file left
 * in the inbox, no record delivered; the ship after it delivers.
 */
static void test_cancel(struct store *src, struct remote *r)
{
	struct store_opts so = { 0 };
	struct store *held = NULL;
	struct canceller c;
	char why[REMOTE_WHY_MAX];
	size_t len = 48u << 20;
	char *buf = calloc(1, len);
	pthread_t th;
	uint64_t oid;
	double t;
	int rc;

	memset(buf, 'c', len);
	oid = tst_put(src, STORE_ROOT_OID, "cancel.bin", buf, len);
	free(buf);
	CHECK(oid);
	/* held, so a delivered record stays in the inbox to be seen */
	so.path = dst_path;
	CHECK_EQ_INT(store_open(&so, &held), 0);
	atomic_init(&c.flag, true);
	CHECK_EQ_INT(ship_head_c(r, src, oid, &c.flag, why), -ECANCELED);
	CHECK_EQ_STR(why, "cancelled");
	CHECK_EQ_INT(tmp_count(), 0);
	CHECK_EQ_INT(inbox_count("inbox"), 0);

	/* during the copy: prompt, and nothing left either */
	atomic_store(&c.flag, false);
	CHECK_EQ_INT(pthread_create(&th, NULL, cancel_soon, &c), 0);
	rc = ship_head_c(r, src, oid, &c.flag, why);
	t = mono_s();
	pthread_join(th, NULL);
	CHECK_EQ_INT(rc, -ECANCELED);
	printf("dir: cancelled %.1f ms after the flag\n", (t - c.at) * 1e3);
	CHECK(t - c.at < 0.5);
	CHECK_EQ_INT(tmp_count(), 0);
	CHECK_EQ_INT(inbox_count("inbox"), 0);

	CHECK_EQ_INT(ship_head(r, src, oid, why), 0);
	CHECK_EQ_INT(inbox_count("inbox"), 1);
	CHECK_EQ_INT(remote_dir_ingest(held, dst_path), 1);
	check_replica(src, oid, held);
	store_close(held);
}

/* Destinations refused for what they are. */
static void test_refusals(void)
{
	char p[1024], why[REMOTE_WHY_MAX] = "";
	struct remote *r;

	/* a directory with something in it that is not a store */
	snprintf(p, sizeof(p), "%s/notastore", dst_dir);
	CHECK_EQ_INT(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/notastore/junk", dst_dir);
	write_file(p, "junk", 4);
	snprintf(p, sizeof(p), "%s/notastore", dst_dir);
	r = dir_open(p, src_path);
	if (r) {
		CHECK_EQ_INT(remote_check(r, why, sizeof(why)), -ENOTEMPTY);
		CHECK(strstr(why, "not a crrfs store") != NULL);
		remote_free(r);
	}
	/* the source itself, under another spelling, and a path inside it */
	snprintf(p, sizeof(p), "%s/../%s/store", src_dir,
		 strrchr(src_dir, '/') + 1);
	r = dir_open(p, src_path);
	if (r) {
		CHECK_EQ_INT(remote_check(r, why, sizeof(why)), -EINVAL);
		CHECK(strstr(why, "source store") != NULL);
		remote_free(r);
	}
	snprintf(p, sizeof(p), "%s/store/replica", src_dir);
	r = dir_open(p, src_path);
	if (r) {
		CHECK_EQ_INT(remote_check(r, why, sizeof(why)), -EINVAL);
		remote_free(r);
	}
	/* an empty directory is fine: it becomes a store */
	snprintf(p, sizeof(p), "%s/empty", dst_dir);
	CHECK_EQ_INT(mkdir(p, 0755), 0);
	r = dir_open(p, src_path);
	if (r) {
		CHECK_EQ_INT(remote_check(r, why, sizeof(why)), 0);
		remote_free(r);
	}
	snprintf(p, sizeof(p), "%s/empty/format", dst_dir);
	CHECK_EQ_INT(access(p, F_OK), 0);
}

int main(void)
{
	char why[REMOTE_WHY_MAX] = "";
	struct store *src;
	struct remote *r;
	struct keys k = { 0 };
	char p[1024];

	src_dir = tst_tmpdir();
	dst_dir = tst_tmpdir();
	if (!src_dir || !dst_dir)
		return 1;
	snprintf(src_path, sizeof(src_path), "%s/store", src_dir);
	snprintf(dst_path, sizeof(dst_path), "%s/store", dst_dir);
	src = tst_open(src_dir, 0, 0);
	CHECK(src != NULL);
	if (!src)
		return check_done("test_remote_dir");
	make_source(src, &k);

	r = dir_open(dst_path, src_path);
	if (r) {
		/* a path that does not exist becomes a store at check */
		CHECK_EQ_INT(remote_check(r, why, sizeof(why)), 0);
		snprintf(p, sizeof(p), "%s/format", dst_path);
		CHECK_EQ_INT(access(p, F_OK), 0);
		CHECK_EQ_STR(remote_name(r), "replica");
		test_ship_free(src, &k, r);
		test_ship_held(src, &k, r);
		test_bad_records(src, &k, r);
		test_parallel(src, r);
		test_cancel(src, r);
		remote_free(r);
	}
	test_refusals();
	store_close(src);
	tst_rmrf(src_dir);
	tst_rmrf(dst_dir);
	free(src_dir);
	free(dst_dir);
	return check_done("test_remote_dir");
}
