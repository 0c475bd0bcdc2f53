/*
 * s3_int.h - what s3.c and s3_ops.c share: the client struct and the one
 * signed-request core. Not for use outside src/s3/.
 */
#ifndef CRRFS_S3_S3_INT_H
#define CRRFS_S3_S3_INT_H

#include "s3/s3.h"
#include "s3/sigv4.h"
#include "s3/uri.h"

struct s3_client {
	bool https;
	char *hostport;		/* "host[:port]" of the endpoint */
	char *bucket;
	char *region;
	enum sigv4_addressing style;
	struct s3_creds creds;	/* never logged */
	time_t (*clock)(void *arg);
	void *clock_arg;
	struct s3_http *http;	/* thread-safe itself */
};

/* One request. */
struct s3_call {
	const char *method;
	const char *key;		/* NULL: the bucket itself */
	const struct sigv4_pair *query;	/* raw, any order */
	size_t nquery;
	const char *const *headers;	/* "name: value", all signed */
	size_t nheaders;
	const struct s3_body *body;	/* NULL: no body */
};

/*
 * Sign and send k; resp filled as s3_http_do() fills it (release it
 * whatever the return). On failure why gets "s3 METHOD 'bucket/key':
 * REASON".
 */
int s3_call_do(struct s3_client *c, const struct s3_call *k,
	       struct s3_http_resp *resp, char *why, size_t whylen);

void s3_why(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
