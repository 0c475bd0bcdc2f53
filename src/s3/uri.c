/*
 * uri.c - percent-encoding of S3 keys and SigV4 query strings.
 *
 * Design: one table-free encoder that works on bytes, never on
 * characters, so a key that is not valid UTF-8 still round-trips; the
 * caller decides whether '/' survives (paths) or not (query parts). The
 * endpoint check lives here too, so the rule checker and the client
 * accept exactly the same URLs.
 */
#include "s3/uri.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

int sigv4_uri_encode(const char *s, size_t len, unsigned flags, char **out)
{
	static const char hex[] = "0123456789ABCDEF";
	char *res, *p;
	size_t i;

	*out = NULL;
	if (!s)
		return -EINVAL;
	if (len > (((size_t)-1) - 1) / 3)
		return -ENOMEM;
	res = malloc(len * 3 + 1);
	if (!res)
		return -ENOMEM;
	p = res;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_unreserved(c) ||
		    (c == '/' && (flags & SIGV4_ENC_KEEP_SLASH))) {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 0xf];
		}
	}
	*p = '\0';
	*out = res;
	return 0;
}

int sigv4_s3_path(const char *bucket, const char *key,
		  enum sigv4_addressing style, char **out)
{
	char *enc = NULL;
	int rc;

	*out = NULL;
	if (!key || (style == SIGV4_PATH_STYLE && (!bucket || !*bucket)))
		return -EINVAL;
	rc = sigv4_uri_encode(key, strlen(key), SIGV4_ENC_KEEP_SLASH, &enc);
	if (rc)
		goto out;
	/* The bucket name is DNS-safe by S3's rules: no encoding needed. */
	if (style == SIGV4_PATH_STYLE)
		rc = asprintf(out, "/%s/%s", bucket, enc);
	else
		rc = asprintf(out, "/%s", enc);
	if (rc < 0) {
		*out = NULL;
		rc = -ENOMEM;
		goto out;
	}
	rc = 0;
out:
	free(enc);
	return rc;
}

int sigv4_s3_host(const char *endpoint, const char *bucket,
		  enum sigv4_addressing style, char **out)
{
	int n;

	*out = NULL;
	if (!endpoint || !*endpoint)
		return -EINVAL;
	if (style == SIGV4_PATH_STYLE) {
		*out = strdup(endpoint);
		return *out ? 0 : -ENOMEM;
	}
	if (!bucket || !*bucket)
		return -EINVAL;
	n = asprintf(out, "%s.%s", bucket, endpoint);
	if (n < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int endpoint_port_check(const char *port, size_t n, char *why,
			       size_t whylen)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; i < n && i < 6 && port[i] >= '0' && port[i] <= '9'; i++)
		v = v * 10 + (unsigned long)(port[i] - '0');
	if (n && i == n && v >= 1 && v <= 65535)
		return 0;
	snprintf(why, whylen, "port '%.*s' is not in 1..65535", (int)n, port);
	return -EINVAL;
}

int s3_endpoint_check(const char *ep, char *why, size_t whylen)
{
	const char *host, *end, *colon;
	size_t n;

	if (!strncmp(ep, "https://", 8))
		host = ep + 8;
	else if (!strncmp(ep, "http://", 7))
		host = ep + 7;
	else
		goto bad;
	n = strcspn(host, "/?#");
	end = host + n;
	if (memchr(host, '@', n)) {
		snprintf(why, whylen, "user info ('user:pass@') is not "
			 "allowed; use 'credentials'");
		return -EINVAL;
	}
	if (!n || strspn(end, "/") != strlen(end))
		goto bad;
	for (const char *p = ep; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			goto bad;
	/* "[::1]:7480": the port is after the bracket, if any */
	colon = memchr(host, ']', n) ? memchr(host, ']', n) : host;
	colon = memchr(colon, ':', (size_t)(end - colon));
	if (colon == host)
		goto bad;
	if (colon)
		return endpoint_port_check(colon + 1,
					   (size_t)(end - colon - 1), why,
					   whylen);
	return 0;
bad:
	snprintf(why, whylen, "expected http://HOST[:PORT] or https://...");
	return -EINVAL;
}
