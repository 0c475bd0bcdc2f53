/*
 * cli.c - helpers shared by the subcommands (see cli.h): errors, paths,
 * finding the mount root, reading versions through .versions, JSON.
 *
 * Design: the mount root is found the way df(1) finds a mount point (walk
 * up while st_dev stays the same) rather than by parsing mountinfo, so it
 * also works inside containers and bind mounts; the hidden .versions
 * directory then proves it is a crrfs mount.
 */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

void cli_err(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* One write call, so the line is never split by another writer. */
	fprintf(stderr, "crrfs: %s\n", buf);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "crrfs: %s\nTry 'crrfs %s --help'.\n", buf, cmd);
	return CLI_USAGE;
}

int cli_bad_option(const char *cmd, int c, char **argv)
{
	char opt[3] = { '-', (char)optopt, '\0' };
	const char *last = argv[optind - 1];
	/* A long option has an optopt too: name it as it was typed. */
	const char *name = optopt && strncmp(last, "--", 2) ? opt : last;

	if (c == ':')
		return cli_usage(cmd, "option '%s' needs a value", name);
	return cli_usage(cmd, "unknown option '%s'", name);
}

char *cli_abspath(const char *path)
{
	char cwd[PATH_MAX];
	size_t cap, n = 0;
	const char *p;
	char *out;

	if (path[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd)))
			return NULL;
	} else {
		cwd[0] = '\0';
	}
	cap = strlen(cwd) + strlen(path) + 3;
	out = malloc(cap);
	if (!out)
		return NULL;
	/* Copy cwd and path component by component, dropping "." and
	 * empty components; ".." is left for the kernel to resolve. */
	for (int pass = 0; pass < 2; pass++) {
		p = pass ? path : cwd;
		while (*p) {
			const char *e = strchrnul(p, '/');
			size_t len = (size_t)(e - p);

			if (len && !(len == 1 && p[0] == '.')) {
				out[n++] = '/';
				memcpy(out + n, p, len);
				n += len;
			}
			p = *e ? e + 1 : e;
		}
	}
	if (!n)
		out[n++] = '/';
	out[n] = '\0';
	return out;
}

void cli_where_release(struct cli_where *w)
{
	free(w->root);
	free(w->key);
	w->root = w->key = NULL;
}

/* The top directory above dir on the same device as dir. */
static int where_top(const char *dir, char **out)
{
	struct stat st, pst;
	char *cur = NULL;
	int rc;

	*out = NULL;
	if (stat(dir, &st) < 0)
		return -errno;
	cur = strdup(dir);
	if (!cur)
		return -ENOMEM;
	while (strcmp(cur, "/") != 0) {
		char *slash = strrchr(cur, '/');
		char *parent = slash == cur ? strdup("/")
					    : strndup(cur, (size_t)(slash - cur));

		if (!parent) {
			rc = -ENOMEM;
			goto out;
		}
		if (stat(parent, &pst) < 0 || pst.st_dev != st.st_dev) {
			/* An unreadable parent ends the walk as a mount
			 * boundary would: cur is as high as we can see. */
			free(parent);
			break;
		}
		free(cur);
		cur = parent;
	}
	*out = cur;
	cur = NULL;
	rc = 0;
out:
	free(cur);
	return rc;
}

/*
 * realpath() of directory path d (modified), where the last components may
 * be gone (a file under a deleted folder): those come back in *missing,
 * as "a/b/" (or ""), for the key.
 */
static int where_resolve_dir(char *d, char **dir, char **missing)
{
	char *m = strdup(""), *slash, *nm;
	int rc;

	*dir = NULL;
	*missing = NULL;
	if (!m)
		return -ENOMEM;
	while (!(*dir = realpath(*d ? d : "/", NULL))) {
		rc = -errno;
		slash = strrchr(d, '/');
		/* ".." under a missing directory cannot be resolved. */
		if (rc != -ENOENT || !slash || !strcmp(slash + 1, ".."))
			goto out;
		if (asprintf(&nm, "%s/%s", slash + 1, m) < 0) {
			rc = -ENOMEM;
			goto out;
		}
		free(m);
		m = nm;
		*slash = '\0';
	}
	*missing = m;
	m = NULL;
	rc = 0;
out:
	free(m);
	return rc;
}

int cli_where_find(const char *path, struct cli_where *w)
{
	char *abs = NULL, *dir = NULL, *top = NULL, *vdir = NULL;
	char *missing = NULL;
	const char *base, *rel;
	struct stat st;
	char *slash;
	int rc;

	w->root = w->key = NULL;
	abs = cli_abspath(path);
	if (!abs)
		return -ENOMEM;
	slash = strrchr(abs, '/');
	base = slash + 1;
	if (!*base || !strcmp(base, "..")) {
		rc = -EINVAL;
		goto out;
	}
	*slash = '\0';
	/* Resolve symlinks in the directories, never in the last component:
	 * the versions of a symlink are the symlink's own. */
	rc = where_resolve_dir(abs, &dir, &missing);
	if (rc < 0)
		goto out;
	rc = where_top(dir, &top);
	if (rc < 0)
		goto out;
	if (asprintf(&vdir, "%s/.versions", strcmp(top, "/") ? top : "") < 0) {
		vdir = NULL;
		rc = -ENOMEM;
		goto out;
	}
	if (stat(vdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		/* PATH may be a mount root itself: a directory, then. */
		free(vdir);
		*slash = '/';
		if (asprintf(&vdir, "%s/.versions", abs) < 0)
			vdir = NULL;
		rc = vdir && !stat(vdir, &st) ? -EISDIR : -EXDEV;
		goto out;
	}
	rel = dir + strlen(top);
	while (*rel == '/')
		rel++;
	if (asprintf(&w->key, "%s%s%s%s", rel, *rel ? "/" : "", missing,
		     base) < 0) {
		w->key = NULL;
		rc = -ENOMEM;
		goto out;
	}
	w->root = top;
	top = NULL;
	rc = 0;
out:
	free(abs);
	free(dir);
	free(top);
	free(vdir);
	free(missing);
	return rc;
}

char *cli_where_versions_dir(const struct cli_where *w)
{
	char *p;

	if (asprintf(&p, "%s/.versions/%s",
		     strcmp(w->root, "/") ? w->root : "", w->key) < 0)
		return NULL;
	return p;
}

/* "YYYYMMDDTHHMMSS.mmmZ-..." -> ms since the epoch; -1 if malformed. */
static int64_t entry_time_ms(const char *name)
{
	struct tm tm = { 0 };
	int y, mo, d, h, mi, s, ms;

	if (sscanf(name, "%4d%2d%2dT%2d%2d%2d.%3dZ", &y, &mo, &d, &h, &mi, &s,
		   &ms) != 7)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

void cli_format_time(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
		 (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100,
		 tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
		 tm.tm_sec % 100, (unsigned)((ms % 1000 + 1000) % 1000) % 1000);
}

/* By id, as the store picks the current version (include/util/vid.h). */
static int version_cmp(const void *a, const void *b)
{
	const struct cli_version *x = a, *y = b;

	return strcmp(x->vid, y->vid);
}

void cli_versions_sort(struct cli_version *v, size_t n)
{
	if (!n)
		return;
	qsort(v, n, sizeof(*v), version_cmp);
	for (size_t i = 0; i < n; i++)
		v[i].current = i + 1 == n;
}

/* Fill v from one .versions entry; 1 when name is not a version entry. */
static int version_from_entry(int dfd, const char *name, bool want_sha,
			      struct cli_version *v)
{
	char path[NAME_MAX + 64];
	struct stat st;
	ssize_t len;

	memset(v, 0, sizeof(*v));
	if (vid_entry_parse(name, v->vid, &v->delete_marker) < 0)
		return 1;
	v->created_ms = entry_time_ms(name);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	v->size = (uint64_t)st.st_size;
	if (!want_sha || v->delete_marker || !S_ISREG(st.st_mode))
		return 0;
	/* The xattr calls take a path; /proc/self/fd keeps it short. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dfd, name);
	len = getxattr(path, "user.crrfs.sha256", v->sha256,
		       sizeof(v->sha256) - 1);
	if (len == 64) {
		v->sha256[64] = '\0';
		v->has_sha = true;
	}
	return 0;
}

int cli_versions_read(const struct cli_where *w, bool want_sha,
		      struct cli_version **out, size_t *n)
{
	struct cli_version *v = NULL, *nv;
	size_t cnt = 0, cap = 0;
	char *vdir = NULL;
	DIR *d = NULL;
	struct dirent *de;
	int rc;

	*out = NULL;
	*n = 0;
	vdir = cli_where_versions_dir(w);
	if (!vdir)
		return -ENOMEM;
	d = opendir(vdir);
	if (!d) {
		rc = -errno;
		goto out;
	}
	while ((errno = 0, de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				rc = -ENOMEM;
				goto out;
			}
			v = nv;
		}
		rc = version_from_entry(dirfd(d), de->d_name, want_sha,
					v + cnt);
		/* A name that is no version entry: a folder's listing. */
		if (rc == 1)
			rc = -EISDIR;
		if (rc < 0)
			goto out;
		cnt++;
	}
	if (errno) {
		rc = -errno;
		goto out;
	}
	/* Every key has a version, so an empty listing is a folder's. */
	if (!cnt) {
		rc = -EISDIR;
		goto out;
	}
	cli_versions_sort(v, cnt);
	*out = v;
	*n = cnt;
	v = NULL;
	rc = 0;
out:
	if (d)
		closedir(d);
	free(vdir);
	free(v);
	return rc;
}

void cli_versions_err(const char *doing, const char *path, int err)
{
	switch (err) {
	case -EXDEV:
		cli_err("cannot %s '%s': not in a crrfs mount", doing, path);
		break;
	case -EISDIR:
		cli_err("cannot %s '%s': is a directory", doing, path);
		break;
	case -EINVAL:	/* a path ending in "..": no key has that name */
		cli_err("cannot %s '%s': not a file name", doing, path);
		break;
	case -ENOENT:
		cli_err("cannot %s '%s': no such file and no history", doing,
			path);
		break;
	default:
		cli_err("cannot %s '%s': %s", doing, path, strerror(-err));
	}
}

void cli_versions_print(FILE *f, const char *key,
			const struct cli_version *v, size_t n, bool json)
{
	char when[32];

	if (json)
		fputs("[", f);
	for (size_t i = 0; i < n; i++) {
		cli_format_time(v[i].created_ms, when);
		if (!json) {
			fprintf(f, "%s  %s  %12llu%s%s\n", when, v[i].vid,
				(unsigned long long)v[i].size,
				v[i].delete_marker ? "  deleted" : "",
				v[i].current ? "  current" : "");
			continue;
		}
		fputs(i ? ",\n {\"key\": " : "\n {\"key\": ", f);
		cli_json_string(f, key, strlen(key));
		fprintf(f, ", \"version_id\": \"%s\", \"created\": \"%s\", "
			"\"size\": %llu, \"delete_marker\": %s, "
			"\"current\": %s", v[i].vid, when,
			(unsigned long long)v[i].size,
			v[i].delete_marker ? "true" : "false",
			v[i].current ? "true" : "false");
		if (v[i].has_sha)
			fprintf(f, ", \"sha256\": \"%s\"", v[i].sha256);
		fputs("}", f);
	}
	if (json)
		fputs(n ? "\n]\n" : "]\n", f);
}

/* Length of the valid UTF-8 sequence at s (at most len bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t len)
{
	size_t need;
	uint32_t cp, min;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		need = 2, cp = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		need = 3, cp = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		need = 4, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (need > len)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past Unicode are invalid. */
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

void cli_json_string(FILE *f, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	fputc('"', f);
	while (i < len) {
		unsigned char c = p[i];

		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
			i++;
		} else if (c == '\n') {
			fputs("\\n", f);
			i++;
		} else if (c == '\t') {
			fputs("\\t", f);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			i++;
		} else if ((n = utf8_len(p + i, len - i)) != 0) {
			fwrite(p + i, 1, n, f);
			i += n;
		} else {
			fprintf(f, "\\u%04x", c);
			i++;
		}
	}
	fputc('"', f);
}
