/*
 * remote_s3_meta.c - the headers a replica carries on S3: the names s3fs
 * and rclone read for POSIX attributes, crrfs's own ids, user metadata,
 * tags and the storage class (docs/replica-s3.md is the reference).
 *
 * Design: a replica must be readable by ordinary tools in a disaster, so
 * plain metadata goes as plain x-amz-meta-NAME headers; anything that
 * would not survive as a header (upper case or odd bytes in the name,
 * bytes outside printable ASCII in the value, a name crrfs itself uses)
 * goes in an encoded header of its own instead, never dropped. Times are
 * "SECONDS.NANOSECONDS" with nine digits: s3fs reads the part after the
 * dot as nanoseconds and rclone as a decimal fraction, and with nine
 * digits both read the same instant. Tags are checked against S3's
 * rules (util/tag.h) before they are sent.
 */
#include "remote/remote_s3_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "s3/uri.h"
#include "util/tag.h"

#define USER_PREFIX "user."
#define TAG_PREFIX "user.crrfs.tag."
#define CRRFS_PREFIX "user.crrfs."

int s3_hdrs_add(struct s3_hdrs *h, const char *fmt, ...)
{
	va_list ap;
	char *line;
	int n;

	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		char **v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	h->v[h->n++] = line;
	return 0;
}

void s3_hdrs_release(struct s3_hdrs *h)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		free(h->v[i]);
	free(h->v);
	memset(h, 0, sizeof(*h));
}

/* "SECONDS" or "SECONDS.NNNNNNNNN", seconds floored (times before 1970). */
static void fmt_time(int64_t ns, char *buf, size_t size)
{
	int64_t sec = ns / 1000000000, rem = ns % 1000000000;

	if (rem < 0) {
		rem += 1000000000;
		sec--;
	}
	if (rem)
		snprintf(buf, size, "%lld.%09lld", (long long)sec,
			 (long long)rem);
	else
		snprintf(buf, size, "%lld", (long long)sec);
}

static bool reserved_name(const char *n)
{
	static const char *const names[] = { "mode", "uid", "gid", "mtime",
					     "atime", "ctime" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(n, names[i]))
			return true;
	return !strncmp(n, "crrfs-", 6);
}

/* A name that survives as x-amz-meta-NAME (S3 lower-cases names). */
static bool plain_name(const char *n)
{
	size_t len = strlen(n);

	return len && len <= 128 &&
	       strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789-_.") == len &&
	       !reserved_name(n);
}

/* A value that survives as a header: printable ASCII, spaces single and
 * not at either end (HTTP trims them and SigV4 folds runs). */
static bool plain_value(const unsigned char *v, size_t len)
{
	size_t i;

	if (len && (v[0] == ' ' || v[len - 1] == ' '))
		return false;
	for (i = 0; i < len; i++) {
		if (v[i] < 0x20 || v[i] > 0x7e)
			return false;
		if (v[i] == ' ' && i && v[i - 1] == ' ')
			return false;
	}
	return true;
}

static int add_encoded_xattr(struct s3_hdrs *h, unsigned idx,
			     const char *name, const void *val, size_t len)
{
	char *ename = NULL, *b64;
	int rc;

	b64 = malloc(4 * ((len + 2) / 3) + 1);
	if (!b64)
		return -ENOMEM;
	EVP_EncodeBlock((unsigned char *)b64, val, (int)len);
	rc = sigv4_uri_encode(name, strlen(name), 0, &ename);
	if (!rc)
		rc = s3_hdrs_add(h, "x-amz-meta-" S3_META_XATTR "%u: %s;%s",
				 idx, ename, b64);
	free(ename);
	free(b64);
	return rc;
}

/* Append "&NAME=VALUE" (URL-encoded) to the tagging string *tags. */
static int add_tag(char **tags, const char *name, const void *val,
		   size_t len)
{
	char *en = NULL, *ev = NULL, *t = NULL;
	int rc;

	rc = sigv4_uri_encode(name, strlen(name), 0, &en);
	if (!rc)
		rc = sigv4_uri_encode(val, len, 0, &ev);
	if (!rc && asprintf(&t, "%s%s%s=%s", *tags ? *tags : "",
			    *tags ? "&" : "", en, ev) < 0) {
		t = NULL;
		rc = -ENOMEM;
	}
	if (!rc) {
		free(*tags);
		*tags = t;
	}
	free(en);
	free(ev);
	return rc;
}

/*
 * A tag S3 would refuse (one stored before crrfs checked tags, or by an
 * older crrfs) fails the ship with why: sent, it would make the whole
 * tagging of the replica unreadable, or the PUT refused without a word
 * about which tag.
 */
static int tag_ok(const struct remote_obj *o, const struct store_xattr *x,
		  unsigned ntags, char *why, size_t whylen)
{
	const char *n = x->name + strlen(TAG_PREFIX);
	const char *bad = tag_problem(n, strlen(n), x->value, x->size);

	if (bad) {
		snprintf(why, whylen, "cannot ship tag '%.128s' of '%s': %s "
			 "(remove or fix it and write the file again)", n,
			 o->key, bad);
		return -EINVAL;
	}
	if (ntags > TAG_COUNT_MAX) {
		snprintf(why, whylen, "cannot ship the tags of '%s': %u tags, "
			 "S3 allows %d", o->key, ntags, TAG_COUNT_MAX);
		return -EINVAL;
	}
	return 0;
}

static unsigned count_tags(const struct remote_obj *o)
{
	unsigned n = 0;

	for (size_t i = 0; i < o->nxattrs; i++)
		n += !strncmp(o->xattrs[i].name, TAG_PREFIX,
			      strlen(TAG_PREFIX));
	return n;
}

static int add_xattrs(const struct remote_obj *o, struct s3_hdrs *h,
		      char **tags, char *why, size_t whylen)
{
	unsigned nenc = 0, ntags = count_tags(o);
	size_t i;
	int rc = 0;

	for (i = 0; i < o->nxattrs && !rc; i++) {
		const struct store_xattr *x = &o->xattrs[i];
		const char *n = x->name;

		if (!strncmp(n, TAG_PREFIX, strlen(TAG_PREFIX))) {
			rc = tag_ok(o, x, ntags, why, whylen);
			if (!rc)
				rc = add_tag(tags, n + strlen(TAG_PREFIX),
					     x->value, x->size);
		} else if (!strncmp(n, CRRFS_PREFIX, strlen(CRRFS_PREFIX))) {
			continue;	/* reserved, and not metadata */
		} else if (strncmp(n, USER_PREFIX, strlen(USER_PREFIX))) {
			continue;	/* only user.* is replicated */
		} else if (plain_name(n + 5) && plain_value(x->value, x->size)) {
			rc = s3_hdrs_add(h, "x-amz-meta-%s: %.*s", n + 5,
					 (int)x->size, (const char *)x->value);
		} else {
			rc = add_encoded_xattr(h, nenc++, n + 5, x->value,
					       x->size);
		}
	}
	return rc;
}

int remote_s3_headers(const struct remote_s3 *r, const struct remote_obj *o,
		      const char *sha_hex, struct s3_hdrs *h, char *why,
		      size_t whylen)
{
	const struct store_attr *a = &o->v.attr;
	const char *sc = o->storage_class ? o->storage_class :
			 r->storage_class;
	char mt[32], at[32], ct[32];
	char *tags = NULL;
	int rc;

	fmt_time(a->mtime_ns, mt, sizeof(mt));
	fmt_time(a->atime_ns, at, sizeof(at));
	fmt_time(a->ctime_ns, ct, sizeof(ct));
	rc = s3_hdrs_add(h, "Content-Type: %s", o->v.type == STORE_T_DIR ?
			 "application/x-directory" :
			 "application/octet-stream");
	if (!rc)
		rc = s3_hdrs_add(h, "x-amz-meta-mode: %u", (unsigned)a->mode);
	if (!rc)
		rc = s3_hdrs_add(h, "x-amz-meta-uid: %u", (unsigned)a->uid);
	if (!rc)
		rc = s3_hdrs_add(h, "x-amz-meta-gid: %u", (unsigned)a->gid);
	if (!rc)
		rc = s3_hdrs_add(h, "x-amz-meta-mtime: %s", mt);
	if (!rc)
		rc = s3_hdrs_add(h, "x-amz-meta-atime: %s", at);
	if (!rc)
		rc = s3_hdrs_add(h, "x-amz-meta-ctime: %s", ct);
	if (!rc)
		rc = s3_hdrs_add(h, "x-amz-meta-" S3_META_VID ": %s",
				 o->v.vid);
	if (!rc)
		rc = s3_hdrs_add(h, "x-amz-meta-" S3_META_SHA ": %s", sha_hex);
	if (!rc) {
		rc = add_xattrs(o, h, &tags, why, whylen);
		if (rc == -EINVAL)
			goto out;	/* why says which tag */
	}
	if (!rc && tags)
		rc = s3_hdrs_add(h, "x-amz-tagging: %s", tags);
	if (!rc && sc && *sc)
		rc = s3_hdrs_add(h, "x-amz-storage-class: %s", sc);
	if (rc)
		snprintf(why, whylen, "cannot build the headers of '%s': %s",
			 o->key, strerror(-rc));
out:
	free(tags);
	return rc;
}
