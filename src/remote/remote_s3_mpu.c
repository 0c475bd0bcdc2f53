/*
 * remote_s3_mpu.c - one big version as an S3 multipart upload, parts in
 * parallel, never leaving an orphan upload behind.
 *
 * States of an upload (the job's recorded upload id in brackets):
 *
 *   [prev?] --abort prev--> [] --create--> NOTE(id) [id] --parts-->
 *       all parts ok --complete--> [id] --note("")--> []    done
 *       any failure  --abort-->    [id] --note("")--> []    error
 *       abort fails  ------------> [id]                     error
 *       cancel       ------------> [id]                     -ECANCELED
 *
 * Invariants: the upload id is recorded durably (note_upload) before
 * the first part is sent, and cleared only once the upload is complete
 * or aborted; so after kill -9 at any point the next attempt finds the
 * id in prev_upload and aborts it first. Workers (up to
 * S3_PARTS_IN_FLIGHT threads) each take the next part number and one of
 * the destination's S3_PART_BUDGET part buffers, read that part from the
 * store into it, and send it with its SHA-256 and MD5; the first failure
 * stops the others from starting new parts. A thread holds one buffer at
 * a time and gives it back after each part, so uploads waiting for a
 * buffer always make progress.
 *
 * Damage: each part is hashed (sha256 of the whole version, in part
 * order) before it is sent, so a part waits for the one before it to be
 * hashed. A thread takes its buffer before its part number, so the
 * lowest part not yet hashed is always held by a thread that is reading
 * it, never one waiting for a buffer: no deadlock. When the hash of all
 * parts is not the version's sha256, the upload is aborted: damage at
 * the source never becomes the replica.
 *
 * Cancel (remote_obj.cancel): the parts in flight are aborted by their
 * own transfers (the flag rides in each part's body), no new part starts,
 * and the upload is left as a kill -9 would leave it: recorded, for the
 * next attempt to abort. Aborting it now would make a stop wait for the
 * server, and an id recorded but not aborted is never an orphan. The
 * requests that create, complete or abort an upload are not cancelled:
 * they are short, and their outcome must be known (an upload created
 * but never recorded would be an orphan).
 */
#include "remote/remote_s3_int.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util/clock.h"
#include "util/log.h"

struct mpu {
	struct remote_s3 *r;
	const struct remote_obj *o;
	struct store_file *f;
	const char *upload_id;
	uint64_t size, part_size;
	unsigned nparts;
	char (*etags)[S3_ID_MAX];	/* [nparts], each written by one worker */
	pthread_mutex_t lock;		/* protects next, rc, why, hashed */
	pthread_cond_t hashed_cond;	/* hashed grew, or rc was set */
	unsigned next;			/* next part to send, 0-based */
	unsigned hashed;		/* parts in sha so far */
	EVP_MD_CTX *sha;		/* of parts 0..hashed-1 */
	int rc;				/* first failure */
	char why[REMOTE_WHY_MAX];
};

static void mpu_fail(struct mpu *m, int rc, const char *why)
{
	pthread_mutex_lock(&m->lock);
	if (!m->rc) {
		m->rc = rc;
		snprintf(m->why, sizeof(m->why), "%s", why);
	}
	pthread_cond_broadcast(&m->hashed_cond);
	pthread_mutex_unlock(&m->lock);
}

/* Add part i to the version's hash once parts 0..i-1 are; 0, or the
 * first failure (then part i is not sent). */
static int part_hash(struct mpu *m, unsigned i, const char *buf,
		     uint64_t len)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	while (m->hashed != i && !m->rc)
		pthread_cond_wait(&m->hashed_cond, &m->lock);
	rc = m->rc;
	pthread_mutex_unlock(&m->lock);
	if (rc)
		return rc;
	/* Only the holder of part hashed touches sha. */
	EVP_DigestUpdate(m->sha, buf, (size_t)len);
	pthread_mutex_lock(&m->lock);
	m->hashed++;
	pthread_cond_broadcast(&m->hashed_cond);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/* Read a part in 1 MiB pieces, so a cancel is seen between them. */
static ssize_t part_read(struct mpu *m, char *buf, uint64_t len,
			 uint64_t off)
{
	uint64_t done = 0;

	while (done < len) {
		size_t want = len - done < (1u << 20) ? (size_t)(len - done)
						      : (1u << 20);
		ssize_t n;

		if (remote_cancelled(m->o))
			return -ECANCELED;
		n = store_file_read(m->f, buf + done, want, off + done);
		if (n <= 0)
			return n < 0 ? n : (ssize_t)done;
		done += (uint64_t)n;
	}
	return (ssize_t)done;
}

/* A part buffer's slot is free again: wake one upload waiting for it. */
static void part_slot_give(struct remote_s3 *r)
{
	pthread_mutex_lock(&r->parts_lock);
	r->parts_used--;
	pthread_cond_signal(&r->parts_cond);
	pthread_mutex_unlock(&r->parts_lock);
}

/*
 * Take one of the destination's part buffer slots, waiting for one to
 * be given back when all are out; 0, or -ECANCELED.
 */
static int part_slot_take(struct mpu *m)
{
	struct remote_s3 *r = m->r;

	pthread_mutex_lock(&r->parts_lock);
	while (r->parts_used >= S3_PART_BUDGET && !remote_cancelled(m->o)) {
		/* Timed, so a cancel is seen within 50 ms. */
		struct timespec t = clock_deadline_ms(50);

		pthread_cond_timedwait(&r->parts_cond, &r->parts_lock, &t);
	}
	if (remote_cancelled(m->o)) {
		pthread_mutex_unlock(&r->parts_lock);
		return -ECANCELED;
	}
	if (++r->parts_used > r->parts_peak)
		r->parts_peak = r->parts_used;
	pthread_mutex_unlock(&r->parts_lock);
	return 0;
}

/* A buffer of len bytes in a slot already taken; NULL: out of memory. */
static char *part_buf_map(uint64_t len)
{
	/* mmap, not malloc: glibc would keep a freed 16 MiB block in each
	 * thread's arena, and the budget would not bound the memory. */
	char *buf = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return buf == MAP_FAILED ? NULL : buf;
}

static void part_buf_give(struct mpu *m, char *buf, uint64_t len)
{
	munmap(buf, (size_t)len);
	part_slot_give(m->r);
}

/* Send part i, its buffer slot taken; 0, or the failure recorded in m.
 * Gives the slot back. */
static int mpu_part(struct mpu *m, unsigned i)
{
	char why[REMOTE_WHY_MAX];
	struct s3_body b = { 0 };
	uint64_t off = (uint64_t)i * m->part_size;
	uint64_t len = m->size - off < m->part_size ? m->size - off :
						      m->part_size;
	char *buf;
	ssize_t n;
	int rc = 0;

	buf = part_buf_map(len);
	if (!buf) {
		part_slot_give(m->r);
		mpu_fail(m, -ENOMEM, "cannot allocate a part buffer");
		return -ENOMEM;
	}
	n = part_read(m, buf, len, off);
	if (n == -ECANCELED) {
		rc = -ECANCELED;
		mpu_fail(m, rc, "cancelled");
		goto out;
	}
	if (n != (ssize_t)len) {
		rc = remote_bad_data(m->o, n < 0 ? (int)n : -EIO, why,
				     sizeof(why));
		mpu_fail(m, rc, why);
		goto out;
	}
	rc = part_hash(m, i, buf, len);
	if (rc)
		goto out;
	b.data = buf;
	b.len = len;
	b.cancel = m->o->cancel;
	rc = s3_mpu_part(m->r->c, m->o->key, m->upload_id, i + 1, &b,
			 m->etags[i], why, sizeof(why));
	if (rc)
		mpu_fail(m, rc, why);
out:
	part_buf_give(m, buf, len);
	return rc;
}

static void *mpu_worker(void *arg)
{
	struct mpu *m = arg;
	unsigned i;

	for (;;) {
		pthread_mutex_lock(&m->lock);
		i = m->rc ? m->nparts : m->next;
		pthread_mutex_unlock(&m->lock);
		if (i >= m->nparts)	/* no slot to wait for then */
			break;
		if (remote_cancelled(m->o) || part_slot_take(m)) {
			mpu_fail(m, -ECANCELED, "cancelled");
			break;
		}
		pthread_mutex_lock(&m->lock);
		i = m->rc ? m->nparts : m->next++;
		pthread_mutex_unlock(&m->lock);
		if (i >= m->nparts) {
			part_slot_give(m->r);
			break;
		}
		if (mpu_part(m, i))
			break;
	}
	return NULL;
}

/* Send every part with up to S3_PARTS_IN_FLIGHT threads. */
static int mpu_send_parts(struct mpu *m)
{
	pthread_t th[S3_PARTS_IN_FLIGHT];
	unsigned nth = m->nparts < S3_PARTS_IN_FLIGHT ? m->nparts :
			S3_PARTS_IN_FLIGHT, started = 0, i;

	for (i = 0; i < nth; i++) {
		if (pthread_create(&th[i], NULL, mpu_worker, m)) {
			mpu_fail(m, -EAGAIN, "cannot start an upload thread");
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	return m->rc;
}

static int note(const struct remote_obj *o, const char *id, char *why,
		size_t whylen)
{
	int rc = o->note_upload ? o->note_upload(o->note_arg, id) : 0;

	if (rc)
		snprintf(why, whylen, "cannot record the upload of '%s': %s",
			 o->key, strerror(-rc));
	return rc;
}

/* After every part was sent: do they make the version's sha256? */
static int mpu_check_sha(struct mpu *m, const uint8_t digest[32],
			 char *why, size_t whylen)
{
	uint8_t got[32];

	EVP_DigestFinal_ex(m->sha, got, NULL);
	if (m->hashed != m->nparts || memcmp(got, digest, 32))
		return remote_bad_data(m->o, 0, why, whylen);
	return 0;
}

int remote_s3_multipart(struct remote_s3 *r, const struct remote_obj *o,
			struct store_file *f, uint64_t size,
			const uint8_t digest[32], const struct s3_hdrs *h,
			char *why, size_t whylen)
{
	struct mpu m;
	char *upload_id = NULL, abort_why[REMOTE_WHY_MAX], vid[S3_ID_MAX] = "";
	int rc, arc;

	memset(&m, 0, sizeof(m));
	rc = remote_s3_drop_upload(r, o, why, whylen);
	if (rc)
		return rc;
	if (remote_cancelled(o)) {
		snprintf(why, whylen, "cancelled");
		return -ECANCELED;
	}
	m.part_size = S3_PART_SIZE;
	while ((size + m.part_size - 1) / m.part_size > S3_PARTS_MAX)
		m.part_size *= 2;
	m.nparts = (unsigned)((size + m.part_size - 1) / m.part_size);
	m.etags = calloc(m.nparts, sizeof(*m.etags));
	m.sha = EVP_MD_CTX_new();
	if (!m.etags || !m.sha ||
	    !EVP_DigestInit_ex(m.sha, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(m.sha);
		free(m.etags);
		snprintf(why, whylen, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	rc = s3_mpu_create(r->c, o->key, (const char *const *)h->v, h->n,
			   &upload_id, why, whylen);
	if (rc)
		goto out;
	rc = note(o, upload_id, why, whylen);
	if (rc)
		goto abort;
	m.r = r;
	m.o = o;
	m.f = f;
	m.size = size;
	m.upload_id = upload_id;
	pthread_mutex_init(&m.lock, NULL);
	pthread_cond_init(&m.hashed_cond, NULL);
	rc = mpu_send_parts(&m);
	pthread_cond_destroy(&m.hashed_cond);
	pthread_mutex_destroy(&m.lock);
	if (rc && remote_cancelled(o)) {
		/* left recorded: the next attempt aborts it */
		rc = -ECANCELED;
		snprintf(why, whylen, "cancelled");
		goto out;
	}
	if (rc) {
		snprintf(why, whylen, "%s", m.why);
		goto abort;
	}
	rc = mpu_check_sha(&m, digest, why, whylen);
	if (rc)
		goto abort;
	rc = s3_mpu_complete(r->c, o->key, upload_id, m.etags, m.nparts, vid,
			     why, whylen);
	if (rc)
		goto abort;
	rc = note(o, "", why, whylen);
	if (!rc)
		rc = remote_s3_versioned(r, o, vid, why, whylen);
	goto out;
abort:
	/* Keep the id recorded unless the abort worked: the next attempt
	 * aborts it then. */
	arc = s3_mpu_abort(r->c, o->key, upload_id, abort_why,
			   sizeof(abort_why));
	if (arc)
		log_warn("cannot abort the upload of '%s' yet: %s", o->key,
			 abort_why);
	else
		note(o, "", abort_why, sizeof(abort_why));
out:
	free(upload_id);
	free(m.etags);
	EVP_MD_CTX_free(m.sha);
	return rc;
}
