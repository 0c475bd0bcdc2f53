/*
 * s3.h - the S3 requests crrfs makes, signed with SigV4, over src/s3/http.
 *
 * Design: one struct s3_client per destination bucket holds the
 * endpoint, the addressing style, the credentials and the HTTP client;
 * each call below is one request (ListObjectVersions: one per page),
 * built from the same core: encode the key (any bytes), sign every header
 * sent with the real payload SHA-256 in x-amz-content-sha256 (RGW refuses
 * a request without it, and it makes the server check the bytes), send,
 * and turn the answer into 0 / -errno with one line in why:
 *   "s3 PUT 'bucket/key': 403 SignatureDoesNotMatch: ..."
 * The error classes are those of s3/http.h (-EAGAIN transient, the rest
 * permanent). The clock is injected, so signing can be tested.
 *
 * Ownership: strings handed back are malloc'ed and the caller's unless
 * said otherwise; inputs are only read. Threads: every call may run on
 * any thread at once on one client.
 */
#ifndef CRRFS_S3_S3_H
#define CRRFS_S3_S3_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "s3/creds.h"
#include "s3/http.h"

/* Longest version id or ETag we keep (S3's are < 100 bytes). */
#define S3_ID_MAX 256

struct s3_client_opts {
	const char *endpoint;	/* "https://host[:port]" (no path) */
	const char *region;	/* NULL: us-east-1 */
	const char *bucket;
	bool path_style;	/* false: virtual-hosted, bucket.host */
	const char *ca_file;	/* NULL: the system's CAs */
	const struct s3_creds *creds;	/* copied */
	time_t (*clock)(void *arg);	/* NULL: time(NULL) */
	void *clock_arg;
};

struct s3_client;

/* No network I/O. -EINVAL (why says what) for a bad endpoint/bucket. */
int s3_client_new(const struct s3_client_opts *o, struct s3_client **out,
		  char *why, size_t whylen);
void s3_client_free(struct s3_client *c);
const char *s3_client_bucket(const struct s3_client *c);
void s3_client_stats(struct s3_client *c, struct s3_http_stats *out);

/*
 * The URL and Host header a request for key (NULL: the bucket) with the
 * raw query pairs would use, as s3_client sends them; for tests.
 */
struct sigv4_pair;
int s3_client_url(const struct s3_client *c, const char *key,
		  const struct sigv4_pair *query, size_t nquery, char **url,
		  char **host);

/* ---- objects ---- */

/*
 * A body: in memory (data, len), or streamed from read (len bytes) with
 * its SHA-256 given in sha256_hex (required then: the hash is signed
 * before the first byte is sent).
 */
struct s3_body {
	const void *data;
	uint64_t len;
	s3_http_read_fn read;
	void *read_arg;
	const char *sha256_hex;	/* NULL for data: computed here */
	const atomic_bool *cancel; /* NULL, or give up with -ECANCELED
				    * once it is true (s3/http.h) */
};

/*
 * PutObject. headers are extra "name: value" lines (x-amz-meta-*,
 * x-amz-tagging, x-amz-storage-class, content-type), all signed. With
 * a body in memory, Content-MD5 is sent too. vid (may be NULL) gets
 * x-amz-version-id, or "".
 */
int s3_put_object(struct s3_client *c, const char *key,
		  const char *const *headers, size_t nheaders,
		  const struct s3_body *body, char vid[S3_ID_MAX], char *why,
		  size_t whylen);

/* DeleteObject without a version id: on a versioned bucket, adds a
 * delete marker; vid (may be NULL) gets the marker's version id. */
int s3_delete_object(struct s3_client *c, const char *key,
		     char vid[S3_ID_MAX], char *why, size_t whylen);

/* DeleteObject of one version (tests, cleanup). */
int s3_delete_version(struct s3_client *c, const char *key,
		      const char *version_id, char *why, size_t whylen);

/*
 * HeadObject (version_id NULL: the current version). resp is filled as
 * by s3_http_do (headers: x-amz-version-id, x-amz-meta-*, ...): release
 * it with s3_http_resp_release() whatever the return. A key whose
 * current version is a delete marker gives -ENOENT with
 * "x-amz-delete-marker: true" among the headers.
 */
int s3_head_object(struct s3_client *c, const char *key,
		   const char *version_id, struct s3_http_resp *resp,
		   char *why, size_t whylen);

/* GetObject of a version (tests): *data malloc'ed, at most 8 MiB. */
int s3_get_object(struct s3_client *c, const char *key,
		  const char *version_id, char **data, size_t *len,
		  char *why, size_t whylen);

/* ---- the bucket ---- */

int s3_head_bucket(struct s3_client *c, char *why, size_t whylen);

/* Versioning status into status: "Enabled", "Suspended", or "" (never
 * enabled). */
int s3_get_bucket_versioning(struct s3_client *c, char status[16],
			     char *why, size_t whylen);

/* CreateBucket, and PutBucketVersioning with Enabled (tests, set-up). */
int s3_create_bucket(struct s3_client *c, char *why, size_t whylen);
int s3_put_bucket_versioning(struct s3_client *c, bool enabled, char *why,
			     size_t whylen);

/* ---- multipart uploads ---- */

/* CreateMultipartUpload: *upload_id is malloc'ed. headers as PutObject. */
int s3_mpu_create(struct s3_client *c, const char *key,
		  const char *const *headers, size_t nheaders,
		  char **upload_id, char *why, size_t whylen);

/* UploadPart number part (1-based); etag gets the part's ETag. */
int s3_mpu_part(struct s3_client *c, const char *key, const char *upload_id,
		unsigned part, const struct s3_body *body,
		char etag[S3_ID_MAX], char *why, size_t whylen);

/* CompleteMultipartUpload of parts 1..nparts with their ETags. */
int s3_mpu_complete(struct s3_client *c, const char *key,
		    const char *upload_id, char (*etags)[S3_ID_MAX],
		    unsigned nparts, char vid[S3_ID_MAX], char *why,
		    size_t whylen);

/* AbortMultipartUpload; an upload that no longer exists is success. */
int s3_mpu_abort(struct s3_client *c, const char *key,
		 const char *upload_id, char *why, size_t whylen);

/* ---- listings ---- */

struct s3_version {
	const char *key;
	const char *version_id;
	bool delete_marker;
	bool is_latest;
	uint64_t size;
	const char *etag;
	const char *storage_class;
	const char *last_modified;
};

/* Return 0 to go on, 1 to stop, -errno to abort with it. The strings
 * are valid during the call. */
typedef int (*s3_version_fn)(void *arg, const struct s3_version *v);

/*
 * ListObjectVersions under prefix (NULL: all), every page, in S3's order
 * (key, then newest first). RGW can repeat an entry for keys with '+'
 * (see docs/replica-s3.md): callers that count should de-duplicate by
 * key and version id.
 */
int s3_list_versions(struct s3_client *c, const char *prefix,
		     s3_version_fn fn, void *arg, char *why, size_t whylen);

/* Number of multipart uploads in progress under prefix (tests). */
int s3_count_uploads(struct s3_client *c, const char *prefix,
		     unsigned *count, char *why, size_t whylen);

#endif
