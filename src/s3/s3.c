/*
 * s3.c - the S3 client core: one signed request, built the same way for
 * every operation (the operations themselves are in s3_ops.c).
 *
 * Design: a request is method + key (or the bucket) + raw query pairs +
 * "name: value" headers + a body. Everything that is signed is sent as
 * signed: the Host header is set explicitly (so curl cannot spell it
 * another way), the canonical query string is the one on the wire, the
 * encoded key path is both the URL path and the canonical URI, and every
 * caller header is signed. Content-MD5 is added for bodies in memory;
 * streamed bodies carry their SHA-256 alone, which RGW and S3 check.
 */
#include "s3/s3_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "s3/sigv4.h"
#include "s3/uri.h"

void s3_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (!why || !whylen)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

static time_t clock_default(void *arg)
{
	(void)arg;
	return time(NULL);
}

int s3_client_new(const struct s3_client_opts *o, struct s3_client **out,
		  char *why, size_t whylen)
{
	struct s3_http_opts ho = { 0 };
	struct s3_client *c;
	const char *ep = o->endpoint, *hp;
	char ewhy[128];
	size_t n;
	int rc;

	*out = NULL;
	if (!ep || s3_endpoint_check(ep, ewhy, sizeof(ewhy))) {
		s3_why(why, whylen, "bad endpoint '%s': %s", ep ? ep : "",
		       ep ? ewhy : "expected http://HOST[:PORT]");
		return -EINVAL;
	}
	hp = strstr(ep, "://") + 3;
	n = strcspn(hp, "/");
	if (!o->bucket || strlen(o->bucket) < 3 || strlen(o->bucket) > 63 ||
	    strspn(o->bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-_") !=
	    strlen(o->bucket)) {
		s3_why(why, whylen, "bucket name '%s' is not valid",
		       o->bucket ? o->bucket : "");
		return -EINVAL;
	}
	if (!o->creds || !o->creds->access_key || !o->creds->secret_key) {
		s3_why(why, whylen, "no credentials for bucket '%s'",
		       o->bucket);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->https = !strncmp(ep, "https://", 8);
	c->hostport = strndup(hp, n);
	c->bucket = strdup(o->bucket);
	c->region = strdup(o->region ? o->region : "us-east-1");
	c->style = o->path_style ? SIGV4_PATH_STYLE : SIGV4_VIRTUAL_HOST;
	c->clock = o->clock ? o->clock : clock_default;
	c->clock_arg = o->clock_arg;
	c->creds.access_key = strdup(o->creds->access_key);
	c->creds.secret_key = strdup(o->creds->secret_key);
	if (o->creds->session_token)
		c->creds.session_token = strdup(o->creds->session_token);
	if (!c->hostport || !c->bucket || !c->region ||
	    !c->creds.access_key || !c->creds.secret_key ||
	    (o->creds->session_token && !c->creds.session_token)) {
		rc = -ENOMEM;
		goto fail;
	}
	ho.ca_file = o->ca_file;
	rc = s3_http_new(&ho, &c->http);
	if (rc)
		goto fail;
	*out = c;
	return 0;
fail:
	s3_why(why, whylen, "cannot set up s3 client: %s", strerror(-rc));
	s3_client_free(c);
	return rc;
}

void s3_client_free(struct s3_client *c)
{
	if (!c)
		return;
	s3_http_free(c->http);
	s3_creds_release(&c->creds);
	free(c->hostport);
	free(c->bucket);
	free(c->region);
	free(c);
}

const char *s3_client_bucket(const struct s3_client *c)
{
	return c->bucket;
}

void s3_client_stats(struct s3_client *c, struct s3_http_stats *out)
{
	s3_http_stats(c->http, out);
}

int s3_client_url(const struct s3_client *c, const char *key,
		  const struct sigv4_pair *query, size_t nquery, char **url,
		  char **host)
{
	char *path = NULL, *q = NULL;
	int rc;

	*url = *host = NULL;
	rc = sigv4_s3_path(c->bucket, key ? key : "", c->style, &path);
	if (!rc)
		rc = sigv4_s3_host(c->hostport, c->bucket, c->style, host);
	if (!rc && nquery)
		rc = sigv4_canonical_query(query, nquery, &q);
	if (rc)
		goto out;
	if (asprintf(url, "%s://%s%s%s%s", c->https ? "https" : "http", *host,
		     path, q ? "?" : "", q ? q : "") < 0) {
		*url = NULL;
		rc = -ENOMEM;
	}
out:
	if (rc) {
		free(*host);
		*host = NULL;
	}
	free(path);
	free(q);
	return rc;
}

/* base64 of the MD5 of len bytes into b64[25]. */
#define DIGEST_PIECE ((uint64_t)1 << 20)

/*
 * The SHA-256 (hex) and MD5 (base64) of an in-memory body, in one pass of
 * 1 MiB pieces: hashing a 16 MiB part takes tens of milliseconds, and a
 * cancel (b->cancel) is seen between pieces.
 */
static int body_digests(const struct s3_body *b, char sha[65], char md5[25])
{
	static const char hx[] = "0123456789abcdef";
	EVP_MD_CTX *cs = EVP_MD_CTX_new(), *cm = EVP_MD_CTX_new();
	unsigned char ds[EVP_MAX_MD_SIZE], dm[EVP_MAX_MD_SIZE];
	unsigned int ls = 0, lm = 0, i;
	uint64_t off = 0;
	int rc = -EIO;

	if (!cs || !cm) {
		rc = -ENOMEM;
		goto out;
	}
	if (!EVP_DigestInit_ex(cs, EVP_sha256(), NULL) ||
	    !EVP_DigestInit_ex(cm, EVP_md5(), NULL))
		goto out;
	while (off < b->len) {
		size_t n = (size_t)(b->len - off < DIGEST_PIECE ?
				    b->len - off : DIGEST_PIECE);
		const char *p = (const char *)b->data + off;

		if (b->cancel && atomic_load(b->cancel)) {
			rc = -ECANCELED;
			goto out;
		}
		if (!EVP_DigestUpdate(cs, p, n) || !EVP_DigestUpdate(cm, p, n))
			goto out;
		off += n;
	}
	if (!EVP_DigestFinal_ex(cs, ds, &ls) || ls != 32 ||
	    !EVP_DigestFinal_ex(cm, dm, &lm) || lm != 16)
		goto out;
	for (i = 0; i < 32; i++) {
		sha[2 * i] = hx[ds[i] >> 4];
		sha[2 * i + 1] = hx[ds[i] & 15];
	}
	sha[64] = '\0';
	EVP_EncodeBlock((unsigned char *)md5, dm, 16);
	rc = 0;
out:
	EVP_MD_CTX_free(cs);
	EVP_MD_CTX_free(cm);
	return rc;
}

/* The subject of messages: printable, short, one line. */
static void subject(const struct s3_client *c, const char *key, char *buf,
		    size_t size)
{
	size_t o, i;

	o = (size_t)snprintf(buf, size, "%s%s", c->bucket, key ? "/" : "");
	for (i = 0; key && key[i] && o + 4 < size; i++) {
		unsigned char ch = (unsigned char)key[i];

		buf[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	if (key && key[i])
		o += (size_t)snprintf(buf + o, size - o, "...");
	buf[o < size ? o : size - 1] = '\0';
}

/* Split "name: value" lines into pairs (names copied up to ':'). */
static int split_headers(const char *const *lines, size_t n,
			 struct sigv4_pair *pairs, char **names)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const char *colon = strchr(lines[i], ':');
		const char *v;

		if (!colon)
			return -EINVAL;
		names[i] = strndup(lines[i], (size_t)(colon - lines[i]));
		if (!names[i])
			return -ENOMEM;
		v = colon + 1;
		while (*v == ' ')
			v++;
		pairs[i].name = names[i];
		pairs[i].value = v;
	}
	return 0;
}

int s3_call_do(struct s3_client *c, const struct s3_call *k,
	       struct s3_http_resp *resp, char *why, size_t whylen)
{
	size_t nh = k->nheaders, nlines = 0, i;
	struct sigv4_pair *pairs = NULL;
	char **names = NULL, **lines = NULL;
	char *url = NULL, *host = NULL, *path = NULL;
	struct sigv4_result sig = { 0 };
	struct sigv4_request sr = { 0 };
	struct s3_http_req hr = { 0 };
	char sha[65], md5[25] = "", subj[160];
	const struct s3_body *b = k->body;
	int rc;

	memset(resp, 0, sizeof(*resp));
	subject(c, k->key, subj, sizeof(subj));
	pairs = calloc(nh + 1, sizeof(*pairs));
	names = calloc(nh + 1, sizeof(*names));
	lines = calloc(nh + 6, sizeof(*lines));
	if (!pairs || !names || !lines) {
		rc = -ENOMEM;
		goto out;
	}
	rc = split_headers(k->headers, nh, pairs, names);
	if (rc)
		goto out;
	if (b && b->sha256_hex) {
		snprintf(sha, sizeof(sha), "%s", b->sha256_hex);
	} else if (b && b->data) {
		rc = body_digests(b, sha, md5);
		if (rc)
			goto out;
	} else if (b && b->read) {
		rc = -EINVAL;	/* a streamed body needs its hash */
		goto out;
	} else {
		snprintf(sha, sizeof(sha), "%s", SIGV4_EMPTY_SHA256);
	}
	if (md5[0]) {
		pairs[nh].name = "content-md5";
		pairs[nh].value = md5;
	}
	rc = s3_client_url(c, k->key, k->query, k->nquery, &url, &host);
	if (!rc)
		rc = sigv4_s3_path(c->bucket, k->key ? k->key : "", c->style,
				   &path);
	if (rc)
		goto out;
	sr.method = k->method;
	sr.host = host;
	sr.path = path;
	sr.query = k->query;
	sr.nquery = k->nquery;
	sr.headers = pairs;
	sr.nheaders = nh + (md5[0] ? 1 : 0);
	sr.payload_hash = sha;
	sr.region = c->region;
	sr.service = "s3";
	sr.when = c->clock(c->clock_arg);
	sr.creds = &(struct sigv4_creds){ c->creds.access_key,
					  c->creds.secret_key,
					  c->creds.session_token };
	rc = sigv4_sign(&sr, &sig);
	if (rc)
		goto out;
#define LINE(...) do { if (asprintf(&lines[nlines], __VA_ARGS__) < 0) { \
		lines[nlines] = NULL; rc = -ENOMEM; goto out; } nlines++; \
	} while (0)
	LINE("Host: %s", host);
	LINE("Authorization: %s", sig.authorization);
	LINE("x-amz-date: %s", sig.amz_date);
	LINE("x-amz-content-sha256: %s", sig.content_sha256);
	if (c->creds.session_token)
		LINE("x-amz-security-token: %s", c->creds.session_token);
	if (md5[0])
		LINE("Content-MD5: %s", md5);
#undef LINE
	hr.method = k->method;
	hr.url = url;
	hr.nheaders = nlines + nh;
	{
		/* Caller headers as given; curl needs "name;" for "". */
		const char **all = calloc(nlines + nh + 1, sizeof(*all));
		char **empties = calloc(nh + 1, sizeof(*empties));

		if (!all || !empties) {
			free(all);
			free(empties);
			rc = -ENOMEM;
			goto out;
		}
		for (i = 0; i < nlines; i++)
			all[i] = lines[i];
		for (i = 0; i < nh; i++) {
			if (*pairs[i].value) {
				all[nlines + i] = k->headers[i];
			} else {
				if (asprintf(&empties[i], "%s;", names[i]) < 0)
					empties[i] = NULL;
				all[nlines + i] = empties[i] ? empties[i] : "";
			}
		}
		hr.headers = all;
		if (b) {
			hr.has_body = true;
			hr.body = b->data;
			hr.read = b->read;
			hr.read_arg = b->read_arg;
			hr.body_len = b->len;
			hr.cancel = b->cancel;
		}
		rc = s3_http_do(c->http, &hr, resp);
		for (i = 0; i < nh; i++)
			free(empties[i]);
		free(empties);
		free(all);
	}
	if (rc)
		s3_why(why, whylen, "s3 %s '%s': %s", k->method, subj,
		       resp->why);
	goto done;
out:
	if (rc == -ECANCELED)
		s3_why(why, whylen, "s3 %s '%s': cancelled", k->method, subj);
	else
		s3_why(why, whylen, "s3 %s '%s': cannot build the request: "
		       "%s", k->method, subj, strerror(-rc));
done:
	sigv4_result_release(&sig);
	for (i = 0; names && i < nh; i++)
		free(names[i]);
	for (i = 0; lines && i < nlines; i++)
		free(lines[i]);
	free(names);
	free(lines);
	free(pairs);
	free(url);
	free(host);
	free(path);
	return rc;
}
