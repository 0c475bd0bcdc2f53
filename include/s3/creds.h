/*
 * creds.h - S3 credentials: an access key, its secret and an optional
 * session token, from an AWS-CLI-style credentials file or from the
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN
 * environment variables.
 *
 * Design: the file is read with inih, as the AWS CLI reads it: sections
 * name profiles ("[default]", "[eu]"; "[profile eu]" as in ~/.aws/config
 * is accepted too), keys aws_access_key_id, aws_secret_access_key and
 * aws_session_token; other keys (region, output, ...) are ignored, since
 * the file may be shared with the AWS CLI. Errors name the file, the
 * profile and what is missing, never a secret value.
 *
 * Ownership: a struct s3_creds owns its strings; s3_creds_release() wipes
 * and frees them. Nothing here logs.
 */
#ifndef CRRFS_S3_CREDS_H
#define CRRFS_S3_CREDS_H

#include <stddef.h>

struct s3_creds {
	char *access_key;
	char *secret_key;
	char *session_token;	/* NULL when none */
};

/*
 * Load credentials: from file path (profile NULL or "" = "default") when
 * path is not NULL, else from the environment. On failure *out is empty,
 * why says why ("cannot read credentials file '/x': No such file or
 * directory", "credentials file '/x': profile 'eu' not found", "... has
 * no aws_secret_access_key", "AWS_ACCESS_KEY_ID is not set") and the
 * return is -ENOENT (file, profile or variable missing), -EINVAL (a
 * malformed file or an incomplete profile), -EACCES, -ENOMEM.
 */
int s3_creds_load(const char *path, const char *profile,
		  struct s3_creds *out, char *why, size_t whylen);

/* The same, from the text of a credentials file (for tests); name is
 * what messages call the file. */
int s3_creds_parse(const char *text, const char *name, const char *profile,
		   struct s3_creds *out, char *why, size_t whylen);

/* Wipe and free the strings; safe on an empty or zeroed struct. */
void s3_creds_release(struct s3_creds *c);

#endif
