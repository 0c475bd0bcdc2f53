/*
 * inbox.c - encode and decode the records of a dir destination's inbox
 * (see inbox.h and docs/replica-dir.md for the layout).
 *
 * Design: a fixed header, a metadata block built in memory (small: key,
 * attributes, xattrs, symlink target), then the data streamed from the
 * source store in 1 MiB pieces, then a trailer with the SHA-256 of the
 * metadata and of the data. Integers are little-endian, strings are
 * stored with their NUL so the reader can point into the block. The
 * reader trusts nothing: every length is checked against the file's
 * size and the store's limits before it is used.
 */
#include "remote/inbox.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/vid.h"
#include "versions/versions.h"

static const char rec_magic[8] = { 'C', 'R', 'R', 'F', 'S', 'R', 'E', 'C' };
static const char end_magic[8] = { 'C', 'R', 'R', 'F', 'S', 'E', 'N', 'D' };

#define REC_VERSION 1
#define HEAD_LEN 16			/* magic, version, meta length */
#define TRAILER_LEN (32 + 32 + 8)	/* meta sha, data sha, end magic */
#define META_MAX (STORE_XATTRS_TOTAL_MAX + 2 * 65536 + 4096)
#define KEY_MAX 65536
#define REC_KEY_PATH_MAX 4095
#define TARGET_MAX 65536
#define COPY_BUF (1 << 20)

enum rec_flags { REC_DELETE_MARKER = 1 << 0 };

int remote_pathf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

void remote_inbox_name(const char *vid, char out[INBOX_NAME_MAX])
{
	snprintf(out, INBOX_NAME_MAX, "%s%s", vid, INBOX_SUFFIX);
}

/* ---- writing ---- */

/* A growing buffer; the first failed allocation sticks in err. */
struct wbuf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static void wb_put(struct wbuf *b, const void *src, size_t n)
{
	if (b->err)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		uint8_t *p;

		while (cap < b->len + n)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void wb_u64(struct wbuf *b, uint64_t v, size_t bytes)
{
	uint8_t le[8];
	size_t i;

	for (i = 0; i < bytes; i++)
		le[i] = (uint8_t)(v >> (8 * i));
	wb_put(b, le, bytes);
}

/* A string with its NUL, after its length (which counts the NUL). */
static void wb_str(struct wbuf *b, const char *s)
{
	size_t n = strlen(s) + 1;

	wb_u64(b, n, 4);
	wb_put(b, s, n);
}

static void meta_build(struct wbuf *b, const struct remote_obj *o,
		       const char *target, uint64_t data_len)
{
	const struct store_vinfo *v = &o->v;
	size_t i;

	wb_u64(b, (uint64_t)v->type, 1);
	wb_u64(b, (v->flags & STORE_V_DELETE_MARKER) ? REC_DELETE_MARKER : 0,
	       1);
	wb_u64(b, 0, 2);
	wb_put(b, v->vid, STORE_VID_LEN);
	wb_u64(b, (uint64_t)v->btime_ns, 8);
	wb_u64(b, v->attr.mode, 4);
	wb_u64(b, v->attr.uid, 4);
	wb_u64(b, v->attr.gid, 4);
	wb_u64(b, v->attr.size, 8);
	wb_u64(b, (uint64_t)v->attr.atime_ns, 8);
	wb_u64(b, (uint64_t)v->attr.mtime_ns, 8);
	wb_u64(b, (uint64_t)v->attr.ctime_ns, 8);
	wb_u64(b, data_len, 8);
	wb_str(b, o->key);
	wb_str(b, target ? target : "");
	wb_u64(b, o->nxattrs, 4);
	for (i = 0; i < o->nxattrs; i++) {
		wb_str(b, o->xattrs[i].name);
		wb_u64(b, o->xattrs[i].size, 4);
		wb_put(b, o->xattrs[i].value, o->xattrs[i].size);
	}
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Copy the version's bytes to fd, hashing them. Source errors are named
 * in why; write errors come back as their -errno with why empty.
 */
static int data_copy(int fd, const struct remote_obj *o, uint8_t sha[32],
		     char *why, size_t whylen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	struct store_file *f = NULL;
	uint8_t *buf = malloc(COPY_BUF);
	uint64_t off = 0, size = o->v.attr.size;
	int rc = 0;

	if (!ctx || !buf) {
		rc = -ENOMEM;
		goto out;
	}
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	if (o->v.type == STORE_T_FILE &&
	    !(o->v.flags & STORE_V_DELETE_MARKER)) {
		rc = store_file_open(o->src, o->oid, o->v.vseq, &f);
		if (rc) {
			rc = remote_bad_data(o, rc, why, whylen);
			goto out;
		}
	}
	while (f && off < size) {
		size_t want = size - off < COPY_BUF ? size - off : COPY_BUF;
		ssize_t n;

		if (remote_cancelled(o)) {	/* between pieces: prompt */
			rc = -ECANCELED;
			snprintf(why, whylen, "cancelled");
			goto out;
		}
		n = store_file_read(f, buf, want, off);
		if (n <= 0) {	/* cut short: damage, as EIO is */
			rc = remote_bad_data(o, n < 0 ? (int)n : -EIO, why,
					     whylen);
			goto out;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		rc = write_all(fd, buf, (size_t)n);
		if (rc)
			goto out;
		off += (uint64_t)n;
	}
	EVP_DigestFinal_ex(ctx, sha, NULL);
	/* Before the record is renamed in: the caller removes it. */
	if (f && (o->v.flags & STORE_V_HAS_SHA) &&
	    memcmp(sha, o->v.sha256, 32))
		rc = remote_bad_data(o, 0, why, whylen);
out:
	store_file_free(f);
	EVP_MD_CTX_free(ctx);
	free(buf);
	return rc;
}

int remote_inbox_write(int fd, const struct remote_obj *o, char *why,
		       size_t whylen)
{
	bool has_data = o->v.type == STORE_T_FILE &&
			!(o->v.flags & STORE_V_DELETE_MARKER);
	struct wbuf head = { 0 }, meta = { 0 };
	uint8_t meta_sha[32], data_sha[32];
	char *target = NULL;
	int rc = 0;

	why[0] = '\0';
	if (o->v.type == STORE_T_SYMLINK &&
	    !(o->v.flags & STORE_V_DELETE_MARKER)) {
		rc = store_readlink(o->src, o->oid, o->v.vseq, &target);
		if (rc) {
			snprintf(why, whylen, "cannot read source symlink: %s",
				 strerror(-rc));
			goto out;
		}
	}
	meta_build(&meta, o, target, has_data ? o->v.attr.size : 0);
	wb_put(&head, rec_magic, sizeof(rec_magic));
	wb_u64(&head, REC_VERSION, 4);
	wb_u64(&head, meta.len, 4);
	rc = head.err ? head.err : meta.err;
	if (!rc && meta.len > META_MAX) {
		rc = -E2BIG;
		snprintf(why, whylen, "metadata too large (%zu bytes)",
			 meta.len);
	}
	if (rc)
		goto out;
	SHA256(meta.p, meta.len, meta_sha);
	rc = write_all(fd, head.p, head.len);
	if (!rc)
		rc = write_all(fd, meta.p, meta.len);
	if (!rc)
		rc = data_copy(fd, o, data_sha, why, whylen);
	if (!rc)
		rc = write_all(fd, meta_sha, 32);
	if (!rc)
		rc = write_all(fd, data_sha, 32);
	if (!rc)
		rc = write_all(fd, end_magic, sizeof(end_magic));
out:
	free(target);
	free(head.p);
	free(meta.p);
	return rc;
}

/* ---- reading ---- */

/* A cursor over the metadata block; the first overrun sticks in bad. */
struct rbuf {
	const uint8_t *p;
	size_t len, off;
	const char *bad;
};

static uint64_t rb_u64(struct rbuf *b, size_t bytes)
{
	uint64_t v = 0;
	size_t i;

	if (b->bad || b->len - b->off < bytes) {
		b->bad = b->bad ? b->bad : "metadata cut short";
		return 0;
	}
	for (i = 0; i < bytes; i++)
		v |= (uint64_t)b->p[b->off + i] << (8 * i);
	b->off += bytes;
	return v;
}

static const void *rb_bytes(struct rbuf *b, size_t n)
{
	const void *p = b->p + b->off;

	if (b->bad || b->len - b->off < n) {
		b->bad = b->bad ? b->bad : "metadata cut short";
		return NULL;
	}
	b->off += n;
	return p;
}

/* A string written by wb_str: one NUL, at its end, within max bytes. */
static const char *rb_str(struct rbuf *b, size_t max)
{
	size_t n = (size_t)rb_u64(b, 4);
	const char *s;

	if (!b->bad && (n == 0 || n > max))
		b->bad = "string of a bad length";
	s = rb_bytes(b, n);
	if (s && memchr(s, '\0', n) != s + n - 1) {
		b->bad = "string not terminated where its length says";
		return NULL;
	}
	return s;
}

static int meta_parse(struct remote_inbox_rec *r, struct rbuf *b,
		      uint64_t *data_len)
{
	struct store_replica *rep = &r->rep;
	size_t i, n, total = 0;
	unsigned type, flags;
	const void *vid;

	type = (unsigned)rb_u64(b, 1);
	flags = (unsigned)rb_u64(b, 1);
	rb_u64(b, 2);
	vid = rb_bytes(b, STORE_VID_LEN);
	if (vid)
		memcpy(rep->vid, vid, STORE_VID_LEN);
	rep->vid[STORE_VID_LEN] = '\0';
	rep->btime_ns = (int64_t)rb_u64(b, 8);
	rep->attr.mode = (uint32_t)rb_u64(b, 4);
	rep->attr.uid = (uint32_t)rb_u64(b, 4);
	rep->attr.gid = (uint32_t)rb_u64(b, 4);
	rep->attr.size = rb_u64(b, 8);
	rep->attr.atime_ns = (int64_t)rb_u64(b, 8);
	rep->attr.mtime_ns = (int64_t)rb_u64(b, 8);
	rep->attr.ctime_ns = (int64_t)rb_u64(b, 8);
	*data_len = rb_u64(b, 8);
	rep->key = rb_str(b, KEY_MAX);
	rep->target = rb_str(b, TARGET_MAX);
	n = (size_t)rb_u64(b, 4);
	if (b->bad)
		return -EBADMSG;
	if (type < STORE_T_FILE || type > STORE_T_SYMLINK)
		b->bad = "unknown object type";
	else if (flags & ~(unsigned)REC_DELETE_MARKER)
		b->bad = "unknown flags";
	else if (!vid_valid(rep->vid))
		b->bad = "malformed version id";
	else if (n > STORE_XATTRS_TOTAL_MAX / 2)
		b->bad = "too many xattrs";
	if (b->bad)
		return -EBADMSG;
	rep->type = (enum store_type)type;
	rep->delete_marker = flags & REC_DELETE_MARKER;
	r->xattrs = n ? calloc(n, sizeof(*r->xattrs)) : NULL;
	if (n && !r->xattrs)
		return -ENOMEM;
	for (i = 0; i < n && !b->bad; i++) {
		r->xattrs[i].name = rb_str(b, 256);
		r->xattrs[i].size = (size_t)rb_u64(b, 4);
		if (r->xattrs[i].size > STORE_XATTR_MAX)
			b->bad = "xattr value too large";
		r->xattrs[i].value = rb_bytes(b, r->xattrs[i].size);
		total += r->xattrs[i].size;
	}
	if (!b->bad && total > STORE_XATTRS_TOTAL_MAX)
		b->bad = "xattrs too large";
	if (!b->bad && b->off != b->len)
		b->bad = "metadata longer than its fields";
	rep->xattrs = r->xattrs;
	rep->nxattrs = n;
	if (rep->type != STORE_T_SYMLINK || rep->delete_marker)
		rep->target = NULL;
	return b->bad ? -EBADMSG : 0;
}

static int read_at(int fd, void *p, size_t n, uint64_t off)
{
	ssize_t got = pread(fd, p, n, (off_t)off);

	if (got < 0)
		return -errno;
	return (size_t)got == n ? 0 : -EBADMSG;
}

/* Header and trailer: the block sizes must add up to the file's size. */
static int frame_read(int fd, struct remote_inbox_rec *r, uint64_t *fsize,
		      uint8_t meta_sha[32], size_t *meta_len, const char **bad)
{
	uint8_t head[HEAD_LEN], tail[TRAILER_LEN];
	struct stat st;
	uint32_t version = 0;
	size_t i;
	int rc;

	if (fstat(fd, &st))
		return -errno;
	*fsize = (uint64_t)st.st_size;
	if (*fsize < HEAD_LEN + TRAILER_LEN) {
		*bad = "shorter than a header and a trailer";
		return -EBADMSG;
	}
	rc = read_at(fd, head, HEAD_LEN, 0);
	if (!rc)
		rc = read_at(fd, tail, TRAILER_LEN, *fsize - TRAILER_LEN);
	if (rc) {
		*bad = "cannot read header or trailer";
		return rc;
	}
	*meta_len = 0;
	for (i = 0; i < 4; i++) {
		version |= (uint32_t)head[8 + i] << (8 * i);
		*meta_len |= (size_t)head[12 + i] << (8 * i);
	}
	if (memcmp(head, rec_magic, 8))
		*bad = "not an inbox record (bad magic)";
	else if (version != REC_VERSION)
		*bad = "record of an unknown format version";
	else if (memcmp(tail + 64, end_magic, 8))
		*bad = "truncated (no end mark)";
	else if (*meta_len > META_MAX ||
		 *meta_len > *fsize - HEAD_LEN - TRAILER_LEN)
		*bad = "metadata length beyond the file";
	if (*bad)
		return -EBADMSG;
	memcpy(meta_sha, tail, 32);
	memcpy(r->data_sha, tail + 32, 32);
	return 0;
}

/*
 * Whether the store could hold key, checked here so a record from a
 * damaged or hostile source never reaches store_put_replica: components
 * of 1..255 bytes, none "." or "..", no leading '/', at most
 * REC_KEY_PATH_MAX bytes (a path FUSE could name), and not under the
 * hidden ".versions" of the root, which no local key can be either. A
 * NUL inside the key is refused by rb_str. NULL, or why not.
 */
static const char *key_problem(const char *key)
{
	size_t len = strlen(key);
	const char *p = key;

	if (!len)
		return "it is empty";
	if (len > REC_KEY_PATH_MAX)
		return "it is longer than 4095 bytes";
	if (key[0] == '/')
		return "it starts with '/'";
	for (;;) {
		size_t n = strcspn(p, "/");

		if (!n && (p == key || p[0]))
			return "it has an empty component";
		if ((n == 1 && p[0] == '.') || (n == 2 && !strncmp(p, "..", 2)))
			return "it has a '.' or '..' component";
		if (n > STORE_NAME_MAX)
			return "it has a component longer than 255 bytes";
		if (p == key && n == strlen(VERSIONS_DIRNAME) &&
		    !strncmp(p, VERSIONS_DIRNAME, n))
			return "'.versions' at the top is the hidden versions "
			       "directory";
		if (!p[n] || !p[n + 1])
			return NULL;	/* the end, or a folder's '/' */
		p += n + 1;
	}
}

int remote_inbox_read(int fd, struct remote_inbox_rec *r, char *why,
		      size_t whylen)
{
	uint8_t meta_sha[32], sum[32];
	struct rbuf b = { 0 };
	const char *bad = NULL;
	uint64_t fsize = 0, data_len = 0;
	size_t meta_len = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	why[0] = '\0';
	rc = frame_read(fd, r, &fsize, meta_sha, &meta_len, &bad);
	if (rc)
		goto out;
	r->meta = malloc(meta_len ? meta_len : 1);
	if (!r->meta) {
		rc = -ENOMEM;
		goto out;
	}
	rc = read_at(fd, r->meta, meta_len, HEAD_LEN);
	if (rc) {
		bad = "cannot read metadata";
		goto out;
	}
	SHA256(r->meta, meta_len, sum);
	if (memcmp(sum, meta_sha, 32)) {
		bad = "metadata does not match its checksum";
		rc = -EBADMSG;
		goto out;
	}
	b.p = r->meta;
	b.len = meta_len;
	rc = meta_parse(r, &b, &data_len);
	bad = b.bad;
	if (rc)
		goto out;
	bad = key_problem(r->rep.key);
	if (bad) {
		snprintf(why, whylen, "invalid key '%.200s%s': %s", r->rep.key,
			 strlen(r->rep.key) > 200 ? "..." : "", bad);
		bad = why;
		rc = -EBADMSG;
		goto out;
	}
	if (data_len != fsize - HEAD_LEN - TRAILER_LEN - meta_len ||
	    (r->rep.type == STORE_T_FILE && !r->rep.delete_marker &&
	     data_len != r->rep.attr.size)) {
		bad = "data length does not match the file's size";
		rc = -EBADMSG;
		goto out;
	}
	r->rep.data_fd = fd;
	r->rep.data_off = HEAD_LEN + meta_len;
	r->rep.sha256 = r->rep.type == STORE_T_FILE && !r->rep.delete_marker ?
			r->data_sha : NULL;
out:
	if (rc) {
		if (!bad)
			snprintf(why, whylen, "%s", strerror(-rc));
		else if (bad != why)
			snprintf(why, whylen, "%s", bad);
		remote_inbox_release(r);
	}
	return rc;
}

void remote_inbox_release(struct remote_inbox_rec *r)
{
	free(r->xattrs);
	free(r->meta);
	r->xattrs = NULL;
	r->meta = NULL;
}
