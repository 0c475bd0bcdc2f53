/*
 * s3_ops.c - the S3 operations crrfs uses, each one request (or one per
 * page) through s3_call_do(): objects, the bucket's versioning,
 * multipart uploads and version listings.
 */
#include "s3/s3_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/xml.h"

static void copy_header(const struct s3_http_resp *r, const char *name,
			char out[S3_ID_MAX])
{
	const char *v = s3_http_resp_header(r, name);

	if (out)
		snprintf(out, S3_ID_MAX, "%s", v ? v : "");
}

int s3_put_object(struct s3_client *c, const char *key,
		  const char *const *headers, size_t nheaders,
		  const struct s3_body *body, char vid[S3_ID_MAX], char *why,
		  size_t whylen)
{
	struct s3_call k = { "PUT", key, NULL, 0, headers, nheaders, body };
	struct s3_http_resp r;
	int rc = s3_call_do(c, &k, &r, why, whylen);

	if (!rc)
		copy_header(&r, "x-amz-version-id", vid);
	s3_http_resp_release(&r);
	return rc;
}

int s3_delete_object(struct s3_client *c, const char *key,
		     char vid[S3_ID_MAX], char *why, size_t whylen)
{
	struct s3_call k = { "DELETE", key, NULL, 0, NULL, 0, NULL };
	struct s3_http_resp r;
	int rc = s3_call_do(c, &k, &r, why, whylen);

	if (!rc)
		copy_header(&r, "x-amz-version-id", vid);
	s3_http_resp_release(&r);
	return rc;
}

int s3_delete_version(struct s3_client *c, const char *key,
		      const char *version_id, char *why, size_t whylen)
{
	struct sigv4_pair q = { "versionId", version_id };
	struct s3_call k = { "DELETE", key, &q, 1, NULL, 0, NULL };
	struct s3_http_resp r;
	int rc = s3_call_do(c, &k, &r, why, whylen);

	s3_http_resp_release(&r);
	return rc;
}

int s3_head_object(struct s3_client *c, const char *key,
		   const char *version_id, struct s3_http_resp *resp,
		   char *why, size_t whylen)
{
	struct sigv4_pair q = { "versionId", version_id };
	struct s3_call k = { "HEAD", key, &q, version_id ? 1 : 0, NULL, 0,
			     NULL };

	return s3_call_do(c, &k, resp, why, whylen);
}

int s3_get_object(struct s3_client *c, const char *key,
		  const char *version_id, char **data, size_t *len,
		  char *why, size_t whylen)
{
	struct sigv4_pair q = { "versionId", version_id };
	struct s3_call k = { "GET", key, &q, version_id ? 1 : 0, NULL, 0,
			     NULL };
	struct s3_http_resp r;
	int rc = s3_call_do(c, &k, &r, why, whylen);

	*data = NULL;
	*len = 0;
	if (!rc) {
		*data = r.body ? r.body : strdup("");
		*len = r.body_len;
		r.body = NULL;
		if (!*data)
			rc = -ENOMEM;
	}
	s3_http_resp_release(&r);
	return rc;
}

int s3_head_bucket(struct s3_client *c, char *why, size_t whylen)
{
	struct s3_call k = { "HEAD", NULL, NULL, 0, NULL, 0, NULL };
	struct s3_http_resp r;
	int rc = s3_call_do(c, &k, &r, why, whylen);

	s3_http_resp_release(&r);
	return rc;
}

int s3_get_bucket_versioning(struct s3_client *c, char status[16],
			     char *why, size_t whylen)
{
	struct sigv4_pair q = { "versioning", "" };
	struct s3_call k = { "GET", NULL, &q, 1, NULL, 0, NULL };
	struct s3_http_resp r;
	int rc = s3_call_do(c, &k, &r, why, whylen);

	status[0] = '\0';
	if (!rc)
		s3_xml_copy(r.body, r.body_len, "Status", status, 16);
	s3_http_resp_release(&r);
	return rc;
}

int s3_create_bucket(struct s3_client *c, char *why, size_t whylen)
{
	struct s3_call k = { "PUT", NULL, NULL, 0, NULL, 0, NULL };
	struct s3_http_resp r;
	int rc = s3_call_do(c, &k, &r, why, whylen);

	s3_http_resp_release(&r);
	return rc;
}

int s3_put_bucket_versioning(struct s3_client *c, bool enabled, char *why,
			     size_t whylen)
{
	char xml[256];
	struct s3_body b = { 0 };
	struct sigv4_pair q = { "versioning", "" };
	struct s3_call k = { "PUT", NULL, &q, 1, NULL, 0, &b };
	struct s3_http_resp r;
	int rc;

	snprintf(xml, sizeof(xml), "<VersioningConfiguration xmlns=\"http://"
		 "s3.amazonaws.com/doc/2006-03-01/\"><Status>%s</Status>"
		 "</VersioningConfiguration>",
		 enabled ? "Enabled" : "Suspended");
	b.data = xml;
	b.len = strlen(xml);
	rc = s3_call_do(c, &k, &r, why, whylen);
	s3_http_resp_release(&r);
	return rc;
}

int s3_mpu_create(struct s3_client *c, const char *key,
		  const char *const *headers, size_t nheaders,
		  char **upload_id, char *why, size_t whylen)
{
	struct sigv4_pair q = { "uploads", "" };
	struct s3_call k = { "POST", key, &q, 1, headers, nheaders, NULL };
	struct s3_http_resp r;
	int rc = s3_call_do(c, &k, &r, why, whylen);

	*upload_id = NULL;
	if (!rc && s3_xml_text(r.body, r.body_len, "UploadId", upload_id)) {
		s3_why(why, whylen, "s3 POST '%s/...?uploads': no UploadId in "
		       "the answer", c->bucket);
		rc = -EIO;
	}
	s3_http_resp_release(&r);
	return rc;
}

int s3_mpu_part(struct s3_client *c, const char *key, const char *upload_id,
		unsigned part, const struct s3_body *body,
		char etag[S3_ID_MAX], char *why, size_t whylen)
{
	char num[16];
	struct sigv4_pair q[2] = { { "partNumber", num },
				   { "uploadId", upload_id } };
	struct s3_call k = { "PUT", key, q, 2, NULL, 0, body };
	struct s3_http_resp r;
	int rc;

	snprintf(num, sizeof(num), "%u", part);
	rc = s3_call_do(c, &k, &r, why, whylen);
	if (!rc) {
		copy_header(&r, "etag", etag);
		if (!etag[0]) {
			s3_why(why, whylen, "s3 PUT part %u: no ETag in the "
			       "answer", part);
			rc = -EIO;
		}
	}
	s3_http_resp_release(&r);
	return rc;
}

int s3_mpu_complete(struct s3_client *c, const char *key,
		    const char *upload_id, char (*etags)[S3_ID_MAX],
		    unsigned nparts, char vid[S3_ID_MAX], char *why,
		    size_t whylen)
{
	struct sigv4_pair q = { "uploadId", upload_id };
	struct s3_body b = { 0 };
	struct s3_call k = { "POST", key, &q, 1, NULL, 0, &b };
	struct s3_http_resp r = { 0 };
	char code[64] = "", *xml = NULL, *e = NULL;
	size_t cap = 128 + (size_t)nparts * (64 + S3_ID_MAX * 6), len = 0;
	unsigned i;
	int rc = -ENOMEM;

	xml = malloc(cap);
	if (!xml) {
		s3_why(why, whylen, "s3 POST: %s", strerror(ENOMEM));
		goto out;
	}
	len += (size_t)snprintf(xml + len, cap - len,
				"<CompleteMultipartUpload>");
	for (i = 0; i < nparts; i++) {
		if (s3_xml_escape(etags[i], &e))
			goto out;
		len += (size_t)snprintf(xml + len, cap - len, "<Part><PartNumber>"
					"%u</PartNumber><ETag>%s</ETag></Part>",
					i + 1, e);
		free(e);
		e = NULL;
	}
	len += (size_t)snprintf(xml + len, cap - len,
				"</CompleteMultipartUpload>");
	b.data = xml;
	b.len = len;
	rc = s3_call_do(c, &k, &r, why, whylen);
	/* S3 may answer 200 and put an <Error> in the body. */
	if (!rc && r.body && strstr(r.body, "<Error>")) {
		s3_xml_copy(r.body, r.body_len, "Code", code, sizeof(code));
		rc = s3_http_classify(0, 500, code);
		if (!rc)
			rc = -EIO;
		s3_why(why, whylen, "s3 POST '%s': complete failed: %s",
		       c->bucket, code);
	}
	if (!rc)
		copy_header(&r, "x-amz-version-id", vid);
out:
	s3_http_resp_release(&r);
	free(xml);
	return rc;
}

int s3_mpu_abort(struct s3_client *c, const char *key,
		 const char *upload_id, char *why, size_t whylen)
{
	struct sigv4_pair q = { "uploadId", upload_id };
	struct s3_call k = { "DELETE", key, &q, 1, NULL, 0, NULL };
	struct s3_http_resp r;
	int rc = s3_call_do(c, &k, &r, why, whylen);

	if (rc == -ENOENT)	/* NoSuchUpload: already gone */
		rc = 0;
	s3_http_resp_release(&r);
	return rc;
}
