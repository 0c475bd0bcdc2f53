/*
 * segment.c - segment files, their reference counts, pins and collection.
 *
 * Design: a segment is a sparse file STORE/data/<2 hex>/<16 hex> whose
 * chunk i sits at byte i * STORE_CHUNK. The segments DB counts how many
 * version (and draft) records have a run in it; when a commit takes the
 * count to 0 the file is deleted after that commit, unless a live working
 * copy pins it in memory, in which case the last unpin deletes it (after
 * checking the index once more: a working copy may have sealed a new
 * version that uses it again). Crashes leave at worst files nobody
 * counts: store_open() and store_fsck() collect those.
 */
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int refs_adjust(struct store_txn *t, const struct vrec *v, int delta)
{
	uint64_t small[16], *segs = small;
	uint32_t i, n = 0;
	struct run r;
	int rc = 0;

	if (!v->nruns)
		return 0;
	if (v->nruns > 16) {
		segs = malloc(sizeof(*segs) * v->nruns);
		if (!segs)
			return -ENOMEM;
	}
	for (i = 0; i < v->nruns; i++) {
		run_at(v, i, &r);
		segs[n++] = r.seg;
	}
	qsort(segs, n, sizeof(*segs), u64_cmp);
	for (i = 0; i < n && !rc; i++) {
		uint8_t k[8];
		uint64_t count = 0;
		MDB_val val;

		if (i && segs[i] == segs[i - 1])
			continue;
		be64_put(k, segs[i]);
		rc = db_get(t->txn, t->s->segments, k, 8, &val);
		if (!rc && val.mv_size == 8)
			memcpy(&count, val.mv_data, 8);
		else if (rc && rc != -ENOENT)
			break;
		rc = 0;
		if (delta < 0 && count < (uint64_t)-delta) {
			log_warn("segment %016" PRIx64 " count is already 0",
				 segs[i]);
			count = 0;
		} else {
			count += (uint64_t)(int64_t)delta;
		}
		if (count) {
			rc = db_put(t->txn, t->s->segments, k, 8, &count, 8);
		} else {
			rc = db_del(t->txn, t->s->segments, k, 8);
			if (rc == -ENOENT)
				rc = 0;
			if (!rc)
				rc = post_freed(t, segs[i]);
		}
	}
	if (segs != small)
		free(segs);
	return rc;
}

/*
 * Segments made one after another share a directory (4096 at a time, then
 * the next of 256): ext4 then allocates their inodes side by side and keeps
 * one directory block hot, where spreading consecutive segments over all
 * 256 directories touched a cold directory and inode group for every new
 * small file. The scan and fsck read every directory, so the fan-out is
 * only a matter of speed.
 */
void seg_path(const struct store *s, uint64_t seg, char *buf, size_t size)
{
	snprintf(buf, size, "%s/data/%02x/%016" PRIx64, s->path,
		 (unsigned)((seg >> 12) & 0xff), seg);
}

int seg_create(struct store *s, uint64_t *seg, int *fd)
{
	char p[SEG_PATH_MAX];
	int rc;

	*seg = atomic_fetch_add(&s->next_seg, 1);
	seg_path(s, *seg, p, sizeof(p));
	*fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (*fd < 0 && errno == ENOENT) {
		char *slash = strrchr(p, '/');

		*slash = '\0';
		if (mkdir(p, 0755) && errno != EEXIST)
			return -errno;
		*slash = '/';
		*fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	}
	if (*fd < 0) {
		rc = -errno;
		log_error("cannot create segment '%s': %s", p, strerror(-rc));
		return rc;
	}
	return 0;
}

int seg_open(struct store *s, uint64_t seg, int *fd)
{
	char p[SEG_PATH_MAX];

	seg_path(s, seg, p, sizeof(p));
	*fd = open(p, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		int rc = -errno;

		log_error("cannot open segment '%s': %s", p, strerror(-rc));
		return rc == -ENOENT ? -EIO : rc;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Pins */

static struct pin **pin_slot(struct store *s, uint64_t seg)
{
	struct pin **pp = &s->pins[(seg * 0x9E3779B97F4A7C15ULL) >> 54];

	while (*pp && (*pp)->seg != seg)
		pp = &(*pp)->next;
	return pp;
}

void seg_pin(struct store *s, uint64_t seg)
{
	struct pin **pp, *p;

	pthread_mutex_lock(&s->seglock);
	pp = pin_slot(s, seg);
	if (*pp) {
		(*pp)->count++;
	} else {
		p = calloc(1, sizeof(*p));
		if (p) {	/* out of memory: unpinned, only GC is early */
			p->seg = seg;
			p->count = 1;
			*pp = p;
		}
	}
	pthread_mutex_unlock(&s->seglock);
}

bool seg_pinned(struct store *s, uint64_t seg)
{
	bool pinned;

	pthread_mutex_lock(&s->seglock);
	pinned = *pin_slot(s, seg) != NULL;
	pthread_mutex_unlock(&s->seglock);
	return pinned;
}

static bool seg_counted(struct store *s, uint64_t seg)
{
	MDB_txn *txn;
	uint8_t k[8];
	MDB_val v;
	int rc;

	if (store_rtxn(s, &txn))
		return true;	/* cannot tell: keep the file */
	be64_put(k, seg);
	rc = db_get(txn, s->segments, k, 8, &v);
	mdb_txn_abort(txn);
	return rc != -ENOENT;
}

static void seg_unlink(struct store *s, uint64_t seg)
{
	char p[SEG_PATH_MAX];

	seg_path(s, seg, p, sizeof(p));
	if (unlink(p) && errno != ENOENT)
		log_warn("cannot delete segment '%s': %s", p, strerror(errno));
}

void seg_unpin(struct store *s, uint64_t seg, bool unused)
{
	struct pin **pp, *p;
	bool check = false;

	pthread_mutex_lock(&s->seglock);
	pp = pin_slot(s, seg);
	p = *pp;
	if (p && --p->count == 0) {
		check = p->doomed || unused;
		*pp = p->next;
		free(p);
	}
	pthread_mutex_unlock(&s->seglock);
	/* Nobody pins it now; only a pinning copy could count it again. */
	if (check && !seg_counted(s, seg))
		seg_unlink(s, seg);
}

void seg_release(struct store *s, uint64_t seg)
{
	struct pin *p;

	pthread_mutex_lock(&s->seglock);
	p = *pin_slot(s, seg);
	if (p)
		p->doomed = true;
	pthread_mutex_unlock(&s->seglock);
	if (!p)
		seg_unlink(s, seg);
}

int seg_scan(struct store *s, int (*fn)(void *arg, uint64_t seg,
					 const char *path), void *arg)
{
	char p[SEG_PATH_MAX], f[SEG_PATH_MAX + 32];
	DIR *top, *sub;
	struct dirent *de, *fe;
	int rc = 0;

	snprintf(p, sizeof(p), "%s/data", s->path);
	top = opendir(p);
	if (!top)
		return errno == ENOENT ? 0 : -errno;
	while (!rc && (de = readdir(top))) {
		if (strlen(de->d_name) != 2 || de->d_name[0] == '.')
			continue;
		/* Checked, not assumed: a store path near PATH_MAX must not
		 * make the scan look at a truncated name. */
		if ((size_t)snprintf(p, sizeof(p), "%s/data/%s", s->path,
				     de->d_name) >= sizeof(p))
			continue;
		sub = opendir(p);
		if (!sub)
			continue;
		while (!rc && (fe = readdir(sub))) {
			char *end;
			uint64_t seg;

			if (strlen(fe->d_name) != 16)
				continue;
			seg = strtoull(fe->d_name, &end, 16);
			if (*end)
				continue;
			if ((size_t)snprintf(f, sizeof(f), "%s/%s", p,
					     fe->d_name) >= sizeof(f))
				continue;
			rc = fn(arg, seg, f);
		}
		closedir(sub);
	}
	closedir(top);
	return rc;
}

void seg_cleanup(struct store *s)
{
	struct pin *p, *next;
	size_t i;

	for (i = 0; i < PIN_BUCKETS; i++) {
		for (p = s->pins[i]; p; p = next) {
			next = p->next;
			free(p);
		}
		s->pins[i] = NULL;
	}
}

/* ------------------------------------------------------------------ */
/* Packs: shared segments for small files */

static void pack_retire_locked(struct store *s)
{
	if (!s->pack_seg)
		return;
	close(s->pack_fd);
	/* Unused means nothing was ever counted in it (every seal into it
	 * failed): then it goes now rather than at the next orphan scan. */
	seg_unpin(s, s->pack_seg, true);
	s->pack_seg = 0;
	s->pack_fd = -1;
}

int seg_pack_append(struct store *s, const void *buf, size_t len,
		    uint64_t *seg, uint64_t *off)
{
	uint64_t at;
	ssize_t n;
	size_t done = 0;
	int rc = 0;

	pthread_mutex_lock(&s->packlock);
	if (s->pack_seg && s->pack_off + len > PACK_SEG_MAX)
		pack_retire_locked(s);
	if (!s->pack_seg) {
		rc = seg_create(s, &s->pack_seg, &s->pack_fd);
		if (rc) {
			s->pack_seg = 0;
			s->pack_fd = -1;
			goto out;
		}
		seg_pin(s, s->pack_seg);
		s->pack_off = 0;
	}
	at = s->pack_off;
	while (done < len) {
		n = pwrite(s->pack_fd, (const char *)buf + done, len - done,
			   (off_t)(at + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		done += (size_t)n;
	}
	/* 4 KiB aligned: a small file never shares a disk block with the
	 * next one, so reading it is one block, as on a plain disk. */
	s->pack_off = (at + len + 4095) & ~(uint64_t)4095;
	seg_pin(s, s->pack_seg);
	*seg = s->pack_seg;
	*off = at;
out:
	pthread_mutex_unlock(&s->packlock);
	return rc;
}

void seg_pack_close(struct store *s)
{
	pthread_mutex_lock(&s->packlock);
	pack_retire_locked(s);
	pthread_mutex_unlock(&s->packlock);
}
