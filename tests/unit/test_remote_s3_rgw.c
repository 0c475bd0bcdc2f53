/*
 * test_remote_s3_rgw.c - the s3 destination against a real Ceph RGW
 * started here (tests/rgw/rgw-ctl; exit 77 when radosgw is not
 * installed): versions shipped from a real store with their metadata and
 * tags, a key with every awkward byte, a folder, a symlink, a delete
 * marker, a 130 MiB multipart upload, idempotency, no orphan uploads,
 * HTTPS with and without the CA, virtual-hosted addressing, and the
 * refusals (wrong credentials, unversioned or missing bucket, dead
 * endpoint, radosgw killed in the middle of a multipart upload), and
 * cancels: in the middle of a multipart upload (the upload stays
 * recorded and the next ship aborts it) and against a server that never
 * answers. Results are read back with ListObjectVersions/HeadObject and,
 * once, with the AWS CLI as an independent client.
 *
 * The tests run in a child process; the parent always stops the RGW.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "remote/remote.h"
#include "remote/remote_s3_int.h"
#include "s3/s3.h"
#include "s3/sigv4.h"
#include "store_test_util.h"

#define BIG_SIZE ((uint64_t)130 * 1024 * 1024)
#define WEIRD "a b+c%d?e#f~g'h \xc3\xa9t\xc3\xa9.txt"

static char rgw_ctl[1024], rgw_dir[600], tmp[256];
static char ep[128], vhost_ep[128], https_ep[128], ca_file[700];

static double now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* value of "export NAME=VALUE" (quotes stripped) in DIR/env */
static void env_get(const char *name, char *out, size_t size)
{
	char path[700], line[1024];
	size_t n = strlen(name);
	FILE *f;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/env", rgw_dir);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *v = line + 7;

		if (strncmp(line, "export ", 7) || strncmp(v, name, n) ||
		    v[n] != '=')
			continue;
		v += n + 1;
		v[strcspn(v, "\n")] = '\0';
		if (*v == '\'')
			v++;
		if (*v && v[strlen(v) - 1] == '\'')
			v[strlen(v) - 1] = '\0';
		snprintf(out, size, "%s", v);
	}
	fclose(f);
}

/* ---------------------------------------------------------- helpers */

static struct rules_dest dest(const char *name, const char *endpoint,
			      const char *bucket)
{
	struct rules_dest d = { 0 };

	d.name = (char *)name;
	d.type = RULES_DEST_S3;
	d.endpoint = (char *)endpoint;
	d.bucket = (char *)bucket;
	d.path_style = true;
	return d;
}

static struct remote *open_remote(const struct rules_dest *d)
{
	struct remote *r = NULL;
	char why[REMOTE_WHY_MAX];
	int rc = remote_open(d, "/nonexistent-store", &r, why, sizeof(why));

	if (rc)
		fprintf(stderr, "remote_open: %s\n", why);
	CHECK_EQ_INT(rc, 0);
	return r;
}

static struct s3_client *client(const char *bucket)
{
	struct s3_creds cr = { getenv("AWS_ACCESS_KEY_ID"),
			       getenv("AWS_SECRET_ACCESS_KEY"), NULL };
	struct s3_client_opts o = { 0 };
	struct s3_client *c = NULL;
	char why[256];

	o.endpoint = ep;
	o.bucket = bucket;
	o.path_style = true;
	o.creds = &cr;
	CHECK_EQ_INT(s3_client_new(&o, &c, why, sizeof(why)), 0);
	return c;
}

/* Upload ids as the replicator would record them. */
struct notes {
	char last[S3_ID_MAX];
	int calls, fail_at;
};

static int note_cb(void *arg, const char *id)
{
	struct notes *n = arg;

	n->calls++;
	snprintf(n->last, sizeof(n->last), "%s", id);
	return n->calls == n->fail_at ? -EIO : 0;
}

/* Ship the head of key oid (a data version or a marker). */
static int ship_c(struct remote *r, struct store *s, uint64_t oid,
		  bool maybe_sent, struct notes *n, const char *prev,
		  const atomic_bool *cancel, char *why, size_t whylen)
{
	struct remote_obj o = { 0 };
	struct store_entry e;
	struct store_xattr *x = NULL;
	char *key = NULL;
	int rc;

	CHECK_EQ_INT(store_stat(s, oid, &e), 0);
	CHECK_EQ_INT(store_key_path(s, oid, &key), 0);
	if (!(e.head.flags & STORE_V_DELETE_MARKER))
		CHECK_EQ_INT(store_xattrs_get(s, oid, e.head.vseq, &x,
					      &o.nxattrs), 0);
	o.src = s;
	o.oid = oid;
	o.key = key;
	o.v = e.head;
	o.xattrs = x;
	o.maybe_sent = maybe_sent;
	o.prev_upload = prev ? prev : "";
	o.note_upload = n ? note_cb : NULL;
	o.note_arg = n;
	o.cancel = cancel;
	why[0] = '\0';
	rc = remote_ship(r, &o, why, whylen);
	free(x);
	free(key);
	return rc;
}

static int ship(struct remote *r, struct store *s, uint64_t oid,
		bool maybe_sent, struct notes *n, const char *prev,
		char *why, size_t whylen)
{
	return ship_c(r, s, oid, maybe_sent, n, prev, NULL, why, whylen);
}

struct count {
	const char *key;
	int versions, markers;
	bool latest_marker;
	uint64_t latest_size;
	char seen[64][S3_ID_MAX];	/* RGW may repeat '+' keys */
	int nseen;
};

static int count_cb(void *arg, const struct s3_version *v)
{
	struct count *c = arg;
	int i;

	if (strcmp(v->key, c->key))
		return 0;
	for (i = 0; i < c->nseen; i++)
		if (!strcmp(c->seen[i], v->version_id))
			return 0;
	if (c->nseen < 64)
		snprintf(c->seen[c->nseen++], S3_ID_MAX, "%s", v->version_id);
	if (v->delete_marker)
		c->markers++;
	else
		c->versions++;
	if (v->is_latest) {
		c->latest_marker = v->delete_marker;
		c->latest_size = v->size;
	}
	return 0;
}

static struct count count_versions(struct s3_client *c, const char *key)
{
	struct count n;
	char why[256];

	memset(&n, 0, sizeof(n));
	n.key = key;
	CHECK_EQ_INT(s3_list_versions(c, key, count_cb, &n, why, sizeof(why)),
		     0);
	return n;
}

static const char *hdr(struct s3_client *c, const char *key,
		       const char *name, char *buf, size_t size)
{
	struct s3_http_resp r;
	char why[256];
	const char *v;

	buf[0] = '\0';
	if (!s3_head_object(c, key, NULL, &r, why, sizeof(why))) {
		v = s3_http_resp_header(&r, name);
		snprintf(buf, size, "%s", v ? v : "(none)");
	} else {
		snprintf(buf, size, "(%s)", why);
	}
	s3_http_resp_release(&r);
	return buf;
}

/* ---------------------------------------------------------- tests */

static void test_check(struct s3_client *c)
{
	struct rules_dest d = dest("eu", ep, "crrfs-repl");
	struct remote *r;
	char why[REMOTE_WHY_MAX], e[256];

	r = open_remote(&d);
	CHECK_EQ_INT(remote_check(r, why, sizeof(why)), 0);
	remote_free(r);

	d.bucket = (char *)"crrfs-nover";
	r = open_remote(&d);
	CHECK_EQ_INT(remote_check(r, why, sizeof(why)), -EINVAL);
	CHECK_EQ_STR(why, "versioning of bucket 'crrfs-nover' is not enabled "
		     "(it is off): enable it before replicating");
	remote_free(r);
	{
		struct s3_client *nv = client("crrfs-nover");

		CHECK_EQ_INT(s3_put_bucket_versioning(nv, false, why,
						      sizeof(why)), 0);
		s3_client_free(nv);
	}
	r = open_remote(&d);
	CHECK_EQ_INT(remote_check(r, why, sizeof(why)), -EINVAL);
	CHECK_EQ_STR(why, "versioning of bucket 'crrfs-nover' is not enabled "
		     "(it is Suspended): enable it before replicating");
	remote_free(r);

	d.bucket = (char *)"crrfs-missing";
	r = open_remote(&d);
	CHECK_EQ_INT(remote_check(r, why, sizeof(why)), -ENOENT);
	snprintf(e, sizeof(e), "bucket 'crrfs-missing' does not exist at %s",
		 ep);
	CHECK_EQ_STR(why, e);
	remote_free(r);

	/* A closed port on loopback: transient. */
	d = dest("dead", "http://127.0.0.1:1", "crrfs-repl");
	r = open_remote(&d);
	CHECK_EQ_INT(remote_check(r, why, sizeof(why)), -EAGAIN);
	CHECK(strstr(why, "cannot reach http://127.0.0.1:1") != NULL);
	remote_free(r);
	(void)c;
}

static void test_objects(struct store *s, struct s3_client *c)
{
	struct rules_dest d = dest("eu", ep, "crrfs-repl");
	struct remote *r = open_remote(&d);
	struct store_attr a = tst_attr(S_IFDIR | 0750);
	struct store_entry docs, ln;
	char why[REMOTE_WHY_MAX], b[512];
	uint64_t f1, fw;
	struct count n;

	CHECK_EQ_INT(store_mkdir(s, STORE_ROOT_OID, "docs", &a, &docs), 0);
	f1 = tst_put(s, docs.oid, "a.txt", "hello s3", 8);
	CHECK(f1 != 0);
	CHECK_EQ_INT(store_setxattr(s, f1, "user.color", "blue", 4, 0), 0);
	CHECK_EQ_INT(store_setxattr(s, f1, "user.crrfs.tag.project",
				    "alpha beta", 10, 0), 0);
	fw = tst_put(s, STORE_ROOT_OID, WEIRD, "weird", 5);
	CHECK(fw != 0);
	a = tst_attr(S_IFLNK | 0777);
	CHECK_EQ_INT(store_symlink(s, STORE_ROOT_OID, "link", "docs/a.txt",
				   &a, &ln), 0);

	CHECK_EQ_INT(ship(r, s, docs.oid, false, NULL, NULL, why, sizeof(why)),
		     0);
	CHECK_EQ_INT(ship(r, s, f1, false, NULL, NULL, why, sizeof(why)), 0);
	CHECK_EQ_INT(ship(r, s, fw, false, NULL, NULL, why, sizeof(why)), 0);
	CHECK_EQ_INT(ship(r, s, ln.oid, false, NULL, NULL, why, sizeof(why)),
		     0);

	CHECK_EQ_STR(hdr(c, "docs/", "content-type", b, sizeof(b)),
		     "application/x-directory");
	CHECK_EQ_STR(hdr(c, "docs/", "x-amz-meta-mode", b, sizeof(b)),
		     "16872");
	CHECK_EQ_STR(hdr(c, "docs/a.txt", "x-amz-meta-mode", b, sizeof(b)),
		     "33188");
	CHECK_EQ_STR(hdr(c, "docs/a.txt", "x-amz-meta-uid", b, sizeof(b)),
		     "1000");
	CHECK_EQ_STR(hdr(c, "docs/a.txt", "x-amz-meta-mtime", b, sizeof(b)),
		     "1700000000");
	CHECK_EQ_STR(hdr(c, "docs/a.txt", "x-amz-meta-color", b, sizeof(b)),
		     "blue");
	CHECK_EQ_STR(hdr(c, "docs/a.txt", "x-amz-tagging-count", b, sizeof(b)),
		     "1");
	CHECK_EQ_STR(hdr(c, "docs/a.txt", "content-length", b, sizeof(b)),
		     "8");
	{
		struct store_entry e;

		CHECK_EQ_INT(store_stat(s, f1, &e), 0);
		CHECK_EQ_STR(hdr(c, "docs/a.txt",
				 "x-amz-meta-crrfs-version-id", b, sizeof(b)),
			     e.head.vid);
	}
	{
		char sha[65];

		sigv4_sha256_hex("hello s3", 8, sha);
		CHECK_EQ_STR(hdr(c, "docs/a.txt", "x-amz-meta-crrfs-sha256",
				 b, sizeof(b)), sha);
	}
	CHECK_EQ_STR(hdr(c, "link", "x-amz-meta-mode", b, sizeof(b)),
		     "41471");
	CHECK_EQ_STR(hdr(c, "link", "content-length", b, sizeof(b)), "10");
	CHECK_EQ_STR(hdr(c, WEIRD, "content-length", b, sizeof(b)), "5");

	/* Shipping again with maybe_sent makes no second version. */
	CHECK_EQ_INT(ship(r, s, f1, true, NULL, NULL, why, sizeof(why)), 0);
	n = count_versions(c, "docs/a.txt");
	CHECK_EQ_INT(n.versions, 1);
	/* ... and without it, it does (the replicator's retry path). */
	CHECK_EQ_INT(ship(r, s, f1, false, NULL, NULL, why, sizeof(why)), 0);
	n = count_versions(c, "docs/a.txt");
	CHECK_EQ_INT(n.versions, 2);

	/* A delete marker, once even when shipped twice. */
	CHECK_EQ_INT(store_unlink(s, STORE_ROOT_OID, WEIRD, NULL), 0);
	CHECK_EQ_INT(ship(r, s, fw, false, NULL, NULL, why, sizeof(why)), 0);
	CHECK_EQ_INT(ship(r, s, fw, true, NULL, NULL, why, sizeof(why)), 0);
	n = count_versions(c, WEIRD);
	CHECK_EQ_INT(n.versions, 1);
	CHECK_EQ_INT(n.markers, 1);
	CHECK(n.latest_marker);
	remote_free(r);
}

static uint64_t put_big(struct store *s, const char *name)
{
	struct store_attr a = tst_attr(S_IFREG | 0600);
	struct store_entry e;
	struct store_file *f;
	size_t chunk = 1024 * 1024;
	char *buf = malloc(chunk);
	uint64_t off;

	CHECK_EQ_INT(store_create(s, STORE_ROOT_OID, name, &a, &e), 0);
	CHECK_EQ_INT(store_file_open(s, e.oid, 0, &f), 0);
	for (off = 0; off < BIG_SIZE; off += chunk) {
		size_t i;

		for (i = 0; i < chunk; i += 8)
			memcpy(buf + i, &(uint64_t){ off + i }, 8);
		CHECK(store_file_write(f, buf, chunk, off) == (ssize_t)chunk);
	}
	CHECK_EQ_INT(store_file_seal(f, e.oid, &a, 0, NULL), 0);
	store_file_free(f);
	free(buf);
	return e.oid;
}

static void test_outage(struct store *s, struct s3_client *c,
			uint64_t big);
static void test_cancel_mpu(struct store *s, struct s3_client *c,
			    uint64_t big);
static void test_part_budget(struct store *s, struct s3_client *c,
			     uint64_t big);

static void test_multipart(struct store *s, struct s3_client *c)
{
	struct rules_dest d = dest("eu", ep, "crrfs-repl");
	struct remote *r = open_remote(&d);
	char why[REMOTE_WHY_MAX], b[256], *stale = NULL;
	struct notes nt = { "", 0, 0 };
	unsigned uploads;
	struct count n;
	uint64_t big = put_big(s, "big.bin");
	double t0, t;

	/* The SHA-256 is computed once by the store; time the upload only. */
	{
		uint8_t dg[32];
		struct store_entry e;

		CHECK_EQ_INT(store_stat(s, big, &e), 0);
		CHECK_EQ_INT(store_sha256(s, big, e.head.vseq, dg), 0);
	}
	t0 = now_s();
	CHECK_EQ_INT(ship(r, s, big, false, &nt, NULL, why, sizeof(why)), 0);
	t = now_s() - t0;
	printf("multipart: %.0f MiB in %.2f s = %.1f MiB/s\n",
	       (double)BIG_SIZE / 1048576, t, (double)BIG_SIZE / 1048576 / t);
	CHECK_EQ_INT(nt.calls, 2);	/* the id, then "" */
	CHECK_EQ_STR(nt.last, "");
	n = count_versions(c, "big.bin");
	CHECK_EQ_INT(n.versions, 1);
	CHECK_EQ_INT(n.latest_size, BIG_SIZE);
	CHECK(strstr(hdr(c, "big.bin", "etag", b, sizeof(b)), "-9\"") != NULL);
	CHECK_EQ_STR(hdr(c, "big.bin", "x-amz-meta-mode", b, sizeof(b)),
		     "33152");

	/* 8-64 MiB: one PUT streamed from the store. */
	{
		struct store_entry e;
		struct store_file *f;
		struct store_attr a = tst_attr(S_IFREG | 0644);
		char *buf = calloc(1, 20 << 20);

		CHECK_EQ_INT(store_create(s, STORE_ROOT_OID, "mid.bin", &a,
					  &e), 0);
		CHECK_EQ_INT(store_file_open(s, e.oid, 0, &f), 0);
		memset(buf, 'm', 20 << 20);
		CHECK(store_file_write(f, buf, 20 << 20, 0) == 20 << 20);
		CHECK_EQ_INT(store_file_seal(f, e.oid, &a, 0, NULL), 0);
		store_file_free(f);
		free(buf);
		CHECK_EQ_INT(ship(r, s, e.oid, false, NULL, NULL, why,
				  sizeof(why)), 0);
		n = count_versions(c, "mid.bin");
		CHECK_EQ_INT(n.latest_size, 20 << 20);
		CHECK(strchr(hdr(c, "mid.bin", "etag", b, sizeof(b)), '-') ==
		      NULL);
	}

	/* maybe_sent: already there, nothing sent, no upload started. */
	nt.calls = 0;
	CHECK_EQ_INT(ship(r, s, big, true, &nt, NULL, why, sizeof(why)), 0);
	CHECK_EQ_INT(nt.calls, 0);
	CHECK_EQ_INT(count_versions(c, "big.bin").versions, 1);

	/* An upload a killed process left behind is aborted first. */
	CHECK_EQ_INT(s3_mpu_create(c, "big.bin", NULL, 0, &stale, why,
				   sizeof(why)), 0);
	CHECK_EQ_INT(s3_count_uploads(c, "big.bin", &uploads, why,
				      sizeof(why)), 0);
	CHECK_EQ_INT(uploads, 1);
	nt.calls = 0;
	CHECK_EQ_INT(ship(r, s, big, false, &nt, stale, why, sizeof(why)), 0);
	CHECK_EQ_INT(s3_count_uploads(c, "big.bin", &uploads, why,
				      sizeof(why)), 0);
	CHECK_EQ_INT(uploads, 0);
	CHECK_EQ_INT(count_versions(c, "big.bin").versions, 2);
	free(stale);

	/* A failure after the upload began aborts it: no orphan. */
	nt.calls = 0;
	nt.fail_at = 1;	/* recording the new id fails */
	CHECK_EQ_INT(ship(r, s, big, false, &nt, NULL, why, sizeof(why)),
		     -EIO);
	CHECK(strstr(why, "cannot record the upload of 'big.bin'") != NULL);
	CHECK_EQ_INT(s3_count_uploads(c, "big.bin", &uploads, why,
				      sizeof(why)), 0);
	CHECK_EQ_INT(uploads, 0);
	CHECK_EQ_INT(count_versions(c, "big.bin").versions, 2);
	remote_free(r);
	test_part_budget(s, c, big);
	test_outage(s, c, big);
	test_cancel_mpu(s, c, big);
}

struct budget_ship {
	struct remote *r;
	struct store *s;
	uint64_t oid;
	int rc;
	char why[REMOTE_WHY_MAX];
};

static void *budget_ship(void *arg)
{
	struct budget_ship *b = arg;

	b->rc = ship(b->r, b->s, b->oid, false, NULL, NULL, b->why,
		     sizeof(b->why));
	return NULL;
}

/*
 * Three multipart uploads at once through one destination would want
 * 3 x S3_PARTS_IN_FLIGHT part buffers; they share S3_PART_BUDGET, so the
 * memory stays bounded whatever the number of workers, and all complete.
 */
static void test_part_budget(struct store *s, struct s3_client *c,
			     uint64_t big)
{
	struct rules_dest d = dest("eu", ep, "crrfs-repl");
	struct remote *r = open_remote(&d);
	struct remote_s3 *rs = (struct remote_s3 *)r;
	struct budget_ship b[3];
	pthread_t th[3];
	int before = count_versions(c, "big.bin").versions, i;

	for (i = 0; i < 3; i++) {
		b[i] = (struct budget_ship){ r, s, big, -1, "" };
		CHECK_EQ_INT(pthread_create(&th[i], NULL, budget_ship, &b[i]),
			     0);
	}
	for (i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_INT(b[i].rc, 0);
	}
	printf("part budget: at most %u part buffers at once (budget %u)\n",
	       rs->parts_peak, S3_PART_BUDGET);
	CHECK(rs->parts_peak <= S3_PART_BUDGET);
	CHECK(rs->parts_peak > S3_PARTS_IN_FLIGHT);
	CHECK_EQ_INT(rs->parts_used, 0);
	CHECK_EQ_INT(count_versions(c, "big.bin").versions, before + 3);
	remote_free(r);
}

struct outage {
	struct remote *r;
	struct store *s;
	uint64_t oid;
	atomic_bool cancel;
	struct notes nt;
	int rc;
	char why[REMOTE_WHY_MAX];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool noted;
};

static int outage_note(void *arg, const char *id)
{
	struct outage *o = arg;

	note_cb(&o->nt, id);
	pthread_mutex_lock(&o->lock);
	o->noted = true;
	pthread_cond_signal(&o->cond);
	pthread_mutex_unlock(&o->lock);
	return 0;
}

static void *outage_ship(void *arg)
{
	struct outage *o = arg;
	struct remote_obj ro = { 0 };
	struct store_entry e;

	store_stat(o->s, o->oid, &e);
	ro.src = o->s;
	ro.oid = o->oid;
	ro.key = "big.bin";
	ro.v = e.head;
	ro.prev_upload = "";
	ro.note_upload = outage_note;
	ro.note_arg = o;
	ro.cancel = &o->cancel;
	o->rc = remote_ship(o->r, &ro, o->why, sizeof(o->why));
	return NULL;
}

/*
 * radosgw dies in the middle of a multipart upload: the ship fails as
 * transient, the upload id stays recorded (the abort could not reach the
 * server), and the next attempt aborts it before uploading again.
 */
static void test_outage(struct store *s, struct s3_client *c,
			uint64_t big)
{
	struct rules_dest d = dest("eu", ep, "crrfs-repl");
	struct outage o;
	char why[REMOTE_WHY_MAX], prev[S3_ID_MAX];
	unsigned uploads;
	pthread_t th;
	int before = count_versions(c, "big.bin").versions;

	memset(&o, 0, sizeof(o));
	o.r = open_remote(&d);
	o.s = s;
	o.oid = big;
	pthread_mutex_init(&o.lock, NULL);
	pthread_cond_init(&o.cond, NULL);
	CHECK_EQ_INT(pthread_create(&th, NULL, outage_ship, &o), 0);
	pthread_mutex_lock(&o.lock);
	while (!o.noted)
		pthread_cond_wait(&o.cond, &o.lock);
	pthread_mutex_unlock(&o.lock);
	CHECK_EQ_INT(run("%s rgw-stop %s --kill >/dev/null 2>&1", rgw_ctl,
			 rgw_dir), 0);
	pthread_join(th, NULL);
	CHECK_EQ_INT(o.rc, -EAGAIN);
	CHECK_EQ_INT(o.nt.calls, 1);
	CHECK(o.nt.last[0] != '\0');
	snprintf(prev, sizeof(prev), "%s", o.nt.last);
	CHECK_EQ_INT(run("%s rgw-start %s >/dev/null 2>&1", rgw_ctl, rgw_dir),
		     0);
	CHECK_EQ_INT(s3_count_uploads(c, "big.bin", &uploads, why,
				      sizeof(why)), 0);
	CHECK_EQ_INT(uploads, 1);
	o.nt.calls = 0;
	CHECK_EQ_INT(ship(o.r, s, big, true, &o.nt, prev, why, sizeof(why)),
		     0);
	CHECK_EQ_INT(s3_count_uploads(c, "big.bin", &uploads, why,
				      sizeof(why)), 0);
	CHECK_EQ_INT(uploads, 0);
	CHECK_EQ_STR(o.nt.last, "");
	/* The version was there already (an earlier ship of the same id). */
	CHECK_EQ_INT(count_versions(c, "big.bin").versions, before);
	remote_free(o.r);
	pthread_mutex_destroy(&o.lock);
	pthread_cond_destroy(&o.cond);
}

/*
 * A stop in the middle of a multipart upload: the ship gives up at once
 * (parts in flight aborted, no abort request waited for), the upload id
 * stays recorded, and the next ship (maybe_sent, prev_upload) aborts it:
 * no orphan upload.
 */
static void test_cancel_mpu(struct store *s, struct s3_client *c,
			    uint64_t big)
{
	struct rules_dest d = dest("eu", ep, "crrfs-repl");
	char why[REMOTE_WHY_MAX], prev[S3_ID_MAX];
	int before = count_versions(c, "big.bin").versions;
	unsigned uploads;
	struct outage o;
	pthread_t th;
	double t0, t;

	memset(&o, 0, sizeof(o));
	atomic_init(&o.cancel, false);
	o.r = open_remote(&d);
	o.s = s;
	o.oid = big;
	pthread_mutex_init(&o.lock, NULL);
	pthread_cond_init(&o.cond, NULL);
	CHECK_EQ_INT(pthread_create(&th, NULL, outage_ship, &o), 0);
	pthread_mutex_lock(&o.lock);
	while (!o.noted)
		pthread_cond_wait(&o.cond, &o.lock);
	pthread_mutex_unlock(&o.lock);
	usleep(150000);		/* parts on the wire */
	t0 = now_s();
	atomic_store(&o.cancel, true);
	pthread_join(th, NULL);
	t = now_s() - t0;
	printf("multipart cancelled in %.0f ms\n", t * 1e3);
	CHECK_EQ_INT(o.rc, -ECANCELED);
	CHECK(t < 0.5);
	CHECK_EQ_INT(o.nt.calls, 1);		/* the id, never cleared */
	CHECK(o.nt.last[0] != '\0');
	snprintf(prev, sizeof(prev), "%s", o.nt.last);
	CHECK_EQ_INT(s3_count_uploads(c, "big.bin", &uploads, why,
				      sizeof(why)), 0);
	CHECK_EQ_INT(uploads, 1);
	/* the next process: maybe_sent, with the recorded id */
	o.nt.calls = 0;
	CHECK_EQ_INT(ship(o.r, s, big, true, &o.nt, prev, why, sizeof(why)),
		     0);
	CHECK_EQ_STR(o.nt.last, "");
	CHECK_EQ_INT(s3_count_uploads(c, "big.bin", &uploads, why,
				      sizeof(why)), 0);
	CHECK_EQ_INT(uploads, 0);
	CHECK_EQ_INT(count_versions(c, "big.bin").versions, before);
	remote_free(o.r);
	pthread_mutex_destroy(&o.lock);
	pthread_cond_destroy(&o.cond);
}

struct late {
	atomic_bool flag;
	double at;
};

static void *cancel_later(void *arg)
{
	struct late *l = arg;

	usleep(200000);
	l->at = now_s();
	atomic_store(&l->flag, true);
	return NULL;
}

/*
 * A server that takes the connection and never answers: without a cancel
 * the PUT would wait out the low-speed limit (60 s); with one it ends
 * within about 100 ms of the flag.
 */
static void test_cancel_stalled(struct store *s)
{
	struct sockaddr_in sa = { 0 };
	socklen_t sl = sizeof(sa);
	char why[REMOTE_WHY_MAX], url[64];
	struct rules_dest d;
	struct remote *r;
	struct late l;
	pthread_t th;
	uint64_t f = tst_put(s, STORE_ROOT_OID, "stalled.txt", "stall", 5);
	int fd = socket(AF_INET, SOCK_STREAM, 0), rc;
	double t;

	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_EQ_INT(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ_INT(listen(fd, 4), 0);	/* the kernel accepts; we never */
	CHECK_EQ_INT(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u",
		 (unsigned)ntohs(sa.sin_port));
	d = dest("stalled", url, "crrfs-repl");
	r = open_remote(&d);
	atomic_init(&l.flag, false);
	CHECK_EQ_INT(pthread_create(&th, NULL, cancel_later, &l), 0);
	rc = ship_c(r, s, f, false, NULL, NULL, &l.flag, why, sizeof(why));
	t = now_s();
	pthread_join(th, NULL);
	CHECK_EQ_INT(rc, -ECANCELED);
	CHECK(strstr(why, "cancelled") != NULL);
	printf("stalled PUT cancelled %.0f ms after the flag\n",
	       (t - l.at) * 1e3);
	CHECK(t - l.at < 0.3);
	remote_free(r);
	close(fd);
}

static void test_https_vhost(struct store *s, struct s3_client *c)
{
	struct rules_dest d = dest("tls", https_ep, "crrfs-repl");
	char why[REMOTE_WHY_MAX];
	struct remote *r;
	uint64_t f = tst_put(s, STORE_ROOT_OID, "tls.txt", "over tls", 8);

	/* Without the CA: refused, and said why. */
	r = open_remote(&d);
	CHECK_EQ_INT(remote_check(r, why, sizeof(why)), -EPERM);
	CHECK(strstr(why, "TLS certificate of the server is not trusted"));
	CHECK_EQ_INT(ship(r, s, f, false, NULL, NULL, why, sizeof(why)),
		     -EPERM);
	remote_free(r);

	d.ca_file = ca_file;
	r = open_remote(&d);
	CHECK_EQ_INT(remote_check(r, why, sizeof(why)), 0);
	CHECK_EQ_INT(ship(r, s, f, false, NULL, NULL, why, sizeof(why)), 0);
	remote_free(r);
	CHECK_EQ_INT(count_versions(c, "tls.txt").versions, 1);

	/* Virtual-hosted: Host crrfs-repl.localhost:PORT. */
	d = dest("vh", vhost_ep, "crrfs-repl");
	d.path_style = false;
	r = open_remote(&d);
	CHECK_EQ_INT(remote_check(r, why, sizeof(why)), 0);
	CHECK_EQ_INT(ship(r, s, f, false, NULL, NULL, why, sizeof(why)), 0);
	remote_free(r);
	CHECK_EQ_INT(count_versions(c, "tls.txt").versions, 2);
}

static void test_refusals(struct store *s)
{
	char why[REMOTE_WHY_MAX], cpath[600];
	struct rules_dest d = dest("eu", ep, "crrfs-repl");
	struct remote *r;
	uint64_t f = tst_put(s, STORE_ROOT_OID, "denied.txt", "no", 2);
	FILE *fp;

	snprintf(cpath, sizeof(cpath), "%s/creds", tmp);
	fp = fopen(cpath, "w");
	fprintf(fp, "[badsecret]\naws_access_key_id = %s\n"
		"aws_secret_access_key = not-the-secret\n"
		"[badkey]\naws_access_key_id = NOSUCHKEY\n"
		"aws_secret_access_key = whatever\n",
		getenv("AWS_ACCESS_KEY_ID"));
	fclose(fp);
	d.credentials = cpath;
	d.profile = (char *)"badsecret";
	r = open_remote(&d);
	CHECK_EQ_INT(ship(r, s, f, false, NULL, NULL, why, sizeof(why)),
		     -EACCES);
	CHECK(strstr(why, "s3 PUT 'crrfs-repl/denied.txt': 403 "
		     "SignatureDoesNotMatch") == why);
	CHECK(strstr(why, "not-the-secret") == NULL);
	remote_free(r);
	d.profile = (char *)"badkey";
	r = open_remote(&d);
	CHECK_EQ_INT(ship(r, s, f, false, NULL, NULL, why, sizeof(why)),
		     -EACCES);
	CHECK(strstr(why, "403 InvalidAccessKeyId") != NULL);
	CHECK_EQ_INT(remote_check(r, why, sizeof(why)), -EACCES);
	remote_free(r);
	d.profile = (char *)"nosuch";
	CHECK_EQ_INT(remote_open(&d, "/x", &r, why, sizeof(why)), -ENOENT);
	CHECK(strstr(why, "profile 'nosuch' not found") != NULL);

	/* A dead endpoint: -EAGAIN, the job stays pending. */
	d = dest("dead", "http://127.0.0.1:1", "crrfs-repl");
	r = open_remote(&d);
	CHECK_EQ_INT(ship(r, s, f, false, NULL, NULL, why, sizeof(why)),
		     -EAGAIN);
	remote_free(r);
}

/* Small PUTs per second over one keep-alive connection. */
static void test_rate(struct store *s)
{
	struct rules_dest d = dest("eu", ep, "crrfs-repl");
	struct remote *r = open_remote(&d);
	char why[REMOTE_WHY_MAX], name[32];
	uint64_t oids[200];
	double t0, t;
	int i, fails = 0;

	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "small-%03d", i);
		oids[i] = tst_put(s, STORE_ROOT_OID, name, name, 9);
	}
	t0 = now_s();
	for (i = 0; i < 200; i++)
		fails += ship(r, s, oids[i], false, NULL, NULL, why,
			      sizeof(why)) != 0;
	t = now_s() - t0;
	CHECK_EQ_INT(fails, 0);
	printf("small objects: 200 in %.2f s = %.0f ships/s (one thread, "
	       "from the store)\n", t, 200 / t);
	remote_free(r);
}

/* Bare PutObject over one keep-alive connection. */
static void test_keepalive(struct s3_client *c)
{
	struct s3_http_stats st0, st1;
	struct s3_body b = { .data = "small", .len = 5 };
	char why[256], key[32];
	double t0, t;
	int i, fails = 0;

	s3_client_stats(c, &st0);
	t0 = now_s();
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "ka/%03d", i);
		fails += s3_put_object(c, key, NULL, 0, &b, NULL, why,
				       sizeof(why)) != 0;
	}
	t = now_s() - t0;
	s3_client_stats(c, &st1);
	CHECK_EQ_INT(fails, 0);
	CHECK_EQ_INT(st1.requests - st0.requests, 300);
	CHECK(st1.connects - st0.connects <= 1);
	printf("PutObject: 300 in %.2f s = %.0f PUT/s over %llu new "
	       "connection(s)\n", t, 300 / t,
	       (unsigned long long)(st1.connects - st0.connects));
}

/* The AWS CLI, as an independent client, sees what we wrote. */
static void test_aws_cli(void)
{
	char out[600];
	const char *aws = "env -u AWS_CA_BUNDLE AWS_CONFIG_FILE=/dev/null "
			  "AWS_SHARED_CREDENTIALS_FILE=/dev/null /usr/bin/aws";

	if (access("/usr/bin/aws", X_OK)) {
		printf("no /usr/bin/aws: independent check skipped\n");
		return;
	}
	snprintf(out, sizeof(out), "%s/aws.out", tmp);
	CHECK_EQ_INT(run("%s s3api head-object --endpoint-url %s --bucket "
			 "crrfs-repl --key docs/a.txt > %s", aws, ep, out), 0);
	CHECK_EQ_INT(run("grep -q '\"mode\": \"33188\"' %s", out), 0);
	CHECK_EQ_INT(run("grep -q '\"crrfs-version-id\"' %s", out), 0);
	CHECK_EQ_INT(run("%s s3api get-object-tagging --endpoint-url %s "
			 "--bucket crrfs-repl --key docs/a.txt > %s", aws, ep,
			 out), 0);
	CHECK_EQ_INT(run("grep -q '\"alpha beta\"' %s", out), 0);
	CHECK_EQ_INT(run("%s s3api list-object-versions --endpoint-url %s "
			 "--bucket crrfs-repl --prefix 'a b' > %s", aws, ep,
			 out), 0);
	CHECK_EQ_INT(run("grep -q 'DeleteMarkers' %s && grep -q "
			 "\"a b+c%%d?e#f~g'h \" %s", out, out), 0);
	/* The multipart object's bytes, hashed by somebody else. */
	CHECK_EQ_INT(run("%s s3api get-object --endpoint-url %s --bucket "
			 "crrfs-repl --key big.bin %s/big.out > %s && "
			 "[ \"$(sha256sum < %s/big.out | cut -c1-64)\" = "
			 "\"$(grep -o '\"crrfs-sha256\": \"[0-9a-f]*' %s | "
			 "cut -c18-)\" ] && rm %s/big.out", aws, ep, tmp, out,
			 tmp, out, tmp), 0);
	CHECK_EQ_INT(run("%s s3api get-object --endpoint-url %s --bucket "
			 "crrfs-repl --key link %s/link.out > /dev/null && "
			 "[ \"$(cat %s/link.out)\" = docs/a.txt ]", aws, ep, tmp,
			 tmp), 0);
}

static int tests(void)
{
	struct s3_client *c, *nv;
	struct store *s;
	char why[256];

	c = client("crrfs-repl");
	CHECK_EQ_INT(s3_create_bucket(c, why, sizeof(why)), 0);
	CHECK_EQ_INT(s3_put_bucket_versioning(c, true, why, sizeof(why)), 0);
	nv = client("crrfs-nover");
	CHECK_EQ_INT(s3_create_bucket(nv, why, sizeof(why)), 0);
	s3_client_free(nv);
	s = tst_open(tmp, 0, 0);
	CHECK(s != NULL);
	if (!s)
		return check_done("test_remote_s3_rgw");
	test_check(c);
	test_objects(s, c);
	test_refusals(s);
	test_cancel_stalled(s);
	test_https_vhost(s, c);
	test_rate(s);
	test_keepalive(c);
	test_multipart(s, c);
	test_aws_cli();
	store_close(s);
	s3_client_free(c);
	return check_done("test_remote_s3_rgw");
}

int main(void)
{
	const char *src = __FILE__;
	char *t;
	pid_t pid;
	int st, rc;

	/* __FILE__ is SRC/tests/unit/test_remote_s3_rgw.c */
	snprintf(rgw_ctl, sizeof(rgw_ctl), "%s", src);
	t = strstr(rgw_ctl, "/unit/test_remote_s3_rgw.c");
	if (!t || run("command -v radosgw >/dev/null 2>&1")) {
		printf("radosgw is not installed (tests/rgw/rgw-ctl install)"
		       ": skipped\n");
		return 77;
	}
	strcpy(t, "/rgw/rgw-ctl");
	t = tst_tmpdir();
	snprintf(tmp, sizeof(tmp), "%s", t);
	free(t);
	snprintf(rgw_dir, sizeof(rgw_dir), "%s/rgw", tmp);
	if (run("%s start %s --port 0 --https >/dev/null", rgw_ctl, rgw_dir)) {
		fprintf(stderr, "cannot start RGW\n");
		tst_rmrf(tmp);
		return 1;
	}
	env_get("RGW_ENDPOINT", ep, sizeof(ep));
	env_get("RGW_VHOST_ENDPOINT", vhost_ep, sizeof(vhost_ep));
	env_get("RGW_HTTPS_ENDPOINT", https_ep, sizeof(https_ep));
	env_get("RGW_CA_FILE", ca_file, sizeof(ca_file));
	{
		char ak[128], sk[128];

		env_get("AWS_ACCESS_KEY_ID", ak, sizeof(ak));
		env_get("AWS_SECRET_ACCESS_KEY", sk, sizeof(sk));
		setenv("AWS_ACCESS_KEY_ID", ak, 1);
		setenv("AWS_SECRET_ACCESS_KEY", sk, 1);
		setenv("AWS_DEFAULT_REGION", "us-east-1", 1);
		unsetenv("AWS_SESSION_TOKEN");
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		exit(tests());	/* exit, not _exit: LSan checks here */
	rc = 1;
	if (pid > 0 && waitpid(pid, &st, 0) == pid)
		rc = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	if (rc)
		fprintf(stderr, "failed: logs in %s/log (removed)\n", rgw_dir);
	run("%s stop %s --clean >/dev/null 2>&1", rgw_ctl, rgw_dir);
	tst_rmrf(tmp);
	return rc;
}
