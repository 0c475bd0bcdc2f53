/*
 * test_repl.c - the replicator against a real store and a fake remote:
 * the queue is written with the version, versions of one key ship in
 * order while keys go in parallel, retries, FAILED and resync --failed,
 * filters, priorities, delete markers, replicas, rules enabled later,
 * restarts with a backlog, stopping with jobs in flight (and cancelling
 * them), status values.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "remote/remote.h"
#include "repl/repl.h"
#include "repl/repl_int.h"
#include "store_test_util.h"

/* ---- the fake remote ---- */

#define LOG_MAX 4096

struct shipped {
	char dest[RULES_NAME_MAX + 1];
	char key[64];
	char vid[STORE_VID_LEN + 1];
	char sclass[32];
	uint64_t vseq;
	bool dm, maybe_sent;
};

struct hub {
	pthread_mutex_t lock;
	struct shipped log[LOG_MAX];
	int n;
	char inflight[64][64];	/* keys being shipped now */
	int ninflight, max_inflight;
	int overlap;		/* a key shipped twice at once */
	int delay_max_us;
	int transient_left;	/* -EAGAIN for this many more ships */
	bool permanent;		/* every ship fails with -EACCES */
	const char *only_key;	/* errors only for this key (NULL: all) */
	int check_rc;
	atomic_int checks;
	atomic_int in_ship;
	bool block;		/* ships wait until unblocked */
	bool until_cancel;	/* ships wait for o->cancel: -ECANCELED */
	atomic_int cancelled;	/* ships that saw their cancel */
	pthread_cond_t cond;
};

static struct hub hub;

struct fake {
	struct remote base;
};

static int fake_check(struct remote *r, char *why, size_t wl)
{
	(void)r;
	atomic_fetch_add(&hub.checks, 1);
	if (hub.check_rc)
		snprintf(why, wl, "fake check refused");
	return hub.check_rc;
}

static int fake_ship(struct remote *r, const struct remote_obj *o, char *why,
		     size_t wl)
{
	int rc = 0, i;

	atomic_fetch_add(&hub.in_ship, 1);
	pthread_mutex_lock(&hub.lock);
	if (hub.until_cancel) {	/* a slow upload, as long as it lasts */
		pthread_mutex_unlock(&hub.lock);
		while (!remote_cancelled(o))
			usleep(1000);
		atomic_fetch_add(&hub.cancelled, 1);
		atomic_fetch_sub(&hub.in_ship, 1);
		snprintf(why, wl, "cancelled");
		return -ECANCELED;
	}
	while (hub.block)
		pthread_cond_wait(&hub.cond, &hub.lock);
	for (i = 0; i < hub.ninflight; i++)
		if (!strcmp(hub.inflight[i], o->key))
			hub.overlap++;
	if (hub.ninflight < 64)
		snprintf(hub.inflight[hub.ninflight++], 64, "%s", o->key);
	if (hub.ninflight > hub.max_inflight)
		hub.max_inflight = hub.ninflight;
	if (!hub.only_key || !strcmp(hub.only_key, o->key)) {
		if (hub.transient_left > 0) {
			hub.transient_left--;
			rc = -EAGAIN;
			snprintf(why, wl, "fake: slow down");
		} else if (hub.permanent) {
			rc = -EACCES;
			snprintf(why, wl, "fake: access denied (HTTP 403)");
		}
	}
	pthread_mutex_unlock(&hub.lock);
	if (hub.delay_max_us)
		usleep((useconds_t)(rand() % hub.delay_max_us));
	pthread_mutex_lock(&hub.lock);
	for (i = 0; i < hub.ninflight; i++)
		if (!strcmp(hub.inflight[i], o->key)) {
			memmove(hub.inflight[i], hub.inflight[i + 1],
				(size_t)(hub.ninflight - i - 1) * 64);
			hub.ninflight--;
			break;
		}
	if (!rc && hub.n < LOG_MAX) {
		struct shipped *s = &hub.log[hub.n++];

		snprintf(s->dest, sizeof(s->dest), "%s", r->name);
		snprintf(s->key, sizeof(s->key), "%s", o->key);
		memcpy(s->vid, o->v.vid, sizeof(s->vid));
		snprintf(s->sclass, sizeof(s->sclass), "%s",
			 o->storage_class ? o->storage_class : "");
		s->vseq = o->v.vseq;
		s->dm = o->v.flags & STORE_V_DELETE_MARKER;
		s->maybe_sent = o->maybe_sent;
	}
	pthread_mutex_unlock(&hub.lock);
	atomic_fetch_sub(&hub.in_ship, 1);
	return rc;
}

static void fake_free(struct remote *r)
{
	free(r);
}

static const struct remote_ops fake_ops = { fake_check, fake_ship,
					    fake_free };

static int fake_open(void *arg, const struct rules_dest *d,
		     struct remote **out, char *why, size_t wl)
{
	struct fake *f = calloc(1, sizeof(*f));

	(void)arg;
	(void)why;
	(void)wl;
	if (!f)
		return -ENOMEM;
	f->base.ops = &fake_ops;
	snprintf(f->base.name, sizeof(f->base.name), "%s", d->name);
	*out = &f->base;
	return 0;
}

static void hub_reset(void)
{
	pthread_mutex_lock(&hub.lock);
	hub.n = 0;
	hub.ninflight = hub.max_inflight = hub.overlap = 0;
	hub.delay_max_us = 0;
	hub.transient_left = 0;
	hub.permanent = false;
	hub.only_key = NULL;
	hub.check_rc = 0;
	hub.until_cancel = false;
	atomic_store(&hub.cancelled, 0);
	pthread_mutex_unlock(&hub.lock);
}

static int hub_count(const char *dest, const char *key)
{
	int n = 0;

	pthread_mutex_lock(&hub.lock);
	for (int i = 0; i < hub.n; i++)
		if ((!dest || !strcmp(hub.log[i].dest, dest)) &&
		    (!key || !strcmp(hub.log[i].key, key)))
			n++;
	pthread_mutex_unlock(&hub.lock);
	return n;
}

static const struct shipped *hub_find(const char *dest, const char *key)
{
	for (int i = hub.n - 1; i >= 0; i--)
		if (!strcmp(hub.log[i].dest, dest) &&
		    !strcmp(hub.log[i].key, key))
			return &hub.log[i];
	return NULL;
}

/* ---- helpers ---- */

static double mono_s(void);

static char *dir;
static struct store *st;
static unsigned settle_ms = 1;	/* short, but for tests of amends */

static void rules_write(const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/rules.ini", dir);
	f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
}

static struct repl *repl_open(unsigned workers)
{
	struct repl_opts o = { 0 };
	char sp[512], rp[512], err[512] = "";
	struct repl *r = NULL;
	int rc;

	snprintf(sp, sizeof(sp), "%s/store", dir);
	snprintf(rp, sizeof(rp), "%s/rules.ini", dir);
	o.store = st;
	o.store_path = sp;
	o.rules_path = rp;
	o.workers = workers;
	o.open_remote = fake_open;
	o.settle_ms = settle_ms;
	o.backoff_ms = 5;
	o.backoff_max_ms = 40;
	rc = repl_new(&o, &r, err, sizeof(err));
	if (rc)
		fprintf(stderr, "repl_new: %s\n", err);
	CHECK_EQ_INT(rc, 0);
	return r;
}

static const char *vstatus(uint64_t oid, uint64_t vseq, const char *dest)
{
	static char buf[64];
	int n = repl_version_status(st, oid, vseq, 0, dest, buf,
				    sizeof(buf) - 1);

	if (n < 0)
		snprintf(buf, sizeof(buf), "(%s)", strerror(-n));
	else
		buf[n] = '\0';
	return buf;
}

static uint64_t head_vseq(uint64_t oid)
{
	struct store_entry e;

	if (store_stat(st, oid, &e))
		return 0;
	return e.head.vseq;
}

static uint64_t mkdirp(const char *name)
{
	struct store_attr a = tst_attr(040755);
	struct store_entry e;

	if (store_lookup(st, STORE_ROOT_OID, name, &e))
		store_mkdir(st, STORE_ROOT_OID, name, &a, &e);
	return e.oid;
}

static const char *RULES_ONE =
	"[destination a]\ntype = dir\npath = /nonexistent/a\n\n"
	"[rule all]\nstatus = enabled\npriority = 1\ndestination = a\n"
	"delete_marker_replication = enabled\n";

/* ---- tests ---- */

static void test_basic(void)
{
	struct repl_backlog b;
	struct repl *r;
	uint64_t oid, v;
	char *txt = NULL;
	size_t tl = 0;
	FILE *f;

	hub_reset();
	rules_write(RULES_ONE);
	r = repl_open(4);
	oid = tst_put(st, STORE_ROOT_OID, "hello.txt", "hello", 5);
	v = head_vseq(oid);
	/* the job exists as soon as the close returns */
	CHECK_EQ_STR(vstatus(oid, v, NULL), "PENDING");
	CHECK_EQ_STR(vstatus(oid, v, "a"), "PENDING");
	CHECK_EQ_STR(vstatus(oid, v, "zz"), "(No data available)");
	CHECK_EQ_INT(repl_backlog_total(st, &b), 0);
	CHECK_EQ_INT(b.ops, 1);
	CHECK_EQ_INT(b.bytes, 5);
	CHECK(b.oldest_ns > 0);
	f = open_memstream(&txt, &tl);
	CHECK_EQ_INT(repl_report(st, f, true), 0);
	fclose(f);
	CHECK(strstr(txt, "\"name\":\"a\"") != NULL);
	CHECK(strstr(txt, "\"pending_ops\":1") != NULL);
	free(txt);
	CHECK_EQ_INT(repl_start(r, false), 0);
	CHECK_EQ_INT(repl_drain(r, NULL, NULL), 0);
	CHECK_EQ_STR(vstatus(oid, v, NULL), "COMPLETED");
	CHECK_EQ_INT(hub_count("a", "hello.txt"), 1);
	CHECK(!hub_find("a", "hello.txt")->maybe_sent);
	CHECK_EQ_INT(repl_backlog_total(st, &b), 0);
	CHECK_EQ_INT(b.ops, 0);
	CHECK_EQ_INT(b.bytes, 0);
	CHECK_EQ_INT(b.oldest_ns, 0);
	/* a replica is never queued */
	{
		struct store_replica rp = { 0 };
		struct store_entry e;

		rp.key = "from-elsewhere";
		rp.type = STORE_T_SYMLINK;
		rp.target = "x";
		rp.attr = tst_attr(0120777);
		rp.attr.size = 1;
		rp.btime_ns = 1700000000000000000LL;
		rp.data_fd = -1;
		snprintf(rp.vid, sizeof(rp.vid), "%s",
			 "01HAAAAAAAAAAAAAAAAAAAAAAA");
		CHECK_EQ_INT(store_put_replica(st, &rp), 0);
		CHECK_EQ_INT(store_lookup(st, STORE_ROOT_OID, "from-elsewhere",
					  &e), 0);
		CHECK_EQ_INT(repl_version_status(st, e.oid, e.head.vseq,
						 e.head.flags, NULL, NULL, 0),
			     7);
		CHECK_EQ_INT(repl_backlog_total(st, &b), 0);
		CHECK_EQ_INT(b.ops, 0);
	}
	/* a delete marker goes where the rule says */
	CHECK_EQ_INT(store_unlink(st, STORE_ROOT_OID, "hello.txt", NULL), 0);
	CHECK_EQ_INT(repl_drain(r, NULL, NULL), 0);
	CHECK_EQ_INT(hub_count("a", "hello.txt"), 2);
	CHECK(hub_find("a", "hello.txt")->dm);
	CHECK_EQ_INT(hub_count("a", "from-elsewhere"), 0);
	repl_free(r);
}

static void test_order(void)
{
	char name[32], data[32];
	struct repl *r;
	int k, i;

	hub_reset();
	rules_write(RULES_ONE);
	r = repl_open(4);
	hub.delay_max_us = 3000;
	CHECK_EQ_INT(repl_start(r, false), 0);
	for (i = 0; i < 15; i++)
		for (k = 0; k < 6; k++) {
			snprintf(name, sizeof(name), "ord%d", k);
			snprintf(data, sizeof(data), "v%d", i);
			CHECK(tst_put(st, STORE_ROOT_OID, name, data,
				      strlen(data)) != 0);
		}
	CHECK_EQ_INT(repl_drain(r, NULL, NULL), 0);
	for (k = 0; k < 6; k++) {
		uint64_t last = 0;
		int n = 0;

		snprintf(name, sizeof(name), "ord%d", k);
		pthread_mutex_lock(&hub.lock);
		for (i = 0; i < hub.n; i++) {
			if (strcmp(hub.log[i].key, name))
				continue;
			CHECK(hub.log[i].vseq > last);
			last = hub.log[i].vseq;
			n++;
		}
		pthread_mutex_unlock(&hub.lock);
		CHECK_EQ_INT(n, 15);
	}
	CHECK_EQ_INT(hub.overlap, 0);
	CHECK(hub.max_inflight > 1);	/* keys went in parallel */
	repl_free(r);
}

static int queue_stale(void *arg, struct store_txn *t)
{
	return repl_queue_put(t, "a", arg);
}

/*
 * A job queued below the load cursor (as a rename once did, reusing an
 * old vseq) is still shipped, and before the newer versions of its key:
 * the newer one waits, and says so in its record.
 */
static void test_order_unloaded(void)
{
	struct repl_backlog b;
	struct store_entry e;
	struct repl_job j;
	struct repl *r;
	uint64_t oid, v1, v2;

	hub_reset();
	rules_write(RULES_ONE);
	oid = tst_put(st, STORE_ROOT_OID, "stale", "1", 1);	/* no hook */
	v1 = head_vseq(oid);
	r = repl_open(2);
	CHECK_EQ_INT(repl_start(r, false), 0);
	tst_put(st, STORE_ROOT_OID, "other", "o", 1);
	CHECK_EQ_INT(repl_drain(r, NULL, NULL), 0);	/* loaded past v1 */
	CHECK_EQ_INT(store_stat(st, oid, &e), 0);
	memset(&j, 0, sizeof(j));
	j.state = REPL_PENDING;
	j.oid = oid;
	j.vseq = v1;
	j.btime_ns = e.head.btime_ns;
	memcpy(j.vid, e.head.vid, sizeof(j.vid));
	snprintf(j.rule, sizeof(j.rule), "all");
	j.key = (char *)"stale";
	CHECK_EQ_INT(store_q_update(st, queue_stale, &j), 0);
	tst_put(st, STORE_ROOT_OID, "stale", "2", 1);
	v2 = head_vseq(oid);
	CHECK_EQ_INT(repl_drain(r, NULL, NULL), 0);
	CHECK_EQ_INT(hub_count("a", "stale"), 2);
	pthread_mutex_lock(&hub.lock);
	for (int i = 0, n = 0; i < hub.n; i++)
		if (!strcmp(hub.log[i].key, "stale"))
			CHECK_EQ_INT(hub.log[i].vseq, n++ ? v2 : v1);
	pthread_mutex_unlock(&hub.lock);
	CHECK_EQ_STR(vstatus(oid, v1, "a"), "COMPLETED");
	CHECK_EQ_STR(vstatus(oid, v2, "a"), "COMPLETED");
	CHECK_EQ_INT(repl_backlog_total(st, &b), 0);
	CHECK_EQ_INT(b.ops, 0);
	repl_free(r);
}

static void test_errors(void)
{
	uint64_t oid, v, q, sk;
	struct repl_backlog b;
	struct repl *r;
	char *txt = NULL;
	size_t tl = 0;
	FILE *f;

	hub_reset();
	rules_write(RULES_ONE);
	r = repl_open(2);
	CHECK_EQ_INT(repl_start(r, false), 0);
	/* transient: retried, then COMPLETED */
	hub.only_key = "flaky";
	hub.transient_left = 3;
	oid = tst_put(st, STORE_ROOT_OID, "flaky", "x", 1);
	tst_put(st, STORE_ROOT_OID, "steady", "y", 1);
	CHECK_EQ_INT(repl_drain(r, NULL, NULL), 0);
	CHECK_EQ_INT(hub.transient_left, 0);
	CHECK_EQ_STR(vstatus(oid, head_vseq(oid), "a"), "COMPLETED");
	/* maybe_sent after a try that may have reached the remote */
	CHECK(hub_find("a", "flaky")->maybe_sent);
	/* permanent: FAILED with its reason, later versions held back */
	hub.only_key = "denied";
	hub.permanent = true;
	oid = tst_put(st, STORE_ROOT_OID, "denied", "1", 1);
	v = head_vseq(oid);
	CHECK_EQ_INT(repl_drain(r, NULL, NULL), 1);
	tst_put(st, STORE_ROOT_OID, "denied", "2", 1);
	CHECK_EQ_INT(repl_drain(r, NULL, NULL), 1);
	CHECK_EQ_INT(hub_count("a", "denied"), 0);
	CHECK_EQ_STR(vstatus(oid, v, "a"), "FAILED");
	CHECK_EQ_STR(vstatus(oid, head_vseq(oid), "a"), "PENDING");
	CHECK_EQ_INT(repl_backlog_total(st, &b), 0);
	CHECK_EQ_INT(b.failed, 1);
	CHECK_EQ_INT(b.ops, 1);
	f = open_memstream(&txt, &tl);
	CHECK_EQ_INT(repl_report(st, f, false), 0);
	fclose(f);
	CHECK(strstr(txt, "access denied (HTTP 403)") != NULL);
	CHECK(strstr(txt, "'denied'") != NULL);
	CHECK(strstr(txt, "rule all: 1 pending") != NULL);
	free(txt);
	/* resync --failed puts it back; both versions arrive in order */
	hub.permanent = false;
	CHECK_EQ_INT(repl_resync(r, NULL, true, &q, &sk), 0);
	CHECK_EQ_INT(q, 1);
	CHECK_EQ_INT(repl_drain(r, NULL, NULL), 0);
	CHECK_EQ_INT(hub_count("a", "denied"), 2);
	CHECK_EQ_STR(vstatus(oid, v, "a"), "COMPLETED");
	CHECK(hub_find("a", "denied")->vseq == head_vseq(oid));
	CHECK_EQ_INT(repl_backlog_total(st, &b), 0);
	CHECK_EQ_INT(b.failed + b.ops, 0);
	repl_free(r);
}

static const char *RULES_FILTER =
	"[destination a]\ntype = s3\nendpoint = http://127.0.0.1:1\n"
	"bucket = a\n\n"
	"[destination b]\ntype = dir\npath = /nonexistent/b\n\n"
	"[rule docs]\nstatus = enabled\npriority = 1\nprefix = docs/\n"
	"destination = a\nstorage_class = LOW\n\n"
	"[rule docs-hi]\nstatus = enabled\npriority = 5\nprefix = docs/hi/\n"
	"destination = a\nstorage_class = HIGH\n"
	"delete_marker_replication = enabled\n\n"
	"[rule alpha]\nstatus = enabled\npriority = 1\n"
	"tag.project = alpha\ndestination = b\n";

static void test_filters(void)
{
	struct store_attr da = tst_attr(040755);
	struct store_entry e;
	uint64_t docs, hi, oid;
	struct repl *r;

	hub_reset();
	rules_write(RULES_FILTER);
	settle_ms = 1000;	/* the tags below come before it ships */
	r = repl_open(2);
	settle_ms = 1;
	CHECK_EQ_INT(repl_start(r, false), 0);
	docs = mkdirp("docs");
	CHECK_EQ_INT(store_mkdir(st, docs, "hi", &da, &e), 0);
	hi = e.oid;
	tst_put(st, docs, "lo.txt", "l", 1);
	tst_put(st, hi, "h.txt", "h", 1);
	tst_put(st, STORE_ROOT_OID, "other.txt", "o", 1);
	/* tags set right after the close amend the version */
	oid = tst_put(st, STORE_ROOT_OID, "tagged.txt", "t", 1);
	CHECK_EQ_INT(store_setxattr(st, oid, "user.crrfs.tag.project",
				    "alpha", 5, 0), 0);
	CHECK_EQ_INT(tst_nversions(st, oid), 1);
	oid = tst_put(st, docs, "beta.txt", "b", 1);
	CHECK_EQ_INT(store_setxattr(st, oid, "user.crrfs.tag.project",
				    "beta", 4, 0), 0);
	CHECK_EQ_INT(repl_drain(r, NULL, NULL), 0);
	CHECK_EQ_INT(hub_count("a", "docs/lo.txt"), 1);
	CHECK_EQ_STR(hub_find("a", "docs/lo.txt")->sclass, "LOW");
	CHECK_EQ_INT(hub_count("a", "docs/hi/h.txt"), 1);
	CHECK_EQ_STR(hub_find("a", "docs/hi/h.txt")->sclass, "HIGH");
	CHECK_EQ_INT(hub_count(NULL, "other.txt"), 0);
	CHECK_EQ_INT(hub_count("b", "tagged.txt"), 1);
	CHECK_EQ_INT(hub_count("a", "tagged.txt"), 0);
	CHECK_EQ_INT(hub_count("b", "docs/beta.txt"), 0);
	CHECK_EQ_INT(hub_count("a", "docs/beta.txt"), 1);
	CHECK_EQ_INT(hub_count("a", "docs/"), 1);
	CHECK_EQ_INT(hub_count("a", "docs/hi/"), 1);
	CHECK_EQ_STR(vstatus(oid, head_vseq(oid), "b"),
		     "(No data available)");
	/* delete markers: on for docs/hi/ (docs-hi), off for docs/ */
	CHECK_EQ_INT(store_unlink(st, hi, "h.txt", NULL), 0);
	CHECK_EQ_INT(store_unlink(st, docs, "lo.txt", NULL), 0);
	CHECK_EQ_INT(repl_drain(r, NULL, NULL), 0);
	CHECK_EQ_INT(hub_count("a", "docs/hi/h.txt"), 2);
	CHECK(hub_find("a", "docs/hi/h.txt")->dm);
	CHECK_EQ_INT(hub_count("a", "docs/lo.txt"), 1);
	repl_free(r);
}

static void test_enable_later(void)
{
	char err[256];
	uint64_t q = 0, sk = 0, oid, v1;
	struct repl *r;

	hub_reset();
	rules_write("[destination a]\ntype = dir\npath = /nonexistent/a\n\n"
		    "[rule late]\nstatus = disabled\npriority = 1\n"
		    "prefix = late/\ndestination = a\n");
	r = repl_open(2);
	CHECK_EQ_INT(repl_start(r, false), 0);
	oid = tst_put(st, mkdirp("late"), "h", "1", 1);
	oid = tst_put(st, mkdirp("late"), "f", "1", 1);
	v1 = head_vseq(oid);
	CHECK_EQ_STR(vstatus(oid, v1, NULL), "(No data available)");
	rules_write("[destination a]\ntype = dir\npath = /nonexistent/a\n\n"
		    "[rule late]\nstatus = enabled\npriority = 1\n"
		    "prefix = late/\ndestination = a\n");
	CHECK_EQ_INT(repl_reload(r, err, sizeof(err)), 0);
	tst_put(st, mkdirp("late"), "g", "1", 1);
	tst_put(st, mkdirp("late"), "h", "2", 1);
	CHECK_EQ_INT(repl_drain(r, NULL, NULL), 0);
	CHECK_EQ_INT(hub_count("a", "late/h"), 1);
	CHECK_EQ_INT(hub_count("a", "late/f"), 0);	/* made before */
	CHECK_EQ_INT(hub_count("a", "late/g"), 1);
	/* a bad file keeps the old rules */
	rules_write("[rule x]\nbogus = 1\n");
	CHECK_EQ_INT(repl_reload(r, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "line") != NULL);
	rules_write("[destination a]\ntype = dir\npath = /nonexistent/a\n\n"
		    "[rule late]\nstatus = enabled\npriority = 1\n"
		    "prefix = late/\ndestination = a\n");
	CHECK_EQ_INT(repl_resync(r, "nosuch", false, &q, &sk), -ENOENT);
	CHECK_EQ_INT(repl_resync(r, "late", false, &q, &sk), 0);
	CHECK_EQ_INT(q, 2);		/* late/f and the folder late/ */
	CHECK_EQ_INT(sk, 1);		/* late/h v1: older than v2 there */
	CHECK_EQ_INT(repl_drain(r, NULL, NULL), 0);
	CHECK_EQ_INT(hub_count("a", "late/f"), 1);
	CHECK_EQ_STR(vstatus(oid, v1, NULL), "COMPLETED");
	/* nothing twice; an older version than the shipped one: skipped */
	CHECK_EQ_INT(repl_resync(r, NULL, false, &q, &sk), 0);
	CHECK_EQ_INT(q, 0);
	repl_free(r);
}

static void reopen(void)
{
	store_close(st);
	st = tst_open(dir, 0, 2000);
	CHECK(st != NULL);
}

static void test_restart(void)
{
	struct repl_backlog b;
	struct repl *r;
	uint64_t oid;

	hub_reset();
	rules_write(RULES_ONE);
	r = repl_open(2);
	/* never started: the backlog is only in the store */
	oid = tst_put(st, STORE_ROOT_OID, "backlog1", "1", 1);
	tst_put(st, STORE_ROOT_OID, "backlog1", "22", 2);
	tst_put(st, STORE_ROOT_OID, "backlog2", "3", 1);
	repl_free(r);
	reopen();
	CHECK_EQ_INT(repl_backlog_total(st, &b), 0);
	CHECK_EQ_INT(b.ops, 3);
	CHECK_EQ_INT(b.bytes, 4);
	r = repl_open(2);
	CHECK_EQ_INT(repl_start(r, false), 0);
	CHECK_EQ_INT(repl_drain(r, NULL, NULL), 0);
	CHECK_EQ_INT(hub_count("a", "backlog1"), 2);
	CHECK_EQ_INT(hub_count("a", "backlog2"), 1);
	CHECK(hub_find("a", "backlog1")->maybe_sent);
	CHECK(hub_find("a", "backlog1")->vseq == head_vseq(oid));
	repl_free(r);

	/* stopping with ships in flight: prompt, and nothing lost */
	hub_reset();
	r = repl_open(2);
	CHECK_EQ_INT(repl_start(r, false), 0);
	pthread_mutex_lock(&hub.lock);
	hub.block = true;
	pthread_mutex_unlock(&hub.lock);
	tst_put(st, STORE_ROOT_OID, "inflight1", "1", 1);
	tst_put(st, STORE_ROOT_OID, "inflight2", "2", 1);
	for (int i = 0; i < 1000 && atomic_load(&hub.in_ship) < 2; i++)
		usleep(5000);
	CHECK_EQ_INT(atomic_load(&hub.in_ship), 2);
	pthread_mutex_lock(&hub.lock);
	hub.block = false;
	hub.transient_left = 1000000; /* as abandoned uploads answer */
	pthread_cond_broadcast(&hub.cond);
	pthread_mutex_unlock(&hub.lock);
	repl_free(r);
	reopen();
	CHECK_EQ_INT(repl_backlog_total(st, &b), 0);
	CHECK_EQ_INT(b.ops, 2);
	hub_reset();
	r = repl_open(2);
	CHECK_EQ_INT(repl_start(r, false), 0);
	CHECK_EQ_INT(repl_drain(r, NULL, NULL), 0);
	CHECK_EQ_INT(hub_count("a", "inflight1"), 1);
	CHECK_EQ_INT(hub_count("a", "inflight2"), 1);
	CHECK(hub_find("a", "inflight1")->maybe_sent);
	repl_free(r);
}

/* The J record of (dest, vseq), decoded; false when there is none. */
static bool job_read(const char *dest, uint64_t vseq, struct repl_job *j)
{
	char k[REPL_JKEY_MAX];
	size_t kl = repl_jkey(k, dest, vseq), vl;
	void *v = NULL;
	int rc = store_q_get(st, k, kl, &v, &vl);

	if (!rc)
		rc = repl_job_decode(v, vl, j);
	free(v);
	return rc == 0;
}

/*
 * Stopping while ships run that would last (a big upload to a slow
 * server): repl_free cancels them and returns at once; the jobs stay
 * queued as they were (PENDING, no attempt counted, no error kept) and
 * the next process ships them, with maybe_sent.
 */
static void test_cancel(void)
{
	struct repl_backlog b;
	struct repl_job j;
	uint64_t o1, o2, v1, v2;
	struct repl *r;
	double t0, t;

	hub_reset();
	rules_write(RULES_ONE);
	r = repl_open(2);
	CHECK_EQ_INT(repl_start(r, false), 0);
	pthread_mutex_lock(&hub.lock);
	hub.until_cancel = true;
	pthread_mutex_unlock(&hub.lock);
	o1 = tst_put(st, STORE_ROOT_OID, "slow1", "1", 1);
	o2 = tst_put(st, STORE_ROOT_OID, "slow2", "2", 1);
	v1 = head_vseq(o1);
	v2 = head_vseq(o2);
	for (int i = 0; i < 1000 && atomic_load(&hub.in_ship) < 2; i++)
		usleep(5000);
	CHECK_EQ_INT(atomic_load(&hub.in_ship), 2);
	t0 = mono_s();
	repl_free(r);
	t = mono_s() - t0;
	printf("repl_free with 2 ships in flight: %.0f ms\n", t * 1e3);
	CHECK(t < 1.0);
	CHECK_EQ_INT(atomic_load(&hub.cancelled), 2);
	CHECK_EQ_INT(atomic_load(&hub.in_ship), 0);
	reopen();
	CHECK_EQ_STR(vstatus(o1, v1, "a"), "PENDING");
	CHECK_EQ_STR(vstatus(o2, v2, "a"), "PENDING");
	CHECK_EQ_INT(repl_backlog_total(st, &b), 0);
	CHECK_EQ_INT(b.ops, 2);
	CHECK_EQ_INT(b.failed, 0);
	CHECK(job_read("a", v1, &j));
	CHECK_EQ_INT(j.state, REPL_PENDING);
	CHECK_EQ_INT(j.attempts, 0);
	CHECK_EQ_STR(j.err, "");
	repl_job_release(&j);
	hub_reset();
	r = repl_open(2);
	CHECK_EQ_INT(repl_start(r, false), 0);
	CHECK_EQ_INT(repl_drain(r, NULL, NULL), 0);
	CHECK_EQ_INT(hub_count("a", "slow1"), 1);
	CHECK_EQ_INT(hub_count("a", "slow2"), 1);
	CHECK(hub_find("a", "slow1")->maybe_sent);
	CHECK_EQ_STR(vstatus(o1, v1, "a"), "COMPLETED");
	repl_free(r);
}

/* A socket file left by a crash (bound, nobody listening) is replaced,
 * and a clean stop leaves none behind. */
static void test_ctl_stale(const char *sp)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct repl *r;
	struct stat sst;
	FILE *f;
	int fd;

	CHECK(strlen(sp) + 10 < sizeof(sa.sun_path));
	memcpy(sa.sun_path, sp, strlen(sp));
	strcat(sa.sun_path, "/ctl.sock");
	CHECK(lstat(sa.sun_path, &sst) < 0 && errno == ENOENT);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_EQ_INT(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	r = repl_open(1);
	CHECK_EQ_INT(repl_start(r, true), 0);
	CHECK_EQ_INT(lstat(sa.sun_path, &sst), 0);
	CHECK_EQ_INT(sst.st_mode & 07777, 0600);
	f = fopen("/dev/null", "w");
	CHECK_EQ_INT(repl_ctl_call(sp, "progress", f), 0);
	fclose(f);
	repl_free(r);
	CHECK(lstat(sa.sun_path, &sst) < 0 && errno == ENOENT);
}

static void test_ctl(void)
{
	char sp[512], *txt = NULL;
	size_t tl = 0;
	struct repl *r;
	FILE *f;

	hub_reset();
	rules_write(RULES_ONE);
	r = repl_open(1);
	CHECK_EQ_INT(repl_start(r, true), 0);
	snprintf(sp, sizeof(sp), "%s/store", dir);
	f = open_memstream(&txt, &tl);
	CHECK_EQ_INT(repl_ctl_call(sp, "status --json", f), 0);
	CHECK_EQ_INT(repl_ctl_call(sp, "progress", f), 0);
	CHECK_EQ_INT(repl_ctl_call(sp, "resync --failed", f), 0);
	CHECK_EQ_INT(repl_ctl_call(sp, "reload", f), 0);
	CHECK_EQ_INT(repl_ctl_call(sp, "frobnicate", f), 2);
	fclose(f);
	CHECK(strstr(txt, "{\"destinations\":[{\"name\":\"a\"") != NULL);
	CHECK(strstr(txt, "queued 0 skipped 0") != NULL);
	CHECK(strstr(txt, "rules reloaded") != NULL);
	free(txt);
	repl_free(r);
	f = fopen("/dev/null", "w");
	CHECK_EQ_INT(repl_ctl_call(sp, "status", f), -ECONNREFUSED);
	fclose(f);
	test_ctl_stale(sp);
}

static void test_reload_dests(void)
{
	static const char *ab =
		"[destination a]\ntype = dir\npath = /nonexistent/a\n\n"
		"[destination b]\ntype = dir\npath = /nonexistent/b\n\n"
		"[rule ra]\nstatus = enabled\npriority = 1\ndestination = a\n\n"
		"[rule rb]\nstatus = enabled\npriority = 1\ndestination = b\n";
	char sp[512], err[256], *txt = NULL;
	size_t tl = 0;
	struct repl *r;
	FILE *f;

	hub_reset();
	rules_write(RULES_ONE);
	r = repl_open(2);
	CHECK_EQ_INT(repl_start(r, true), 0);
	pthread_mutex_lock(&hub.lock);
	hub.only_key = "stuck";
	hub.transient_left = 1000000;
	pthread_mutex_unlock(&hub.lock);
	tst_put(st, STORE_ROOT_OID, "stuck", "s", 1);
	usleep(50000);
	rules_write("[destination b]\ntype = dir\npath = /nonexistent/b\n\n"
		    "[rule rb]\nstatus = enabled\npriority = 1\n"
		    "destination = b\n");
	CHECK_EQ_INT(repl_reload(r, err, sizeof(err)), 0);
	tst_put(st, STORE_ROOT_OID, "fresh", "f", 1);
	CHECK_EQ_INT(repl_drain(r, NULL, NULL), 0);
	CHECK_EQ_INT(hub_count("b", "fresh"), 1);
	CHECK_EQ_INT(hub_count("a", "fresh"), 0);
	snprintf(sp, sizeof(sp), "%s/store", dir);
	f = open_memstream(&txt, &tl);
	CHECK_EQ_INT(repl_ctl_call(sp, "status", f), 0);
	fclose(f);
	CHECK(strstr(txt, "destination a (not in the rule file: its jobs "
			  "wait): 1 pending") != NULL);
	CHECK(strstr(txt, "destination b: 0 pending") != NULL);
	free(txt);
	/* a comes back: its queue resumes */
	pthread_mutex_lock(&hub.lock);
	hub.transient_left = 0;
	pthread_mutex_unlock(&hub.lock);
	rules_write(ab);
	CHECK_EQ_INT(repl_reload(r, err, sizeof(err)), 0);
	CHECK_EQ_INT(repl_drain(r, NULL, NULL), 0);
	CHECK_EQ_INT(hub_count("a", "stuck"), 1);
	repl_free(r);
}

/* Wait until key name exists in store s (ingest is asynchronous). */
static bool wait_key(struct store *s, const char *name,
		     struct store_entry *e)
{
	for (int i = 0; i < 500; i++) {
		if (!store_lookup(s, STORE_ROOT_OID, name, e))
			return true;
		usleep(10000);
	}
	return false;
}

static struct repl *repl_real(struct store *s, const char *base,
			      const char *peer)
{
	struct repl_opts o = { 0 };
	char sp[512], rp[512], txt[1024], err[512] = "";
	struct repl *r = NULL;
	FILE *f;

	snprintf(sp, sizeof(sp), "%s/store", base);
	snprintf(rp, sizeof(rp), "%s/rules.ini", base);
	snprintf(txt, sizeof(txt),
		 "[destination peer]\ntype = dir\npath = %s/store\n\n"
		 "[rule all]\nstatus = enabled\npriority = 1\n"
		 "destination = peer\ndelete_marker_replication = enabled\n",
		 peer);
	f = fopen(rp, "w");
	fputs(txt, f);
	fclose(f);
	o.store = s;
	o.store_path = sp;
	o.rules_path = rp;
	o.settle_ms = 1;
	if (repl_new(&o, &r, err, sizeof(err)))
		fprintf(stderr, "repl_new: %s\n", err);
	CHECK(r != NULL);
	if (r)
		CHECK_EQ_INT(repl_start(r, false), 0);
	return r;
}

/* Two stores replicating to each other through dir destinations, both
 * open (so each one's ingest thread applies what the other delivers). */
static void test_dir_pair(void)
{
	char *dir2 = tst_tmpdir();
	struct store *st2 = tst_open(dir2, 0, 2000);
	struct store_entry e;
	struct repl_backlog b;
	struct repl *r1, *r2;
	uint64_t oid;

	r1 = repl_real(st, dir, dir2);
	r2 = repl_real(st2, dir2, dir);
	if (!r1 || !r2)
		goto out;
	oid = tst_put(st, STORE_ROOT_OID, "ping", "ping!", 5);
	CHECK_EQ_INT(repl_drain(r1, NULL, NULL), 0);
	CHECK(wait_key(st2, "ping", &e));
	CHECK(e.head.flags & STORE_V_REPLICA);
	{
		struct store_entry src;

		CHECK_EQ_INT(store_stat(st, oid, &src), 0);
		CHECK_EQ_STR(e.head.vid, src.head.vid);
	}
	tst_put(st2, STORE_ROOT_OID, "pong", "pong!", 5);
	CHECK_EQ_INT(repl_drain(r2, NULL, NULL), 0);
	CHECK(wait_key(st, "pong", &e));
	CHECK(e.head.flags & STORE_V_REPLICA);
	/* replicas are not shipped back: no loop */
	CHECK_EQ_INT(repl_drain(r1, NULL, NULL), 0);
	CHECK_EQ_INT(repl_drain(r2, NULL, NULL), 0);
	CHECK_EQ_INT(repl_backlog_total(st, &b), 0);
	CHECK_EQ_INT(b.ops, 0);
	CHECK_EQ_INT(repl_version_status(st, e.oid, e.head.vseq, e.head.flags,
					 NULL, NULL, 0), 7);
out:
	repl_free(r1);
	repl_free(r2);
	store_close(st2);
	tst_rmrf(dir2);
	free(dir2);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Not a benchmark: a figure to notice a dispatch cost gone quadratic. */
static void test_throughput(void)
{
	struct repl *r;
	char name[32];
	double t0, t1, t2;
	int n = 2000;

	hub_reset();
	rules_write(RULES_ONE);
	r = repl_open(4);
	t0 = mono_s();
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "tp%05d", i);
		tst_put(st, STORE_ROOT_OID, name, "x", 1);
	}
	t1 = mono_s();
	CHECK_EQ_INT(repl_start(r, false), 0);
	CHECK_EQ_INT(repl_drain(r, NULL, NULL), 0);
	t2 = mono_s();
	CHECK_EQ_INT(hub_count("a", NULL), n);
	printf("queued %d versions in %.2f s; shipped to a null remote in "
	       "%.2f s (%.0f/s)\n", n, t1 - t0, t2 - t1, n / (t2 - t1));
	repl_free(r);
}

int main(void)
{
	pthread_mutex_init(&hub.lock, NULL);
	pthread_cond_init(&hub.cond, NULL);
	srand(1);
	dir = tst_tmpdir();
	st = tst_open(dir, 0, 2000);
	if (!st)
		return 1;
	test_basic();
	test_order();
	test_order_unloaded();
	test_errors();
	test_filters();
	test_enable_later();
	test_restart();
	test_cancel();
	test_ctl();
	test_reload_dests();
	test_dir_pair();
	test_throughput();
	store_close(st);
	tst_rmrf(dir);
	free(dir);
	return check_done("test_repl");
}
