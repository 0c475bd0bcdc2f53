/*
 * http.c - libcurl under the S3 requests: a pool of easy handles for
 * keep-alive, memory or streamed bodies, and the one translation of curl
 * codes and HTTP statuses into -errno.
 *
 * Design: curl_easy_reset() keeps a handle's live connections, so each
 * request resets the handle it takes from the pool and sets every option
 * again: no option of one request leaks into the next, and the TCP (and
 * TLS) connection is reused. Response headers are kept whole (names lower
 * cased) since the S3 layer reads several of them; the body is capped.
 *
 * Cancel: a request given a cancel flag must give up within about
 * HTTP_POLL_MS of the flag becoming true, even on a stalled connection.
 * curl_easy_perform() polls up to a second between progress callbacks,
 * so each pooled easy handle comes with a multi handle of its own and
 * the transfer is driven here, as curl_easy_perform() drives it but
 * waking every HTTP_POLL_MS; the progress callback
 * (CURLOPT_XFERINFOFUNCTION) aborts the transfer when the flag is set.
 * The multi handle holds the connection cache, so keep-alive is as
 * before: one multi per easy handle, both kept together in the pool.
 */
#include "s3/http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/xml.h"

#define HTTP_CONNECT_TIMEOUT_MS 10000L
#define HTTP_LOW_SPEED_TIME_S 60L
#define HTTP_MAX_BODY ((size_t)8 * 1024 * 1024)
#define HTTP_POOL_MAX 16u
#define HTTP_POLL_MS 50

/* An easy handle and the multi handle that drives it (and keeps its
 * connections). */
struct http_handle {
	CURL *easy;
	CURLM *multi;
};

struct s3_http {
	char *ca_file;
	long connect_timeout_ms, low_speed_time_s;
	size_t max_body;
	unsigned pool_max;
	pthread_mutex_t lock;	/* protects pool, npool and stats */
	struct http_handle *pool; /* idle handles, their connections open */
	unsigned npool;
	struct s3_http_stats stats;
};

/* One request in flight: what the curl callbacks see. */
struct http_call {
	const struct s3_http_req *req;
	struct s3_http_resp *resp;
	size_t max_body;
	uint64_t off;		/* next body byte to send */
	int read_err;		/* -errno from req->read */
	bool nomem;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_rc;

static void global_init_once(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT) ? -EIO : 0;
}

int s3_http_global_init(void)
{
	pthread_once(&global_once, global_init_once);
	return global_rc;
}

int s3_http_new(const struct s3_http_opts *o, struct s3_http **out)
{
	struct s3_http *h;
	int rc;

	*out = NULL;
	rc = s3_http_global_init();
	if (rc)
		return rc;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->connect_timeout_ms = o && o->connect_timeout_ms ?
				o->connect_timeout_ms : HTTP_CONNECT_TIMEOUT_MS;
	h->low_speed_time_s = o && o->low_speed_time_s ?
			      o->low_speed_time_s : HTTP_LOW_SPEED_TIME_S;
	h->max_body = o && o->max_body ? o->max_body : HTTP_MAX_BODY;
	h->pool_max = o && o->pool_max ? o->pool_max : HTTP_POOL_MAX;
	h->pool = calloc(h->pool_max, sizeof(*h->pool));
	if (o && o->ca_file)
		h->ca_file = strdup(o->ca_file);
	if (!h->pool || (o && o->ca_file && !h->ca_file)) {
		free(h->pool);
		free(h->ca_file);
		free(h);
		return -ENOMEM;
	}
	pthread_mutex_init(&h->lock, NULL);
	*out = h;
	return 0;
}

static void handle_free(struct http_handle *hh)
{
	if (hh->easy)
		curl_easy_cleanup(hh->easy);
	if (hh->multi)
		curl_multi_cleanup(hh->multi);
	hh->easy = NULL;
	hh->multi = NULL;
}

void s3_http_free(struct s3_http *h)
{
	unsigned i;

	if (!h)
		return;
	for (i = 0; i < h->npool; i++)
		handle_free(&h->pool[i]);
	pthread_mutex_destroy(&h->lock);
	free(h->pool);
	free(h->ca_file);
	free(h);
}

/* An idle handle from the pool, or a new one. -ENOMEM. */
static int handle_take(struct s3_http *h, struct http_handle *hh)
{
	bool got = false;

	pthread_mutex_lock(&h->lock);
	if (h->npool) {
		*hh = h->pool[--h->npool];
		got = true;
	}
	pthread_mutex_unlock(&h->lock);
	if (got)
		return 0;
	hh->easy = curl_easy_init();
	hh->multi = curl_multi_init();
	if (!hh->easy || !hh->multi) {
		handle_free(hh);
		return -ENOMEM;
	}
	return 0;
}

static void handle_put(struct s3_http *h, struct http_handle *hh)
{
	long conns = 0;

	curl_easy_getinfo(hh->easy, CURLINFO_NUM_CONNECTS, &conns);
	pthread_mutex_lock(&h->lock);
	h->stats.requests++;
	h->stats.connects += (uint64_t)(conns > 0 ? conns : 0);
	if (h->npool < h->pool_max) {
		h->pool[h->npool++] = *hh;
		hh->easy = NULL;
		hh->multi = NULL;
	}
	pthread_mutex_unlock(&h->lock);
	handle_free(hh);
}

int s3_http_classify(int curl_code, long status, const char *s3_code)
{
	const char *code = s3_code ? s3_code : "";

	switch (curl_code) {
	case CURLE_OK:
		break;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SEND_FAIL_REWIND:
	case CURLE_AGAIN:
		return -EAGAIN;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_CRL_BADFILE:
		return -EPERM;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_ABORTED_BY_CALLBACK:	/* only a cancel aborts */
		return -ECANCELED;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EINVAL;
	default:
		return -EIO;
	}
	/* S3 codes that say "transient" whatever the status. */
	if (!strcmp(code, "SlowDown") || !strcmp(code, "InternalError") ||
	    !strcmp(code, "RequestTimeout") ||
	    !strcmp(code, "ServiceUnavailable"))
		return -EAGAIN;
	if (!strcmp(code, "BadDigest") ||
	    !strcmp(code, "XAmzContentSHA256Mismatch"))
		return -EBADMSG;
	switch (status) {
	case 200: case 201: case 202: case 204: case 206:
		return 0;
	case 429: case 500: case 502: case 503: case 504:
		return -EAGAIN;
	case 400:
		return -EINVAL;
	case 401: case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	default:
		return status >= 200 && status < 300 ? 0 : -EIO;
	}
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct http_call *call = arg;
	struct s3_http_resp *r = call->resp;
	size_t len = size * n, keep = len;
	char *nb;

	if (r->body_len + keep > call->max_body)
		keep = call->max_body - r->body_len;
	if (!keep)
		return len;	/* past the cap: dropped, not an error */
	nb = realloc(r->body, r->body_len + keep + 1);
	if (!nb) {
		call->nomem = true;
		return 0;
	}
	memcpy(nb + r->body_len, data, keep);
	r->body = nb;
	r->body_len += keep;
	r->body[r->body_len] = '\0';
	return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct http_call *call = arg;
	struct s3_http_resp *r = call->resp;
	size_t len = size * n, i, nl;
	const char *colon = memchr(data, ':', len);
	struct s3_http_header *nh;
	const char *v, *e;

	if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
		/* A new status line (after 100 Continue): start over. */
		for (i = 0; i < r->nheaders; i++) {
			free(r->headers[i].name);
			free(r->headers[i].value);
		}
		r->nheaders = 0;
		return len;
	}
	if (!colon)
		return len;
	nl = (size_t)(colon - data);
	v = colon + 1;
	e = data + len;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
		e--;
	nh = realloc(r->headers, (r->nheaders + 1) * sizeof(*nh));
	if (!nh) {
		call->nomem = true;
		return 0;
	}
	r->headers = nh;
	nh[r->nheaders].name = strndup(data, nl);
	nh[r->nheaders].value = strndup(v, (size_t)(e - v));
	if (!nh[r->nheaders].name || !nh[r->nheaders].value) {
		free(nh[r->nheaders].name);
		free(nh[r->nheaders].value);
		call->nomem = true;
		return 0;
	}
	for (i = 0; i < nl; i++)
		nh[r->nheaders].name[i] =
			(char)tolower((unsigned char)nh[r->nheaders].name[i]);
	r->nheaders++;
	return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct http_call *call = arg;
	const struct s3_http_req *req = call->req;
	size_t want = size * n;
	ssize_t got;

	if (call->off >= req->body_len)
		return 0;
	if (want > req->body_len - call->off)
		want = (size_t)(req->body_len - call->off);
	if (req->read) {
		got = req->read(req->read_arg, buf, want, call->off);
		if (got < 0 || (got == 0 && want)) {
			call->read_err = got < 0 ? (int)got : -EIO;
			return CURL_READFUNC_ABORT;
		}
	} else {
		memcpy(buf, (const char *)req->body + call->off, want);
		got = (ssize_t)want;
	}
	call->off += (uint64_t)got;
	return (size_t)got;
}

static int on_seek(void *arg, curl_off_t offset, int origin)
{
	struct http_call *call = arg;

	if (origin != SEEK_SET || offset < 0 ||
	    (uint64_t)offset > call->req->body_len)
		return CURL_SEEKFUNC_FAIL;
	call->off = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static bool cancelled(const struct s3_http_req *req)
{
	return req->cancel && atomic_load(req->cancel);
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct http_call *call = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return cancelled(call->req);	/* non-zero aborts the transfer */
}

static int set_options(struct s3_http *h, CURL *c, struct http_call *call,
		       struct curl_slist *hdrs, char *errbuf)
{
	const struct s3_http_req *req = call->req;
	CURLcode cc = CURLE_OK;

#define SET(opt, val) if (!cc) cc = curl_easy_setopt(c, opt, val)
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	/* Keys like "a/./b" or "a/../b" are names, not paths to fold. */
	SET(CURLOPT_PATH_AS_IS, 1L);
	SET(CURLOPT_NOPROXY, "127.0.0.1,localhost,::1");
	SET(CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, h->low_speed_time_s);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_TCP_NODELAY, 1L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->ca_file)
		SET(CURLOPT_CAINFO, h->ca_file);
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, call);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, call);
	if (req->cancel) {
		SET(CURLOPT_NOPROGRESS, 0L);
		SET(CURLOPT_XFERINFOFUNCTION, on_progress);
		SET(CURLOPT_XFERINFODATA, call);
	}
	if (!strcmp(req->method, "HEAD")) {
		SET(CURLOPT_NOBODY, 1L);
	} else if (req->has_body) {
		SET(CURLOPT_UPLOAD, 1L);
		SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
		SET(CURLOPT_READFUNCTION, on_read);
		SET(CURLOPT_READDATA, call);
		SET(CURLOPT_SEEKFUNCTION, on_seek);
		SET(CURLOPT_SEEKDATA, call);
		if (strcmp(req->method, "PUT"))
			SET(CURLOPT_CUSTOMREQUEST, req->method);
	} else if (strcmp(req->method, "GET")) {
		SET(CURLOPT_CUSTOMREQUEST, req->method);
	}
#undef SET
	return (int)cc;
}

/*
 * curl_easy_perform(), driven through hh's multi handle so that a cancel
 * is seen within HTTP_POLL_MS however stalled the connection is.
 */
static CURLcode transfer(struct http_handle *hh, const struct s3_http_req *req)
{
	CURLcode cc = CURLE_FAILED_INIT;
	CURLMcode mc;
	CURLMsg *msg;
	int running = 1, left;

	mc = curl_multi_add_handle(hh->multi, hh->easy);
	if (mc)
		return mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : cc;
	for (;;) {
		mc = curl_multi_perform(hh->multi, &running);
		if (mc || !running)
			break;
		if (cancelled(req)) {	/* the callback did not run yet */
			cc = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
		mc = curl_multi_poll(hh->multi, NULL, 0, HTTP_POLL_MS, NULL);
		if (mc)
			break;
	}
	if (mc == CURLM_OUT_OF_MEMORY)
		cc = CURLE_OUT_OF_MEMORY;
	while ((msg = curl_multi_info_read(hh->multi, &left)))
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == hh->easy)
			cc = msg->data.result;
	/* mid-transfer (a cancel), this closes the connection */
	curl_multi_remove_handle(hh->multi, hh->easy);
	return cc;
}

/* The one-line reason of a failure, without the request's subject. */
static void explain(struct s3_http_resp *r, int cc, const char *errbuf,
		    int rc)
{
	char msg[160] = "";

	if (cc == CURLE_PEER_FAILED_VERIFICATION ||
	    cc == CURLE_SSL_CACERT_BADFILE) {
		snprintf(r->why, sizeof(r->why), "TLS certificate of the "
			 "server is not trusted (set ca_file to its CA?): %s",
			 errbuf[0] ? errbuf : curl_easy_strerror(cc));
		return;
	}
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(r->why, sizeof(r->why), "cancelled");
		return;
	}
	if (cc) {
		snprintf(r->why, sizeof(r->why), "%s",
			 errbuf[0] ? errbuf : curl_easy_strerror(cc));
		return;
	}
	if (r->body)
		s3_xml_copy(r->body, r->body_len, "Message", msg, sizeof(msg));
	if (r->s3_code[0] && msg[0])
		snprintf(r->why, sizeof(r->why), "%ld %s: %s", r->status,
			 r->s3_code, msg);
	else if (r->s3_code[0])
		snprintf(r->why, sizeof(r->why), "%ld %s", r->status,
			 r->s3_code);
	else
		snprintf(r->why, sizeof(r->why), "HTTP status %ld%s",
			 r->status, rc == -ENOENT ? " (not found)" :
			 rc == -EACCES ? " (access denied: check the "
			 "credentials)" : "");
}

int s3_http_do(struct s3_http *h, const struct s3_http_req *req,
	       struct s3_http_resp *resp)
{
	struct curl_slist *hdrs = NULL, *nh;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct http_handle hh = { NULL, NULL };
	struct http_call call;
	int cc, rc;
	size_t i;

	memset(resp, 0, sizeof(*resp));
	memset(&call, 0, sizeof(call));
	call.req = req;
	call.resp = resp;
	call.max_body = h->max_body;
	for (i = 0; i < req->nheaders; i++) {
		nh = curl_slist_append(hdrs, req->headers[i]);
		if (!nh) {
			rc = -ENOMEM;
			goto out;
		}
		hdrs = nh;
	}
	if (cancelled(req)) {
		rc = -ECANCELED;
		snprintf(resp->why, sizeof(resp->why), "cancelled");
		goto out;
	}
	rc = handle_take(h, &hh);
	if (rc)
		goto out;
	curl_easy_reset(hh.easy);
	cc = set_options(h, hh.easy, &call, hdrs, errbuf);
	if (!cc)
		cc = (int)transfer(&hh, req);
	if (call.read_err) {
		rc = call.read_err;
		snprintf(resp->why, sizeof(resp->why), "cannot read the data "
			 "to send: %s", strerror(-rc));
		goto out;
	}
	if (call.nomem) {
		rc = -ENOMEM;
		snprintf(resp->why, sizeof(resp->why), "%s", strerror(ENOMEM));
		goto out;
	}
	if (!cc) {
		curl_easy_getinfo(hh.easy, CURLINFO_RESPONSE_CODE,
				  &resp->status);
		if (resp->body && (resp->status < 200 || resp->status >= 300))
			s3_xml_copy(resp->body, resp->body_len, "Code",
				    resp->s3_code, sizeof(resp->s3_code));
	}
	rc = s3_http_classify(cc, resp->status, resp->s3_code);
	if (rc)
		explain(resp, cc, errbuf, rc);
out:
	if (hh.easy)
		handle_put(h, &hh);
	curl_slist_free_all(hdrs);
	return rc;
}

void s3_http_stats(struct s3_http *h, struct s3_http_stats *out)
{
	pthread_mutex_lock(&h->lock);
	*out = h->stats;
	pthread_mutex_unlock(&h->lock);
}

const char *s3_http_resp_header(const struct s3_http_resp *resp,
				const char *name)
{
	size_t i;

	for (i = 0; i < resp->nheaders; i++)
		if (!strcasecmp(resp->headers[i].name, name))
			return resp->headers[i].value;
	return NULL;
}

void s3_http_resp_release(struct s3_http_resp *resp)
{
	size_t i;

	for (i = 0; i < resp->nheaders; i++) {
		free(resp->headers[i].name);
		free(resp->headers[i].value);
	}
	free(resp->headers);
	free(resp->body);
	resp->headers = NULL;
	resp->body = NULL;
	resp->nheaders = 0;
	resp->body_len = 0;
}
