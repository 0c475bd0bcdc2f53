/*
 * inode.c - the node table (see inode.h): a chained hash that doubles
 * when full, so a find stays O(1) with a million cached inodes.
 */
#include "fs/inode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

#define FUSE_ROOT_INO 1

static size_t node_hash(enum node_kind kind, uint64_t oid, uint64_t vseq,
			size_t nbuckets)
{
	uint64_t h = oid * 0x9e3779b97f4a7c15ULL ^ vseq * 0xc2b2ae3d27d4eb4fULL
		     ^ (uint64_t)kind;

	h ^= h >> 29;
	return (size_t)(h & (nbuckets - 1));
}

int node_table_init(struct node_table *t)
{
	memset(t, 0, sizeof(*t));
	t->nbuckets = 1024;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->root.lock, NULL);
	t->root.kind = NODE_LIVE;
	atomic_init(&t->root.oid, STORE_ROOT_OID);
	atomic_init(&t->root.unlinked, false);
	t->root.type = STORE_T_DIR;
	t->root.nlookup = 2;	/* never freed */
	return 0;
}

void node_drop_wc_locked(struct node *n)
{
	size_t i;

	for (i = 0; i < n->nretired; i++)
		store_file_free(n->retired[i]);
	free(n->retired);
	n->retired = NULL;
	n->nretired = 0;
	if (n->wc)
		store_file_free(n->wc);
	n->wc = NULL;
	n->dirty = false;
	n->trunc_only = false;
	n->orphan_dirty = false;
}

static void node_free(struct node *n)
{
	node_drop_wc_locked(n);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

void node_table_release(struct node_table *t)
{
	size_t i;

	for (i = 0; i < t->nbuckets; i++) {
		struct node *n = t->buckets[i], *next;

		for (; n; n = next) {
			next = n->next;
			node_free(n);
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	node_drop_wc_locked(&t->root);
	pthread_mutex_destroy(&t->root.lock);
	pthread_mutex_destroy(&t->lock);
}

struct node *node_of(struct node_table *t, uint64_t ino)
{
	if (ino == FUSE_ROOT_INO)
		return &t->root;
	return (struct node *)(uintptr_t)ino;
}

uint64_t node_ino(struct node_table *t, struct node *n)
{
	if (n == &t->root)
		return FUSE_ROOT_INO;
	return (uint64_t)(uintptr_t)n;
}

struct node *node_find_locked(struct node_table *t, enum node_kind kind,
			      uint64_t oid, uint64_t vseq)
{
	struct node *n;

	if (kind == NODE_LIVE && oid == STORE_ROOT_OID)
		return &t->root;
	n = t->buckets[node_hash(kind, oid, vseq, t->nbuckets)];
	for (; n; n = n->next)
		if (n->kind == kind && node_oid(n) == oid && n->vseq == vseq)
			return n;
	return NULL;
}

static void node_unhash_locked(struct node_table *t, struct node *n)
{
	struct node **pp;

	if (!n->hashed)
		return;
	pp = &t->buckets[node_hash(n->kind, node_oid(n), n->vseq,
				   t->nbuckets)];
	for (; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			break;
		}
	}
	n->next = NULL;
	n->hashed = false;
	t->count--;
}

static void node_hash_locked(struct node_table *t, struct node *n)
{
	size_t b = node_hash(n->kind, node_oid(n), n->vseq, t->nbuckets);

	n->next = t->buckets[b];
	t->buckets[b] = n;
	n->hashed = true;
	t->count++;
}

/* Double the buckets when the load passes 1; on ENOMEM just stay slow. */
static void node_grow_locked(struct node_table *t)
{
	size_t i, old = t->nbuckets;
	struct node **ob = t->buckets, **nb;

	if (t->count < old)
		return;
	nb = calloc(old * 2, sizeof(*nb));
	if (!nb)
		return;
	t->buckets = nb;
	t->nbuckets = old * 2;
	t->count = 0;
	for (i = 0; i < old; i++) {
		struct node *n = ob[i], *next;

		for (; n; n = next) {
			next = n->next;
			node_hash_locked(t, n);
		}
	}
	free(ob);
}

struct node *node_get(struct node_table *t, enum node_kind kind, uint64_t oid,
		      uint64_t vseq, enum store_type type)
{
	struct node *n;

	pthread_mutex_lock(&t->lock);
	n = node_find_locked(t, kind, oid, vseq);
	if (!n) {
		n = calloc(1, sizeof(*n));
		if (!n)
			goto out;
		n->kind = kind;
		n->vseq = vseq;
		atomic_init(&n->oid, oid);
		atomic_init(&n->unlinked, false);
		atomic_store(&n->type, (int)type);
		n->gen = 1;
		pthread_mutex_init(&n->lock, NULL);
		node_grow_locked(t);
		node_hash_locked(t, n);
	}
	n->nlookup++;
out:
	pthread_mutex_unlock(&t->lock);
	return n;
}

void node_forget(struct node_table *t, struct node *n, uint64_t count)
{
	bool gone = false;

	if (n == &t->root)
		return;
	pthread_mutex_lock(&t->lock);
	n->nlookup = n->nlookup > count ? n->nlookup - count : 0;
	if (!n->nlookup) {
		node_unhash_locked(t, n);
		gone = true;
	}
	pthread_mutex_unlock(&t->lock);
	/* The kernel sends no request for an ino after its last forget, and
	 * open files hold a lookup, so nobody else can see n now. */
	if (gone)
		node_free(n);
}

void node_detach_locked(struct node_table *t, struct node *n)
{
	if (n == &t->root)
		return;
	node_unhash_locked(t, n);
	atomic_store(&n->unlinked, true);
}

void node_detach(struct node_table *t, uint64_t oid)
{
	struct node *n;

	pthread_mutex_lock(&t->lock);
	n = node_find_locked(t, NODE_LIVE, oid, 0);
	if (n)
		node_detach_locked(t, n);
	pthread_mutex_unlock(&t->lock);
}

void node_rekey_locked(struct node_table *t, struct node *n, uint64_t oid)
{
	if (n == &t->root)
		return;
	node_unhash_locked(t, n);
	atomic_store(&n->oid, oid);
	node_hash_locked(t, n);
}
