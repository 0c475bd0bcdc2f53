/*
 * cli_store.c - what the replication commands share (see cli.h): finding
 * the store behind a mount point, opening a store for a look while it
 * may be mounted, and the progress display.
 *
 * Design: a mount point is turned into its store through
 * /proc/self/mountinfo, where `crrfs mount` puts the store's absolute
 * path as the fsname. Everything else asks the daemon over its control
 * socket when one serves the store, and reads the store itself (read-only,
 * unlocked, as fsck does) when none does: the two give the same answers,
 * since both come from the queue table in the store.
 */
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void mountinfo_unescape(char *s)
{
	char *dst = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*dst++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
					(s[3] - '0'));
			s += 3;
		} else {
			*dst++ = *s;
		}
	}
	*dst = '\0';
}

int cli_mountinfo_find(const char *mnt, char **type, char **source)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;

	*type = *source = NULL;
	if (!f)
		return -errno;
	while (!found && getline(&line, &cap, f) > 0) {
		char *save = NULL, *tok, *dir = NULL, *sep;
		int i;

		/* id parent maj:min root MOUNTPOINT opts [tags] - TYPE SRC */
		sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		tok = strtok_r(line, " ", &save);
		for (i = 0; tok && i < 4; i++)
			tok = strtok_r(NULL, " ", &save);
		dir = tok;
		if (!dir)
			continue;
		mountinfo_unescape(dir);
		if (strcmp(dir, mnt))
			continue;
		save = NULL;
		tok = strtok_r(sep + 3, " \n", &save);
		if (!tok)
			continue;
		*type = strdup(tok);
		tok = strtok_r(NULL, " \n", &save);
		if (tok)
			mountinfo_unescape(tok);
		*source = strdup(tok ? tok : "");
		found = *type && *source ? 1 : -ENOMEM;
	}
	free(line);
	fclose(f);
	if (found != 1) {
		free(*type);
		free(*source);
		*type = *source = NULL;
	}
	return found;
}

int cli_store_of(const char *arg, char **out)
{
	char *real = realpath(arg, NULL), *type = NULL, *src = NULL;
	struct stat st;
	int rc;

	*out = NULL;
	if (!real) {
		rc = -errno;
		cli_err("cannot find store '%s': %s", arg, strerror(-rc));
		return rc;
	}
	rc = cli_mountinfo_find(real, &type, &src);
	if (rc == 1) {
		if (strcmp(type, "fuse.crrfs") || src[0] != '/' ||
		    stat(src, &st) < 0 || !S_ISDIR(st.st_mode)) {
			cli_err("cannot find store '%s': it is a mount point "
				"but not of a crrfs store this host can see "
				"(%s from '%s')", arg, type, src);
			rc = -EINVAL;
			goto out;
		}
		*out = src;
		src = NULL;
		rc = 0;
		goto out;
	}
	/* Not a mount point (or mountinfo unreadable): a store path. */
	*out = real;
	real = NULL;
	rc = 0;
out:
	free(real);
	free(type);
	free(src);
	return rc;
}

int cli_store_check(const char *path)
{
	char *fmt = NULL;
	int rc;

	/* Say it in our words rather than the store's log line. */
	if (asprintf(&fmt, "%s/format", path) < 0)
		return -ENOMEM;
	rc = access(fmt, F_OK) < 0 ? -errno : 0;
	free(fmt);
	if (rc == -ENOENT || rc == -ENOTDIR)
		cli_err("cannot open store '%s': not a crrfs store", path);
	else if (rc)
		cli_err("cannot open store '%s': %s", path, strerror(-rc));
	return rc;
}

int cli_store_open_ro(const char *path, struct store **out)
{
	struct store_opts so = { .path = path,
				 .flags = STORE_RDONLY | STORE_NOLOCK };
	int rc;

	*out = NULL;
	rc = cli_store_check(path);
	if (rc)
		return rc;
	rc = store_open(&so, out);
	if (rc < 0)
		cli_err("cannot open store '%s': %s", path, strerror(-rc));
	return rc;
}

char *cli_rules_default(const char *store, int *err)
{
	struct stat st;
	char *p = NULL;

	*err = 0;
	if (asprintf(&p, "%s/rules.ini", store) < 0) {
		*err = -ENOMEM;
		return NULL;
	}
	if (stat(p, &st) < 0) {
		if (errno != ENOENT)
			*err = -errno;
		free(p);
		return NULL;
	}
	return p;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void cli_progress_init(struct cli_progress *p, const char *what)
{
	memset(p, 0, sizeof(*p));
	p->what = what;
	p->tty = isatty(STDERR_FILENO);
}

void cli_progress_update(struct cli_progress *p, uint64_t done,
			 uint64_t left)
{
	enum { WIDTH = 30 };
	char bar[WIDTH + 1];
	uint64_t filled;
	int64_t now = now_ns();

	p->done = done;
	if (done + left > p->total)
		p->total = done + left;
	if (!p->tty || (p->last_ns && now - p->last_ns < 100000000))
		return;
	p->last_ns = now;
	filled = p->total ? done * WIDTH / p->total : WIDTH;
	memset(bar, '#', (size_t)filled);
	memset(bar + filled, '-', (size_t)(WIDTH - filled));
	bar[WIDTH] = '\0';
	fprintf(stderr, "\r%s [%s] %" PRIu64 "/%" PRIu64 " versions, %"
		PRIu64 " left\033[K", p->what, bar, done, p->total, left);
	fflush(stderr);
}

void cli_progress_end(struct cli_progress *p, uint64_t done,
		      uint64_t failed)
{
	if (p->tty && p->last_ns)
		fputs("\r\033[K", stderr);
	printf("%s: %" PRIu64 " version%s shipped, %" PRIu64
		" failed\n", p->what, done, done == 1 ? "" : "s", failed);
}
