/*
 * http.h - the HTTP client under the S3 requests: libcurl easy handles
 * kept for keep-alive, bodies from memory or streamed from a callback,
 * and every failure translated to -errno in one place.
 *
 * Design: a struct s3_http owns a small locked pool of curl easy
 * handles. A request takes one (or makes one), runs, and puts it back, so
 * each worker thread effectively keeps its own connection alive between
 * requests and no handle is ever used by two threads at once. Connection
 * and low-speed limits bound a dead peer; there is no total timeout, so a
 * 256 MiB upload on a slow link is never killed for being long; a cancel
 * flag (set when the replicator stops) ends it at once instead.
 *
 * Errors: s3_http_classify() is the one switch from curl codes, HTTP
 * statuses and S3 error codes to -errno. -EAGAIN is transient
 * (connection refused or reset, timeouts, send/receive errors, an empty
 * reply, HTTP 500/502/503/504, 429, SlowDown, InternalError,
 * RequestTimeout); everything else is permanent: -EACCES (403), -ENOENT
 * (404: NoSuchBucket, NoSuchKey, NoSuchUpload), -EINVAL (400, a bad URL),
 * -EPERM (TLS certificate not trusted), -EBADMSG (the server computed
 * another digest), -ENOMEM, -EIO (anything else); and -ECANCELED when
 * the request's cancel flag was set (the transfer is aborted within about
 * 50 ms, its connection closed; nothing is known of what the server did).
 *
 * Threads: s3_http_global_init() must run before any thread uses curl
 * (idempotent, pthread_once); s3_http_do() may be called from any number
 * of threads on one struct s3_http.
 */
#ifndef CRRFS_S3_HTTP_H
#define CRRFS_S3_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* curl_global_init, once per process. 0 or -EIO. */
int s3_http_global_init(void);

struct s3_http_opts {
	const char *ca_file;		/* NULL: the system's CAs. Copied. */
	long connect_timeout_ms;	/* 0: 10 s */
	long low_speed_time_s;		/* abort below 1 byte/s this long;
					 * 0: 60 s */
	size_t max_body;		/* response body kept; 0: 8 MiB */
	unsigned pool_max;		/* idle handles kept; 0: 16 */
};

struct s3_http;

int s3_http_new(const struct s3_http_opts *o, struct s3_http **out);
void s3_http_free(struct s3_http *h);

/*
 * A streamed body: copy up to len bytes at offset off of the body into
 * buf; return the count (0 only at the end) or -errno. May be called
 * again for an offset already read (curl rewinds on a resend).
 */
typedef ssize_t (*s3_http_read_fn)(void *arg, void *buf, size_t len,
				   uint64_t off);

struct s3_http_req {
	const char *method;		/* GET PUT POST DELETE HEAD */
	const char *url;		/* already encoded */
	const char *const *headers;	/* "Name: value" lines */
	size_t nheaders;
	const void *body;		/* in memory, body_len bytes ... */
	s3_http_read_fn read;		/* ... or streamed, body_len bytes */
	void *read_arg;
	uint64_t body_len;
	bool has_body;			/* send a body (even of 0 bytes) */
	const atomic_bool *cancel;	/* NULL, or give up (-ECANCELED)
					 * once it is true */
};

struct s3_http_header {
	char *name;			/* lower case */
	char *value;			/* trimmed */
};

/* What came back. Owned by the caller: s3_http_resp_release(). */
struct s3_http_resp {
	long status;			/* 0 when no HTTP answer came */
	char *body;			/* NUL-terminated, at most max_body */
	size_t body_len;
	struct s3_http_header *headers;
	size_t nheaders;
	char s3_code[64];		/* <Code> of an S3 error, or "" */
	/*
	 * Why it failed, one line without the request's subject: "403
	 * SignatureDoesNotMatch: The request signature ...", "cannot
	 * connect: Connection refused", "TLS certificate of the server is
	 * not trusted (...)". "" on success.
	 */
	char why[224];
};

/*
 * Send req and wait for the answer. Returns 0 for a 2xx status, else the
 * classified -errno with resp->why filled in (an error from req->read is
 * returned as it is). resp is filled in either way.
 */
int s3_http_do(struct s3_http *h, const struct s3_http_req *req,
	       struct s3_http_resp *resp);

/* Requests sent and new connections opened so far (keep-alive shows as
 * connects staying small). */
struct s3_http_stats {
	uint64_t requests, connects;
};
void s3_http_stats(struct s3_http *h, struct s3_http_stats *out);

/* Value of response header name (any case), or NULL. Valid as resp. */
const char *s3_http_resp_header(const struct s3_http_resp *resp,
				const char *name);

void s3_http_resp_release(struct s3_http_resp *resp);

/*
 * The one translation: curl_code (a CURLcode; 0 = CURLE_OK), the HTTP
 * status (when curl_code is 0) and the S3 error <Code> (may be NULL or
 * "") to 0 or -errno. Pure, for tests.
 */
int s3_http_classify(int curl_code, long status, const char *s3_code);

#endif
