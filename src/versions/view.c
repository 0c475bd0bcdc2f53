/*
 * view.c - the read-only .versions tree: lookups, stat and listings of
 * virtual directories and version entries, straight from the store.
 *
 * Nothing here is cached: a version is immutable once sealed, and the
 * fs layer keeps the vinfo of an entry in its node, so the store is asked
 * once per lookup and once per listed name.
 */
#include "versions/versions.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/vid.h"

#define VINO_DIR ((uint64_t)1 << 61)
#define VINO_KEY ((uint64_t)2 << 61)
#define VINO_ENTRY ((uint64_t)3 << 61)

uint64_t versions_ino(const struct versions_node *vn)
{
	switch (vn->kind) {
	case VERSIONS_DIR:
		return VINO_DIR | vn->oid;
	case VERSIONS_KEY:
		return VINO_KEY | vn->oid;
	case VERSIONS_ENTRY:
		return VINO_ENTRY | vn->vseq;
	default:
		return vn->oid;
	}
}

/* A child of a VERSIONS_DIR: folders stay folders, others list versions. */
static void child_of_entry(const struct store_entry *e,
			   struct versions_node *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = e->type == STORE_T_DIR ? VERSIONS_DIR : VERSIONS_KEY;
	out->oid = e->oid;
	out->type = e->type;
}

int versions_lookup(struct store *s, const struct versions_node *dir,
		    const char *name, struct versions_node *out)
{
	struct store_entry e;
	char vid[VID_LEN + 1];
	bool marker;
	int rc;

	if (strlen(name) > STORE_NAME_MAX)
		return -ENAMETOOLONG;
	if (dir->kind == VERSIONS_DIR) {
		rc = store_lookup_any(s, dir->oid, name, &e);
		if (rc < 0)
			return rc;
		if (e.pending)	/* no history yet */
			return -ENOENT;
		child_of_entry(&e, out);
		return 0;
	}
	if (dir->kind != VERSIONS_KEY)
		return -ENOTDIR;
	if (vid_entry_parse(name, vid, &marker) < 0)
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	rc = store_version_by_id(s, dir->oid, vid, &out->v);
	if (rc < 0)
		return rc;
	if (!!(out->v.flags & STORE_V_DELETE_MARKER) != marker)
		return -ENOENT;
	out->kind = VERSIONS_ENTRY;
	out->oid = dir->oid;
	out->vseq = out->v.vseq;
	out->type = out->v.type;
	return 0;
}

static void ts_of(struct timespec *ts, int64_t ns)
{
	ts->tv_sec = (time_t)(ns / 1000000000);
	ts->tv_nsec = (long)(ns % 1000000000);
}

static void stat_of_entry(const struct store_vinfo *v, uint64_t ino,
			  struct stat *st)
{
	st->st_ino = ino;
	st->st_nlink = 1;
	st->st_blksize = STORE_CHUNK;
	if (v->flags & STORE_V_DELETE_MARKER) {
		st->st_mode = S_IFREG | 0444;
		st->st_uid = v->attr.uid;
		st->st_gid = v->attr.gid;
		ts_of(&st->st_atim, v->btime_ns);
		ts_of(&st->st_mtim, v->btime_ns);
		ts_of(&st->st_ctim, v->btime_ns);
		return;
	}
	st->st_mode = v->attr.mode & ~(mode_t)0222;
	st->st_uid = v->attr.uid;
	st->st_gid = v->attr.gid;
	st->st_size = (off_t)v->attr.size;
	st->st_blocks = (blkcnt_t)((v->alloc_bytes + 511) / 512);
	ts_of(&st->st_atim, v->attr.atime_ns);
	ts_of(&st->st_mtim, v->attr.mtime_ns);
	ts_of(&st->st_ctim, v->btime_ns);
}

/*
 * The permission bits of a .versions folder, from the head of the key it
 * stands for (a delete marker keeps the last mode): a folder's own, and
 * for a file or symlink key its mode with x wherever it has r, so whoever
 * may read the file may list its versions and no one else. The write bits
 * stay: with default_permissions the kernel lets only those who may write
 * the key restore or undelete it (a symlink's 0777 counts as 0755, as
 * only its owner could replace it); anything else written there is EROFS.
 */
static mode_t history_mode(const struct store_vinfo *head, bool folder)
{
	mode_t m = head->attr.mode & 0777;

	if (folder)
		return S_IFDIR | (head->attr.mode & 01777);
	if (S_ISLNK(head->attr.mode))
		m = 0755;
	return S_IFDIR | m | ((m & 0444) >> 2);
}

int versions_stat(struct store *s, const struct versions_node *vn,
		  struct stat *st)
{
	struct store_entry e;
	int rc;

	memset(st, 0, sizeof(*st));
	if (vn->kind == VERSIONS_ENTRY) {
		stat_of_entry(&vn->v, versions_ino(vn), st);
		return 0;
	}
	st->st_ino = versions_ino(vn);
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
	st->st_blksize = STORE_CHUNK;
	rc = store_stat(s, vn->oid, &e);
	if (rc < 0 && vn->oid == STORE_ROOT_OID)
		return 0;	/* the root may have no version yet */
	if (rc < 0)
		return rc;
	if (e.pending) {	/* no history: nothing to show anyone */
		st->st_mode = S_IFDIR;
		return 0;
	}
	st->st_mode = history_mode(&e.head, vn->kind == VERSIONS_DIR);
	st->st_uid = e.head.attr.uid;
	st->st_gid = e.head.attr.gid;
	ts_of(&st->st_atim, e.head.btime_ns);
	ts_of(&st->st_mtim, e.head.btime_ns);
	ts_of(&st->st_ctim, e.head.btime_ns);
	return 0;
}

struct dir_fill {
	versions_fill_fn fn;
	void *arg;
	char last[STORE_NAME_MAX + 1];	/* a file key and a folder key may
					 * share a name: list it once */
};

static int dir_fill_cb(void *arg, const char *name, const struct store_entry *e)
{
	struct dir_fill *d = arg;
	struct versions_node child;

	if (e->pending || !strcmp(d->last, name))
		return 0;
	snprintf(d->last, sizeof(d->last), "%s", name);
	child_of_entry(e, &child);
	return d->fn(d->arg, name, &child);
}

struct key_fill {
	versions_fill_fn fn;
	void *arg;
	uint64_t skip;
};

static int key_fill_cb(void *arg, const struct store_vinfo *v)
{
	struct key_fill *k = arg;
	struct versions_node child;
	char name[VID_ENTRY_MAX];
	int rc;

	if (k->skip) {
		k->skip--;
		return 0;
	}
	rc = vid_entry_name(v->btime_ns, v->vid,
			    v->flags & STORE_V_DELETE_MARKER, name,
			    sizeof(name));
	if (rc < 0)
		return rc;
	memset(&child, 0, sizeof(child));
	child.kind = VERSIONS_ENTRY;
	child.oid = v->oid;
	child.vseq = v->vseq;
	child.type = v->type;
	child.v = *v;
	return k->fn(k->arg, name, &child);
}

int versions_list(struct store *s, const struct versions_node *dir,
		  const char *after, uint64_t skip, versions_fill_fn fn,
		  void *arg)
{
	if (dir->kind == VERSIONS_DIR) {
		struct dir_fill d = { .fn = fn, .arg = arg };

		if (after)
			snprintf(d.last, sizeof(d.last), "%s", after);
		return store_readdir(s, dir->oid, after, STORE_RD_ALL,
				     dir_fill_cb, &d);
	}
	if (dir->kind == VERSIONS_KEY) {
		struct key_fill k = { .fn = fn, .arg = arg, .skip = skip };

		return store_versions(s, dir->oid, key_fill_cb, &k);
	}
	return -ENOTDIR;
}

int versions_vinfo(struct store *s, uint64_t oid, uint64_t vseq,
		   struct store_vinfo *out)
{
	struct store_entry e;
	int rc;

	if (!vseq) {
		rc = store_stat(s, oid, &e);
		if (rc < 0)
			return rc;
		if (e.pending)
			return -ENODATA;
		*out = e.head;
		return 0;
	}
	return store_version_get(s, oid, vseq, out);
}
