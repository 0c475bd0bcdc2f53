/*
 * sigv4.c - AWS Signature Version 4 (header form) as pure functions.
 *
 * Design: every step builds one malloc'ed string with a tiny growable
 * buffer whose error is sticky, so a step reads as the list of what it
 * appends and checks for ENOMEM once at the end. The clock is an input
 * (req->when), never read here, which is what lets the unit tests replay
 * AWS's published examples. The secret is only ever touched by
 * sigv4_signing_key(), and every buffer holding key material is wiped
 * with OPENSSL_cleanse() before it is freed.
 */
#include "s3/sigv4.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define ALGORITHM "AWS4-HMAC-SHA256"

/* A growable string; err is sticky so callers check once. */
struct sbuf {
	char *p;
	size_t len, cap;
	int err;
};

static void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sbuf_str(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

/* Hand the string over to *out (0), or free it and return the error. */
static int sbuf_take(struct sbuf *b, char **out)
{
	if (!b->err && !b->p)
		sbuf_add(b, "", 0);
	if (b->err) {
		free(b->p);
		*out = NULL;
		return b->err;
	}
	*out = b->p;
	return 0;
}

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* A header line must not carry CR or LF: that would split the request. */
static int has_crlf(const char *s)
{
	return s && strpbrk(s, "\r\n") != NULL;
}

int sigv4_amz_date(time_t when, char buf[17])
{
	struct tm tm;

	if (!gmtime_r(&when, &tm) ||
	    strftime(buf, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		return -EINVAL;
	return 0;
}

int sigv4_sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != 32)
		return -EIO;
	hex_encode(md, 32, hex);
	return 0;
}

/* ---- canonical query ---------------------------------------------- */

struct enc_pair {
	char *name, *value;
};

static int cmp_enc_pair(const void *a, const void *b)
{
	const struct enc_pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

static int encode_pair(const struct sigv4_pair *in, struct enc_pair *out)
{
	const char *v = in->value ? in->value : "";
	int rc;

	if (!in->name)
		return -EINVAL;
	rc = sigv4_uri_encode(in->name, strlen(in->name), 0, &out->name);
	if (!rc)
		rc = sigv4_uri_encode(v, strlen(v), 0, &out->value);
	return rc;
}

int sigv4_canonical_query(const struct sigv4_pair *q, size_t n, char **out)
{
	struct sbuf b = { 0 };
	struct enc_pair *e = NULL;
	size_t i;
	int rc = 0;

	*out = NULL;
	if (n && !q)
		return -EINVAL;
	e = calloc(n ? n : 1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (i = 0; i < n && !rc; i++)
		rc = encode_pair(&q[i], &e[i]);
	if (rc)
		goto out;
	/* Sorted by the encoded bytes, as AWS compares them. */
	qsort(e, n, sizeof(*e), cmp_enc_pair);
	for (i = 0; i < n; i++) {
		if (i)
			sbuf_str(&b, "&");
		sbuf_str(&b, e[i].name);
		sbuf_str(&b, "=");
		sbuf_str(&b, e[i].value);
	}
	rc = sbuf_take(&b, out);
out:
	for (i = 0; i < n; i++) {
		free(e[i].name);
		free(e[i].value);
	}
	free(e);
	return rc;
}

/* ---- canonical headers -------------------------------------------- */

struct hdr {
	char *name;  /* lower case */
	char *value; /* trimmed, runs of blanks collapsed to one space */
	size_t seq;  /* input order: repeated names keep their order */
};

static int cmp_hdr(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Fill slot seq of the array h. */
static int hdr_set(struct hdr *hs, size_t seq, const char *name,
		   const char *value)
{
	struct hdr *h = &hs[seq];
	char *p, *w;
	const char *r;

	if (!name || !*name || strpbrk(name, ":\r\n \t") || has_crlf(value))
		return -EINVAL;
	h->seq = seq;
	h->name = strdup(name);
	h->value = strdup(value ? value : "");
	if (!h->name || !h->value)
		return -ENOMEM;
	for (p = h->name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	/* Trim both ends, collapse inner runs of spaces and tabs. */
	w = h->value;
	for (r = h->value; *r; r++) {
		if (*r == ' ' || *r == '\t') {
			if (w != h->value && w[-1] != ' ')
				*w++ = ' ';
		} else {
			*w++ = *r;
		}
	}
	if (w != h->value && w[-1] == ' ')
		w--;
	*w = '\0';
	return 0;
}

static int is_reserved_header(const char *name)
{
	static const char *const reserved[] = {
		"host", "x-amz-date", "x-amz-content-sha256",
		"x-amz-security-token",
	};
	size_t i;

	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (name && !strcasecmp(name, reserved[i]))
			return 1;
	return 0;
}

static int is_s3(const struct sigv4_request *req)
{
	return !strcmp(req->service, "s3");
}

static const char *payload_hash(const struct sigv4_request *req)
{
	return req->payload_hash ? req->payload_hash : SIGV4_EMPTY_SHA256;
}

/* Slots collect_headers() allocates: the caller's plus the four added. */
#define HDR_SLOTS(req) ((req)->nheaders + 4)

/*
 * The headers to sign: the caller's, then host, x-amz-date, and for s3
 * x-amz-content-sha256, and the session token if there is one; sorted.
 * *count gets the number used; free with free_headers(h, HDR_SLOTS(req))
 * whatever the result, as a failure can leave a slot half filled.
 */
static int collect_headers(const struct sigv4_request *req, const char *date,
			   struct hdr **out, size_t *count)
{
	const struct sigv4_creds *cr = req->creds;
	struct hdr *h;
	size_t n = 0, i;
	int rc = 0;

	*count = 0;
	*out = h = calloc(HDR_SLOTS(req), sizeof(*h));
	if (!h)
		return -ENOMEM;
	for (i = 0; i < req->nheaders && !rc; i++, n++)
		rc = is_reserved_header(req->headers[i].name) ? -EINVAL :
			hdr_set(h, n, req->headers[i].name,
				req->headers[i].value);
	if (!rc)
		rc = hdr_set(h, n++, "host", req->host);
	if (!rc)
		rc = hdr_set(h, n++, "x-amz-date", date);
	if (!rc && is_s3(req))
		rc = hdr_set(h, n++, "x-amz-content-sha256",
				     payload_hash(req));
	if (!rc && cr->session_token)
		rc = hdr_set(h, n++, "x-amz-security-token",
				     cr->session_token);
	if (rc)
		return rc;
	*count = n;
	qsort(h, n, sizeof(*h), cmp_hdr);
	return 0;
}

static void free_headers(struct hdr *h, size_t n)
{
	size_t i;

	for (i = 0; h && i < n; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
}

/* "name:v1,v2\n" per distinct name into c, "a;b" into s. */
static void emit_headers(const struct hdr *h, size_t n, struct sbuf *c,
			 struct sbuf *s)
{
	size_t i;

	for (i = 0; i < n && !c->err; i++) {
		if (i > 0 && !strcmp(h[i - 1].name, h[i].name)) {
			c->len--; /* reopen the last line: values join by ',' */
			sbuf_str(c, ",");
		} else {
			if (i > 0)
				sbuf_str(s, ";");
			sbuf_str(s, h[i].name);
			sbuf_str(c, h[i].name);
			sbuf_str(c, ":");
		}
		sbuf_str(c, h[i].value);
		sbuf_str(c, "\n");
	}
}

/* ---- the four steps ----------------------------------------------- */

/* A scope part ends up between '/' in the credential: none may hold one. */
static int bad_scope_part(const char *s)
{
	return !s || !*s || strpbrk(s, "/\r\n ,") != NULL;
}

static int request_check(const struct sigv4_request *req)
{
	if (!req || !req->method || !*req->method || has_crlf(req->method) ||
	    strchr(req->method, ' ') || !req->host || !*req->host ||
	    !req->path || req->path[0] != '/' || has_crlf(req->path) ||
	    bad_scope_part(req->region) || bad_scope_part(req->service) ||
	    !req->creds || bad_scope_part(req->creds->access_key) ||
	    !req->creds->secret_key || has_crlf(req->creds->session_token) ||
	    (req->nquery && !req->query) || (req->nheaders && !req->headers) ||
	    (req->payload_hash && (!*req->payload_hash ||
				   has_crlf(req->payload_hash))))
		return -EINVAL;
	return 0;
}

int sigv4_canonical_request(const struct sigv4_request *req, char **out,
			    char **signed_headers)
{
	struct sbuf c = { 0 }, s = { 0 };
	struct hdr *h = NULL;
	char *query = NULL, date[17];
	size_t n = 0;
	int rc;

	*out = NULL;
	if (signed_headers)
		*signed_headers = NULL;
	rc = request_check(req);
	if (!rc)
		rc = sigv4_amz_date(req->when, date);
	if (!rc)
		rc = sigv4_canonical_query(req->query, req->nquery, &query);
	if (!rc)
		rc = collect_headers(req, date, &h, &n);
	if (rc)
		goto out;
	sbuf_str(&c, req->method);
	sbuf_str(&c, "\n");
	sbuf_str(&c, req->path);
	sbuf_str(&c, "\n");
	sbuf_str(&c, query);
	sbuf_str(&c, "\n");
	emit_headers(h, n, &c, &s);
	sbuf_str(&c, "\n");
	sbuf_add(&c, s.p ? s.p : "", s.len);
	sbuf_str(&c, "\n");
	sbuf_str(&c, payload_hash(req));
	if (s.err)
		c.err = s.err;
	rc = sbuf_take(&c, out);
	if (!rc && signed_headers) {
		rc = sbuf_take(&s, signed_headers);
		s.p = NULL;
		if (rc) {
			free(*out);
			*out = NULL;
		}
	}
out:
	if (h)
		free_headers(h, HDR_SLOTS(req));
	free(s.p);
	free(query);
	return rc;
}

/* "20130524/us-east-1/s3/aws4_request" */
static void add_scope(struct sbuf *b, const struct sigv4_request *req,
		      const char *date)
{
	sbuf_add(b, date, 8);
	sbuf_str(b, "/");
	sbuf_str(b, req->region);
	sbuf_str(b, "/");
	sbuf_str(b, req->service);
	sbuf_str(b, "/aws4_request");
}

int sigv4_string_to_sign(const struct sigv4_request *req,
			 const char *canonical_request, char **out)
{
	struct sbuf b = { 0 };
	char date[17], hash[65];
	int rc;

	*out = NULL;
	if (!req || !canonical_request || bad_scope_part(req->region) ||
	    bad_scope_part(req->service))
		return -EINVAL;
	rc = sigv4_amz_date(req->when, date);
	if (!rc)
		rc = sigv4_sha256_hex(canonical_request,
				      strlen(canonical_request), hash);
	if (rc)
		return rc;
	sbuf_str(&b, ALGORITHM "\n");
	sbuf_str(&b, date);
	sbuf_str(&b, "\n");
	add_scope(&b, req, date);
	sbuf_str(&b, "\n");
	sbuf_str(&b, hash);
	return sbuf_take(&b, out);
}

static int hmac_sha256(const void *key, size_t keylen, const char *msg,
		       unsigned char out[32])
{
	unsigned int len = 0;

	if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg,
		  strlen(msg), out, &len) || len != 32)
		return -EIO;
	return 0;
}

int sigv4_signing_key(const char *secret_key, const char *date8,
		      const char *region, const char *service,
		      unsigned char key[32])
{
	unsigned char k[32];
	char *secret = NULL;
	size_t slen;
	int rc;

	if (!secret_key || !date8 || strlen(date8) != 8 || !region ||
	    !service)
		return -EINVAL;
	slen = strlen(secret_key) + 4;
	secret = malloc(slen + 1);
	if (!secret)
		return -ENOMEM;
	memcpy(secret, "AWS4", 4);
	memcpy(secret + 4, secret_key, slen - 4 + 1);
	/* kDate, kRegion, kService, kSigning: each keys the next HMAC. */
	rc = hmac_sha256(secret, slen, date8, k);
	if (!rc)
		rc = hmac_sha256(k, 32, region, k);
	if (!rc)
		rc = hmac_sha256(k, 32, service, k);
	if (!rc)
		rc = hmac_sha256(k, 32, "aws4_request", key);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(secret, slen);
	free(secret);
	return rc;
}

int sigv4_signature(const unsigned char key[32], const char *string_to_sign,
		    char hex[65])
{
	unsigned char mac[32];
	int rc;

	if (!key || !string_to_sign)
		return -EINVAL;
	rc = hmac_sha256(key, 32, string_to_sign, mac);
	if (!rc)
		hex_encode(mac, 32, hex);
	return rc;
}

/* ---- all together ------------------------------------------------- */

static int build_authorization(const struct sigv4_request *req,
			       const char *date, const char *signed_headers,
			       const char *signature, char **out)
{
	struct sbuf b = { 0 };

	sbuf_str(&b, ALGORITHM " Credential=");
	sbuf_str(&b, req->creds->access_key);
	sbuf_str(&b, "/");
	add_scope(&b, req, date);
	sbuf_str(&b, ", SignedHeaders=");
	sbuf_str(&b, signed_headers);
	sbuf_str(&b, ", Signature=");
	sbuf_str(&b, signature);
	return sbuf_take(&b, out);
}

int sigv4_sign(const struct sigv4_request *req, struct sigv4_result *res)
{
	char *creq = NULL, *signed_headers = NULL, *sts = NULL;
	char date[17] = "", date8[9], sig[65];
	unsigned char key[32];
	int rc;

	memset(res, 0, sizeof(*res));
	rc = sigv4_canonical_request(req, &creq, &signed_headers);
	if (!rc)
		rc = sigv4_amz_date(req->when, date);
	if (!rc)
		rc = sigv4_string_to_sign(req, creq, &sts);
	memcpy(date8, date, 8);
	date8[8] = '\0';
	if (!rc)
		rc = sigv4_signing_key(req->creds->secret_key, date8,
				       req->region, req->service, key);
	if (rc)
		goto out;
	rc = sigv4_signature(key, sts, sig);
	OPENSSL_cleanse(key, sizeof(key));
	if (!rc)
		rc = build_authorization(req, date, signed_headers, sig,
					 &res->authorization);
	if (rc)
		goto out;
	res->amz_date = strdup(date);
	if (is_s3(req))
		res->content_sha256 = strdup(payload_hash(req));
	if (!res->amz_date || (is_s3(req) && !res->content_sha256))
		rc = -ENOMEM;
out:
	if (rc)
		sigv4_result_release(res);
	free(creq);
	free(signed_headers);
	free(sts);
	return rc;
}

void sigv4_result_release(struct sigv4_result *res)
{
	if (!res)
		return;
	free(res->authorization);
	free(res->amz_date);
	free(res->content_sha256);
	memset(res, 0, sizeof(*res));
}
