/*
 * uri.h - percent-encoding for SigV4 and S3 object keys.
 *
 * SigV4's UriEncode() keeps only the unreserved bytes A-Z a-z 0-9 - . _ ~
 * and writes every other byte as %XY with upper-case hex; UTF-8 keys are
 * therefore encoded byte by byte. In a path '/' may be kept; in a query
 * name or value it is encoded too. S3 signs the path exactly as sent and
 * does not encode it a second time, so the path built here is both the
 * one put on the wire and the canonical URI.
 *
 * Every string returned is malloc'ed and owned by the caller (free()).
 * Functions return 0 or -errno (-ENOMEM, -EINVAL).
 */
#ifndef CRRFS_S3_URI_H
#define CRRFS_S3_URI_H

#include <stddef.h>

enum sigv4_enc_flags {
	SIGV4_ENC_KEEP_SLASH = 1 << 0, /* path: leave '/' as is */
};

/* Encode len bytes of s (may hold any byte, NUL included) into *out. */
int sigv4_uri_encode(const char *s, size_t len, unsigned flags, char **out);

enum sigv4_addressing {
	SIGV4_PATH_STYLE,    /* https://endpoint/bucket/key */
	SIGV4_VIRTUAL_HOST,  /* https://bucket.endpoint/key */
};

/*
 * The request path for an object (key may be "" for the bucket itself):
 * "/bucket/KEY" path-style, "/KEY" virtual-hosted, KEY encoded with '/'
 * kept. The result is the canonical URI too.
 */
int sigv4_s3_path(const char *bucket, const char *key,
		  enum sigv4_addressing style, char **out);

/*
 * The Host header value: endpoint ("host[:port]") path-style,
 * "bucket.endpoint" virtual-hosted.
 */
int sigv4_s3_host(const char *endpoint, const char *bucket,
		  enum sigv4_addressing style, char **out);

/*
 * Check an endpoint URL as the rule file and the S3 client take it:
 * "http://HOST[:PORT]" or "https://HOST[:PORT]", an optional trailing
 * '/', a port in 1..65535 and no user info ("user:pass@": a secret in a
 * rule file that is shown in every message naming the endpoint; keys go
 * in a credentials file). 0, or -EINVAL with why saying what is wrong
 * (without the endpoint itself, which the caller names).
 */
int s3_endpoint_check(const char *endpoint, char *why, size_t whylen);

#endif
