/*
 * s3_list.c - ListObjectVersions page by page, and a count of the
 * multipart uploads in progress (ListMultipartUploads).
 *
 * Design: keys come back as XML text (entities decoded), not with
 * encoding-type=url: RGW's URL-encoded listing writes '+' as it is, which
 * a decoder must then read as a space. A page is walked in document
 * order, so versions and delete markers interleave as S3 orders them.
 */
#include "s3/s3_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/xml.h"

#define LIST_PAGE "1000"

/* The fields of one <Version> or <DeleteMarker>, as strings. */
struct list_entry {
	char *key, *vid, *etag, *sc, *lm;
	char latest[8], size[24];
};

static void entry_release(struct list_entry *e)
{
	free(e->key);
	free(e->vid);
	free(e->etag);
	free(e->sc);
	free(e->lm);
	memset(e, 0, sizeof(*e));
}

static int entry_visit(const char *x, size_t n, bool marker,
		       s3_version_fn fn, void *arg)
{
	struct list_entry e = { 0 };
	struct s3_version v = { 0 };
	int rc;

	if (s3_xml_text(x, n, "Key", &e.key) ||
	    s3_xml_text(x, n, "VersionId", &e.vid)) {
		rc = -EIO;
		goto out;
	}
	s3_xml_text(x, n, "ETag", &e.etag);
	s3_xml_text(x, n, "StorageClass", &e.sc);
	s3_xml_text(x, n, "LastModified", &e.lm);
	s3_xml_copy(x, n, "IsLatest", e.latest, sizeof(e.latest));
	s3_xml_copy(x, n, "Size", e.size, sizeof(e.size));
	v.key = e.key;
	v.version_id = e.vid;
	v.delete_marker = marker;
	v.is_latest = !strcmp(e.latest, "true");
	v.size = strtoull(e.size, NULL, 10);
	v.etag = e.etag ? e.etag : "";
	v.storage_class = e.sc ? e.sc : "";
	v.last_modified = e.lm ? e.lm : "";
	rc = fn(arg, &v);
out:
	entry_release(&e);
	return rc;
}

int s3_list_versions(struct s3_client *c, const char *prefix,
		     s3_version_fn fn, void *arg, char *why, size_t whylen)
{
	char *kmark = NULL, *vmark = NULL;
	struct s3_http_resp r = { 0 };
	char trunc[8];
	int rc;

	for (;;) {
		struct sigv4_pair q[5] = { { "versions", "" },
					   { "max-keys", LIST_PAGE } };
		size_t nq = 2, pos = 0, s, e;
		struct s3_call k = { "GET", NULL, q, 0, NULL, 0, NULL };
		int which;

		if (prefix && *prefix)
			q[nq++] = (struct sigv4_pair){ "prefix", prefix };
		if (kmark) {
			q[nq++] = (struct sigv4_pair){ "key-marker", kmark };
			if (vmark && *vmark)
				q[nq++] = (struct sigv4_pair){
					"version-id-marker", vmark };
		}
		k.nquery = nq;
		rc = s3_call_do(c, &k, &r, why, whylen);
		if (rc)
			goto out;
		while (s3_xml_next(r.body, r.body_len, &pos, "Version",
				   "DeleteMarker", &s, &e, &which)) {
			rc = entry_visit(r.body + s, e - s, which == 2, fn, arg);
			if (rc == 1) {
				rc = 0;
				goto out;
			}
			if (rc)
				goto out;
		}
		s3_xml_copy(r.body, r.body_len, "IsTruncated", trunc,
			    sizeof(trunc));
		if (strcmp(trunc, "true"))
			break;
		free(kmark);
		free(vmark);
		kmark = vmark = NULL;
		if (s3_xml_text(r.body, r.body_len, "NextKeyMarker", &kmark)) {
			s3_why(why, whylen, "s3 GET '%s?versions': truncated "
			       "page without NextKeyMarker", c->bucket);
			rc = -EIO;
			goto out;
		}
		s3_xml_text(r.body, r.body_len, "NextVersionIdMarker", &vmark);
		s3_http_resp_release(&r);
	}
	rc = 0;
out:
	s3_http_resp_release(&r);
	free(kmark);
	free(vmark);
	return rc;
}

int s3_count_uploads(struct s3_client *c, const char *prefix,
		     unsigned *count, char *why, size_t whylen)
{
	struct sigv4_pair q[2] = { { "uploads", "" }, { "prefix", prefix } };
	struct s3_call k = { "GET", NULL, q, prefix ? 2 : 1, NULL, 0, NULL };
	struct s3_http_resp r;
	size_t pos = 0, s, e;
	int which, rc;

	*count = 0;
	rc = s3_call_do(c, &k, &r, why, whylen);
	while (!rc && s3_xml_next(r.body, r.body_len, &pos, "Upload", NULL,
				  &s, &e, &which))
		(*count)++;
	s3_http_resp_release(&r);
	return rc;
}
