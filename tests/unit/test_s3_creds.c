/*
 * test_s3_creds.c - credentials files as the AWS CLI writes them, and the
 * AWS_* environment variables: what is found, what is refused and how
 * the refusal reads (never quoting a secret).
 */
#include "s3/creds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

struct creds_case {
	const char *text;
	const char *profile;
	int rc;
	const char *ak, *sk, *token;	/* expected on success */
	const char *why;		/* substring expected on failure */
};

static const struct creds_case cases[] = {
	{ "[default]\naws_access_key_id = AK1\naws_secret_access_key = SK1\n",
	  NULL, 0, "AK1", "SK1", NULL, NULL },
	{ "[default]\naws_access_key_id=AK1\naws_secret_access_key=SK1\n"
	  "[eu]\naws_access_key_id = AK2\r\naws_secret_access_key = S/K+2\r\n"
	  "aws_session_token = TOK2\nregion = eu-west-1\n",
	  "eu", 0, "AK2", "S/K+2", "TOK2", NULL },
	{ "# comment\n[profile eu]\naws_access_key_id = AK3\n"
	  "aws_secret_access_key = SK3\n", "eu", 0, "AK3", "SK3", NULL, NULL },
	{ "[default]\naws_access_key_id = AK1\n", NULL, -EINVAL, NULL, NULL,
	  NULL, "credentials file 'F': profile 'default' has no "
	  "aws_secret_access_key" },
	{ "[default]\naws_access_key_id = AK1\naws_secret_access_key = SEKRIT\n",
	  "nope", -ENOENT, NULL, NULL, NULL,
	  "credentials file 'F': profile 'nope' not found" },
	{ "[default]\nthis line is bad\n", NULL, -EINVAL, NULL, NULL, NULL,
	  "credentials file 'F': line 2: expected" },
	{ "", NULL, -ENOENT, NULL, NULL, NULL, "profile 'default' not found" },
};

static void test_table(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct creds_case *c = &cases[i];
		struct s3_creds cr;
		char why[256] = "";
		int rc = s3_creds_parse(c->text, "F", c->profile, &cr, why,
					sizeof(why));

		CHECK_EQ_INT(rc, c->rc);
		if (rc == 0) {
			CHECK_EQ_STR(cr.access_key, c->ak);
			CHECK_EQ_STR(cr.secret_key, c->sk);
			if (c->token)
				CHECK_EQ_STR(cr.session_token, c->token);
			else
				CHECK(cr.session_token == NULL);
		} else {
			CHECK(strstr(why, c->why) != NULL);
			CHECK(strstr(why, "SEKRIT") == NULL);
			if (!strstr(why, c->why))
				fprintf(stderr, "case %zu: why '%s'\n", i, why);
		}
		s3_creds_release(&cr);
	}
}

/* A session token is much longer than the 197 characters inih reads. */
static void test_long_token(void)
{
	char tok[1501], text[1700];
	struct s3_creds cr;
	char why[256];

	memset(tok, 'T', sizeof(tok) - 1);
	tok[sizeof(tok) - 1] = '\0';
	tok[700] = '/';
	snprintf(text, sizeof(text), "[default]\naws_access_key_id = AK\n"
		 "aws_session_token =   %s  \naws_secret_access_key = SK\n",
		 tok);
	CHECK_EQ_INT(s3_creds_parse(text, "F", NULL, &cr, why, sizeof(why)), 0);
	CHECK_EQ_STR(cr.session_token, tok);
	CHECK_EQ_STR(cr.secret_key, "SK");
	s3_creds_release(&cr);
}

static void test_file_and_env(void)
{
	char path[] = "/tmp/crrfs-creds-XXXXXX";
	struct s3_creds cr;
	char why[256];
	int fd = mkstemp(path);
	const char *t = "[x]\naws_access_key_id = FAK\n"
			"aws_secret_access_key = FSK\n";

	CHECK(fd >= 0);
	CHECK(write(fd, t, strlen(t)) == (ssize_t)strlen(t));
	close(fd);
	CHECK_EQ_INT(s3_creds_load(path, "x", &cr, why, sizeof(why)), 0);
	CHECK_EQ_STR(cr.access_key, "FAK");
	s3_creds_release(&cr);
	unlink(path);
	CHECK_EQ_INT(s3_creds_load(path, "x", &cr, why, sizeof(why)), -ENOENT);
	CHECK(strstr(why, "cannot read credentials file '/tmp/crrfs-creds-"));
	CHECK(strstr(why, "No such file or directory"));

	setenv("AWS_ACCESS_KEY_ID", "EAK", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "ESK", 1);
	unsetenv("AWS_SESSION_TOKEN");
	CHECK_EQ_INT(s3_creds_load(NULL, NULL, &cr, why, sizeof(why)), 0);
	CHECK_EQ_STR(cr.access_key, "EAK");
	CHECK_EQ_STR(cr.secret_key, "ESK");
	CHECK(cr.session_token == NULL);
	s3_creds_release(&cr);
	setenv("AWS_SESSION_TOKEN", "ETOK", 1);
	CHECK_EQ_INT(s3_creds_load(NULL, NULL, &cr, why, sizeof(why)), 0);
	CHECK_EQ_STR(cr.session_token, "ETOK");
	s3_creds_release(&cr);
	unsetenv("AWS_SECRET_ACCESS_KEY");
	CHECK_EQ_INT(s3_creds_load(NULL, NULL, &cr, why, sizeof(why)), -ENOENT);
	CHECK_EQ_STR(why, "no credentials file given and "
		     "AWS_SECRET_ACCESS_KEY is not set");
}

int main(void)
{
	test_table();
	test_long_token();
	test_file_and_env();
	return check_done("test_s3_creds");
}
