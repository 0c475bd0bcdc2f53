/*
 * store.h - the versioned object store: keys, versions, delete markers,
 * shared version data, and the one commit path everything goes through.
 *
 * This header is the whole face of src/store/. Only src/store/ includes
 * <lmdb.h>; everything else sees oids, vseqs and the structs below.
 *
 * Model
 * -----
 * The namespace is a tree of *keys*. A key is one S3 key path forever:
 * "docs/a.txt" or, for a folder object, "docs/". Each key has an object id
 * (oid) that never changes and never moves: a rename makes a new key (new
 * oid) and puts a delete marker on the old one, exactly as S3 would see it.
 * The root folder has oid STORE_ROOT_OID and key "" .
 *
 * Every key has an ordered list of versions, ordered by vseq (a store-wide
 * counter, so vseq order is creation order). The newest version is the
 * "head". A key is *live* when its head exists and is not a delete marker.
 * A key may also be *pending*: created by store_create() but with no version
 * yet (an open file that was never closed); pending keys are live in the
 * tree, have no history, and are dropped by the next store_open() after a
 * crash.
 *
 * Version data lives in sparse *segment* files under STORE/data/. Content is
 * cut into STORE_CHUNK-byte chunks; chunk i of a file lives at byte offset
 * i * STORE_CHUNK of whichever segment owns it. A version is a list of runs
 * (first chunk, chunk count, segment). A new version re-uses every unchanged
 * chunk of the version it came from, so an append or a small edit costs one
 * chunk of new data, and a rename copies no data at all.
 *
 * Errors
 * ------
 * Every int-returning function returns 0 (or a count) on success and -errno
 * on failure. LMDB errors are translated inside the store: MDB_NOTFOUND ->
 * -ENOENT, MDB_MAP_FULL -> -ENOSPC, MDB_READERS_FULL -> -EAGAIN, anything
 * else -> -EIO (logged once). A failed operation leaves the store exactly as
 * it was: every mutation is one LMDB (sub)transaction.
 *
 * Threads
 * -------
 * All functions are safe to call from any thread. Reads run in short
 * read-only LMDB transactions of their own. Mutations are handed to the
 * committer thread, which applies every queued mutation in one write
 * transaction (group commit) and wakes the callers; no LMDB transaction
 * ever spans file I/O of a caller, network I/O or a FUSE reply.
 *
 * Durability
 * ----------
 * When a mutating call returns, its transaction is committed to the OS: it
 * survives kill -9 of the process. With STORE_DURABLE (fsync) or a store
 * opened with STORE_SYNC, it also survives power loss: segment data is
 * fdatasync'ed before the index commit that refers to it, and the index is
 * synced before the call returns. Otherwise the index is synced by a
 * background flusher every sync_interval_ms.
 */
#ifndef CRRFS_STORE_H
#define CRRFS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#define STORE_ROOT_OID ((uint64_t)1)
#define STORE_CHUNK ((uint64_t)128 * 1024)
#define STORE_VID_LEN 26	/* see util/vid.h */
#define STORE_NAME_MAX 255	/* bytes, as NAME_MAX */
#define STORE_XATTR_MAX 65536	/* bytes of one value */
/* The largest file, in bytes: S3's largest object (5 TiB), so whatever a
 * file holds can be replicated. Writes and truncates past it are -EFBIG. */
#define STORE_FILE_MAX ((uint64_t)5 << 40)
#define STORE_XATTRS_TOTAL_MAX (256 * 1024) /* all names+values of a version */

struct store;
struct store_file;

enum store_open_flags {
	STORE_CREATE = 1 << 0,	/* create STORE if it does not exist */
	STORE_RDONLY = 1 << 1,	/* no mutation allowed: they return -EROFS */
	STORE_SYNC = 1 << 2,	/* every commit is synced (power-loss safe) */
	STORE_NOLOCK = 1 << 3,	/* read-only inspection while mounted (fsck -n) */
	STORE_VERIFY = 1 << 4,	/* a working copy read from byte 0 to its
				 * end is checked against the version's
				 * recorded sha256: -EIO on a mismatch */
};

struct store_opts {
	const char *path;		/* STORE directory; copied */
	unsigned flags;			/* enum store_open_flags */
	uint64_t map_size;		/* LMDB map size; 0 = default (64 GiB) */
	unsigned sync_interval_ms;	/* 0 = default (1000) */
	unsigned amend_window_ms;	/* 0 = default (2000); see store_setattr */
	const char *boot_id;		/* NULL = the kernel's; tests set it to
					 * simulate a reboot. Copied. */
};

enum store_type {
	STORE_T_FILE = 1,
	STORE_T_DIR = 2,
	STORE_T_SYMLINK = 3,
};

/* POSIX attributes carried by every version. Times are ns since the epoch. */
struct store_attr {
	uint32_t mode;		/* includes S_IFREG / S_IFDIR / S_IFLNK */
	uint32_t uid;
	uint32_t gid;
	uint64_t size;		/* bytes of data (symlink: target length) */
	int64_t atime_ns;
	int64_t mtime_ns;
	int64_t ctime_ns;
};

enum store_attr_mask {
	STORE_SET_MODE = 1 << 0,	/* permission bits only; type kept */
	STORE_SET_UID = 1 << 1,
	STORE_SET_GID = 1 << 2,
	STORE_SET_ATIME = 1 << 3,
	STORE_SET_MTIME = 1 << 4,
	STORE_SET_CTIME = 1 << 5,
};

enum store_vflags {
	STORE_V_DELETE_MARKER = 1 << 0,
	STORE_V_REPLICA = 1 << 1,	/* arrived by replication */
	STORE_V_HAS_SHA = 1 << 2,	/* sha256 below is filled in */
	STORE_V_DAMAGED = 1 << 3,	/* bytes known not to match sha256:
					 * reads fail (store_mark_damaged) */
};

/*
 * One version as the caller sees it: a plain copy, owned by the caller,
 * valid forever. Data, user metadata and the symlink target are read with
 * the calls below.
 */
struct store_vinfo {
	uint64_t oid;
	uint64_t vseq;
	enum store_type type;
	unsigned flags;			/* enum store_vflags */
	char vid[STORE_VID_LEN + 1];	/* opaque, URL-safe, sortable */
	int64_t btime_ns;		/* creation time of this version */
	struct store_attr attr;
	uint64_t alloc_bytes;		/* disk bytes its chunks cover: holes
					 * count 0 (for st_blocks) */
	uint8_t sha256[32];		/* valid when STORE_V_HAS_SHA */
};

/*
 * The state of a key (a name in a folder). For a folder, head.attr's mtime
 * and ctime are those of its last entry change when that came after its
 * head version (a new entry makes no version of the folder).
 */
struct store_entry {
	uint64_t oid;
	enum store_type type;
	bool live;		/* head exists and is not a delete marker */
	bool pending;		/* no version yet (open, never closed) */
	uint64_t ino;		/* st_ino: unique among live keys, kept by
				 * renames and across opens */
	uint32_t nlink;		/* st_nlink: 1, or a folder's 2 + its live
				 * subfolders (1 when not recorded) */
	struct store_vinfo head;/* valid unless pending */
};

/* ------------------------------------------------------------------ */
/* Opening, closing */

/*
 * Open (and with STORE_CREATE, create) the store at opts->path. Takes an
 * exclusive lock on STORE/lock unless STORE_NOLOCK: a second open of a
 * store in use returns -EBUSY. On open, pending keys and orphan segments
 * left by a crash are removed (see store_fsck()). On failure *out is NULL
 * and a one-line reason has been logged, except for -EBUSY, which the
 * caller reports in its own words. Must be called after any fork().
 */
int store_open(const struct store_opts *opts, struct store **out);

/* Finish queued commits, sync, stop the threads, release the lock. NULL ok. */
void store_close(struct store *s);

/* Statistics for statfs(2), from the filesystem holding STORE. */
int store_statfs(struct store *s, struct statvfs *out);

/* ------------------------------------------------------------------ */
/* Namespace reads */

/*
 * Look up name in folder parent. Only live or pending keys are found
 * (-ENOENT otherwise). If both a file key "name" and a folder key "name/"
 * exist, the live one wins.
 */
int store_lookup(struct store *s, uint64_t parent, const char *name,
		 struct store_entry *out);

/* Like store_lookup(), but also finds keys whose head is a delete marker;
 * a live key wins over a dead one, a folder over a file among dead ones. */
int store_lookup_any(struct store *s, uint64_t parent, const char *name,
		     struct store_entry *out);

/* State of a key by oid; -ENOENT if the oid does not exist at all. */
int store_stat(struct store *s, uint64_t oid, struct store_entry *out);

/*
 * Called once per child, in name order. name is valid only during the
 * call. Return 0 to go on, 1 to stop early (store_readdir then returns 0),
 * or -errno to abort with that error.
 */
typedef int (*store_dirent_fn)(void *arg, const char *name,
			       const struct store_entry *e);

enum store_readdir_flags {
	STORE_RD_ALL = 1 << 0,	/* also keys whose head is a delete marker */
};

/*
 * List the children of folder dir in name order (bytewise), starting after
 * 'after' (NULL or "" = from the start). Cost is proportional to the
 * folder's own children, never to the subtrees below them.
 */
int store_readdir(struct store *s, uint64_t dir, const char *after,
		  unsigned flags, store_dirent_fn fn, void *arg);

/* True (1) if folder dir has a live or pending child, 0 if not, or -errno. */
int store_dir_has_children(struct store *s, uint64_t dir);

/*
 * The key path of oid ("docs/a.txt", "docs/" for a folder, "" for root),
 * in a malloc'ed string the caller frees. -ENOENT for an unknown oid.
 */
int store_key_path(struct store *s, uint64_t oid, char **out);

/* The folder key oid is in (0 for the root); -ENOENT for an unknown oid. */
int store_key_parent(struct store *s, uint64_t oid, uint64_t *parent);

/* Resolve a key path relative to the root, following only live folders. */
int store_resolve(struct store *s, const char *path, struct store_entry *out);

/* ------------------------------------------------------------------ */
/* Namespace mutations. All are one commit each, shared with any other
 * commits queued at the same time. */

/*
 * Create a pending file key parent/name (no version yet; the first seal
 * of a store_file on it makes version 1). -EEXIST if a live or pending key
 * of that name exists. attr gives mode/uid/gid/times; size is ignored.
 */
int store_create(struct store *s, uint64_t parent, const char *name,
		 const struct store_attr *attr, struct store_entry *out);

/* Make folder key parent/name/ with one zero-byte version. -EEXIST as above. */
int store_mkdir(struct store *s, uint64_t parent, const char *name,
		const struct store_attr *attr, struct store_entry *out);

/* Make a symlink key whose bytes are target. -EEXIST as above. */
int store_symlink(struct store *s, uint64_t parent, const char *name,
		  const char *target, const struct store_attr *attr,
		  struct store_entry *out);

/* Read a symlink's target into a malloc'ed NUL-terminated string. */
int store_readlink(struct store *s, uint64_t oid, uint64_t vseq, char **out);

/*
 * Put a delete marker on the file or symlink key parent/name (-EISDIR for a
 * folder, -ENOENT if not live). A pending key (never closed) is removed
 * without a trace instead. *oid_out (may be NULL) gets the key's oid.
 */
int store_unlink(struct store *s, uint64_t parent, const char *name,
		 uint64_t *oid_out);

/* Put a delete marker on folder key parent/name/; -ENOTEMPTY if it has a
 * live or pending child, -ENOTDIR if it is not a folder. */
int store_rmdir(struct store *s, uint64_t parent, const char *name,
		uint64_t *oid_out);

enum store_rename_flags {
	STORE_RENAME_NOREPLACE = 1 << 0,	/* as RENAME_NOREPLACE */
	STORE_RENAME_EXCHANGE = 1 << 1,		/* as RENAME_EXCHANGE */
};

/*
 * How a rename re-points whoever holds oids (the fs layer's inodes). Called
 * by the committer after the commit succeeded, before store_rename()
 * returns, once per pair, and must not call back into the store:
 *  - fn(old, new): the content that was key old is now key new (for a
 *    folder rename, once per key moved, parent before child);
 *  - fn(old, 0): key old was replaced by the rename (its name now holds
 *    other content): whoever held old holds an unlinked inode now. This
 *    comes before the fn(x, old) that moves content onto that key.
 * With RENAME_EXCHANGE, fn(a, b) and fn(b, a) both come: apply the whole
 * set of remaps of one rename as one step (look every holder up first).
 */
typedef void (*store_remap_fn)(void *arg, uint64_t old_oid, uint64_t new_oid);

/*
 * Rename parent/name to newparent/newname, in one transaction:
 *  - the new key gets a version sharing the old head's data (no copy) and
 *    metadata; the old key gets a delete marker;
 *  - a folder is renamed with every live key below it, likewise;
 *  - a key whose whole history is one version still inside its amend
 *    window (see store_setattr), or a pending key, moves without leaving a
 *    delete marker behind (rsync's temporary files vanish);
 *  - errors as rename(2): -ENOENT, -EEXIST (NOREPLACE), -ENOTEMPTY,
 *    -EISDIR, -ENOTDIR, -EINVAL (folder into itself).
 */
int store_rename(struct store *s, uint64_t parent, const char *name,
		 uint64_t newparent, const char *newname, unsigned flags,
		 store_remap_fn fn, void *arg);

/*
 * Change POSIX attributes of live key oid (mask: enum store_attr_mask).
 * No new data. If the head version was made less than amend_window_ms ago
 * and has not been exposed (its id read, or taken by replication), the
 * change amends the head in place: so cp -a / tar / rsync setting mode,
 * owner and times right after writing leave one version. Otherwise a new
 * version sharing the head's data is made. A pending key just records the
 * attributes for its first version. ctime is set to now unless given.
 */
int store_setattr(struct store *s, uint64_t oid, const struct store_attr *attr,
		  unsigned mask, struct store_entry *out);

/* ------------------------------------------------------------------ */
/* User metadata (xattrs other than user.crrfs.*), per version. */

/*
 * Read xattr name of version (oid, vseq) into buf (size bytes). Returns the
 * value's length; -ENODATA if absent; -ERANGE if size is too small but not
 * 0; with size 0, only the length. vseq 0 = the head.
 */
int store_getxattr(struct store *s, uint64_t oid, uint64_t vseq,
		   const char *name, void *buf, size_t size);

/* List names as listxattr(2) does (NUL-separated), same size rules. */
int store_listxattr(struct store *s, uint64_t oid, uint64_t vseq, char *buf,
		    size_t size);

enum store_xattr_flags {
	STORE_XATTR_CREATE = 1 << 0,	/* as XATTR_CREATE: -EEXIST if set */
	STORE_XATTR_REPLACE = 1 << 1,	/* as XATTR_REPLACE: -ENODATA if not */
};

/*
 * Set (value != NULL) or remove (value == NULL; -ENODATA if absent) one
 * xattr on live key oid; amends or makes a version as store_setattr does.
 * -E2BIG past STORE_XATTR_MAX or STORE_XATTRS_TOTAL_MAX.
 */
int store_setxattr(struct store *s, uint64_t oid, const char *name,
		   const void *value, size_t size, unsigned flags);

/* ------------------------------------------------------------------ */
/* History */

/*
 * Called once per version of a key, oldest first. Return 0 to go on, 1 to
 * stop, -errno to abort.
 */
typedef int (*store_version_fn)(void *arg, const struct store_vinfo *v);

int store_versions(struct store *s, uint64_t oid, store_version_fn fn,
		   void *arg);

/* One version by its vseq, in O(log n); -ENOENT if there is none. */
int store_version_get(struct store *s, uint64_t oid, uint64_t vseq,
		      struct store_vinfo *out);

/* One version by its id string; -ENOENT if the key has no such version. */
int store_version_by_id(struct store *s, uint64_t oid, const char *vid,
			struct store_vinfo *out);

/*
 * Mark a version as exposed (its id was shown to somebody), which ends
 * its amend window. Cheap when already exposed.
 */
int store_expose(struct store *s, uint64_t oid, uint64_t vseq);

/*
 * Remember that version (oid, vseq) is damaged: its bytes were found not
 * to match sha (read with -o verify, fsck --deep --repair, replication).
 * Sets STORE_V_DAMAGED on the record, only while it still has sha as its
 * sha256 (a reseal may have put other bytes under the same oid and vseq),
 * and logs one line the first time. From then on every working copy
 * opened on it fails reads, writes and truncates to a non-zero size with
 * -EIO, across remounts, until it is restored from a good version or a
 * replica, or purged; a truncate to 0 (O_TRUNC) starts fresh bytes.
 * Versions made from it with the same bytes (restore, rename, metadata
 * changes) keep the flag. Returns 0 (also when already marked or when the
 * sha no longer matches), -ENOENT, -EROFS, or -errno of the commit.
 */
int store_mark_damaged(struct store *s, uint64_t oid, uint64_t vseq,
		       const uint8_t sha[32]);

/*
 * SHA-256 of a version's bytes: computed on first use (reading the data,
 * outside any transaction) and then kept in the version record.
 */
int store_sha256(struct store *s, uint64_t oid, uint64_t vseq,
		 uint8_t out[32]);

/*
 * Make version vid of key oid current again: a new version with its bytes
 * (shared, not copied) and metadata. Works on a deleted key too: it
 * reappears, and so does every deleted folder above it (their delete
 * markers are removed, as by store_undelete), since a key can only be seen
 * through its folders. -EEXIST if a different key of the same name (of the
 * key or of such a folder) is live. -ENOENT for an unknown vid, -EINVAL
 * for a delete marker's vid.
 */
int store_restore(struct store *s, uint64_t oid, const char *vid,
		  struct store_entry *out);

/*
 * Version-specific delete (never replicated):
 *  - of a delete marker: removes it (the key reappears if it was on top);
 *  - of a data version: permanently deletes it and frees data no other
 *    version uses; -EPERM unless allow_purge (mount -o allow_purge).
 */
int store_delete_version(struct store *s, uint64_t oid, uint64_t vseq,
			 bool allow_purge);

/* Remove every delete marker above the newest data version, and bring
 * back deleted folders above the key as store_restore() does; -ENOENT when
 * the head is not a delete marker. */
int store_undelete(struct store *s, uint64_t oid);

/* ------------------------------------------------------------------ */
/* File data: a working copy of a key's content.
 *
 * A store_file starts as the content of one version (or empty) and takes
 * reads, writes and truncates; store_file_seal() turns its current content
 * into a new version. Chunks it writes go to a segment of its own; chunks it
 * does not touch stay shared with the version it came from.
 *
 * A store_file is safe to use from several threads at once (it has its own
 * lock). The segments it uses are pinned while it lives, so its data stays
 * readable even after the key is deleted or renamed.
 */

/*
 * Open a working copy of version (oid, vseq) (vseq 0 = head; a pending key
 * gives an empty file). Read-only views share one code path with writable
 * ones. *out is owned by the caller until store_file_free().
 */
int store_file_open(struct store *s, uint64_t oid, uint64_t vseq,
		    struct store_file **out);
void store_file_free(struct store_file *f);

/* pread/pwrite semantics: short reads at EOF, holes read as zeros. */
ssize_t store_file_read(struct store_file *f, void *buf, size_t size,
			uint64_t off);
ssize_t store_file_write(struct store_file *f, const void *buf, size_t size,
			 uint64_t off);
int store_file_truncate(struct store_file *f, uint64_t size);
uint64_t store_file_size(struct store_file *f);

/*
 * SHA-256 of f's bytes, from 0 to its end, into out: 0, or the first
 * read's error (-EIO for damaged data, see design-store.md), or -ENOMEM.
 * f stays the caller's.
 */
int store_file_sha256(struct store_file *f, uint8_t out[32]);

/* True if written or truncated since it was opened or last sealed. */
bool store_file_dirty(struct store_file *f);

/* Bytes of disk used by its data, for st_blocks (512-byte units). */
uint64_t store_file_blocks(struct store_file *f);

enum store_seal_flags {
	STORE_DURABLE = 1 << 0,	/* fsync: data and index on disk on return */
	STORE_DRAFT = 1 << 1,	/* fsync of a file still open: record the
				 * content as the key's draft, not as a
				 * version (no hook runs). A later seal
				 * replaces the draft with a version; after a
				 * crash, store_open() turns a draft into a
				 * version, so fsync'ed bytes are never lost
				 * and fsync never makes version bloat. */
};

/*
 * Without STORE_DRAFT: make the current content a new version of key oid, with attributes attr
 * (size is taken from the file; mtime/ctime as given) and the user metadata
 * of the key's head. If the key is no longer live or pending (it was
 * deleted or replaced while open) nothing is made and -ENOENT is returned;
 * the working copy stays usable. With nothing dirty and STORE_DURABLE, only
 * syncs. out (may be NULL) gets the new head.
 */
int store_file_seal(struct store_file *f, uint64_t oid,
		    const struct store_attr *attr, unsigned flags,
		    struct store_entry *out);

/*
 * store_file_seal() (without flags) for a later close of the same open
 * file, whose earlier close made version vseq: while that version is still
 * the head, made by a seal and its id never exposed (store_expose), the
 * content replaces it in place (same id and creation time, digest
 * dropped, no hook: replication reads the record when it ships).
 * Otherwise a new version. So a file written through dup'd or inherited
 * descriptors ends as one version, and a version anyone saw never changes.
 */
int store_file_reseal(struct store_file *f, uint64_t oid, uint64_t vseq,
		      const struct store_attr *attr, struct store_entry *out);

/* ------------------------------------------------------------------ */
/* Commit hooks: how replication puts its queue in the same transaction. */

struct store_txn;	/* the write transaction a hook runs in */

/* One user xattr of a version: user metadata, or a tag (stored under its
 * xattr name "user.crrfs.tag.NAME"). */
struct store_xattr {
	const char *name;
	const void *value;
	size_t size;
};

/*
 * Every user xattr of version (oid, vseq) (vseq 0 = the head), in name
 * order. *out is one malloc'ed block holding the array and the strings
 * and values it points at; the caller frees it with free(). *n may be 0
 * (then *out may be NULL).
 */
int store_xattrs_get(struct store *s, uint64_t oid, uint64_t vseq,
		     struct store_xattr **out, size_t *n);

struct store_event {
	uint64_t oid;
	const char *key;		/* key path; valid during the call */
	const struct store_vinfo *v;	/* the new version or delete marker */
	const struct store_xattr *xattrs; /* its user xattrs (tags too);
					 * valid during the call */
	size_t nxattrs;
};

/*
 * Called inside the write transaction for every new version and delete
 * marker (never for version-specific deletes, never for amends). A
 * non-zero return fails that one mutation (its subtransaction is rolled
 * back and the caller gets the error). Must not block.
 */
typedef int (*store_hook_fn)(void *arg, struct store_txn *t,
			     const struct store_event *ev);

void store_set_hook(struct store *s, store_hook_fn fn, void *arg);

/*
 * A small generic table in the same LMDB environment, for hooks and the
 * replication queue: put/get/del by opaque key (at most 400 bytes).
 * store_q_get's *val is malloc'ed, owned by the caller.
 */
int store_q_put(struct store_txn *t, const void *key, size_t klen,
		const void *val, size_t vlen);
int store_q_del(struct store_txn *t, const void *key, size_t klen);
int store_q_get(struct store *s, const void *key, size_t klen, void **val,
		size_t *vlen);
int store_q_count(struct store *s, uint64_t *out);

/* store_q_get inside a write transaction (sees what it wrote). */
int store_q_tget(struct store_txn *t, const void *key, size_t klen,
		 void **val, size_t *vlen);

/*
 * Called per queue entry, in ascending bytewise key order; key and val
 * are valid during the call only. Return 0 to go on, 1 to stop (the scan
 * returns 0), -errno to abort with it.
 */
typedef int (*store_q_fn)(void *arg, const void *key, size_t klen,
			  const void *val, size_t vlen);

/*
 * Visit the entries whose key starts with prefix (plen 0: all), from the
 * first key >= from (flen 0: from the prefix's start). store_q_scan runs
 * in a read transaction of its own (keep fn short: no I/O, no store
 * calls); store_q_tscan inside a write transaction.
 */
int store_q_scan(struct store *s, const void *prefix, size_t plen,
		 const void *from, size_t flen, store_q_fn fn, void *arg);
int store_q_tscan(struct store_txn *t, const void *prefix, size_t plen,
		  const void *from, size_t flen, store_q_fn fn, void *arg);

/*
 * Run fn inside one write transaction handed to the committer (shared
 * with other commits, as every mutation is), for queue updates made
 * outside a hook: fn may call store_q_put/del/tget/tscan on t. A non-zero
 * return of fn rolls its changes back and is returned. Committed to the
 * OS (kill -9 safe) on return.
 */
typedef int (*store_txn_fn)(void *arg, struct store_txn *t);
int store_q_update(struct store *s, store_txn_fn fn, void *arg);

/*
 * fn(arg) is called by the committer after each commit in which a hook
 * ran or a store_q_update succeeded (outside any transaction, once per
 * commit, just after that commit's callers were woken), so a hook's
 * reader can be woken when what the hook wrote is visible. It must not
 * block nor call the store. Once store_set_post_commit(s, NULL, NULL)
 * and then any commit (e.g. store_q_update) have returned, fn is not
 * running and will not be called again.
 */
void store_set_post_commit(struct store *s, void (*fn)(void *arg),
			   void *arg);

/* Make everything committed so far survive power loss. 0 or -errno. */
int store_sync(struct store *s);

/*
 * Called for every version of every key that has history (live or
 * deleted; not pending keys), keys in oid order, versions oldest first.
 * key is valid during the call. Runs in short read transactions (a
 * batch of keys each), so it may see a store that changes under it but
 * never a torn version. Return 0 / 1 (stop) / -errno as above.
 */
typedef int (*store_walk_fn)(void *arg, const char *key,
			     const struct store_vinfo *v);
int store_walk(struct store *s, store_walk_fn fn, void *arg);

/* ------------------------------------------------------------------ */
/* Replicas: versions that arrive by replication (dir destinations). */

/*
 * One version made elsewhere. Everything is the caller's and is read
 * during store_put_replica() only.
 */
struct store_replica {
	const char *key;		/* full key: "a/b", "a/" for a folder */
	enum store_type type;
	bool delete_marker;
	char vid[STORE_VID_LEN + 1];	/* the source's id, kept as it is */
	int64_t btime_ns;		/* the source's creation time */
	struct store_attr attr;		/* attr.size = bytes of data */
	const struct store_xattr *xattrs;
	size_t nxattrs;
	const char *target;		/* symlink target (type SYMLINK) */
	int data_fd;			/* file: attr.size bytes of data ... */
	uint64_t data_off;		/* ... read from data_fd at this offset */
	const uint8_t *sha256;		/* NULL, or the bytes' digest: then it
					 * is checked while copying (-EBADMSG
					 * on a mismatch) and stored */
};

/*
 * Add r as the newest version of key r->key, flagged STORE_V_REPLICA and
 * exposed (never amended). Folders above the key that do not exist are
 * made (with a REPLICA version of their own). Idempotent: when the key
 * already has a version with id r->vid, nothing is done and 0 returned.
 * The hook runs as for any version (a replication hook skips REPLICA
 * versions, so replicas are never shipped again). A file's digest is
 * computed while copying and stored (STORE_V_HAS_SHA) even when r->sha256
 * is NULL. A live key of the other kind of the same name ("x" beside
 * "x/") does not refuse the replica: both stay live and lookups show the
 * folder. Errors: -EINVAL for a malformed key (empty, ".", ".." or over
 * 255-byte components; type DIR exactly when it ends in '/'), vid
 * (vid_valid) or symlink target, -E2BIG for xattrs past the limits above,
 * -EBADMSG for a digest mismatch, -EIO when data_fd holds fewer than
 * attr.size bytes or on I/O errors, -ENOSPC, -EROFS.
 */
int store_put_replica(struct store *s, const struct store_replica *r);

/* ------------------------------------------------------------------ */
/* Checking */

struct store_fsck_report {
	uint64_t keys, versions, delete_markers, segments;
	uint64_t bytes_stored;		/* disk bytes of all segments */
	uint64_t missing_data;		/* versions whose data is missing */
	uint64_t bad_refcounts;		/* segments whose count was wrong */
	uint64_t orphan_segments;	/* segment files no version uses */
	uint64_t orphan_bytes;
	uint64_t pending_keys;		/* keys with no version (crash) */
	uint64_t index_errors;		/* dangling entries in the index */
	uint64_t short_data;		/* versions whose segment is cut short */
	/* STORE_FSCK_DEEP only: */
	uint64_t bad_data;		/* bytes differ from sha256, unreadable */
	uint64_t verified;		/* read in full, sha256 matched */
	uint64_t unverified;		/* read in full, no sha256 recorded */
	uint64_t marked;		/* REPAIR: bad_data newly marked
					 * STORE_V_DAMAGED */
	uint64_t unmarked;		/* no REPAIR: bad_data REPAIR would
					 * mark */
};

enum store_fsck_flags {
	STORE_FSCK_REPAIR = 1 << 0,	/* collect orphans, fix counts; with
					 * DEEP mark damaged versions */
	STORE_FSCK_DEEP = 1 << 1,	/* read every version's bytes */
};

/*
 * Check that every index entry points at data that exists and is as long
 * as the versions using it need, that segment reference counts are right,
 * and find orphans. With STORE_FSCK_DEEP, also read every version and
 * compare its bytes with its recorded sha256 (versions without one are
 * read in full and counted as unverified). Each problem found is also
 * reported through the log with its subject. Missing, short or damaged
 * data is never repaired; with both flags, a version whose bytes do not
 * match is marked (store_mark_damaged) so reads of it fail. Returns 0 when the store is clean (after
 * repair, when repairing), 1 when problems remain, or -errno.
 */
int store_fsck(struct store *s, unsigned flags, struct store_fsck_report *r);

#endif
