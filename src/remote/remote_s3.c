/*
 * remote_s3.c - the s3 destination: a versioned bucket on any
 * S3-compatible endpoint, through src/s3/.
 *
 * Design: one version becomes one PutObject (or one multipart upload,
 * remote_s3_mpu.c), a delete marker one DeleteObject without a version
 * id, so the replica bucket's version list mirrors the source's in
 * order. The source version id travels in x-amz-meta-crrfs-version-id,
 * which is what makes a ship idempotent: with maybe_sent the current
 * version is asked first and nothing is sent when it is already ours.
 * docs/replica-s3.md describes every header.
 *
 * Bytes are read from the source store outside any transaction: small
 * objects into memory (so they also get a Content-MD5), bigger ones
 * streamed from the store with the SHA-256 the store keeps, so a 60 MiB
 * file never sits in memory. Bytes that do not make that SHA-256 never
 * become the replica (ship_file): damage at the source fails the job.
 *
 * Every write must answer with a version id: one without (or "null")
 * means versioning was suspended after the mount checked it, and the
 * write has just replaced the replica's history, so the ship FAILS
 * rather than reporting COMPLETED, and later ships ask for versioning
 * again before they write anything.
 *
 * Cancel (remote_obj.cancel): every request that carries data gets the
 * flag, so a stop aborts the transfer in flight; what it leaves is what
 * a kill -9 would, and maybe_sent on the next attempt sorts it out.
 */
#include "remote/remote_s3_int.h"

#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/creds.h"
#include "s3/sigv4.h"

static void hex32(const uint8_t in[32], char out[65])
{
	static const char hx[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 32; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[64] = '\0';
}

static int s3_check(struct remote *base, char *why, size_t whylen)
{
	struct remote_s3 *r = (struct remote_s3 *)base;
	char status[16], sub[REMOTE_WHY_MAX];
	int rc;

	rc = s3_head_bucket(r->c, sub, sizeof(sub));
	if (rc == -ENOENT) {
		snprintf(why, whylen, "bucket '%s' does not exist at %s",
			 r->bucket, r->endpoint);
		return rc;
	}
	if (rc == -EAGAIN) {
		snprintf(why, whylen, "cannot reach %s: %s", r->endpoint, sub);
		return rc;
	}
	if (rc) {
		snprintf(why, whylen, "%s", sub);
		return rc;
	}
	rc = s3_get_bucket_versioning(r->c, status, sub, sizeof(sub));
	if (rc) {
		snprintf(why, whylen, "%s", sub);
		return rc;
	}
	if (strcmp(status, "Enabled")) {
		snprintf(why, whylen, "versioning of bucket '%s' is not "
			 "enabled (it is %s): enable it before replicating",
			 r->bucket, status[0] ? status : "off");
		return -EINVAL;
	}
	return 0;
}

/*
 * The bucket's versioning status into status, or why it is unknown; the
 * query's result (-EAGAIN: the server could not be reached).
 */
static int versioning_now(struct remote_s3 *r, char *status, size_t len)
{
	char st[16], sub[160];
	int rc = s3_get_bucket_versioning(r->c, st, sub, sizeof(sub));

	if (rc)
		snprintf(status, len, "unknown (cannot ask: %.160s)", sub);
	else
		snprintf(status, len, "%s", st[0] ? st : "off");
	return rc;
}

int remote_s3_versioned(struct remote_s3 *r, const struct remote_obj *o,
			const char *vid, char *why, size_t whylen)
{
	char status[200];

	if (vid[0] && strcmp(vid, "null"))
		return 0;
	atomic_store(&r->unversioned, true);
	versioning_now(r, status, sizeof(status));
	snprintf(why, whylen, "destination '%s' returned no version id for "
		 "'%s': bucket '%s' versioning is %s (the write replaced "
		 "what the bucket had of that key; enable versioning, then "
		 "'crrfs resync --failed')", r->base.name, o->key, r->bucket,
		 status);
	return -EPROTO;
}

/*
 * Before a ship once a write came back unversioned: is it Enabled now?
 * A question that cannot reach the server is an outage (-EAGAIN: the
 * ship is retried), not a reason to fail the version for good.
 */
static int versioning_back(struct remote_s3 *r, char *why, size_t whylen)
{
	char status[200];
	int rc;

	if (!atomic_load(&r->unversioned))
		return 0;
	rc = versioning_now(r, status, sizeof(status));
	if (!rc && !strcmp(status, "Enabled")) {
		atomic_store(&r->unversioned, false);
		return 0;
	}
	if (rc == -EAGAIN) {
		snprintf(why, whylen, "destination '%s': bucket '%s' versioning "
			 "is %s", r->base.name, r->bucket, status);
		return rc;
	}
	snprintf(why, whylen, "destination '%s': bucket '%s' versioning is %s;"
		 " not shipped, as it would replace the bucket's history (enable "
		 "versioning, then 'crrfs resync --failed')", r->base.name,
		 r->bucket, status);
	return -EPROTO;
}

struct first_version {
	const char *key;
	bool found, delete_marker;
};

static int first_version_cb(void *arg, const struct s3_version *v)
{
	struct first_version *fv = arg;

	if (strcmp(v->key, fv->key))
		return 0;	/* a longer key with this prefix */
	fv->found = true;
	fv->delete_marker = v->delete_marker && v->is_latest;
	return 1;
}

/*
 * Whether the destination already has o as its current version. For a
 * delete marker the listing is asked (RGW answers HEAD on a deleted key
 * without x-amz-delete-marker).
 */
static int already_there(struct remote_s3 *r, const struct remote_obj *o,
			 bool *yes, char *why, size_t whylen)
{
	struct s3_http_resp resp;
	const char *vid;
	int rc;

	*yes = false;
	if (o->v.flags & STORE_V_DELETE_MARKER) {
		struct first_version fv = { o->key, false, false };

		rc = s3_list_versions(r->c, o->key, first_version_cb, &fv,
				      why, whylen);
		*yes = !rc && fv.found && fv.delete_marker;
		return rc;
	}
	rc = s3_head_object(r->c, o->key, NULL, &resp, why, whylen);
	if (!rc) {
		vid = s3_http_resp_header(&resp,
					  "x-amz-meta-" S3_META_VID);
		*yes = vid && !strcmp(vid, o->v.vid);
	} else if (rc == -ENOENT) {
		rc = 0;
	}
	s3_http_resp_release(&resp);
	return rc;
}

int remote_s3_drop_upload(struct remote_s3 *r, const struct remote_obj *o,
			  char *why, size_t whylen)
{
	int rc;

	if (!o->prev_upload || !*o->prev_upload)
		return 0;
	rc = s3_mpu_abort(r->c, o->key, o->prev_upload, why, whylen);
	if (!rc && o->note_upload) {
		rc = o->note_upload(o->note_arg, "");
		if (rc)
			snprintf(why, whylen, "cannot record the upload of "
				 "'%s': %s", o->key, strerror(-rc));
	}
	return rc;
}

/* A streamed body's source; the first read error is kept for why. */
struct stream_src {
	struct store_file *f;
	int err;
};

static ssize_t file_read(void *arg, void *buf, size_t len, uint64_t off)
{
	struct stream_src *src = arg;
	ssize_t n = store_file_read(src->f, buf, len, off);

	if (n < 0 && !src->err)
		src->err = (int)n;
	return n;
}

/*
 * The server refused a streamed body as not matching its signed
 * sha256: hash what the store gives now, to tell damage from a transfer
 * that garbled it. 0 (the store's bytes match: not damage), or the
 * failure remote_bad_data makes of it.
 */
static int stream_recheck(const struct remote_obj *o, struct store_file *f,
			  const uint8_t want[32], char *why, size_t whylen)
{
	uint8_t got[32];
	int rc = store_file_sha256(f, got);

	if (rc == -ENOMEM)
		return rc;
	if (rc)
		return remote_bad_data(o, rc, why, whylen);
	return memcmp(got, want, 32) ? remote_bad_data(o, 0, why, whylen) : 0;
}

/*
 * A small version into *buf (the caller frees it), checked against
 * digest here: the client signs a body in memory with the hash of what
 * it was given, so nobody else would notice.
 */
static int read_whole(const struct remote_obj *o, struct store_file *f,
		      uint64_t size, const uint8_t digest[32], char **buf,
		      char *why, size_t whylen)
{
	uint8_t got[32];
	ssize_t n;

	*buf = malloc(size ? (size_t)size : 1);
	if (!*buf) {
		snprintf(why, whylen, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	n = size ? store_file_read(f, *buf, (size_t)size, 0) : 0;
	if (n != (ssize_t)size)
		return remote_bad_data(o, n < 0 ? (int)n : -EIO, why, whylen);
	SHA256((const uint8_t *)*buf, (size_t)size, got);
	if (memcmp(got, digest, 32))
		return remote_bad_data(o, 0, why, whylen);
	return 0;
}

/*
 * A whole file version: in memory, streamed, or in parts. digest is the
 * version's sha256 (sha in hex): bytes that do not match it never go
 * out as the version. In memory read_whole hashes them; a streamed body
 * is signed with digest, so the server refuses it (-EBADMSG) and
 * stream_recheck says why; multipart parts are hashed as they are read.
 */
static int ship_file(struct remote_s3 *r, const struct remote_obj *o,
		     struct s3_hdrs *h, const uint8_t digest[32],
		     const char *sha, char *why, size_t whylen)
{
	struct stream_src src = { 0 };
	struct s3_body b = { 0 };
	char *buf = NULL, vid[S3_ID_MAX] = "";
	uint64_t size;
	int rc;

	rc = store_file_open(o->src, o->oid, o->v.vseq, &src.f);
	if (rc)
		return remote_bad_data(o, rc, why, whylen);
	size = store_file_size(src.f);
	if (size >= S3_MULTIPART_MIN) {
		rc = remote_s3_multipart(r, o, src.f, size, digest, h, why,
					 whylen);
		goto out;
	}
	if (size <= S3_INMEM_MAX) {
		rc = read_whole(o, src.f, size, digest, &buf, why, whylen);
		if (rc)
			goto out;
		b.data = buf;
	} else {
		b.read = file_read;
		b.read_arg = &src;
		b.sha256_hex = sha;
	}
	b.len = size;
	b.cancel = o->cancel;
	rc = s3_put_object(r->c, o->key, (const char *const *)h->v, h->n, &b,
			   vid, why, whylen);
	if (rc && rc != -ECANCELED && src.err)
		rc = remote_bad_data(o, src.err, why, whylen);
	else if (rc == -EBADMSG)
		rc = stream_recheck(o, src.f, digest, why, whylen) ?
		     -EIO : rc;
	if (!rc)
		rc = remote_s3_versioned(r, o, vid, why, whylen);
out:
	free(buf);
	store_file_free(src.f);
	return rc;
}

static int ship_cancelled(char *why, size_t whylen)
{
	snprintf(why, whylen, "cancelled");
	return -ECANCELED;
}

static int s3_ship(struct remote *base, const struct remote_obj *o,
		   char *why, size_t whylen)
{
	struct remote_s3 *r = (struct remote_s3 *)base;
	struct s3_hdrs h = { 0 };
	struct s3_body b = { 0 };
	char sha[65], *target = NULL, vid[S3_ID_MAX] = "";
	uint8_t digest[32];
	bool there;
	int rc;

	if (remote_cancelled(o))
		return ship_cancelled(why, whylen);
	if (o->maybe_sent) {
		rc = already_there(r, o, &there, why, whylen);
		if (rc)
			return rc;
		/* An upload a killed process left behind is aborted even
		 * when the version got there by another attempt. */
		if (there)
			return remote_s3_drop_upload(r, o, why, whylen);
		if (remote_cancelled(o))
			return ship_cancelled(why, whylen);
	}
	rc = versioning_back(r, why, whylen);
	if (rc)
		return rc;
	if (o->v.flags & STORE_V_DELETE_MARKER) {
		rc = s3_delete_object(r->c, o->key, vid, why, whylen);
		return rc ? rc : remote_s3_versioned(r, o, vid, why, whylen);
	}

	if (o->v.flags & STORE_V_HAS_SHA) {
		memcpy(digest, o->v.sha256, 32);
	} else {
		rc = store_sha256(o->src, o->oid, o->v.vseq, digest);
		if (rc)
			return remote_bad_data(o, rc, why, whylen);
	}
	hex32(digest, sha);
	rc = remote_s3_headers(r, o, sha, &h, why, whylen);
	if (rc)
		goto out;
	b.cancel = o->cancel;
	switch (o->v.type) {
	case STORE_T_FILE:
		rc = ship_file(r, o, &h, digest, sha, why, whylen);
		break;
	case STORE_T_DIR:	/* a zero-byte "folder" object */
		b.data = "";
		rc = s3_put_object(r->c, o->key, (const char *const *)h.v,
				   h.n, &b, vid, why, whylen);
		break;
	case STORE_T_SYMLINK:	/* as s3fs: the bytes are the target */
		rc = store_readlink(o->src, o->oid, o->v.vseq, &target);
		if (rc) {
			snprintf(why, whylen, "cannot read symlink '%s': %s",
				 o->key, strerror(-rc));
			break;
		}
		b.data = target;
		b.len = strlen(target);
		rc = s3_put_object(r->c, o->key, (const char *const *)h.v,
				   h.n, &b, vid, why, whylen);
		break;
	default:
		snprintf(why, whylen, "cannot ship '%s': unknown type %d",
			 o->key, (int)o->v.type);
		rc = -EINVAL;
	}
	if (!rc && o->v.type != STORE_T_FILE)
		rc = remote_s3_versioned(r, o, vid, why, whylen);
out:
	free(target);
	s3_hdrs_release(&h);
	return rc;
}

static void s3_free(struct remote *base)
{
	struct remote_s3 *r = (struct remote_s3 *)base;

	s3_client_free(r->c);
	pthread_cond_destroy(&r->parts_cond);
	pthread_mutex_destroy(&r->parts_lock);
	free(r->endpoint);
	free(r->bucket);
	free(r->storage_class);
	free(r);
}

static const struct remote_ops s3_ops = {
	.check = s3_check,
	.ship = s3_ship,
	.free = s3_free,
};

int remote_s3_open(const struct rules_dest *d, struct remote **out,
		   char *why, size_t whylen)
{
	struct s3_client_opts co = { 0 };
	struct s3_creds creds = { 0 };
	struct remote_s3 *r;
	int rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->base.ops = &s3_ops;
	atomic_init(&r->unversioned, false);
	pthread_mutex_init(&r->parts_lock, NULL);
	pthread_cond_init(&r->parts_cond, NULL);
	snprintf(r->base.name, sizeof(r->base.name), "%s",
		 d->name ? d->name : "");
	r->endpoint = strdup(d->endpoint ? d->endpoint : "");
	r->bucket = strdup(d->bucket ? d->bucket : "");
	if (d->storage_class)
		r->storage_class = strdup(d->storage_class);
	if (!r->endpoint || !r->bucket ||
	    (d->storage_class && !r->storage_class)) {
		rc = -ENOMEM;
		snprintf(why, whylen, "%s", strerror(ENOMEM));
		goto fail;
	}
	rc = s3_http_global_init();
	if (rc) {
		snprintf(why, whylen, "cannot initialise libcurl");
		goto fail;
	}
	rc = s3_creds_load(d->credentials, d->profile, &creds, why, whylen);
	if (rc)
		goto fail;
	co.endpoint = d->endpoint;
	co.region = d->region;
	co.bucket = d->bucket;
	co.path_style = d->path_style;
	co.ca_file = d->ca_file;
	co.creds = &creds;
	rc = s3_client_new(&co, &r->c, why, whylen);
	if (rc)
		goto fail;
	s3_creds_release(&creds);
	*out = &r->base;
	return 0;
fail:
	s3_creds_release(&creds);
	s3_free(&r->base);
	return rc;
}
