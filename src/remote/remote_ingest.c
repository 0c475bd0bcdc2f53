/*
 * remote_ingest.c - apply what dir destinations delivered into
 * STORE/inbox/: each complete record becomes a REPLICA version, in name
 * order (which is, per source store, the order it made them).
 *
 * Design: apply every record, then store_sync(), then unlink the applied
 * ones. A crash in between re-applies records whose versions already
 * exist, which store_put_replica() ignores, so nothing is lost or doubled.
 * A record that cannot be applied for what it is (malformed, truncated,
 * a digest mismatch, a key the store refuses) is moved to
 * STORE/inbox/bad/ with a NAME.why beside it and logged loudly; the
 * records behind it go on. A failure of the store itself (disk full, I/O
 * error) stops the pass and leaves the record where it is, for the next
 * pass. Temporary files of a shipper that died mid-write are removed
 * after an hour.
 *
 * Only the process holding the store calls this (its lock makes it the
 * only writer of the index), from one thread at a time.
 */
#include "remote/remote.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "remote/inbox.h"
#include "util/log.h"

#define TMP_MAX_AGE_S 3600

/* The names of the records waiting, sorted. */
struct names {
	char **v;
	size_t n, cap;
};

static void names_free(struct names *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static int names_add(struct names *l, const char *name)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = strdup(name);
	return l->v[l->n++] ? 0 : -ENOMEM;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n > m && !strcmp(s + n - m, suf);
}

/* A temporary file a shipper left behind: gone after an hour. */
static void tmp_expire(int dfd, const char *inbox, const char *name)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) ||
	    time(NULL) - st.st_mtime < TMP_MAX_AGE_S)
		return;
	if (unlinkat(dfd, name, 0) == 0)
		log_warn("removed unfinished inbox record '%s/%s'", inbox,
			 name);
}

static int names_list(int dfd, const char *inbox, struct names *l)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int rc = 0;

	if (!d) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return rc;
	}
	while (!rc && (de = readdir(d))) {
		if (!strncmp(de->d_name, INBOX_TMP_PREFIX,
			     strlen(INBOX_TMP_PREFIX)))
			tmp_expire(dfd, inbox, de->d_name);
		else if (de->d_name[0] != '.' &&
			 has_suffix(de->d_name, INBOX_SUFFIX))
			rc = names_add(l, de->d_name);
	}
	closedir(d);
	if (!rc && l->n)
		qsort(l->v, l->n, sizeof(*l->v), name_cmp);
	return rc;
}

/* Move a record that can never be applied out of the way, saying why. */
static void quarantine(int dfd, const char *inbox, const char *name,
		       const char *key, const char *reason)
{
	char why_name[PATH_MAX], bad[PATH_MAX];
	int fd;

	remote_pathf(bad, sizeof(bad), "%s/bad", inbox);
	if (mkdir(bad, 0755) && errno != EEXIST)
		log_error("cannot make '%s': %s", bad, strerror(errno));
	remote_pathf(bad, sizeof(bad), "bad/%s", name);
	if (renameat(dfd, name, dfd, bad)) {
		log_error("cannot move bad inbox record '%s/%s' aside: %s",
			  inbox, name, strerror(errno));
		return;
	}
	remote_pathf(why_name, sizeof(why_name), "bad/%s.why", name);
	fd = openat(dfd, why_name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0644);
	if (fd >= 0) {
		if (dprintf(fd, "%s\n", reason) < 0)
			log_warn("cannot write '%s/%s'", inbox, why_name);
		close(fd);
	}
	log_error("inbox record '%s/%s' refused, moved to '%s/bad/': %s%s%s%s",
		  inbox, name, inbox, reason,
		  key ? "; later versions of key '" : "", key ? key : "",
		  key ? "' may be applied ahead of it" : "");
}

/* Errors of the store itself: the record stays for the next pass. */
static bool store_trouble(int rc)
{
	return rc == -ENOSPC || rc == -EIO || rc == -ENOMEM ||
	       rc == -EAGAIN || rc == -EROFS || rc == -EDQUOT;
}

/*
 * Apply one record: 1 when applied, 0 when quarantined, -errno when the
 * store failed (the record stays).
 */
static int apply_one(struct store *s, int dfd, const char *inbox,
		     const char *name)
{
	char why[REMOTE_WHY_MAX];
	struct remote_inbox_rec rec;
	int fd, rc;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	rc = remote_inbox_read(fd, &rec, why, sizeof(why));
	if (rc == -EBADMSG) {
		quarantine(dfd, inbox, name, NULL, why);
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	rc = store_put_replica(s, &rec.rep);
	if (rc && !store_trouble(rc)) {
		snprintf(why, sizeof(why), "%s",
			 rc == -EBADMSG ? "data does not match its checksum"
					: strerror(-rc));
		quarantine(dfd, inbox, name, rec.rep.key, why);
		rc = 0;
	} else if (!rc) {
		rc = 1;
	}
	remote_inbox_release(&rec);
out:
	close(fd);
	return rc;
}

int remote_dir_ingest(struct store *s, const char *store_path)
{
	char inbox[PATH_MAX];
	struct names l = { 0 }, done = { 0 };
	size_t i;
	int dfd, rc = 0, srv;

	if (remote_pathf(inbox, sizeof(inbox), "%s/%s", store_path,
			 INBOX_DIR))
		return -ENAMETOOLONG;
	dfd = open(inbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	rc = names_list(dfd, inbox, &l);
	for (i = 0; !rc && i < l.n; i++) {
		int one = apply_one(s, dfd, inbox, l.v[i]);

		if (one < 0) {
			log_error("cannot apply inbox record '%s/%s': %s",
				  inbox, l.v[i], strerror(-one));
			rc = one;
		} else if (one) {
			rc = names_add(&done, l.v[i]);
		}
	}
	/* Applied records go only once their versions survive power loss. */
	srv = done.n ? store_sync(s) : 0;
	for (i = 0; !srv && i < done.n; i++)
		if (unlinkat(dfd, done.v[i], 0) && errno != ENOENT)
			log_warn("cannot remove applied inbox record '%s/%s': %s",
				 inbox, done.v[i], strerror(errno));
	if (!rc)
		rc = srv ? srv : (int)done.n;
	close(dfd);
	names_free(&l);
	names_free(&done);
	return rc;
}
