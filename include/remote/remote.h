/*
 * remote.h - a replication destination behind one vtable: the place the
 * replicator ships versions and delete markers to. Two backends:
 * remote_dir.c (another crrfs store, reached by path) and remote_s3.c
 * (any S3-compatible endpoint, through src/s3/).
 *
 * Design: the replicator (src/repl/) owns the queue, the ordering and the
 * retries; a remote only knows how to make one version exist at the
 * destination, idempotently. It reads the bytes itself from the source
 * store (store_file_open on o->oid, o->v.vseq), outside any transaction,
 * so a big upload never holds the index.
 *
 * Errors: every call returns 0 or -errno and, on failure, writes one
 * lowercase line into why (never a secret): -EAGAIN means transient
 * (connection refused or reset, timeout, HTTP 5xx, 429, 503 SlowDown):
 * the replicator retries later with backoff and the version stays
 * PENDING. Any other -errno is permanent (403, NoSuchBucket, bad
 * signature, a destination that is not a crrfs store, ...): the version
 * becomes FAILED with why kept as its reason. -ECANCELED means the ship
 * gave up because o->cancel became true: the replicator leaves the job
 * as it was, neither retried nor failed.
 *
 * Threads: remote_ship may be called from several worker threads at once
 * on one struct remote (a backend keeps one connection per thread, or a
 * locked pool). remote_free only once no call is running.
 */
#ifndef CRRFS_REMOTE_H
#define CRRFS_REMOTE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/rules.h"
#include "store/store.h"

struct remote;

/* Longest reason a remote writes into why (with its NUL). */
#define REMOTE_WHY_MAX 256

/*
 * One version (or delete marker) to ship. Everything is owned by the
 * caller and valid during the remote_ship() call only.
 */
struct remote_obj {
	struct store *src;		/* the source store, to read data */
	uint64_t oid;
	const char *key;		/* "docs/a.txt", "docs/" for a folder */
	struct store_vinfo v;		/* vid, attrs, flags, sha256 */
	const struct store_xattr *xattrs; /* user metadata and tags
					 * ("user.crrfs.tag.NAME"), as
					 * store_xattrs_get() gives them */
	size_t nxattrs;
	const char *storage_class;	/* rule's override, or NULL */
	/*
	 * true when a process before this one may already have shipped this
	 * version (the job survived a restart): check the destination first
	 * and succeed without shipping again when it already has it.
	 */
	bool maybe_sent;
	/*
	 * Multipart uploads: the upload id a previous process recorded for
	 * this job ("" if none), to abort or resume it; and a callback to
	 * record a new one durably before any part is sent (so kill -9 in
	 * the middle leaves no orphan upload behind). note_upload(arg, "")
	 * clears it. note_upload returns 0 or -errno.
	 */
	const char *prev_upload;
	int (*note_upload)(void *arg, const char *upload_id);
	void *note_arg;
	/*
	 * NULL, or a flag that becomes true when the replicator stops: the
	 * ship then returns -ECANCELED within about 100 ms, wherever it is
	 * (a transfer in flight is aborted). What a cancelled ship leaves
	 * behind is what a kill -9 at that point would: an unfinished
	 * multipart upload stays recorded (note_upload) and is aborted by
	 * the next attempt, not now (a stop must not wait for the server).
	 * A request that only asks or finishes (HEAD, a listing, completing
	 * or aborting an upload) runs to its end: short, and its outcome
	 * must be known.
	 */
	const atomic_bool *cancel;
};

/*
 * What every backend needs done once per process before any thread uses
 * it (curl_global_init for s3). Idempotent; call it before starting
 * threads that ship. 0 or -EIO.
 */
int remote_global_init(void);

/* True once o's ship should give up (see remote_obj.cancel). */
static inline bool remote_cancelled(const struct remote_obj *o)
{
	return o->cancel && atomic_load(o->cancel);
}

/*
 * Open the destination d (the struct is copied; d need not outlive it).
 * store_path is the source store's directory (the dir backend refuses
 * itself; the s3 backend ignores it). Opening does no network I/O.
 * *out is freed with remote_free(). On failure why says why.
 */
int remote_open(const struct rules_dest *d, const char *store_path,
		struct remote **out, char *why, size_t whylen);

/*
 * Check that the destination is usable before anything is shipped: for
 * s3, that the bucket exists and its versioning is Enabled; for dir, that
 * the path is (or can be made) a crrfs store. -EAGAIN when the server
 * could not be reached (the caller may go on and check again later);
 * other errors are a refusal with why filled in.
 */
int remote_check(struct remote *r, char *why, size_t whylen);

/*
 * Make version o exist at the destination: a data version (or folder or
 * symlink), or a delete marker on o->key (o->v.flags has
 * STORE_V_DELETE_MARKER). Idempotent for one o->v.vid when maybe_sent.
 */
int remote_ship(struct remote *r, const struct remote_obj *o, char *why,
		size_t whylen);

/*
 * A ship must never send bytes that are not the version's: fill why for
 * a version whose data is bad and return the -errno to fail with. rc 0:
 * the bytes read do not match o->v.sha256 (returns -EIO, and marks the
 * version damaged in o->src: store_mark_damaged); rc -EIO: the
 * store could not read them (a segment cut short); any other -errno: a
 * read that failed. Every one but -EAGAIN makes the job FAILED, not
 * retried: damage does not heal by waiting.
 */
int remote_bad_data(const struct remote_obj *o, int rc, char *why,
		    size_t whylen);

/* The destination's name (the [destination NAME] of the rule file). */
const char *remote_name(const struct remote *r);

void remote_free(struct remote *r);

/* ---- the vtable every backend fills in (remote_int.h users only) ---- */

struct remote_ops {
	int (*check)(struct remote *r, char *why, size_t whylen);
	int (*ship)(struct remote *r, const struct remote_obj *o, char *why,
		    size_t whylen);
	void (*free)(struct remote *r);
};

/* Every backend's struct starts with this. */
struct remote {
	const struct remote_ops *ops;
	char name[RULES_NAME_MAX + 1];
};

/* Backend constructors, called by remote_open() by d->type. */
int remote_dir_open(const struct rules_dest *d, const char *store_path,
		    struct remote **out, char *why, size_t whylen);
int remote_s3_open(const struct rules_dest *d, struct remote **out,
		   char *why, size_t whylen);

/*
 * dir destinations deliver into DEST/inbox/ (see remote_dir.c); the
 * process that has the store DEST open for writing (its mount daemon,
 * `crrfs replicate`, or the shipping process itself when nobody has it
 * open) applies what is there as REPLICA versions, in order, with this.
 * Returns the number of records applied, or -errno.
 */
int remote_dir_ingest(struct store *s, const char *store_path);

#endif
