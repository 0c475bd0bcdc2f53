/*
 * mount_opts.c - the -o option list of `crrfs mount` and `mount.crrfs`.
 *
 * Design: one table says what each option is: ours (parsed into
 * struct fs_opts), handed to libfuse unchanged, or ignored because
 * mount(8) and fstab add it for every filesystem. Anything else is a
 * usage error rather than a silent no-op, so a typo never mounts a store
 * with other semantics than the user asked for.
 *
 * allow_other always brings default_permissions: the daemon checks no
 * mode bits itself, so without the kernel's check every local user could
 * read, delete and restore every file. There is no way to turn it off.
 */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum opt_kind {
	OPT_OURS,	/* handled by opt_ours() */
	OPT_PASS,	/* given to libfuse as it is */
	OPT_IGNORE,	/* mount(8)/fstab noise */
};

struct opt_def {
	const char *name;
	bool prefix;	/* matches "name..." (for "x-" and "key=") */
	enum opt_kind kind;
};

static const struct opt_def opt_table[] = {
	{ "allow_purge", false, OPT_OURS },
	{ "sync", false, OPT_OURS },
	{ "async", false, OPT_OURS },
	{ "verify", false, OPT_OURS },
	{ "noverify", false, OPT_OURS },
	{ "sync_interval=", true, OPT_OURS },
	{ "amend_window=", true, OPT_OURS },
	{ "attr_timeout=", true, OPT_OURS },
	{ "entry_timeout=", true, OPT_OURS },
	{ "threads=", true, OPT_OURS },
	{ "create", false, OPT_OURS },
	{ "nocreate", false, OPT_OURS },
	{ "ro", false, OPT_OURS },
	{ "rw", false, OPT_OURS },
	{ "rules=", true, OPT_OURS },
	{ "workers=", true, OPT_OURS },
	{ "allow_other", false, OPT_PASS },
	{ "allow_root", false, OPT_PASS },
	{ "default_permissions", false, OPT_PASS },
	{ "fsname=", true, OPT_PASS },
	{ "subtype=", true, OPT_PASS },
	{ "defaults", false, OPT_IGNORE },
	{ "auto", false, OPT_IGNORE },
	{ "noauto", false, OPT_IGNORE },
	{ "user", false, OPT_IGNORE },
	{ "users", false, OPT_IGNORE },
	{ "nouser", false, OPT_IGNORE },
	{ "owner", false, OPT_IGNORE },
	{ "group", false, OPT_IGNORE },
	{ "_netdev", false, OPT_IGNORE },
	{ "nofail", false, OPT_IGNORE },
	{ "exec", false, OPT_IGNORE },
	{ "noexec", false, OPT_IGNORE },
	{ "suid", false, OPT_IGNORE },
	{ "nosuid", false, OPT_IGNORE },
	{ "dev", false, OPT_IGNORE },
	{ "nodev", false, OPT_IGNORE },
	{ "atime", false, OPT_IGNORE },
	{ "noatime", false, OPT_IGNORE },
	{ "relatime", false, OPT_IGNORE },
	{ "norelatime", false, OPT_IGNORE },
	{ "strictatime", false, OPT_IGNORE },
	{ "diratime", false, OPT_IGNORE },
	{ "nodiratime", false, OPT_IGNORE },
	{ "x-", true, OPT_IGNORE },
	{ "comment=", true, OPT_IGNORE },
};

void cli_mount_opts_init(struct cli_mount_opts *m)
{
	memset(m, 0, sizeof(*m));
	m->fs.create = true;
	m->fs.attr_timeout = -1;
	m->fs.entry_timeout = -1;
}

void cli_mount_opts_release(struct cli_mount_opts *m)
{
	free(m->pass);
	free(m->fuse);
	free(m->rules);
	m->pass = m->fuse = m->rules = NULL;
	m->fs.fuse_opts = NULL;
}

/* Append item to the comma list *list. */
static int list_append(char **list, const char *item, size_t len)
{
	size_t old = *list ? strlen(*list) : 0;
	char *p = realloc(*list, old + len + 2);

	if (!p)
		return -ENOMEM;
	if (old)
		p[old++] = ',';
	memcpy(p + old, item, len);
	p[old + len] = '\0';
	*list = p;
	return 0;
}

static int parse_uint(const char *s, unsigned min, unsigned max,
		      unsigned *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	if (!*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < 0 || v > 86400 * 365.0)
		return -EINVAL;
	*out = v;
	return 0;
}

static int opt_rules(struct cli_mount_opts *m, const char *val)
{
	char *copy;

	if (!*val)
		return -EINVAL;
	copy = strdup(val);
	if (!copy)
		return -ENOMEM;
	free(m->rules);
	m->rules = copy;
	return 0;
}

/* One option of ours; opt is NUL-terminated, val points after '='. */
static int opt_ours(struct cli_mount_opts *m, const char *opt)
{
	const char *val = strchr(opt, '=');
	struct fs_opts *o = &m->fs;

	val = val ? val + 1 : "";
	if (!strcmp(opt, "allow_purge"))
		o->allow_purge = true;
	else if (!strcmp(opt, "sync"))
		o->sync = true;
	else if (!strcmp(opt, "async"))
		o->sync = false;
	else if (!strcmp(opt, "verify"))
		o->verify = true;
	else if (!strcmp(opt, "noverify"))
		o->verify = false;
	else if (!strcmp(opt, "create"))
		o->create = true;
	else if (!strcmp(opt, "nocreate"))
		o->create = false;
	else if (!strcmp(opt, "ro"))
		o->read_only = true;
	else if (!strcmp(opt, "rw"))
		o->read_only = false;
	else if (!strncmp(opt, "sync_interval=", 14))
		return parse_uint(val, 1, 24 * 3600 * 1000, &o->sync_interval_ms);
	else if (!strncmp(opt, "amend_window=", 13))
		return parse_uint(val, 1, 3600 * 1000, &o->amend_window_ms);
	else if (!strncmp(opt, "attr_timeout=", 13))
		return parse_seconds(val, &o->attr_timeout);
	else if (!strncmp(opt, "entry_timeout=", 14))
		return parse_seconds(val, &o->entry_timeout);
	else if (!strncmp(opt, "threads=", 8))
		return parse_uint(val, 1, 1024, &o->max_threads);
	else if (!strncmp(opt, "workers=", 8))
		return parse_uint(val, 1, 256, &o->repl_workers);
	else if (!strncmp(opt, "rules=", 6))
		return opt_rules(m, val);
	return 0;
}

static const struct opt_def *opt_find(const char *opt)
{
	for (size_t i = 0; i < sizeof(opt_table) / sizeof(opt_table[0]); i++) {
		const struct opt_def *d = &opt_table[i];

		if (d->prefix ? !strncmp(opt, d->name, strlen(d->name))
			      : !strcmp(opt, d->name))
			return d;
	}
	return NULL;
}

static int opt_one(struct cli_mount_opts *m, const char *opt, bool sloppy)
{
	const struct opt_def *d = opt_find(opt);

	if (!d) {
		if (sloppy)
			return 0;
		cli_err("unknown mount option '%s'", opt);
		return -EINVAL;
	}
	switch (d->kind) {
	case OPT_OURS:
		if (opt_ours(m, opt) < 0) {
			cli_err("invalid value in mount option '%s'", opt);
			return -EINVAL;
		}
		return 0;
	case OPT_PASS:
		if (!strncmp(opt, "fsname=", 7))
			m->has_fsname = true;
		if (!strncmp(opt, "subtype=", 8))
			m->has_subtype = true;
		if (!strcmp(opt, "allow_other"))
			m->allow_other = true;
		if (!strcmp(opt, "default_permissions"))
			m->default_permissions = true;
		return list_append(&m->pass, opt, strlen(opt));
	case OPT_IGNORE:
		return 0;
	}
	return 0;
}

int cli_mount_opts_add(struct cli_mount_opts *m, const char *list,
		       bool sloppy)
{
	char *copy = strdup(list), *p, *save = NULL;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	for (p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		rc = opt_one(m, p, sloppy);
		if (rc < 0)
			break;
	}
	free(copy);
	return rc;
}

int cli_mount_opts_finish(struct cli_mount_opts *m, const char *store,
			  const char *mountpoint)
{
	char *fsname = NULL;
	int rc = 0;

	free(m->fuse);
	m->fuse = m->pass ? strdup(m->pass) : NULL;
	if (m->pass && !m->fuse)
		return -ENOMEM;
	if (m->allow_other && !m->default_permissions)
		rc = list_append(&m->fuse, "default_permissions", 19);
	m->fs.default_permissions = m->allow_other || m->default_permissions;
	/* "ro" is not listed: fs_run adds it from fs.read_only. */
	if (!rc && !m->has_subtype)
		rc = list_append(&m->fuse, "subtype=crrfs", 13);
	/* The store's path names the mount in df and /proc/mounts; a
	 * path with a comma cannot be said in an option list. */
	if (!rc && !m->has_fsname && !strpbrk(store, ",\\")) {
		if (asprintf(&fsname, "fsname=%s", store) < 0) {
			fsname = NULL;
			rc = -ENOMEM;
		} else {
			rc = list_append(&m->fuse, fsname, strlen(fsname));
		}
	}
	free(fsname);
	m->fs.fuse_opts = m->fuse;
	m->fs.store_path = store;
	m->fs.mountpoint = mountpoint;
	return rc;
}
