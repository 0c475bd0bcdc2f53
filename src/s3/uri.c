/*
 * uri.c - percent-encoding of S3 keys and SigV4 query strings.
 *
 * Design: one table-free encoder that works on bytes, never on
 * characters, so a key that is not valid UTF-8 still round-trips; the
 * caller decides whether '/' survives (paths) or not (query parts).
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
