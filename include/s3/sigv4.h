/*
 * sigv4.h - AWS Signature Version 4 for the Authorization header, as
 * pure functions: no clock, no I/O, no logging. The time is passed in,
 * so the published AWS examples can be replayed byte for byte.
 *
 * Signing goes in four steps, each exposed so it can be tested alone:
 *   1. sigv4_canonical_request()  method, URI, sorted query, sorted and
 *      trimmed headers, the signed header list, the payload hash;
 *   2. sigv4_string_to_sign()     algorithm, time, scope, SHA-256 of 1;
 *   3. sigv4_signing_key()        HMAC chain from the secret over date,
 *      region, service and "aws4_request";
 *   4. sigv4_signature()          hex HMAC of 2 under 3.
 * sigv4_sign() runs them all and returns the header values to add.
 *
 * Ownership: every char * handed back through an out parameter is
 * malloc'ed and owned by the caller (free(), or sigv4_result_release()
 * for struct sigv4_result). Inputs are only read, never kept.
 * Secrets: the secret key and the derived keys never leave this file
 * except as the signature; intermediate keys are wiped. Nothing here
 * logs, and callers must not log struct sigv4_creds either.
 * Errors: 0 or -errno (-EINVAL for a malformed request, -ENOMEM,
 * -EIO if libcrypto fails).
 */
#ifndef CRRFS_S3_SIGV4_H
#define CRRFS_S3_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "s3/uri.h"

/* SHA-256 of the empty string: the payload hash of a request without body. */
#define SIGV4_EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

struct sigv4_pair {
	const char *name;
	const char *value; /* NULL is the same as "" */
};

struct sigv4_creds {
	const char *access_key;
	const char *secret_key;
	const char *session_token; /* NULL: none; else x-amz-security-token */
};

struct sigv4_request {
	const char *method;  /* "GET", "PUT", ... as sent */
	const char *host;    /* Host header value, "host[:port]" */
	/*
	 * Canonical URI: the path as sent, already percent-encoded, starting
	 * with '/' (build it with sigv4_s3_path() or sigv4_uri_encode()).
	 * It is used as is: S3 does not encode it twice.
	 */
	const char *path;
	/* Query parameters, raw (not encoded), in any order. */
	const struct sigv4_pair *query;
	size_t nquery;
	/*
	 * Further headers to sign, names in any case, values raw. Must not
	 * include host, x-amz-date, x-amz-content-sha256 or
	 * x-amz-security-token: sigv4 adds those itself (-EINVAL otherwise).
	 * A name given twice is signed as one header, values joined by ','.
	 */
	const struct sigv4_pair *headers;
	size_t nheaders;
	/* Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"; NULL: empty body. */
	const char *payload_hash;
	const char *region;  /* "us-east-1" */
	const char *service; /* "s3" also signs x-amz-content-sha256 */
	time_t when;         /* signing time, UTC seconds; never read here */
	const struct sigv4_creds *creds;
};

/* What sigv4_sign() returns: header values the caller must send. */
struct sigv4_result {
	char *authorization;  /* Authorization: AWS4-HMAC-SHA256 ... */
	char *amz_date;       /* x-amz-date: 20130524T000000Z */
	char *content_sha256; /* x-amz-content-sha256, NULL unless "s3" */
	/* x-amz-security-token: creds->session_token, if set (not copied) */
};

/* Every step, for tests and for callers that need one of them. */

/* "YYYYMMDDTHHMMSSZ" for when, into buf[17]. */
int sigv4_amz_date(time_t when, char buf[17]);

/* Lower-case hex SHA-256 of len bytes into hex[65]. */
int sigv4_sha256_hex(const void *data, size_t len, char hex[65]);

/* "a=1&b=2": names and values encoded ('/' too), sorted by name, value. */
int sigv4_canonical_query(const struct sigv4_pair *q, size_t n, char **out);

/*
 * The canonical request; *signed_headers (if not NULL) gets the
 * "host;x-amz-date" list that goes into the Authorization header.
 */
int sigv4_canonical_request(const struct sigv4_request *req, char **out,
			    char **signed_headers);

/* "AWS4-HMAC-SHA256\n<date>\n<scope>\n<hex sha256 of creq>". */
int sigv4_string_to_sign(const struct sigv4_request *req,
			 const char *canonical_request, char **out);

/* kSigning; date8 is "YYYYMMDD". The caller should wipe key after use. */
int sigv4_signing_key(const char *secret_key, const char *date8,
		      const char *region, const char *service,
		      unsigned char key[32]);

/* Lower-case hex HMAC-SHA256(key, string_to_sign) into hex[65]. */
int sigv4_signature(const unsigned char key[32], const char *string_to_sign,
		    char hex[65]);

/* All of the above. On failure *res is left empty (all NULL). */
int sigv4_sign(const struct sigv4_request *req, struct sigv4_result *res);

/* Free what sigv4_sign() filled in; safe on an empty result. */
void sigv4_result_release(struct sigv4_result *res);

#endif
