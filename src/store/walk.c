/*
 * walk.c - store_walk(): every version of every key, for a resync that
 * must look at the whole history (versions made before a rule existed).
 *
 * Design: the versions DB is keyed (oid, vseq), so one cursor over it is
 * exactly "keys in oid order, versions oldest first". The walk goes in
 * batches: a short read transaction copies up to WALK_BATCH versions (and
 * the key paths they belong to) out, ends, and only then are the callbacks
 * run, so a callback may call the store (even mutate it) and a long walk
 * never pins old pages of a busy store. The next batch resumes at the
 * (oid, vseq) after the last one seen. vseq 0 records (pending keys and
 * drafts) are not versions and are skipped.
 */
#include "store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define WALK_BATCH 256

struct walk_item {
	struct store_vinfo v;
	size_t key;		/* index into keys[] */
};

struct walk_batch {
	struct walk_item items[WALK_BATCH];
	size_t n;
	char *keys[WALK_BATCH];
	size_t nkeys;
	uint64_t key_oid;	/* oid of keys[nkeys - 1] */
	uint8_t key_type;
	bool done;		/* the cursor ran off the end */
};

static void batch_clear(struct walk_batch *b)
{
	size_t i;

	for (i = 0; i < b->nkeys; i++)
		free(b->keys[i]);
	b->n = b->nkeys = 0;
	b->key_oid = 0;
}

/* The key path of oid as the batch's current key. */
static int batch_key(struct store *s, MDB_txn *txn, struct walk_batch *b,
		     uint64_t oid)
{
	struct obj o;
	int rc;

	if (b->nkeys && b->key_oid == oid)
		return 0;
	rc = obj_get(s, txn, oid, &o);
	if (!rc)
		rc = key_path_txn(s, txn, oid, &b->keys[b->nkeys]);
	if (rc)
		return rc;
	b->nkeys++;
	b->key_oid = oid;
	b->key_type = o.type;
	return 0;
}

/* Copy up to WALK_BATCH versions at or after (*oid, *vseq). */
static int batch_load(struct store *s, struct walk_batch *b, uint64_t *oid,
		      uint64_t *vseq)
{
	uint8_t k[16];
	MDB_val key = { 16, k }, val;
	MDB_cursor *c = NULL;
	MDB_txn *txn;
	int rc, mrc;

	be64_put(k, *oid);
	be64_put(k + 8, *vseq);
	rc = store_rtxn(s, &txn);
	if (rc)
		return rc;
	rc = store_err(mdb_cursor_open(txn, s->versions, &c));
	for (mrc = rc ? MDB_NOTFOUND : mdb_cursor_get(c, &key, &val,
						      MDB_SET_RANGE);
	     !mrc && !rc && b->n < WALK_BATCH;
	     mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		uint64_t o, vs;
		struct vrec v;

		if (key.mv_size != 16)
			continue;
		o = be64_get(key.mv_data);
		vs = be64_get((uint8_t *)key.mv_data + 8);
		*oid = o;
		*vseq = vs + 1;
		if (!vs)
			continue;
		rc = vrec_decode(val.mv_data, val.mv_size, &v);
		if (!rc)
			rc = batch_key(s, txn, b, o);
		if (rc == -ENOENT) {	/* record of no key: fsck's business */
			rc = 0;
			continue;
		}
		if (rc)
			break;
		vinfo_fill(o, vs, b->key_type, &v, &b->items[b->n].v);
		b->items[b->n++].key = b->nkeys - 1;
	}
	if (!rc && mrc && mrc != MDB_NOTFOUND)
		rc = store_err(mrc);
	b->done = mrc == MDB_NOTFOUND;
	if (c)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc;
}

int store_walk(struct store *s, store_walk_fn fn, void *arg)
{
	struct walk_batch *b = calloc(1, sizeof(*b));
	uint64_t oid = 0, vseq = 0;
	size_t i;
	int rc = 0;

	if (!b)
		return -ENOMEM;
	while (!rc && !b->done) {
		batch_clear(b);
		rc = batch_load(s, b, &oid, &vseq);
		for (i = 0; !rc && i < b->n; i++)
			rc = fn(arg, b->keys[b->items[i].key], &b->items[i].v);
	}
	batch_clear(b);
	free(b);
	return rc == 1 ? 0 : rc;
}
