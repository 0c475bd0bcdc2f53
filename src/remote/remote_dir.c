/*
 * remote_dir.c - the dir destination: another crrfs store, reached by
 * path, receiving exact replicas (same key, bytes, version id, times,
 * metadata), flagged REPLICA.
 *
 * Design: the destination store is usually held (STORE/lock) by its own
 * mount daemon, maybe mounted read-only, maybe replicating back to us, so
 * the shipper never writes the destination's index while someone else
 * holds it. It delivers instead: one self-contained record per version
 * into DEST/inbox/ (inbox.h), written to a temporary name, synced and
 * renamed, then the inbox directory synced. A delivered record is
 * durable, so that is when remote_ship succeeds. Then it tries to apply
 * at once: when nobody holds DEST it opens the store, ingests the inbox
 * (remote_ingest.c) and closes it; when DEST is held, the holder ingests
 * (the replicator's ingest thread in its daemon, or `crrfs replicate`).
 *
 * Shipping is idempotent: a record's name is its version id, so shipping
 * again replaces the record, and store_put_replica ignores a version id
 * the key already has. maybe_sent needs no special case.
 *
 * Threads: workers ship in parallel; each writes its own record. The
 * apply passes are serialised by apply_lock, and a ticket scheme lets a
 * worker whose record was already swept by another worker's pass return
 * without opening the store again: under a burst of small files, one
 * pass applies many records.
 *
 * Cancel (remote_obj.cancel): the copy into the record checks it between
 * 1 MiB pieces and removes its temporary file; a record delivered when
 * the cancel comes is not applied now (the ship says -ECANCELED, so the
 * job stays queued, and shipping it again replaces the record).
 */
#include "remote/remote.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "remote/inbox.h"
#include "util/log.h"

struct dir_remote {
	struct remote base;
	char *path;			/* DEST, as the rule file gives it */
	char *src_path;			/* the source store, or NULL */
	/*
	 * Lock order: apply_lock, then lock. lock protects ready, tickets
	 * and covered; apply_lock is held for a whole apply pass.
	 */
	pthread_mutex_t apply_lock;
	pthread_mutex_t lock;
	bool ready;			/* DEST checked to be a store */
	uint64_t tickets;		/* records delivered so far */
	uint64_t covered;		/* records the last pass swept */
	uint64_t tmp_seq;		/* temp name uniquifier (lock) */
};

/* Destination errors that pass: a full disk, a vanished mount, ... */
static int dest_err(int rc)
{
	switch (rc) {
	case -ENOSPC:
	case -EDQUOT:
	case -ENOENT:
	case -EIO:
	case -EAGAIN:
	case -EBUSY:
	case -EINTR:
	case -ENOMEM:
	case -ESTALE:
	case -ETIMEDOUT:
	case -ENOTCONN:
		return -EAGAIN;
	}
	return rc;
}

static bool dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	bool empty = true;

	if (!d)
		return errno == ENOENT;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = false;
			break;
		}
	closedir(d);
	return empty;
}

/* realpath() of a path that may not exist yet (its parent must). */
static bool real_path(const char *path, char out[PATH_MAX])
{
	char parent[PATH_MAX], *slash;

	if (realpath(path, out))
		return true;
	snprintf(parent, sizeof(parent), "%s", path);
	slash = strrchr(parent, '/');
	if (!slash || !slash[1])
		return false;
	*slash = '\0';
	if (!realpath(parent[0] ? parent : "/", out))
		return false;
	if (strlen(out) + strlen(slash + 1) + 2 > PATH_MAX)
		return false;
	strcat(strcmp(out, "/") ? strcat(out, "/") : out, slash + 1);
	return true;
}

/* Refuse DEST when it is the source store, or inside it. */
static int dir_not_self(struct dir_remote *r, char *why, size_t whylen)
{
	char src[PATH_MAX], dst[PATH_MAX];
	size_t n;

	if (!r->src_path || !realpath(r->src_path, src) ||
	    !real_path(r->path, dst))
		return 0;
	n = strlen(src);
	if (!strncmp(src, dst, n) && (dst[n] == '\0' || dst[n] == '/')) {
		snprintf(why, whylen,
			 "destination '%s' is the source store '%s' %s",
			 r->path, r->src_path,
			 dst[n] ? "or inside it" : "itself");
		return -EINVAL;
	}
	return 0;
}

/* Make DEST a new, empty store. */
static int dir_create(struct dir_remote *r, char *why, size_t whylen)
{
	struct store_opts o = { 0 };
	struct store *s = NULL;
	int rc;

	o.path = r->path;
	o.flags = STORE_CREATE;
	rc = store_open(&o, &s);
	if (rc == -EBUSY)	/* made by someone else meanwhile */
		return 0;
	if (rc) {
		snprintf(why, whylen, "cannot create store '%s': %s", r->path,
			 strerror(-rc));
		return rc;
	}
	store_close(s);
	log_info("created replica store '%s'", r->path);
	return 0;
}

/* Check DEST is a store (or make it one) and has an inbox. Lock held. */
static int dir_prepare(struct dir_remote *r, char *why, size_t whylen)
{
	char p[PATH_MAX];
	struct stat st;
	int rc;

	remote_pathf(p, sizeof(p), "%s/format", r->path);
	if (stat(r->path, &st) == 0 && !S_ISDIR(st.st_mode)) {
		snprintf(why, whylen, "destination '%s' is not a directory",
			 r->path);
		return -ENOTDIR;
	}
	rc = dir_not_self(r, why, whylen);
	if (rc)
		return rc;
	if (stat(p, &st) && errno == ENOENT) {
		if (access(r->path, F_OK) == 0 && !dir_is_empty(r->path)) {
			snprintf(why, whylen,
				 "destination '%s' is not a crrfs store (directory is not empty)",
				 r->path);
			return -ENOTEMPTY;
		}
		rc = dir_create(r, why, whylen);
		if (rc)
			return rc;
	}
	remote_pathf(p, sizeof(p), "%s/%s", r->path, INBOX_DIR);
	if (mkdir(p, 0755) && errno != EEXIST) {
		rc = -errno;
		snprintf(why, whylen, "cannot make inbox '%s': %s", p,
			 strerror(-rc));
		return dest_err(rc);
	}
	if (access(p, W_OK | X_OK)) {
		rc = -errno;
		snprintf(why, whylen, "cannot write to inbox '%s': %s", p,
			 strerror(-rc));
		return rc;
	}
	r->ready = true;
	return 0;
}

static int dir_check(struct remote *rem, char *why, size_t whylen)
{
	struct dir_remote *r = (struct dir_remote *)rem;
	int rc;

	pthread_mutex_lock(&r->lock);
	rc = dir_prepare(r, why, whylen);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		rc = -errno;
	close(fd);
	return rc;
}

/* Write o's record under a temporary name, sync it, rename it in. */
static int dir_deliver(struct dir_remote *r, const struct remote_obj *o,
		       const char *name, char *why, size_t whylen)
{
	char inbox[PATH_MAX], tmp[PATH_MAX], dst[PATH_MAX];
	uint64_t seq;
	int fd, rc;

	pthread_mutex_lock(&r->lock);
	seq = ++r->tmp_seq;
	pthread_mutex_unlock(&r->lock);
	remote_pathf(inbox, sizeof(inbox), "%s/%s", r->path, INBOX_DIR);
	remote_pathf(tmp, sizeof(tmp), "%s/%s%s-%ld-%llu", inbox,
		     INBOX_TMP_PREFIX, o->v.vid, (long)getpid(),
		     (unsigned long long)seq);
	remote_pathf(dst, sizeof(dst), "%s/%s", inbox, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		snprintf(why, whylen, "cannot write to inbox '%s': %s", inbox,
			 strerror(-rc));
		return dest_err(rc);
	}
	rc = remote_inbox_write(fd, o, why, whylen);
	if (rc && why[0]) {	/* the source's fault, or a cancel */
		close(fd);
		unlink(tmp);
		return rc;
	}
	if (!rc && fdatasync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, dst))
		rc = -errno;
	if (!rc)
		rc = fsync_dir(inbox);
	if (rc) {
		unlink(tmp);
		snprintf(why, whylen, "cannot deliver to inbox '%s': %s", inbox,
			 strerror(-rc));
		return dest_err(rc);
	}
	return 0;
}

/*
 * Apply the inbox now if nobody holds DEST, unless a pass that began
 * after our record arrived already did. A held DEST is not an error: its
 * holder ingests.
 */
static int dir_apply(struct dir_remote *r, uint64_t ticket, char *why,
		     size_t whylen)
{
	struct store_opts o = { 0 };
	struct store *s = NULL;
	uint64_t upto;
	int rc, n;

	pthread_mutex_lock(&r->apply_lock);
	pthread_mutex_lock(&r->lock);
	upto = r->tickets;
	rc = r->covered >= ticket;
	pthread_mutex_unlock(&r->lock);
	if (rc) {
		rc = 0;
		goto out;
	}
	o.path = r->path;
	rc = store_open(&o, &s);
	if (rc == -EBUSY) {
		rc = 0;
		goto done;
	}
	if (rc) {
		snprintf(why, whylen, "cannot open destination store '%s': %s",
			 r->path, strerror(-rc));
		rc = dest_err(rc);
		goto out;
	}
	n = remote_dir_ingest(s, r->path);
	store_close(s);
	if (n < 0) {
		rc = n;
		snprintf(why, whylen, "cannot apply inbox of store '%s': %s",
			 r->path, strerror(-rc));
		rc = dest_err(rc);
		goto out;
	}
done:
	pthread_mutex_lock(&r->lock);
	if (r->covered < upto)
		r->covered = upto;
	pthread_mutex_unlock(&r->lock);
out:
	pthread_mutex_unlock(&r->apply_lock);
	return rc;
}

/* After a pass: did the destination quarantine our record? */
static int dir_refused(struct dir_remote *r, const char *name, char *why,
		       size_t whylen)
{
	char p[PATH_MAX], reason[REMOTE_WHY_MAX] = "";
	ssize_t n;
	int fd;

	remote_pathf(p, sizeof(p), "%s/%s/%s", r->path, INBOX_BAD_DIR, name);
	if (access(p, F_OK))
		return 0;
	remote_pathf(p, sizeof(p), "%s/%s/%s.why", r->path, INBOX_BAD_DIR,
		     name);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, reason, sizeof(reason) - 1);
		reason[n > 0 ? n : 0] = '\0';
		reason[strcspn(reason, "\n")] = '\0';
		close(fd);
	}
	snprintf(why, whylen, "destination '%s' refused the version: %s",
		 r->path, reason[0] ? reason : "see its log");
	return -EIO;
}

static int dir_ship(struct remote *rem, const struct remote_obj *o,
		    char *why, size_t whylen)
{
	struct dir_remote *r = (struct dir_remote *)rem;
	char name[INBOX_NAME_MAX], p[PATH_MAX];
	uint64_t ticket;
	int rc = 0;

	why[0] = '\0';
	pthread_mutex_lock(&r->lock);
	if (!r->ready)
		rc = dir_prepare(r, why, whylen);
	pthread_mutex_unlock(&r->lock);
	if (rc)
		return rc;
	remote_inbox_name(o->v.vid, name);
	/* A refusal of an earlier try must not speak for this one. */
	remote_pathf(p, sizeof(p), "%s/%s/%s", r->path, INBOX_BAD_DIR, name);
	unlink(p);
	rc = dir_deliver(r, o, name, why, whylen);
	if (rc)
		return rc;
	if (remote_cancelled(o)) {	/* an apply pass can be long */
		snprintf(why, whylen, "cancelled");
		return -ECANCELED;
	}
	pthread_mutex_lock(&r->lock);
	ticket = ++r->tickets;
	pthread_mutex_unlock(&r->lock);
	rc = dir_apply(r, ticket, why, whylen);
	if (rc)
		return rc;
	return dir_refused(r, name, why, whylen);
}

static void dir_free(struct remote *rem)
{
	struct dir_remote *r = (struct dir_remote *)rem;

	pthread_mutex_destroy(&r->apply_lock);
	pthread_mutex_destroy(&r->lock);
	free(r->path);
	free(r->src_path);
	free(r);
}

static const struct remote_ops dir_ops = {
	.check = dir_check,
	.ship = dir_ship,
	.free = dir_free,
};

int remote_dir_open(const struct rules_dest *d, const char *store_path,
		    struct remote **out, char *why, size_t whylen)
{
	struct dir_remote *r;

	*out = NULL;
	/* Longer paths are refused here, so every join below fits. */
	if (d->path && strlen(d->path) > PATH_MAX - 2 * NAME_MAX) {
		snprintf(why, whylen, "destination '%s': path too long",
			 d->name ? d->name : "");
		return -ENAMETOOLONG;
	}
	if (!d->path || d->path[0] != '/') {
		snprintf(why, whylen,
			 "destination '%s': path must be absolute",
			 d->name ? d->name : "");
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->base.ops = &dir_ops;
	snprintf(r->base.name, sizeof(r->base.name), "%s",
		 d->name ? d->name : "");
	r->path = strdup(d->path);
	r->src_path = store_path ? strdup(store_path) : NULL;
	if (!r->path || (store_path && !r->src_path)) {
		free(r->path);
		free(r->src_path);
		free(r);
		return -ENOMEM;
	}
	pthread_mutex_init(&r->apply_lock, NULL);
	pthread_mutex_init(&r->lock, NULL);
	*out = &r->base;
	return 0;
}
