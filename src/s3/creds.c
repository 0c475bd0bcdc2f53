/*
 * creds.c - S3 credentials from a credentials file (read with inih) or
 * from the AWS_* environment variables.
 *
 * Design: inih as Debian builds it reads lines of at most 197 characters
 * into a stack buffer, and a session token is often longer. The text is
 * therefore handed to inih line by line through ini_parse_stream(): a
 * line too long for inih goes in as "NAME = \x01N" and its value is kept
 * aside in slot N, so every value arrives whole. Values are trimmed as
 * inih trims them. Secrets are wiped before they are freed, and no
 * message ever quotes a value.
 */
#include "s3/creds.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define CREDS_FILE_MAX (1024 * 1024)	/* a credentials file is small */
#define CREDS_LONG_MAX 16		/* long values kept aside */
#define CREDS_LINE_MAX 180		/* below inih's 197, with margin */

enum { F_AK, F_SK, F_TOKEN, F_COUNT };

static const char *const field_names[F_COUNT] = {
	[F_AK] = "aws_access_key_id",
	[F_SK] = "aws_secret_access_key",
	[F_TOKEN] = "aws_session_token",
};

struct creds_parser {
	const char *text;	/* what is left to hand to inih */
	const char *profile;
	bool found;		/* the profile's section was seen */
	char *val[F_COUNT];
	char *longv[CREDS_LONG_MAX];	/* values of over-long lines */
	size_t nlong;
	char line[CREDS_LINE_MAX + 8];
	bool nomem;
};

static void wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

static void fmt_why(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fmt_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (!why || !whylen)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/*
 * inih's reader: one line per call. A long "name = value" line is cut to
 * "name = \x01N" with its value kept in p->longv[N].
 */
static char *creds_reader(char *buf, int size, void *stream)
{
	struct creds_parser *p = stream;
	const char *nl, *eq;
	size_t len;

	if (!*p->text)
		return NULL;
	nl = strchr(p->text, '\n');
	len = nl ? (size_t)(nl - p->text) : strlen(p->text);
	eq = memchr(p->text, '=', len);
	if (len + 2 > (size_t)size && eq && p->nlong < CREDS_LONG_MAX &&
	    (size_t)(eq - p->text) < CREDS_LINE_MAX - 8) {
		char *v = strndup(eq + 1, len - (size_t)(eq + 1 - p->text));

		if (!v) {
			p->nomem = true;
			return NULL;
		}
		memmove(v, trim(v), strlen(trim(v)) + 1);
		p->longv[p->nlong] = v;
		snprintf(buf, (size_t)size, "%.*s= \x01%zu\n",
			 (int)(eq - p->text), p->text, p->nlong);
		p->nlong++;
	} else {
		/* Short enough, or not a key line: inih sees it as is. */
		snprintf(buf, (size_t)size, "%.*s\n", (int)len, p->text);
	}
	p->text += len + (nl ? 1 : 0);
	return buf;
}

static bool section_is(const char *section, const char *profile)
{
	if (!strcmp(section, profile))
		return true;
	/* ~/.aws/config spells non-default profiles "[profile NAME]". */
	return !strncmp(section, "profile ", 8) &&
	       !strcmp(section + 8 + strspn(section + 8, " \t"), profile);
}

static int creds_handler(void *user, const char *section, const char *name,
			 const char *value)
{
	struct creds_parser *p = user;
	const char *v = value;
	int f;

	if (!section_is(section, p->profile))
		return 1;
	p->found = true;
	for (f = 0; f < F_COUNT; f++)
		if (!strcmp(name, field_names[f]))
			break;
	if (f == F_COUNT)
		return 1;	/* region, output, ...: the AWS CLI's */
	if (v[0] == '\x01') {
		size_t i = strtoul(v + 1, NULL, 10);

		v = i < p->nlong ? p->longv[i] : "";
	}
	wipe_free(p->val[f]);
	p->val[f] = strdup(v);
	if (!p->val[f])
		p->nomem = true;
	return 1;
}

static void parser_release(struct creds_parser *p)
{
	size_t i;

	for (i = 0; i < F_COUNT; i++)
		wipe_free(p->val[i]);
	for (i = 0; i < p->nlong; i++)
		wipe_free(p->longv[i]);
}

int s3_creds_parse(const char *text, const char *name, const char *profile,
		   struct s3_creds *out, char *why, size_t whylen)
{
	struct creds_parser p;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&p, 0, sizeof(p));
	p.text = text;
	p.profile = profile && *profile ? profile : "default";
	rc = ini_parse_stream(creds_reader, &p, creds_handler, &p);
	if (p.nomem || rc < 0) {
		rc = -ENOMEM;
		fmt_why(why, whylen, "cannot read credentials file '%s': %s",
			name, strerror(ENOMEM));
		goto out;
	}
	if (rc > 0) {
		fmt_why(why, whylen, "credentials file '%s': line %d: "
			"expected '[profile]', 'key = value' or a comment",
			name, rc);
		rc = -EINVAL;
		goto out;
	}
	if (!p.found) {
		fmt_why(why, whylen, "credentials file '%s': profile '%s' "
			"not found", name, p.profile);
		rc = -ENOENT;
		goto out;
	}
	for (int f = F_AK; f <= F_SK; f++) {
		if (!p.val[f] || !*p.val[f]) {
			fmt_why(why, whylen, "credentials file '%s': profile "
				"'%s' has no %s", name, p.profile,
				field_names[f]);
			rc = -EINVAL;
			goto out;
		}
	}
	out->access_key = p.val[F_AK];
	out->secret_key = p.val[F_SK];
	if (p.val[F_TOKEN] && *p.val[F_TOKEN])
		out->session_token = p.val[F_TOKEN];
	else
		wipe_free(p.val[F_TOKEN]);
	p.val[F_AK] = p.val[F_SK] = p.val[F_TOKEN] = NULL;
	rc = 0;
out:
	parser_release(&p);
	return rc;
}

/* The whole file into a NUL-terminated buffer the caller wipes. */
static int read_file(const char *path, char **out)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, n;
	int rc = 0;

	*out = NULL;
	if (!f)
		return -errno;
	buf = malloc(CREDS_FILE_MAX + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	while ((n = fread(buf + len, 1, CREDS_FILE_MAX - len, f)) > 0)
		len += n;
	if (ferror(f)) {
		rc = -EIO;
		goto out;
	}
	if (len == CREDS_FILE_MAX) {
		rc = -EFBIG;
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
out:
	if (buf) {
		OPENSSL_cleanse(buf, CREDS_FILE_MAX);
		free(buf);
	}
	fclose(f);
	return rc;
}

static int creds_from_env(struct s3_creds *out, char *why, size_t whylen)
{
	const char *ak = getenv("AWS_ACCESS_KEY_ID");
	const char *sk = getenv("AWS_SECRET_ACCESS_KEY");
	const char *tok = getenv("AWS_SESSION_TOKEN");

	if (!ak || !*ak || !sk || !*sk) {
		fmt_why(why, whylen, "no credentials file given and %s is "
			"not set", !ak || !*ak ? "AWS_ACCESS_KEY_ID" :
			"AWS_SECRET_ACCESS_KEY");
		return -ENOENT;
	}
	out->access_key = strdup(ak);
	out->secret_key = strdup(sk);
	out->session_token = tok && *tok ? strdup(tok) : NULL;
	if (!out->access_key || !out->secret_key ||
	    (tok && *tok && !out->session_token)) {
		s3_creds_release(out);
		fmt_why(why, whylen, "cannot read credentials: %s",
			strerror(ENOMEM));
		return -ENOMEM;
	}
	return 0;
}

int s3_creds_load(const char *path, const char *profile,
		  struct s3_creds *out, char *why, size_t whylen)
{
	char *text = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!path)
		return creds_from_env(out, why, whylen);
	rc = read_file(path, &text);
	if (rc) {
		fmt_why(why, whylen, "cannot read credentials file '%s': %s",
			path, rc == -EFBIG ? "file too large" : strerror(-rc));
		return rc == -EFBIG ? -EINVAL : rc;
	}
	rc = s3_creds_parse(text, path, profile, out, why, whylen);
	OPENSSL_cleanse(text, strlen(text));
	free(text);
	return rc;
}

void s3_creds_release(struct s3_creds *c)
{
	if (!c)
		return;
	wipe_free(c->access_key);
	wipe_free(c->secret_key);
	wipe_free(c->session_token);
	c->access_key = c->secret_key = c->session_token = NULL;
}
