/*
 * inode.h - the node table: what a FUSE inode number stands for.
 *
 * A FUSE ino is the address of a struct node (as libfuse's passthrough_ll
 * does), so every request finds its node without a lookup; the root is
 * the table's embedded node and FUSE_ROOT_ID. A hash keyed by (kind, oid,
 * vseq) makes two lookups of the same key return the same node, which is
 * what lets all handles of one file share one working copy.
 *
 * A node is one of:
 *  - NODE_LIVE:   a key of the live tree (oid re-pointed by renames);
 *  - NODE_VDIR:   .versions/<folder>/ (oid of the folder key; root = 1);
 *  - NODE_VKEY:   .versions/<file key>/ (oid of the key);
 *  - NODE_VENTRY: one version of a key (oid, vseq).
 * Virtual nodes never change key: history does not move on rename.
 *
 * Locks. The table lock protects the hash, every nlookup and the
 * 'hashed' flag, and serialises writers of 'oid' (readers may read it
 * without a lock: it is atomic). Each node's mutex protects the fields
 * marked [node]. Order: table lock before node lock, never the other way;
 * no node lock is held while taking the table lock. Store calls may be
 * made under a node lock (the store never calls back into the fs, except
 * the rename remap, which runs while the renaming thread holds the table
 * lock on its behalf; see ops_entry.c).
 */
#ifndef CRRFS_FS_INODE_H
#define CRRFS_FS_INODE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

enum node_kind {
	NODE_LIVE = 0,
	NODE_VDIR = 1,
	NODE_VKEY = 2,
	NODE_VENTRY = 3,
};

struct node {
	/* Set at creation, never changed. */
	enum node_kind kind;
	uint64_t vseq;			/* NODE_VENTRY only */

	/* Written under the table lock; read anywhere. 0 once detached. */
	_Atomic uint64_t oid;
	/* True once unlinked or replaced: its content has no key. */
	atomic_bool unlinked;

	/* [table] */
	uint64_t nlookup;
	bool hashed;
	struct node *next;

	/* An enum store_type. Atomic, not [node]: a name's key can change
	 * type (a file deleted, a symlink made under the same name continues
	 * its history), while handlers check the type without the lock
	 * before choosing a path. Read it with node_type(). */
	atomic_int type;

	pthread_mutex_t lock;
	/* [node] */
	bool pending;			/* key has no version yet */
	struct store_attr base;		/* last known attributes of the head */
	uint64_t ino;			/* last known st_ino (0 = the oid) */
	uint32_t nlink;			/* last known st_nlink (0 = 1) */
	uint64_t alloc_bytes;		/* of the head */
	struct store_vinfo vinfo;	/* NODE_VENTRY: the version */
	unsigned nopen;			/* open handles */
	unsigned nwriters;		/* of which opened for writing */
	struct store_file *wc;		/* shared working copy, or NULL; lives
					 * while nopen > 0 (readers use it
					 * without the lock) */
	struct store_file **retired;	/* replaced wcs readers may still use;
					 * freed with wc */
	size_t nretired;
	bool dirty;			/* wc holds bytes not yet in a version */
	bool trunc_only;		/* ... and only from an O_TRUNC open:
					 * a flush waits (see ops_file.c) */
	bool orphan_dirty;		/* ... by a truncate with no handle:
					 * any writer's close seals it */
	uint64_t cycle;			/* counts seals; a handle that changed
					 * the wc in this cycle may seal it */
	struct store_attr pattr;	/* attributes waiting for the next seal */
	unsigned pmask;			/* enum store_attr_mask of pattr */
	uint64_t gen;			/* content generation */
	uint64_t kgen;			/* generation the kernel has cached */
};

struct node_table {
	pthread_mutex_t lock;
	struct node **buckets;
	size_t nbuckets;
	size_t count;
	struct node root;		/* FUSE_ROOT_ID, live oid 1 */
};

int node_table_init(struct node_table *t);
void node_table_release(struct node_table *t);

/* Translate between FUSE inode numbers and nodes. */
struct node *node_of(struct node_table *t, uint64_t ino);
uint64_t node_ino(struct node_table *t, struct node *n);

/*
 * Find or create the node for (kind, oid, vseq) and count one kernel
 * lookup on it. A new node starts with type 'type'. NULL on ENOMEM.
 */
struct node *node_get(struct node_table *t, enum node_kind kind, uint64_t oid,
		      uint64_t vseq, enum store_type type);

/* Find a hashed live node by oid without counting a lookup; the result
 * is only valid while the caller holds the table lock. */
struct node *node_find_locked(struct node_table *t, enum node_kind kind,
			      uint64_t oid, uint64_t vseq);

/* The kernel forgot n nlookups; frees the node at zero. */
void node_forget(struct node_table *t, struct node *n, uint64_t count);

/* Mark the live node holding oid (if any) unlinked and unhash it. */
void node_detach(struct node_table *t, uint64_t oid);
void node_detach_locked(struct node_table *t, struct node *n);

/* Free the wc and retired ones (no handle open); node lock held. */
void node_drop_wc_locked(struct node *n);

/* Re-point a hashed node to another oid; table lock held. */
void node_rekey_locked(struct node_table *t, struct node *n, uint64_t oid);

static inline uint64_t node_oid(struct node *n)
{
	return atomic_load(&n->oid);
}

static inline enum store_type node_type(struct node *n)
{
	return (enum store_type)atomic_load(&n->type);
}

#endif
