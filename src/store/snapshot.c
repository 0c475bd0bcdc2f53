/*
 * snapshot.c - an index committed MDB_NOSYNC that still survives power
 * loss.
 *
 * LMDB warns that with MDB_NOSYNC a system crash "can corrupt the
 * database": the OS may write a meta page before the pages it points to.
 * LMDB 0.9 keeps two meta pages, opens the newer, and cannot be told to
 * open the older. So at every sync the committer (the only writer, between
 * two batches, so no commit slips in):
 *   1. syncfs()es the store's filesystem: the index and every segment the
 *      synced snapshot refers to are on the disk;
 *   2. saves a copy of that snapshot's meta page, with the boot id, in
 *      STORE/index/synced-meta (two checksummed slots, written in turn, one
 *      fdatasync), and
 *   3. keeps a read transaction open on that snapshot until the next sync,
 *      so LMDB never reuses a page of it.
 * If the machine restarted (the boot id differs) and the index's newest
 * meta page is newer than the saved one, snap_recover() writes the saved
 * page into both meta slots before LMDB opens the file: the index is the
 * synced snapshot, all of whose pages are intact, and only what was
 * committed after the last sync is lost, as a power loss may take it.
 * After a crash of the process alone (same boot id), the page cache held
 * every commit and nothing is rolled back.
 *
 * The meta page layout read here is LMDB 0.9's (format version 1): magic
 * at byte 16 of the page, the page size in the free DB's md_pad at byte
 * 40, the transaction id at byte 144. snap_recover() checks the magic and
 * the version before it trusts any of it.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

#define SNAP_MAGIC "CRRFSNP1"
#define SNAP_PAGE_MAX 65536
#define SNAP_SLOT (SNAP_PAGE_MAX + 256)

/* One slot of synced-meta; sum covers magic .. page[psize]. */
struct snap_rec {
	uint8_t sum[SHA256_DIGEST_LENGTH];
	char magic[8];
	uint64_t txnid;
	char boot[40];
	uint32_t psize;
	uint32_t pad;		/* 0 */
	uint8_t page[SNAP_PAGE_MAX];
};

int snap_boot_id(const struct store *s, char out[40])
{
	FILE *f;

	memset(out, 0, 40);
	if (s->boot_id) {
		snprintf(out, 40, "%s", s->boot_id);
		return 0;
	}
	f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (!f)
		return -errno;
	if (!fgets(out, 40, f))
		out[0] = '\0';
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	return out[0] ? 0 : -EIO;
}

static void snap_sum(const struct snap_rec *r, uint8_t out[32])
{
	const uint8_t *from = (const uint8_t *)r->magic;

	SHA256(from, (size_t)(r->page + r->psize - from), out);
}

static int pread_full(int fd, void *buf, size_t n, off_t off)
{
	ssize_t r = pread(fd, buf, n, off);

	if (r < 0)
		return -errno;
	return (size_t)r == n ? 0 : -EIO;
}

static int pwrite_full(int fd, const void *buf, size_t n, off_t off)
{
	ssize_t r = pwrite(fd, buf, n, off);

	if (r < 0)
		return -errno;
	return (size_t)r == n ? 0 : -EIO;
}

/* Save the meta page of the snapshot just synced (by the one thread that
 * commits: the committer, or store_close after it stopped). */
static int snap_save(struct store *s)
{
	struct snap_rec *rp = s->snap_buf;
	char p[SEG_PATH_MAX];
	uint8_t head[4096];
	uint64_t txnid, want;
	uint32_t psize;
	MDB_envinfo info;
	int fd, rc, slot;

	mdb_env_info(s->env, &info);
	want = info.me_last_txnid;
	snprintf(p, sizeof(p), "%s/index/data.mdb", s->path);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = pread_full(fd, head, sizeof(head), 0);
	psize = rc ? 0 : index_meta_psize(head);
	if (!rc && (!psize || psize > SNAP_PAGE_MAX))
		rc = -EINVAL;
	for (slot = 0; !rc && slot < 2; slot++) {
		rp->psize = psize;
		rc = pread_full(fd, rp->page, rp->psize,
				(off_t)slot * rp->psize);
		if (!rc && !index_meta_txnid(rp->page, &txnid) && txnid == want)
			break;
	}
	close(fd);
	if (!rc && slot == 2)
		rc = -EIO;	/* the synced meta is not on the disk? */
	if (rc)
		return rc;
	memcpy(rp->magic, SNAP_MAGIC, 8);
	rp->txnid = want;
	rp->pad = 0;
	rc = snap_boot_id(s, rp->boot);
	if (rc)
		return rc;
	snap_sum(rp, rp->sum);
	s->snap_slot ^= 1;
	rc = pwrite_full(s->snap_fd, rp, sizeof(*rp),
			 (off_t)s->snap_slot * SNAP_SLOT);
	if (!rc && fdatasync(s->snap_fd))
		rc = -errno;
	return rc;
}

int snap_sync(struct store *s)
{
	int rc;

	if (s->flags & STORE_SYNC)	/* every commit synced: nothing torn */
		return store_err(mdb_env_sync(s->env, 1));
	if (syncfs(s->snap_fd))
		return -errno;
	rc = snap_save(s);
	if (rc) {
		log_error("cannot save the synced state of store '%s': %s",
			  s->path, strerror(-rc));
		return rc;
	}
	/* Pin the synced snapshot: LMDB reuses no page it still uses. */
	if (s->snap_txn) {
		mdb_txn_reset(s->snap_txn);
		rc = store_err(mdb_txn_renew(s->snap_txn));
	} else {
		rc = store_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY,
					     &s->snap_txn));
	}
	if (rc && s->snap_txn) {
		mdb_txn_abort(s->snap_txn);
		s->snap_txn = NULL;
	}
	return rc;
}

int snap_open(struct store *s)
{
	char p[SEG_PATH_MAX];

	s->snap_buf = calloc(1, sizeof(struct snap_rec));
	if (!s->snap_buf)
		return -ENOMEM;
	snprintf(p, sizeof(p), "%s/index/synced-meta", s->path);
	s->snap_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->snap_fd < 0)
		return -errno;
	/* Both slots allocated now: a full disk later cannot stop a sync. */
	return -posix_fallocate(s->snap_fd, 0, 2 * SNAP_SLOT);
}

void snap_close(struct store *s)
{
	if (s->snap_txn)
		mdb_txn_abort(s->snap_txn);
	s->snap_txn = NULL;
	if (s->snap_fd >= 0)
		close(s->snap_fd);
	s->snap_fd = -1;
	free(s->snap_buf);
	s->snap_buf = NULL;
}

/* The newest valid saved record into r[0] (r[1] is scratch), or -ENOENT. */
static int snap_best(int fd, struct snap_rec r[2])
{
	uint8_t sum[SHA256_DIGEST_LENGTH];
	bool found = false;
	int slot;

	for (slot = 0; slot < 2; slot++) {
		struct snap_rec *t = &r[1];

		if (pread_full(fd, t, sizeof(*t), (off_t)slot * SNAP_SLOT))
			continue;
		if (memcmp(t->magic, SNAP_MAGIC, 8) ||
		    t->psize > SNAP_PAGE_MAX || t->psize < 4096)
			continue;
		snap_sum(t, sum);
		if (memcmp(sum, t->sum, sizeof(sum)))
			continue;
		if (!found || t->txnid > r[0].txnid)
			memcpy(&r[0], t, sizeof(*t));
		found = true;
	}
	return found ? 0 : -ENOENT;
}

int snap_recover(const struct store *s)
{
	struct snap_rec *rr = malloc(2 * sizeof(*rr)), *r = rr;
	char p[SEG_PATH_MAX], boot[40];
	uint64_t newest = 0, t;
	uint8_t *page = NULL;
	int fd = -1, sfd, rc, slot;

	if (!rr)
		return -ENOMEM;
	snprintf(p, sizeof(p), "%s/index/synced-meta", s->path);
	sfd = open(p, O_RDONLY | O_CLOEXEC);
	if (sfd < 0) {
		rc = errno == ENOENT ? 0 : -errno;
		goto out;
	}
	rc = snap_best(sfd, rr);
	close(sfd);
	if (rc == -ENOENT) {
		rc = 0;		/* never synced: nothing to roll back to */
		goto out;
	}
	rc = snap_boot_id(s, boot);
	if (rc || !strncmp(boot, r->boot, sizeof(boot)))
		goto out;	/* same boot: the page cache had it all */
	snprintf(p, sizeof(p), "%s/index/data.mdb", s->path);
	fd = open(p, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		rc = errno == ENOENT ? 0 : -errno;
		goto out;
	}
	page = malloc(r->psize);
	rc = page ? 0 : -ENOMEM;
	for (slot = 0; !rc && slot < 2; slot++) {
		rc = pread_full(fd, page, r->psize, (off_t)slot * r->psize);
		if (!rc && !index_meta_txnid(page, &t) && t > newest)
			newest = t;
		rc = rc == -EIO ? 0 : rc;	/* a short file: torn */
	}
	if (rc || newest <= r->txnid)
		goto out;
	/* Both slots get the synced meta; each keeps its own page number. */
	for (slot = 0; !rc && slot < 2; slot++) {
		uint64_t pgno = (uint64_t)slot;

		memcpy(r->page, &pgno, sizeof(pgno));
		rc = pwrite_full(fd, r->page, r->psize,
				 (off_t)slot * r->psize);
	}
	if (!rc && fdatasync(fd))
		rc = -errno;
	if (!rc)
		log_warn("store '%s' was not closed before the machine "
			 "restarted: its index is back at its last synced "
			 "state (transaction %" PRIu64 "; the newest was %"
			 PRIu64 ")", s->path, r->txnid, newest);
out:
	free(page);
	free(rr);
	if (fd >= 0)
		close(fd);
	return rc;
}
