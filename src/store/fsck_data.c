/*
 * fsck_data.c - the data half of fsck: is every version's data there,
 * as long as its runs say, and (--deep) are its bytes the ones its
 * sha256 was computed from?
 *
 * Design: the plain check costs one stat(2) per segment a record uses:
 * a segment cut short is found without reading it (seal.c extends every
 * segment to the end of the chunks its record uses, so short is always
 * damage). Overwritten bytes can only be found by reading them, so that
 * is --deep: each version is read in full through an ordinary working
 * copy and hashed here against its recorded sha256 (the read path's own
 * check is off unless mounted with -o verify, and gives up on reads out
 * of order; this one must not); versions that have none are still read
 * (a short or unreadable segment shows) and counted as unverified.
 * Nothing here repairs: damaged data has no second copy in this store
 * (a replica may have one). --repair only marks a mismatching version
 * STORE_V_DAMAGED, so reads through the mount fail instead of returning
 * the wrong bytes; nothing is deleted.
 */
#include "file_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/log.h"

/* Bytes of segment seg that v uses: the end of its furthest run there. */
static uint64_t runs_need(const struct vrec *v, uint64_t seg)
{
	uint64_t need = 0, start, end;
	struct run r;
	uint32_t i;

	for (i = 0; i < v->nruns; i++) {
		run_at(v, i, &r);
		if (r.seg != seg)
			continue;
		start = r.first * STORE_CHUNK;
		end = (r.first + r.count) * STORE_CHUNK;
		if (end > v->attr.size)
			end = v->attr.size;
		if (end > start && r.base + (end - start) > need)
			need = r.base + (end - start);
	}
	return need;
}

int fsck_seg_check(struct store *s, MDB_txn *txn, uint64_t oid,
		   const struct vrec *v, uint64_t seg)
{
	char p[SEG_PATH_MAX], *key = NULL;
	uint64_t need = 0;
	struct stat st;
	int rc = 0;

	seg_path(s, seg, p, sizeof(p));
	if (stat(p, &st))
		rc = -ENOENT;
	else if (seg >= s->short_seg_from &&
		 (uint64_t)st.st_size < (need = runs_need(v, seg)))
		rc = -EIO;
	if (!rc)
		return 0;
	if (key_path_txn(s, txn, oid, &key))
		key = NULL;
	if (rc == -ENOENT)
		log_warn("fsck: version %s of key '%s' misses its data '%s'",
			 v->vid, key ? key : "?", p);
	else
		log_warn("fsck: version %s of key '%s' needs %" PRIu64
			 " bytes of segment '%s', which has %" PRIu64
			 " (cut short)", v->vid, key ? key : "?", need, p,
			 (uint64_t)st.st_size);
	free(key);
	return rc;
}

/*
 * Read version (oid, vseq) to its end and hash it here, not through the
 * read path's check, which may give up: -EIO when its bytes are damaged.
 */
static int deep_one(struct store *s, uint64_t oid, uint64_t vseq,
		    bool *verified, struct store_vinfo *vi_out)
{
	struct store_file *f = NULL;
	struct store_vinfo vi;
	uint8_t got[32];
	int rc;

	rc = store_version_get(s, oid, vseq, &vi);
	if (!rc)
		rc = store_file_open(s, oid, vseq, &f);
	if (rc)
		return rc;
	verify_stop(f);
	*verified = vi.flags & STORE_V_HAS_SHA;
	rc = store_file_sha256(f, got);
	if (!rc && *verified && memcmp(got, vi.sha256, 32)) {
		file_damage(f, 0, "its bytes do not match its sha256");
		*vi_out = vi;	/* to mark */
		rc = -EIO;
	}
	store_file_free(f);
	return rc;
}

static int mark_one(struct store *s, const struct store_vinfo *vi,
		    struct store_fsck_report *r)
{
	int rc = store_mark_damaged(s, vi->oid, vi->vseq, vi->sha256);

	if (!rc)
		r->marked++;
	return rc == -ENOENT ? 0 : rc;	/* gone since the read */
}

int fsck_deep(struct store *s, const uint64_t *ids, size_t n, bool repair,
	      struct store_fsck_report *r)
{
	size_t i;
	int rc = 0;

	for (i = 0; i + 1 < n && !rc; i += 2) {
		struct store_vinfo bad = { 0 };
		bool verified = false;

		rc = deep_one(s, ids[i], ids[i + 1], &verified, &bad);
		if (rc == -EIO) {
			r->bad_data++;
			rc = 0;
			/* Mismatches only: a version already marked, or one
			 * cut short, fails its reads by itself. */
			if (bad.oid && !repair)
				r->unmarked++;
			else if (bad.oid)
				rc = mark_one(s, &bad, r);
		} else if (!rc && verified) {
			r->verified++;
		} else if (!rc) {
			r->unverified++;
		} else if (rc == -ENOENT) {	/* gone since the scan */
			rc = 0;
		}
	}
	return rc;
}
