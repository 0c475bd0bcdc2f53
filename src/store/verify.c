/*
 * verify.c - a working copy refuses to return data it knows is wrong.
 *
 * Design: the store keeps no per-chunk checksums, only a version's
 * sha256 (recorded on first use: replication, user.crrfs.sha256,
 * `crrfs versions`). So, in a store opened with STORE_VERIFY, a working
 * copy opened on a version that has one hashes what it returns while the
 * reads go forward from byte 0 without a gap; the read that reaches the
 * end compares, and on a mismatch fails with -EIO (and so does every
 * later read of that copy). A read that skips ahead ends the check for
 * that copy: nothing is claimed (fsck --deep reads every version in
 * full). A write or truncate ends it too.
 *
 * SHA-256 runs at about the speed FUSE reads do, so hashing inline halved
 * sequential reads of cached data; that is why the check is opt-in (mount
 * -o verify). Reads copy their bytes to one hasher thread per store and
 * go on, so with a free core the cost hides behind the reads; a copy more
 * than BACKLOG bytes ahead of its hash waits, and the read that reaches
 * the end waits for the rest of it. Damage is logged once, naming key,
 * version and segment, because a reader that gets EIO needs to know where
 * to look, and marked in the store (store_mark_damaged) so that later
 * mounts, verifying or not, fail reads of it too.
 */
#include "file_int.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define BACKLOG ((size_t)8 << 20)
#define BAD_MAX 64
#define PARK_MAX 32

/* Bytes [off + start, off + len) of the file, to hash. */
struct vjob {
	struct vjob *next;
	struct file_verify *v;
	uint64_t off;
	size_t start, len;
	unsigned char data[];
};

/* The store's hasher: one thread, started by the first check. */
struct verifier {
	pthread_mutex_t lock;	/* protects the queue, stop, and the
				 * backlog/jobs/abandoned of every check */
	pthread_cond_t work, idle;
	struct vjob *head, **tail;
	bool stop;
	pthread_t thread;
	/* Versions found damaged (oid, vseq, first 8 bytes of the sha256:
	 * a reseal keeps oid and vseq for new bytes), newest last: a copy
	 * opened on one fails every read, even one the kernel sends past a
	 * gap because it cached the bytes before the failed end. */
	uint64_t bad[BAD_MAX][3];
	unsigned nbad;
};

struct file_verify {
	struct verifier *w;
	EVP_MD_CTX *ctx;	/* the hasher's while jobs > 0 */
	uint64_t next;		/* bytes queued so far (the copy's lock) */
	size_t backlog;		/* bytes queued, not hashed yet */
	unsigned jobs;
	bool abandoned;		/* the copy let go: the hasher frees it */
	/* Reads that came ahead of next, by offset (the copy's lock):
	 * readahead sends several at once and threads answer them in any
	 * order, so a few are kept until the gap before them is read. */
	struct vjob *parked;
	unsigned nparked;
	uint8_t want[32];
};

static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;

static void check_free(struct file_verify *v)
{
	EVP_MD_CTX_free(v->ctx);
	free(v);
}

static void *hasher_main(void *arg)
{
	struct verifier *w = arg;
	struct vjob *j;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->head && !w->stop)
			pthread_cond_wait(&w->work, &w->lock);
		j = w->head;
		if (!j)
			break;
		w->head = j->next;
		if (!w->head)
			w->tail = &w->head;
		pthread_mutex_unlock(&w->lock);
		EVP_DigestUpdate(j->v->ctx, j->data + j->start,
				 j->len - j->start);
		pthread_mutex_lock(&w->lock);
		j->v->backlog -= j->len - j->start;
		if (!--j->v->jobs && j->v->abandoned)
			check_free(j->v);
		else
			pthread_cond_broadcast(&w->idle);
		free(j);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static struct verifier *hasher_get(struct store *s)
{
	struct verifier *w;

	pthread_mutex_lock(&start_lock);
	w = s->verifier;
	if (!w && (w = calloc(1, sizeof(*w)))) {
		pthread_mutex_init(&w->lock, NULL);
		pthread_cond_init(&w->work, NULL);
		pthread_cond_init(&w->idle, NULL);
		w->tail = &w->head;
		if (pthread_create(&w->thread, NULL, hasher_main, w)) {
			free(w);
			w = NULL;
		}
		s->verifier = w;
	}
	pthread_mutex_unlock(&start_lock);
	return w;
}

void verify_shutdown(struct store *s)
{
	struct verifier *w = s->verifier;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->idle);
	free(w);
	s->verifier = NULL;
}

static bool bad_known(struct verifier *w, const uint64_t key[3])
{
	unsigned i;
	bool found = false;

	pthread_mutex_lock(&w->lock);
	for (i = 0; i < w->nbad && !found; i++)
		found = !memcmp(w->bad[i], key, sizeof(w->bad[i]));
	pthread_mutex_unlock(&w->lock);
	return found;
}

static void bad_add(struct verifier *w, const uint64_t key[3])
{
	pthread_mutex_lock(&w->lock);
	if (w->nbad == BAD_MAX)
		memmove(w->bad, w->bad + 1, sizeof(w->bad[0]) * --w->nbad);
	memcpy(w->bad[w->nbad++], key, sizeof(w->bad[0]));
	pthread_mutex_unlock(&w->lock);
}

static void bad_key(const struct store_file *f, const uint8_t sha[32],
		    uint64_t key[3])
{
	key[0] = f->oid;
	key[1] = f->vseq;
	memcpy(&key[2], sha, 8);
}

int verify_start(struct store_file *f, const struct vrec *v)
{
	struct file_verify *c;
	uint64_t key[3];

	if (!(f->s->flags & STORE_VERIFY) ||
	    !(v->flags & STORE_V_HAS_SHA) || !v->attr.size)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->w = hasher_get(f->s);
	bad_key(f, v->sha256, key);
	if (c->w && bad_known(c->w, key)) {
		f->hash_bad = f->damaged = true;
		check_free(c);
		return 0;
	}
	c->ctx = EVP_MD_CTX_new();
	if (!c->w || !c->ctx ||
	    !EVP_DigestInit_ex(c->ctx, EVP_sha256(), NULL)) {
		check_free(c);		/* no check is no error */
		return 0;
	}
	memcpy(c->want, v->sha256, 32);
	f->vfy = c;
	return 0;
}

void verify_stop(struct store_file *f)
{
	struct file_verify *v = f->vfy;
	struct verifier *w;

	if (!v)
		return;
	w = v->w;
	f->vfy = NULL;
	while (v->parked) {
		struct vjob *j = v->parked;

		v->parked = j->next;
		free(j);
	}
	pthread_mutex_lock(&w->lock);
	if (v->jobs)
		v->abandoned = true;
	else
		check_free(v);
	pthread_mutex_unlock(&w->lock);
}

/* seg, or the segments of the copy's map (three at most), for a log. */
static void segs_text(struct store_file *f, uint64_t seg, char *buf,
		      size_t size)
{
	uint64_t c, last = 0;
	size_t n = 0, len = 0;
	char p[SEG_PATH_MAX];

	buf[0] = '\0';
	for (c = 0; n < 3 && len < size && (seg || c < f->nmap); c++) {
		uint64_t sg = seg ? seg : chunk_seg(f, c);

		if (!seg && !f->pages[c / MAP_PAGE]) {	/* a page of holes */
			c |= MAP_PAGE - 1;
			continue;
		}
		if (!sg || sg == SEG_MEM || sg == last)
			continue;
		last = sg;
		seg_path(f->s, sg, p, sizeof(p));
		len += (size_t)snprintf(buf + len, size - len, "%s'%s'",
					n++ ? ", " : "", p);
		if (seg)
			break;
	}
}

void file_damage(struct store_file *f, uint64_t seg, const char *fmt, ...)
{
	char what[160], segs[3 * SEG_PATH_MAX + 8];
	char *key = NULL;
	va_list ap;

	if (f->damaged)
		return;
	f->damaged = true;
	if (f->oid && atomic_exchange(&f->s->damage_logged, f->oid) == f->oid)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	segs_text(f, seg, segs, sizeof(segs));
	if (store_key_path(f->s, f->oid, &key))
		key = NULL;
	log_error("data of key '%s' version %s is damaged: %s (segment %s)",
		  key ? key : "?", f->vid[0] ? f->vid : "?", what, segs);
	free(key);
}

static int verify_end(struct store_file *f)
{
	struct file_verify *v = f->vfy;
	uint64_t key[3];
	uint8_t got[32];
	int rc = 0;

	pthread_mutex_lock(&v->w->lock);
	while (v->jobs)
		pthread_cond_wait(&v->w->idle, &v->w->lock);
	pthread_mutex_unlock(&v->w->lock);
	if (!EVP_DigestFinal_ex(v->ctx, got, NULL))
		rc = -EIO;
	if (!rc && memcmp(got, v->want, 32)) {
		file_damage(f, 0, "its bytes do not match its sha256");
		f->hash_bad = true;
		bad_key(f, v->want, key);
		bad_add(v->w, key);
		f->to_mark = true;	/* for the next mount too */
		memcpy(f->bad_sha, v->want, 32);
		rc = -EIO;
	}
	verify_stop(f);
	return rc;
}

static struct vjob *job_new(struct file_verify *v, const void *buf,
			    size_t n, uint64_t off)
{
	struct vjob *j = malloc(sizeof(*j) + n);

	if (!j)
		return NULL;
	memcpy(j->data, buf, n);
	j->v = v;
	j->off = off;
	j->start = 0;
	j->len = n;
	j->next = NULL;
	return j;
}

/* Hand j, which starts at or before v->next, to the hasher (waiting for
 * room); one that ends before v->next adds nothing and is freed. */
static void job_queue(struct file_verify *v, struct vjob *j)
{
	struct verifier *w = v->w;
	size_t n;

	if (j->off + j->len <= v->next) {
		free(j);
		return;
	}
	j->start = (size_t)(v->next - j->off);
	n = j->len - j->start;
	v->next = j->off + j->len;
	pthread_mutex_lock(&w->lock);
	while (v->jobs && v->backlog + n > BACKLOG)
		pthread_cond_wait(&w->idle, &w->lock);
	v->backlog += n;
	v->jobs++;
	*w->tail = j;
	w->tail = &j->next;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->lock);
}

/* Keep j, which starts after v->next, in offset order. */
static void job_park(struct file_verify *v, struct vjob *j)
{
	struct vjob **pp = &v->parked;

	while (*pp && (*pp)->off < j->off)
		pp = &(*pp)->next;
	j->next = *pp;
	*pp = j;
	v->nparked++;
}

int verify_feed(struct store_file *f, const void *buf, size_t n,
		uint64_t off)
{
	struct file_verify *v = f->vfy;
	struct vjob *j;

	if (!v || !n || off + n <= v->next)
		return 0;
	j = job_new(v, buf, n, off);
	/* Too far out of order, or out of memory: this copy cannot tell. */
	if (!j || (off > v->next && v->nparked == PARK_MAX)) {
		free(j);
		verify_stop(f);
		return 0;
	}
	if (off > v->next) {
		job_park(v, j);
		return 0;
	}
	job_queue(v, j);
	while (v->parked && v->parked->off <= v->next) {
		j = v->parked;
		v->parked = j->next;
		v->nparked--;
		j->next = NULL;
		job_queue(v, j);
	}
	return v->next >= f->size ? verify_end(f) : 0;
}
