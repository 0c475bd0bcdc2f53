/*
 * test_s3_client.c - the S3 client's pure parts, table-driven: the one
 * translation of curl codes / HTTP statuses / S3 codes to -errno, URLs
 * and Host headers for keys of any bytes in both addressing styles, the
 * XML reader, and the headers of a replica (docs/replica-s3.md).
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "remote/remote_s3_int.h"
#include "s3/http.h"
#include "s3/s3.h"
#include "s3/sigv4.h"
#include "s3/xml.h"

static const struct {
	int curl;
	long status;
	const char *code;
	int rc;
} classes[] = {
	{ CURLE_OK, 200, NULL, 0 },
	{ CURLE_OK, 204, "", 0 },
	{ CURLE_COULDNT_CONNECT, 0, NULL, -EAGAIN },
	{ CURLE_OPERATION_TIMEDOUT, 0, NULL, -EAGAIN },
	{ CURLE_SEND_ERROR, 0, NULL, -EAGAIN },
	{ CURLE_RECV_ERROR, 0, NULL, -EAGAIN },
	{ CURLE_GOT_NOTHING, 0, NULL, -EAGAIN },
	{ CURLE_COULDNT_RESOLVE_HOST, 0, NULL, -EAGAIN },
	{ CURLE_PEER_FAILED_VERIFICATION, 0, NULL, -EPERM },
	{ CURLE_SSL_CACERT_BADFILE, 0, NULL, -EPERM },
	{ CURLE_URL_MALFORMAT, 0, NULL, -EINVAL },
	{ CURLE_OK, 500, "InternalError", -EAGAIN },
	{ CURLE_OK, 502, NULL, -EAGAIN },
	{ CURLE_OK, 503, "SlowDown", -EAGAIN },
	{ CURLE_OK, 504, NULL, -EAGAIN },
	{ CURLE_OK, 429, NULL, -EAGAIN },
	{ CURLE_OK, 400, "RequestTimeout", -EAGAIN },
	{ CURLE_OK, 400, "InvalidArgument", -EINVAL },
	{ CURLE_OK, 400, "XAmzContentSHA256Mismatch", -EBADMSG },
	{ CURLE_OK, 400, "BadDigest", -EBADMSG },
	{ CURLE_OK, 403, "SignatureDoesNotMatch", -EACCES },
	{ CURLE_OK, 403, "InvalidAccessKeyId", -EACCES },
	{ CURLE_OK, 403, "AccessDenied", -EACCES },
	{ CURLE_OK, 403, NULL, -EACCES },
	{ CURLE_OK, 404, "NoSuchBucket", -ENOENT },
	{ CURLE_OK, 404, "NoSuchKey", -ENOENT },
	{ CURLE_OK, 409, "BucketNotEmpty", -EIO },
	{ CURLE_OK, 301, NULL, -EIO },
};

static void test_classify(void)
{
	size_t i;

	for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		int rc = s3_http_classify(classes[i].curl, classes[i].status,
					  classes[i].code);

		if (rc != classes[i].rc)
			fprintf(stderr, "case %zu (curl %d, %ld %s)\n", i,
				classes[i].curl, classes[i].status,
				classes[i].code ? classes[i].code : "");
		CHECK_EQ_INT(rc, classes[i].rc);
	}
}

static const struct {
	const char *endpoint;
	bool path_style;
	const char *key;
	const char *url, *host;
} urls[] = {
	{ "http://127.0.0.1:8000", true, "a b/c+d%e?f#g~h'i",
	  "http://127.0.0.1:8000/bkt/a%20b/c%2Bd%25e%3Ff%23g~h%27i",
	  "127.0.0.1:8000" },
	{ "https://s3.example.com", false, "a b/c+d%e?f#g~h'i",
	  "https://bkt.s3.example.com/a%20b/c%2Bd%25e%3Ff%23g~h%27i",
	  "bkt.s3.example.com" },
	{ "http://127.0.0.1:8000/", true, "d\xc3\xa9j\xc3\xa0/x/./y/../z",
	  "http://127.0.0.1:8000/bkt/d%C3%A9j%C3%A0/x/./y/../z",
	  "127.0.0.1:8000" },
	{ "http://localhost:8000", false, "dir/",
	  "http://bkt.localhost:8000/dir/", "bkt.localhost:8000" },
	{ "http://localhost:8000", false, NULL,
	  "http://bkt.localhost:8000/", "bkt.localhost:8000" },
	{ "http://localhost:8000", true, NULL,
	  "http://localhost:8000/bkt/", "localhost:8000" },
};

static void test_urls(void)
{
	struct s3_creds cr = { (char *)"AK", (char *)"SK", NULL };
	struct s3_client_opts o = { 0 };
	struct s3_client *c;
	char *url, *host, why[256];
	size_t i;

	o.bucket = "bkt";
	o.creds = &cr;
	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		o.endpoint = urls[i].endpoint;
		o.path_style = urls[i].path_style;
		CHECK_EQ_INT(s3_client_new(&o, &c, why, sizeof(why)), 0);
		CHECK_EQ_INT(s3_client_url(c, urls[i].key, NULL, 0, &url,
					   &host), 0);
		CHECK_EQ_STR(url, urls[i].url);
		CHECK_EQ_STR(host, urls[i].host);
		free(url);
		free(host);
		s3_client_free(c);
	}
	/* The query is the canonical one: sorted, every byte encoded. */
	o.endpoint = "http://h:1";
	o.path_style = true;
	CHECK_EQ_INT(s3_client_new(&o, &c, why, sizeof(why)), 0);
	{
		struct sigv4_pair q[2] = { { "versions", "" },
					   { "key-marker", "a+b c" } };

		CHECK_EQ_INT(s3_client_url(c, NULL, q, 2, &url, &host), 0);
		CHECK_EQ_STR(url, "http://h:1/bkt/?key-marker=a%2Bb%20c"
			     "&versions=");
		free(url);
		free(host);
	}
	s3_client_free(c);
	/* Refusals name what is wrong. */
	o.endpoint = "ftp://h";
	CHECK_EQ_INT(s3_client_new(&o, &c, why, sizeof(why)), -EINVAL);
	CHECK_EQ_STR(why, "bad endpoint 'ftp://h': expected "
		     "http://HOST[:PORT] or https://...");
	o.endpoint = "http://h/path";
	CHECK_EQ_INT(s3_client_new(&o, &c, why, sizeof(why)), -EINVAL);
	o.endpoint = "http://h:70000";
	CHECK_EQ_INT(s3_client_new(&o, &c, why, sizeof(why)), -EINVAL);
	CHECK_EQ_STR(why, "bad endpoint 'http://h:70000': port '70000' is not "
		     "in 1..65535");
	o.endpoint = "http://u:p@h";
	CHECK_EQ_INT(s3_client_new(&o, &c, why, sizeof(why)), -EINVAL);
	o.endpoint = "http://h";
	o.bucket = "b1";
	CHECK_EQ_INT(s3_client_new(&o, &c, why, sizeof(why)), -EINVAL);
	CHECK_EQ_STR(why, "bucket name 'b1' is not valid");
}

static void test_xml(void)
{
	const char *x = "<Error><Code>SignatureDoesNotMatch</Code><Message>"
			"a &amp; b &lt;c&gt; &#233;&#x41;</Message><E/></Error>";
	char buf[64], *s;
	size_t pos = 0, st, en;
	int which, n = 0;
	const char *l = "<R><Version><Key>a</Key></Version><DeleteMarker>"
			"<Key>b</Key></DeleteMarker><Version><Key>c</Key>"
			"</Version></R>";

	CHECK_EQ_INT(s3_xml_copy(x, strlen(x), "Code", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "SignatureDoesNotMatch");
	CHECK_EQ_INT(s3_xml_text(x, strlen(x), "Message", &s), 0);
	CHECK_EQ_STR(s, "a & b <c> \xc3\xa9" "A");
	free(s);
	CHECK_EQ_INT(s3_xml_copy(x, strlen(x), "E", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "");
	CHECK_EQ_INT(s3_xml_copy(x, strlen(x), "Nope", buf, sizeof(buf)),
		     -ENOENT);
	while (s3_xml_next(l, strlen(l), &pos, "Version", "DeleteMarker", &st,
			   &en, &which)) {
		s3_xml_copy(l + st, en - st, "Key", buf, sizeof(buf));
		CHECK_EQ_STR(buf, n == 0 ? "a" : n == 1 ? "b" : "c");
		CHECK_EQ_INT(which, n == 1 ? 2 : 1);
		n++;
	}
	CHECK_EQ_INT(n, 3);
}

static bool has(const struct s3_hdrs *h, const char *line)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (!strcmp(h->v[i], line))
			return true;
	fprintf(stderr, "missing header '%s'\n", line);
	return false;
}

static void test_headers(void)
{
	struct remote_s3 r = { 0 };
	struct remote_obj o = { 0 };
	struct s3_hdrs h = { 0 };
	struct store_xattr x[] = {
		{ "user.color", "blue sky", 8 },
		{ "user.Upper", "v", 1 },
		{ "user.mode", "x", 1 },
		{ "user.bin", "\x01\x02", 2 },
		{ "user.crrfs.tag.project", "alpha beta", 10 },
		{ "user.crrfs.tag.k+=", "v/1", 3 },
		{ "user.empty", "", 0 },
	};
	char why[256];

	o.key = "a.txt";
	o.v.type = STORE_T_FILE;
	o.v.attr.mode = S_IFREG | 0640;
	o.v.attr.uid = 1000;
	o.v.attr.gid = 100;
	o.v.attr.mtime_ns = 1700000000123456789LL;
	o.v.attr.atime_ns = 1700000000000000000LL;
	o.v.attr.ctime_ns = -1500000000LL;
	strcpy(o.v.vid, "01HZZZZZZZZZZZZZZZZZZZZZZZ");
	o.xattrs = x;
	o.nxattrs = sizeof(x) / sizeof(x[0]);
	o.storage_class = "STANDARD";
	CHECK_EQ_INT(remote_s3_headers(&r, &o, "ab12", &h, why, sizeof(why)),
		     0);
	CHECK(has(&h, "Content-Type: application/octet-stream"));
	CHECK(has(&h, "x-amz-meta-mode: 33184"));
	CHECK(has(&h, "x-amz-meta-uid: 1000"));
	CHECK(has(&h, "x-amz-meta-gid: 100"));
	CHECK(has(&h, "x-amz-meta-mtime: 1700000000.123456789"));
	CHECK(has(&h, "x-amz-meta-atime: 1700000000"));
	CHECK(has(&h, "x-amz-meta-ctime: -2.500000000"));
	CHECK(has(&h, "x-amz-meta-crrfs-version-id: "
		  "01HZZZZZZZZZZZZZZZZZZZZZZZ"));
	CHECK(has(&h, "x-amz-meta-crrfs-sha256: ab12"));
	CHECK(has(&h, "x-amz-meta-color: blue sky"));
	CHECK(has(&h, "x-amz-meta-crrfs-xattr-0: Upper;dg=="));
	CHECK(has(&h, "x-amz-meta-crrfs-xattr-1: mode;eA=="));
	CHECK(has(&h, "x-amz-meta-crrfs-xattr-2: bin;AQI="));
	CHECK(has(&h, "x-amz-meta-empty: "));
	CHECK(has(&h, "x-amz-tagging: project=alpha%20beta&k%2B%3D=v%2F1"));
	CHECK(has(&h, "x-amz-storage-class: STANDARD"));
	s3_hdrs_release(&h);

	o.key = "dir/";
	o.v.type = STORE_T_DIR;
	o.v.attr.mode = S_IFDIR | 0755;
	o.nxattrs = 0;
	o.storage_class = NULL;
	CHECK_EQ_INT(remote_s3_headers(&r, &o, "ab12", &h, why, sizeof(why)),
		     0);
	CHECK(has(&h, "Content-Type: application/x-directory"));
	CHECK(has(&h, "x-amz-meta-mode: 16877"));
	s3_hdrs_release(&h);
}

/* A tag S3 would refuse (stored before crrfs checked them) fails the
 * ship with a reason, rather than making the bucket's tagging unreadable. */
static void test_bad_tags(void)
{
	struct remote_s3 r = { 0 };
	struct remote_obj o = { 0 };
	struct s3_hdrs h = { 0 };
	struct store_xattr bad[] = {
		{ "user.crrfs.tag.ok", "\xff\xfe", 2 },
		{ "user.crrfs.tag.a&b", "v", 1 },
		{ "user.crrfs.tag.aws:x", "v", 1 },
	};
	struct store_xattr many[11];
	char names[11][32], why[256];
	size_t i;

	o.key = "a.txt";
	o.v.type = STORE_T_FILE;
	strcpy(o.v.vid, "01HZZZZZZZZZZZZZZZZZZZZZZZ");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.xattrs = &bad[i];
		o.nxattrs = 1;
		why[0] = '\0';
		CHECK_EQ_INT(remote_s3_headers(&r, &o, "ab12", &h, why,
					       sizeof(why)), -EINVAL);
		CHECK(strstr(why, "cannot ship tag '") == why);
		s3_hdrs_release(&h);
	}
	for (i = 0; i < 11; i++) {
		snprintf(names[i], sizeof(names[i]), "user.crrfs.tag.t%zu", i);
		many[i].name = names[i];
		many[i].value = "v";
		many[i].size = 1;
	}
	o.xattrs = many;
	o.nxattrs = 10;
	CHECK_EQ_INT(remote_s3_headers(&r, &o, "ab12", &h, why, sizeof(why)),
		     0);
	s3_hdrs_release(&h);
	o.nxattrs = 11;
	CHECK_EQ_INT(remote_s3_headers(&r, &o, "ab12", &h, why, sizeof(why)),
		     -EINVAL);
	CHECK_EQ_STR(why, "cannot ship the tags of 'a.txt': 11 tags, S3 "
		     "allows 10");
	s3_hdrs_release(&h);
}

int main(void)
{
	test_classify();
	test_urls();
	test_xml();
	test_headers();
	test_bad_tags();
	return check_done("test_s3_client");
}
