/*
 * store_int.h - what the files of src/store/ share and nobody else sees:
 * the struct store, the record layouts, the commit op, the helpers.
 *
 * Design: the index is one LMDB environment with seven named databases
 * (dirents, objects, versions, segments, meta, queue, drafts; see
 * docs/design-store.md). Records are decoded into "views" whose pointers
 * point into LMDB memory, so a reader copies only what it returns; views
 * are valid until the transaction ends or the same DB is written.
 *
 * Lock order: qlock (commit queue) before seglock (pins); a store_file's
 * own lock may be held while taking either, never the other way round.
 */
#ifndef CRRFS_STORE_INT_H
#define CRRFS_STORE_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

#include "store/store.h"

/* objects record flags */
enum obj_flags {
	OBJ_DEAD = 1 << 0,	/* head is a delete marker */
	OBJ_DRAFT = 1 << 1,	/* a record at vseq 0 holds a draft */
	OBJ_PENDING = 1 << 2,	/* a dead key made again by create(): pending
				 * its first new version (head 0 is the
				 * other, history-less, kind of pending) */
};

/* Internal version flags live above the public enum store_vflags. */
enum vrec_flags {
	V_PUBLIC_MASK = 0xff,
	V_EXPOSED = 1 << 8,	/* id was shown: no more amends */
	V_DRAFT = 1 << 9,	/* vseq 0 record with fsync'ed content */
};

/* Flags a version made of the same bytes as another keeps from it. */
#define V_SAME_BYTES (STORE_V_HAS_SHA | STORE_V_DAMAGED)

/* Dirent key kinds: the byte after the name's NUL terminator. */
enum { KIND_FILE = 0, KIND_DIR = 1 };

/*
 * A key's record. Beside the name it holds what belongs to the key, not to
 * a version: the inode number st_ino shows (a rename carries it to the new
 * key, so a file keeps its number as on a local disk) and, for a folder,
 * when its entries last changed and how many of them are live folders
 * (st_nlink). obj_put() keeps those folder fields: only dir_changed() and
 * dir_times_set() write them, so a stale copy never undoes a count.
 */
struct obj {
	uint64_t parent;
	uint8_t type;		/* enum store_type */
	uint8_t flags;		/* enum obj_flags */
	uint64_t head;		/* vseq of the newest version, 0 = pending */
	uint16_t namelen;
	char name[STORE_NAME_MAX + 1];
	uint64_t ino;		/* st_ino; 0 = the oid */
	bool ino_given;		/* in memory only: a rename set ino, so a
				 * dead key it revives keeps it */
	bool dir_known;		/* folder fields below are recorded (keys
				 * written before them have none) */
	int64_t dmtime_ns;	/* folder: entries last changed, 0 = the
				 * head's mtime */
	int64_t dctime_ns;	/* likewise for ctime */
	uint64_t nsubdirs;	/* folder: live folder children */
};

static inline uint64_t obj_ino(const struct obj *o, uint64_t oid)
{
	return o->ino ? o->ino : oid;
}

/*
 * Chunks first .. first+count-1 of a version, in segment seg: chunk c sits
 * at byte base + (c - first) * STORE_CHUNK. An ordinary segment is laid out
 * like the file (base = first * STORE_CHUNK); a small file packed into a
 * shared pack segment has one run at whatever offset it got there.
 */
struct run {
	uint64_t first, count, seg, base;
};

#define RUN_BYTES 32

/*
 * Files up to PACK_MAX bytes are kept in memory while written and go into
 * a shared pack segment when sealed: one ext4 inode per small file cost
 * more than everything else a small file costs. A pack is closed at
 * PACK_SEG_MAX bytes.
 */
#define PACK_MAX ((uint64_t)64 * 1024)
#define PACK_SEG_MAX ((uint64_t)64 * 1024 * 1024)

/* Commits between two syncs at most (see commit.c): each commit of a few
 * pages makes the index grow while a synced snapshot is pinned. */
#define SNAP_COMMITS 1024

/* A version record (also the vseq 0 pending/draft record). */
struct vrec {
	uint32_t flags;		/* store_vflags | vrec_flags */
	char vid[STORE_VID_LEN + 1];
	int64_t btime_ns;
	int64_t deadline_ns;	/* amend window end */
	struct store_attr attr;
	uint8_t sha256[32];
	uint32_t nruns;
	const uint8_t *runs;	/* nruns * RUN_BYTES, see run_at() */
	uint32_t xlen;
	const uint8_t *xattrs;	/* packed: u8 nlen, u32 vlen, name, value */
	uint32_t tlen;
	const char *target;	/* symlink target, not NUL-terminated */
};

/* Pending: no version yet on top (its vseq 0 record holds the attrs). */
static inline bool obj_pending(const struct obj *o)
{
	return o->head == 0 || (o->flags & OBJ_PENDING);
}

/* Live or pending: visible in the tree. */
static inline bool obj_alive(const struct obj *o)
{
	return obj_pending(o) || !(o->flags & OBJ_DEAD);
}

/* The record that describes the key now: vseq 0 while pending. */
static inline uint64_t obj_cur(const struct obj *o)
{
	return obj_pending(o) ? 0 : o->head;
}

/* codec.c */
#define OBJ_ENCODED_MAX (64 + STORE_NAME_MAX)
size_t obj_encoded_size(const struct obj *o);
void obj_encode(const struct obj *o, uint8_t *out);
int obj_decode(const void *buf, size_t len, struct obj *o);
size_t vrec_encoded_size(const struct vrec *v);
void vrec_encode(const struct vrec *v, uint8_t *out);
int vrec_decode(const void *buf, size_t len, struct vrec *v);
void run_at(const struct vrec *v, uint32_t i, struct run *r);
void run_put(uint8_t *raw, uint32_t i, const struct run *r);
uint64_t vrec_alloc_bytes(const struct vrec *v);
/* xattr blob helpers; *off walks entries; returns 1 per entry, 0 at end */
int xattr_next(const uint8_t *x, uint32_t xlen, uint32_t *off,
	       const char **name, uint8_t *nlen, const uint8_t **val,
	       uint32_t *vlen);

/* A copy whose variable parts live in one malloc'ed buffer (*buf):
 * needed before a record read from LMDB is written back elsewhere. */
int vrec_clone(const struct vrec *src, struct vrec *dst, void **buf);

/* Big-endian 8-byte keys. */
void be64_put(uint8_t *p, uint64_t v);
uint64_t be64_get(const uint8_t *p);
/* Unaligned fields in host byte order, as LMDB writes its file. */
uint16_t host16_get(const uint8_t *p);
uint32_t host32_get(const uint8_t *p);
uint64_t host64_get(const uint8_t *p);

/* A pinned segment (in memory only). */
struct pin {
	uint64_t seg;
	unsigned count;
	bool doomed;		/* LMDB count hit 0: delete at last unpin */
	struct pin *next;
};
#define PIN_BUCKETS 1024

struct store_op;

struct store {
	char *path;
	unsigned flags;
	unsigned amend_ms, sync_ms;
	int lock_fd;
	MDB_env *env;
	MDB_dbi dirents, objects, versions, segments, meta, queue, drafts;
	uint32_t tag;

	/* Owned by the committer thread (and store_open before it runs). */
	uint64_t next_oid, next_vseq, last_ms;

	/* qlock protects the fields down to hook_arg. */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;	/* committer waits for work / stop */
	pthread_cond_t qdone;	/* callers wait for their op */
	pthread_cond_t fcond;	/* flusher waits for its tick / stop */
	struct store_op *qhead, *qtail;
	bool stop, started;
	bool unsynced;		/* committed since the last env sync */
	bool sync_wanted;	/* flusher -> committer: sync now */
	unsigned commits_unsynced;	/* since the last sync */
	store_hook_fn hook;
	void *hook_arg;
	void (*post_fn)(void *arg);	/* store_set_post_commit */
	void *post_arg;
	struct store_event_rec *recovered; /* drafts made versions at open,
					    * shown to the first hook */
	size_t nrecovered;

	pthread_t committer, flusher;
	atomic_uint_fast64_t commits, ops_done;
	atomic_uint_fast64_t next_seg;
	/* Segments from this id on are extended by their seal to all their
	 * versions use, so one that ends early was cut short (file.c); an
	 * older crrfs left some short after a truncate up, where reads give
	 * zeros. UINT64_MAX until store_recover() knows next_seg, for a
	 * store that predates it. Set at open, then read-only. */
	uint64_t short_seg_from;
	/* Key whose damaged data was logged last (verify.c): a file read
	 * again and again is one log line, not one per open. */
	atomic_uint_fast64_t damage_logged;
	struct verifier *verifier;	/* verify.c: its hasher, or NULL */

	/* seglock protects pins. */
	pthread_mutex_t seglock;
	struct pin *pins[PIN_BUCKETS];

	/* packlock protects the pack being filled (a leaf lock but for
	 * seglock, taken inside it). The store pins that pack. */
	pthread_mutex_t packlock;
	uint64_t pack_seg;	/* 0 = none yet */
	int pack_fd;
	uint64_t pack_off;	/* where the next small file goes */

	/* The synced snapshot (snapshot.c), used by the thread that
	 * commits only: the committer, or store_close after it stopped. */
	const char *boot_id;	/* opts->boot_id, or NULL: the kernel's */
	int snap_fd;		/* STORE/index/synced-meta */
	int snap_slot;
	struct snap_rec *snap_buf;
	MDB_txn *snap_txn;	/* read txn pinning the synced snapshot */
};

struct store_event_rec {
	uint64_t oid, vseq;
};

/* What an op leaves for after its commit. */
struct post {
	uint64_t (*remaps)[2];
	size_t nremaps, capremaps;
	uint64_t *freed;	/* segments whose count hit 0 */
	size_t nfreed, capfreed;
	bool hooked;		/* a hook ran (or the queue table changed):
				 * post_fn is called after the commit */
};

struct store_txn {
	struct store *s;
	MDB_txn *txn;
	struct post *post;
};

typedef int (*store_apply_fn)(struct store_txn *t, void *arg);

/* commit.c */
enum commit_flags { COMMIT_DURABLE = 1 << 0 };
int store_commit(struct store *s, store_apply_fn fn, void *arg,
		 unsigned flags, store_remap_fn remap, void *remap_arg);
int store_commit_start(struct store *s);
void store_commit_stop(struct store *s);
int post_remap(struct store_txn *t, uint64_t old_oid, uint64_t new_oid);
int post_freed(struct store_txn *t, uint64_t seg);
/* Test-only statistics: LMDB write commits and ops applied so far. */
void store_stats(struct store *s, uint64_t *commits, uint64_t *ops);

/* store.c: helpers for every file */
int store_err(int mdb_rc);
int store_rtxn(struct store *s, MDB_txn **txn);
int64_t store_now_ns(void);
int db_get(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kl, MDB_val *v);
int db_put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kl,
	   const void *v, size_t vl);
int db_del(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kl);
int obj_get(struct store *s, MDB_txn *txn, uint64_t oid, struct obj *o);
/*
 * Write o. A key that becomes live or stops being live is an entry added
 * to or removed from its folder (dir_changed); a dead key that becomes
 * live again gets a fresh inode number unless o->ino_given (its old one
 * may have gone with a rename). o->ino is updated.
 */
int obj_put(struct store *s, MDB_txn *txn, uint64_t oid, struct obj *o);
/* Folder dir gained or lost an entry (now, in its times); subdirs is the
 * change of its live folder children. Called after the child's record. */
int dir_changed(struct store *s, MDB_txn *txn, uint64_t dir, int subdirs);
/* Set folder dir's entry times (0 = the head's). */
int dir_times_set(struct store *s, MDB_txn *txn, uint64_t dir,
		  int64_t mtime_ns, int64_t ctime_ns);
int vrec_get(struct store *s, MDB_txn *txn, uint64_t oid, uint64_t vseq,
	     struct vrec *v);
int vrec_put(struct store *s, MDB_txn *txn, uint64_t oid, uint64_t vseq,
	     const struct vrec *v);
int vrec_del(struct store *s, MDB_txn *txn, uint64_t oid, uint64_t vseq);
void vinfo_fill(uint64_t oid, uint64_t vseq, uint8_t type,
		const struct vrec *v, struct store_vinfo *out);
int entry_fill(struct store *s, MDB_txn *txn, uint64_t oid,
	       const struct obj *o, struct store_entry *e);
int key_path_txn(struct store *s, MDB_txn *txn, uint64_t oid, char **out);

/* ns.c */
size_t dirent_key(uint8_t *k, uint64_t parent, const char *name,
		  size_t namelen, int kind);
int dirent_get(struct store *s, MDB_txn *txn, uint64_t parent,
	       const char *name, int kind, uint64_t *oid);
int name_check(const char *name);
int lookup_txn(struct store *s, MDB_txn *txn, uint64_t parent,
	       const char *name, bool any, uint64_t *oid, struct obj *o);
int key_new(struct store_txn *t, uint64_t parent, const char *name,
	    uint8_t type, uint64_t *oid, struct obj *o);
int key_remove(struct store_txn *t, uint64_t oid, const struct obj *o);
int version_add(struct store_txn *t, uint64_t oid, struct obj *o,
		struct vrec *v, bool hook);
/* version_add with v's id, times and flags as they are, at vseq. */
int version_link(struct store_txn *t, uint64_t oid, struct obj *o,
		 uint64_t vseq, const struct vrec *v, bool hook);
int pending_put(struct store_txn *t, uint64_t oid, struct obj *o,
		const struct vrec *v, bool pending);
int pending_end(struct store_txn *t, uint64_t oid, struct obj *o);
int parent_check(struct store *s, MDB_txn *txn, uint64_t parent);
/*
 * Live or pending children of folder dir (folders only if dirs_only)
 * into *n, counting no further than most (0: all): 0 or -errno, -EIO for
 * a damaged dirent.
 */
int dir_children_count(struct store *s, MDB_txn *txn, uint64_t dir,
		       bool dirs_only, uint64_t most, uint64_t *n);
/* 1 if folder dir has a live or pending child, 0 if not, or -errno. */
int dir_has_children_txn(struct store *s, MDB_txn *txn, uint64_t dir);
int draft_drop(struct store_txn *t, uint64_t oid, struct obj *o);
void vid_next(struct store_txn *t, uint64_t *vseq, struct vrec *v);
int delete_marker_add(struct store_txn *t, uint64_t oid, struct obj *o);
int conflict_check(struct store_txn *t, uint64_t oid, const struct obj *o);

/* segment.c */
int refs_adjust(struct store_txn *t, const struct vrec *v, int delta);
void seg_path(const struct store *s, uint64_t seg, char *buf, size_t size);
#define SEG_PATH_MAX 4096
int seg_create(struct store *s, uint64_t *seg, int *fd);
int seg_open(struct store *s, uint64_t seg, int *fd);
void seg_pin(struct store *s, uint64_t seg);
void seg_unpin(struct store *s, uint64_t seg, bool unused);
bool seg_pinned(struct store *s, uint64_t seg);
void seg_release(struct store *s, uint64_t seg);
int seg_scan(struct store *s, int (*fn)(void *arg, uint64_t seg,
					 const char *path), void *arg);
void seg_cleanup(struct store *s);

/* snapshot.c: power-loss safety of an MDB_NOSYNC index */
struct snap_rec;
int snap_boot_id(const struct store *s, char out[40]);
int snap_open(struct store *s);
void snap_close(struct store *s);
/* Before mdb_env_open: after a reboot, roll back to the synced snapshot. */
int snap_recover(const struct store *s);
/* Make everything committed durable and remember it (no write txn open). */
int snap_sync(struct store *s);
/*
 * Append len bytes (len <= PACK_MAX) to the current pack segment, at a
 * 4 KiB aligned offset; *seg and *off say where. The pack is pinned once
 * more for the caller, who unpins it (seg_unpin(s, seg, false)) when done.
 */
int seg_pack_append(struct store *s, const void *buf, size_t len,
		    uint64_t *seg, uint64_t *off);
/* Stop filling the current pack (store_close); drops it if unused. */
void seg_pack_close(struct store *s);

/* attr.c: a version's xattr blob as store_xattrs_get() gives it */
int xattrs_unpack(const struct vrec *v, struct store_xattr **out, size_t *n);

/* seal.c: content sealed by someone else's apply (replica.c) */
struct file_content {
	uint64_t size;
	uint8_t *runs;		/* valid while the apply runs */
	uint32_t nruns;
	bool used;		/* the apply set it: a record counts the runs */
};
/* An empty working copy of no key. */
int file_blank(struct store *s, struct store_file **out);
/* Seal f through fn(arg) (one commit), which reads *c and sets c->used. */
int file_seal_with(struct store_file *f, store_apply_fn fn, void *arg,
		   struct file_content *c);

/* history.c: hooks */
int hook_run(struct store_txn *t, uint64_t oid, uint64_t vseq,
	     uint8_t type, const struct vrec *v);
/* vseq (and, if out, the vinfo) of version vid of oid; -ENOENT if none. */
int vid_lookup(struct store *s, MDB_txn *txn, uint64_t oid, uint8_t type,
	       const char *vid, uint64_t *vseq, struct store_vinfo *out);

/* format.c: STORE/format, and refusing an index that cannot be trusted
 * (each logs why; -EUCLEAN when the store is damaged) */
struct store_format {
	bool has_tag;		/* an "index <tag>" line was there */
	uint32_t tag;
};
int store_format_read(const struct store *s, struct store_format *f);
/* The format file naming s->tag, atomically; not logged. */
int store_format_write(const struct store *s);
/* -EUCLEAN (logged, with the number of data segments) always. */
int store_index_refuse_new(struct store *s);
/* Before mdb_env_open of a store that has a format file. */
int store_index_present(struct store *s);
/* After the meta is loaded: the index is the one the format file names. */
int store_index_tag_check(const struct store *s,
			  const struct store_format *f);

/* index_check.c: before mdb_env_open, a truncated index is refused
 * (-EUCLEAN, logged) rather than left to fault when LMDB maps it. */
int store_index_check(const struct store *s);
/*
 * Are the pages the index file fd reaches all in its first size bytes?
 * 0 yes, 1 no (*need: bytes it needs at least), -errno. With pages NULL,
 * a file as long as its last page is taken as whole; otherwise the trees
 * are always walked and *pages says how many pages they use (tests).
 */
int store_index_walk(int fd, uint64_t size, uint64_t *need,
		     uint64_t *pages);
/*
 * LMDB 0.9's meta page (data version 1, 64-bit), as both index_check.c
 * and snapshot.c read it from the file before LMDB opens it: offsets from
 * the start of page 0 or 1 (a 16-byte page header, then magic, version,
 * address, map size, the free and main DB records, last page, txnid).
 */
#define META_MAGIC 0xBEEFC0DEu
#define META_OFF_MAGIC 16
#define META_OFF_VERSION 20
#define META_OFF_FREE_DB 40
#define META_OFF_PSIZE 40	/* md_pad of the free DB holds the page size */
#define META_OFF_MAIN_DB 88
#define META_OFF_LAST_PG 136
#define META_OFF_TXNID 144
/* page's txnid if it is a meta page LMDB would accept: 0, or -EINVAL. */
int index_meta_txnid(const uint8_t *page, uint64_t *txnid);
/* The page size a meta page names, 0 if no LMDB could have written it. */
uint32_t index_meta_psize(const uint8_t *page);

/* fsck.c: recovery at open (no committer yet) */
int store_recover(struct store *s);

/* verify.c: stop the hasher (store_close, after every working copy). */
void verify_shutdown(struct store *s);

/* fsck_data.c: is version data there and whole? */
/* 0, -ENOENT (segment missing) or -EIO (shorter than v's runs in it);
 * a problem is logged, naming key, version and segment. */
int fsck_seg_check(struct store *s, MDB_txn *txn, uint64_t oid,
		   const struct vrec *v, uint64_t seg);
/* Read each version ids[2i], ids[2i+1] (oid, vseq) in full; no txn open.
 * repair: mark those whose bytes do not match (store_mark_damaged). */
int fsck_deep(struct store *s, const uint64_t *ids, size_t n, bool repair,
	      struct store_fsck_report *r);

#endif
