/*
 * cmd_restore.c - `crrfs restore PATH [--version ID]`: bring back an
 * older version of a file, or undelete a deleted one.
 *
 * Design: this is a thin, friendlier face on the xattr interface
 * (user.crrfs.restore, user.crrfs.deleted), so the CLI and a setfattr
 * script always do the same thing. The version id is checked against the
 * key's versions first, so a typo gets "no version 'X'" rather than the
 * bare errno the kernel can carry back.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

static const char restore_usage[] =
	"usage: crrfs restore PATH [--version ID]\n"
	"\n"
	"With --version, make version ID of PATH current again (as a new\n"
	"version with its bytes and metadata); this also brings back a\n"
	"deleted file. Without it, a deleted file is undeleted (the delete\n"
	"markers on top are removed) and a live file gets the version before\n"
	"its current one back. See 'crrfs versions PATH' for the ids.\n"
	"\n"
	"  -V, --version ID   the version to restore\n"
	"  -h, --help         show this help\n";

/* The newest data version before the current one, or NULL. */
static const struct cli_version *restore_previous(const struct cli_version *v,
						  size_t n)
{
	for (size_t i = n - 1; i-- > 0;)
		if (!v[i].delete_marker)
			return &v[i];
	return NULL;
}

static const struct cli_version *restore_find(const struct cli_version *v,
					      size_t n, const char *vid)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].vid, vid))
			return &v[i];
	return NULL;
}

/* setxattr user.crrfs.restore=vid on the live file when it is a regular
 * file or folder, else on its .versions directory (deleted, or a symlink,
 * which cannot carry user.* xattrs). */
static int restore_to(const char *path, const struct cli_where *w,
		      const char *vid, bool live)
{
	char *vdir = NULL;
	struct stat st;
	const char *target = path;
	int rc = 0;

	if (!live || lstat(path, &st) < 0 ||
	    !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
		vdir = cli_where_versions_dir(w);
		if (!vdir)
			return -ENOMEM;
		target = vdir;
	}
	if (setxattr(target, "user.crrfs.restore", vid, strlen(vid), 0) < 0)
		rc = -errno;
	free(vdir);
	return rc;
}

static int restore_undelete(const struct cli_where *w)
{
	char *vdir = cli_where_versions_dir(w);
	int rc = 0;

	if (!vdir)
		return -ENOMEM;
	if (removexattr(vdir, "user.crrfs.deleted") < 0)
		rc = -errno;
	free(vdir);
	return rc;
}

/* Decide what to do, do it, say it. */
static int restore_run(const char *path, const char *vid)
{
	const struct cli_version *target = NULL, *cur;
	struct cli_where w = { 0 };
	struct cli_version *v = NULL;
	size_t n = 0;
	int rc;

	rc = cli_where_find(path, &w);
	if (!rc)
		rc = cli_versions_read(&w, false, &v, &n);
	if (rc < 0) {
		cli_versions_err("restore", path, rc);
		rc = CLI_FAIL;
		goto out;
	}
	cur = &v[n - 1];
	if (vid) {
		target = restore_find(v, n, vid);
		if (!target) {
			cli_err("cannot restore '%s': it has no version '%s'",
				path, vid);
			rc = CLI_FAIL;
			goto out;
		}
		if (target->delete_marker) {
			cli_err("cannot restore '%s': version '%s' is a delete "
				"marker", path, vid);
			rc = CLI_FAIL;
			goto out;
		}
		rc = restore_to(path, &w, vid, !cur->delete_marker);
	} else if (cur->delete_marker) {
		rc = restore_undelete(&w);
	} else {
		target = restore_previous(v, n);
		if (!target) {
			cli_err("cannot restore '%s': it has no earlier version",
				path);
			rc = CLI_FAIL;
			goto out;
		}
		rc = restore_to(path, &w, target->vid, true);
	}
	if (rc < 0) {
		cli_err("cannot restore '%s'%s%s%s: %s", path,
			target ? " to version '" : "",
			target ? target->vid : "", target ? "'" : "",
			rc == -EEXIST ? "another file of that name exists"
				      : strerror(-rc));
		rc = CLI_FAIL;
		goto out;
	}
	if (target)
		printf("restored '%s' from version %s\n", path, target->vid);
	else
		printf("undeleted '%s'\n", path);
	rc = CLI_OK;
out:
	free(v);
	cli_where_release(&w);
	return rc;
}

int cmd_restore(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "version", required_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *vid = NULL;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":V:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'V':
			vid = optarg;
			break;
		case 'h':
			fputs(restore_usage, stdout);
			return CLI_OK;
		default:
			return cli_bad_option("restore", c, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage("restore", "expected one PATH");
	if (vid && !vid_valid(vid))
		return cli_usage("restore", "invalid version id '%s'", vid);
	return restore_run(argv[optind], vid);
}
