/*
 * store.c - opening and closing a store, and the small index helpers every
 * other file of src/store/ uses (typed gets and puts, entries, key paths).
 *
 * Design: one directory per store (STORE/format, STORE/lock, STORE/index/
 * for LMDB, STORE/data/ for segments). The process lock is a flock on
 * STORE/lock, so a crashed process never leaves a stale lock behind. The
 * counters (next oid, next vseq, last vid time) live in the meta DB and in
 * memory, owned by the committer; store_close() marks the store clean so
 * the next open can skip the orphan scan.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "util/log.h"
#include "util/vid.h"

int store_err(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
		return -ENOSPC;
	case MDB_READERS_FULL:
		return -EAGAIN;
	case MDB_KEYEXIST:
		return -EEXIST;
	default:
		if (rc > 0 && rc < 1000)
			return -rc;
		log_error("index error: %s", mdb_strerror(rc));
		return -EIO;
	}
}

int64_t store_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int store_rtxn(struct store *s, MDB_txn **txn)
{
	return store_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn));
}

int db_get(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kl, MDB_val *v)
{
	MDB_val key = { kl, (void *)k };

	return store_err(mdb_get(txn, dbi, &key, v));
}

int db_put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kl,
	   const void *v, size_t vl)
{
	MDB_val key = { kl, (void *)k }, val = { vl, (void *)v };

	return store_err(mdb_put(txn, dbi, &key, &val, 0));
}

int db_del(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kl)
{
	MDB_val key = { kl, (void *)k };

	return store_err(mdb_del(txn, dbi, &key, NULL));
}

int obj_get(struct store *s, MDB_txn *txn, uint64_t oid, struct obj *o)
{
	uint8_t k[8];
	MDB_val v;
	int rc;

	be64_put(k, oid);
	rc = db_get(txn, s->objects, k, 8, &v);
	if (rc)
		return rc;
	return obj_decode(v.mv_data, v.mv_size, o);
}

static int obj_write(struct store *s, MDB_txn *txn, uint64_t oid,
		     const struct obj *o)
{
	uint8_t k[8], buf[OBJ_ENCODED_MAX];

	be64_put(k, oid);
	obj_encode(o, buf);
	return db_put(txn, s->objects, k, 8, buf, obj_encoded_size(o));
}

int obj_put(struct store *s, MDB_txn *txn, uint64_t oid, struct obj *o)
{
	struct obj prev;
	bool had, was, is = obj_alive(o);
	int rc;

	rc = obj_get(s, txn, oid, &prev);
	if (rc && rc != -ENOENT)
		return rc;
	had = !rc;
	was = had && obj_alive(&prev);
	o->dir_known = had ? prev.dir_known : true;
	o->dmtime_ns = had ? prev.dmtime_ns : 0;
	o->dctime_ns = had ? prev.dctime_ns : 0;
	o->nsubdirs = had ? prev.nsubdirs : 0;
	/* Numbers come from the oid counter, so they never meet an oid. */
	if (had && !was && is && !o->ino_given)
		o->ino = s->next_oid++;
	rc = obj_write(s, txn, oid, o);
	if (!rc && was != is && o->parent)
		rc = dir_changed(s, txn, o->parent,
				 o->type != STORE_T_DIR ? 0 : is ? 1 : -1);
	return rc;
}

int dir_changed(struct store *s, MDB_txn *txn, uint64_t dir, int subdirs)
{
	struct obj d;
	int rc = obj_get(s, txn, dir, &d);

	/* A folder purged from under dead children (fsck reports those)
	 * must not block their own cleanup. */
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	if (!d.dir_known) {
		rc = dir_children_count(s, txn, dir, true, 0,
					&d.nsubdirs);
		if (rc)
			return rc;
		d.dir_known = true;
	} else if (subdirs > 0) {
		d.nsubdirs++;
	} else if (subdirs < 0 && d.nsubdirs) {
		d.nsubdirs--;
	}
	d.dmtime_ns = d.dctime_ns = store_now_ns();
	return obj_write(s, txn, dir, &d);
}

int dir_times_set(struct store *s, MDB_txn *txn, uint64_t dir,
		  int64_t mtime_ns, int64_t ctime_ns)
{
	struct obj d;
	int rc = obj_get(s, txn, dir, &d);

	if (rc)
		return rc;
	d.dmtime_ns = mtime_ns;
	d.dctime_ns = ctime_ns;
	return obj_write(s, txn, dir, &d);
}

static void vkey(uint8_t *k, uint64_t oid, uint64_t vseq)
{
	be64_put(k, oid);
	be64_put(k + 8, vseq);
}

int vrec_get(struct store *s, MDB_txn *txn, uint64_t oid, uint64_t vseq,
	     struct vrec *v)
{
	uint8_t k[16];
	MDB_val val;
	int rc;

	vkey(k, oid, vseq);
	rc = db_get(txn, s->versions, k, 16, &val);
	if (rc)
		return rc;
	return vrec_decode(val.mv_data, val.mv_size, v);
}

int vrec_put(struct store *s, MDB_txn *txn, uint64_t oid, uint64_t vseq,
	     const struct vrec *v)
{
	size_t n = vrec_encoded_size(v);
	uint8_t k[16], *buf = malloc(n);
	int rc;

	if (!buf)
		return -ENOMEM;
	vrec_encode(v, buf);
	vkey(k, oid, vseq);
	rc = db_put(txn, s->versions, k, 16, buf, n);
	free(buf);
	return rc;
}

int vrec_del(struct store *s, MDB_txn *txn, uint64_t oid, uint64_t vseq)
{
	uint8_t k[16];

	vkey(k, oid, vseq);
	return db_del(txn, s->versions, k, 16);
}

void vinfo_fill(uint64_t oid, uint64_t vseq, uint8_t type,
		const struct vrec *v, struct store_vinfo *out)
{
	memset(out, 0, sizeof(*out));
	out->oid = oid;
	out->vseq = vseq;
	out->type = type;
	out->flags = v->flags & V_PUBLIC_MASK;
	memcpy(out->vid, v->vid, sizeof(out->vid));
	out->btime_ns = v->btime_ns;
	out->attr = v->attr;
	out->alloc_bytes = vrec_alloc_bytes(v);
	memcpy(out->sha256, v->sha256, 32);
}

int entry_fill(struct store *s, MDB_txn *txn, uint64_t oid,
	       const struct obj *o, struct store_entry *e)
{
	struct vrec v;
	int rc;

	memset(e, 0, sizeof(*e));
	e->oid = oid;
	e->type = o->type;
	e->pending = obj_pending(o);
	e->live = !e->pending && !(o->flags & OBJ_DEAD);
	e->ino = obj_ino(o, oid);
	e->nlink = o->type == STORE_T_DIR && o->dir_known ?
		   (uint32_t)(2 + o->nsubdirs) : 1;
	/* A pending key answers with the attributes recorded for it. */
	rc = vrec_get(s, txn, oid, obj_cur(o), &v);
	if (rc == -ENOENT && e->pending)
		return 0;
	if (rc)
		return rc;
	vinfo_fill(oid, obj_cur(o), o->type, &v, &e->head);
	if (o->type == STORE_T_DIR && o->dmtime_ns)
		e->head.attr.mtime_ns = o->dmtime_ns;
	if (o->type == STORE_T_DIR && o->dctime_ns)
		e->head.attr.ctime_ns = o->dctime_ns;
	return 0;
}

int key_path_txn(struct store *s, MDB_txn *txn, uint64_t oid, char **out)
{
	size_t cap = 256, len = 0;
	char *buf = malloc(cap), *tmp;
	struct obj o;
	bool first = true;
	int rc = 0, depth = 0;

	/* Built right to left: each component is prepended. */
	if (!buf)
		return -ENOMEM;
	buf[0] = '\0';
	while (oid != STORE_ROOT_OID) {
		size_t add;

		rc = obj_get(s, txn, oid, &o);
		if (rc)
			goto out;
		if (++depth > 4096) {
			rc = -ELOOP;
			goto out;
		}
		add = o.namelen + (first && o.type != STORE_T_DIR ? 0 : 1);
		if (len + add + 1 > cap) {
			cap = (len + add + 1) * 2;
			tmp = realloc(buf, cap);
			if (!tmp) {
				rc = -ENOMEM;
				goto out;
			}
			buf = tmp;
		}
		memmove(buf + add, buf, len + 1);
		memcpy(buf, o.name, o.namelen);
		if (add > o.namelen)
			buf[o.namelen] = '/';
		len += add;
		first = false;
		oid = o.parent;
	}
out:
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

int store_key_path(struct store *s, uint64_t oid, char **out)
{
	MDB_txn *txn;
	struct obj o;
	int rc;

	rc = store_rtxn(s, &txn);
	if (rc)
		return rc;
	rc = oid == STORE_ROOT_OID ? 0 : obj_get(s, txn, oid, &o);
	if (!rc)
		rc = key_path_txn(s, txn, oid, out);
	mdb_txn_abort(txn);
	return rc;
}

int store_key_parent(struct store *s, uint64_t oid, uint64_t *parent)
{
	MDB_txn *txn;
	struct obj o;
	int rc;

	*parent = 0;
	if (oid == STORE_ROOT_OID)
		return 0;
	rc = store_rtxn(s, &txn);
	if (rc)
		return rc;
	rc = obj_get(s, txn, oid, &o);
	if (!rc)
		*parent = o.parent;
	mdb_txn_abort(txn);
	return rc;
}

int store_statfs(struct store *s, struct statvfs *out)
{
	return statvfs(s->path, out) ? -errno : 0;
}

/* ------------------------------------------------------------------ */
/* Meta */

static int meta_get64(struct store *s, MDB_txn *txn, const char *name,
		      uint64_t *out)
{
	MDB_val v;
	int rc = db_get(txn, s->meta, name, strlen(name), &v);

	if (rc)
		return rc;
	if (v.mv_size != 8)
		return -EIO;
	memcpy(out, v.mv_data, 8);
	return 0;
}

static int meta_put64(struct store *s, MDB_txn *txn, const char *name,
		      uint64_t val)
{
	return db_put(txn, s->meta, name, strlen(name), &val, 8);
}

/* Written in the parent transaction of every batch (commit.c). */
int store_meta_save(struct store *s, MDB_txn *txn, bool clean);
int store_meta_save(struct store *s, MDB_txn *txn, bool clean)
{
	int rc;

	rc = meta_put64(s, txn, "next_oid", s->next_oid);
	if (!rc)
		rc = meta_put64(s, txn, "next_vseq", s->next_vseq);
	if (!rc)
		rc = meta_put64(s, txn, "last_ms", s->last_ms);
	if (!rc)
		rc = meta_put64(s, txn, "clean", clean);
	if (!rc && s->short_seg_from != UINT64_MAX)
		rc = meta_put64(s, txn, "short_seg_from", s->short_seg_from);
	return rc;
}

static int store_init_root(struct store *s, MDB_txn *txn)
{
	struct obj o = { .parent = 0, .type = STORE_T_DIR, .head = 1 };
	struct vrec v;
	int64_t now = store_now_ns();
	uint64_t tag64;
	int rc;

	memset(&v, 0, sizeof(v));
	if (getrandom(&s->tag, sizeof(s->tag), 0) != sizeof(s->tag))
		s->tag = (uint32_t)now ^ (uint32_t)getpid();
	s->next_oid = STORE_ROOT_OID + 1;
	s->next_vseq = 2;
	s->last_ms = (uint64_t)(now / 1000000);
	vid_format(s->last_ms, s->tag, 1, v.vid);
	v.btime_ns = now;
	v.deadline_ns = now;
	v.flags = V_EXPOSED;
	v.attr.mode = S_IFDIR | 0755;
	v.attr.uid = getuid();
	v.attr.gid = getgid();
	v.attr.atime_ns = v.attr.mtime_ns = v.attr.ctime_ns = now;
	rc = obj_put(s, txn, STORE_ROOT_OID, &o);
	if (!rc)
		rc = vrec_put(s, txn, STORE_ROOT_OID, 1, &v);
	tag64 = s->tag;
	if (!rc)
		rc = meta_put64(s, txn, "tag", tag64);
	if (!rc)
		rc = meta_put64(s, txn, "format", 1);
	s->short_seg_from = 0;
	if (!rc)
		rc = store_meta_save(s, txn, true);
	return rc;
}

static int store_load_meta(struct store *s, MDB_txn *txn, bool *clean)
{
	uint64_t tag = 0, c = 0;
	int rc;

	rc = meta_get64(s, txn, "tag", &tag);
	if (!rc)
		rc = meta_get64(s, txn, "next_oid", &s->next_oid);
	if (!rc)
		rc = meta_get64(s, txn, "next_vseq", &s->next_vseq);
	if (!rc)
		rc = meta_get64(s, txn, "last_ms", &s->last_ms);
	if (!rc)
		rc = meta_get64(s, txn, "clean", &c);
	if (!rc && meta_get64(s, txn, "short_seg_from", &s->short_seg_from))
		s->short_seg_from = UINT64_MAX;
	s->tag = (uint32_t)tag;
	*clean = c != 0;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Open */

static bool dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	bool empty = true;

	if (!d)
		return false;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = false;
			break;
		}
	closedir(d);
	return empty;
}

static int mkdir_p(const char *path)
{
	char *tmp = strdup(path), *p;
	int rc = 0;

	if (!tmp)
		return -ENOMEM;
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) && errno != EEXIST)
			rc = -errno;
		*p = '/';
		if (rc)
			break;
	}
	if (!rc && mkdir(tmp, 0700) && errno != EEXIST)
		rc = -errno;
	free(tmp);
	return rc;
}

/*
 * The store holds every version's bytes in plain files: whoever can
 * reach them reads past every mode the mount enforces. So the store's
 * directory is its owner's alone; one made by an older crrfs (0755) is
 * tightened at its next read-write open, by its owner only.
 */
static void store_make_private(struct store *s)
{
	struct stat st;

	if (stat(s->path, &st) || !(st.st_mode & 077) ||
	    st.st_uid != geteuid())
		return;
	if (chmod(s->path, st.st_mode & 07700))
		log_warn("cannot make store '%s' private (mode %04o): %s",
			 s->path, (unsigned)(st.st_mode & 07777),
			 strerror(errno));
	else
		log_info("store '%s' made private: mode %04o -> %04o",
			 s->path, (unsigned)(st.st_mode & 07777),
			 (unsigned)(st.st_mode & 07700));
}

/* Check (and with STORE_CREATE, make) the directory layout. */
static int store_prepare_dir(struct store *s, bool *fresh)
{
	char p[SEG_PATH_MAX];
	struct stat st;
	int rc;

	*fresh = false;
	snprintf(p, sizeof(p), "%s/format", s->path);
	if (stat(p, &st) == 0)
		return 0;
	if (stat(s->path, &st) == 0 && !dir_is_empty(s->path)) {
		log_error("cannot open store '%s': not a crrfs store (directory is not empty)",
			  s->path);
		return -ENOTEMPTY;
	}
	if (!(s->flags & STORE_CREATE) || (s->flags & STORE_RDONLY)) {
		log_error("cannot open store '%s': no such store", s->path);
		return -ENOENT;
	}
	rc = mkdir_p(s->path);
	if (rc) {
		log_error("cannot create store '%s': %s", s->path,
			  strerror(-rc));
		return rc;
	}
	*fresh = true;
	return 0;
}

static int store_lock(struct store *s)
{
	char p[SEG_PATH_MAX];

	if (s->flags & STORE_NOLOCK)
		return 0;
	snprintf(p, sizeof(p), "%s/lock", s->path);
	s->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lock_fd < 0) {
		int rc = -errno;

		log_error("cannot open store '%s': %s", s->path, strerror(-rc));
		return rc;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB)) {
		/* Not logged: the caller knows what it was trying to do
		 * (mount, repair) and says so in its one line. */
		return -EBUSY;
	}
	return 0;
}

static int store_env_open(struct store *s, const struct store_opts *o)
{
	char p[SEG_PATH_MAX];
	unsigned fl = MDB_NOTLS;
	int rc;

	if (!(s->flags & STORE_SYNC))
		fl |= MDB_NOSYNC;
	if (s->flags & STORE_RDONLY)
		fl |= MDB_RDONLY;
	snprintf(p, sizeof(p), "%s/index", s->path);
	if (!(s->flags & STORE_RDONLY) && mkdir(p, 0755) && errno != EEXIST)
		return -errno;
	rc = mdb_env_create(&s->env);
	if (!rc)
		rc = mdb_env_set_maxdbs(s->env, 8);
	if (!rc)
		rc = mdb_env_set_maxreaders(s->env, 1022);
	if (!rc)
		rc = mdb_env_set_mapsize(s->env, o->map_size ? o->map_size :
					 (uint64_t)64 << 30);
	if (!rc)
		rc = mdb_env_open(s->env, p, fl, 0644);
	if (rc) {
		log_error("cannot open index of store '%s': %s", s->path,
			  mdb_strerror(rc));
		return store_err(rc);
	}
	return 0;
}

/* made: the store is being created (it had no format file). */
static int store_dbs_open(struct store *s, bool made)
{
	static const char *const names[] = { "dirents", "objects", "versions",
					     "segments", "meta", "queue",
					     "drafts" };
	MDB_dbi *dbis[] = { &s->dirents, &s->objects, &s->versions,
			    &s->segments, &s->meta, &s->queue, &s->drafts };
	bool ro = s->flags & STORE_RDONLY;
	MDB_txn *txn = NULL;
	uint64_t fmt;
	size_t i;
	bool clean = false;
	int rc;

	rc = store_err(mdb_txn_begin(s->env, NULL, ro ? MDB_RDONLY : 0, &txn));
	if (rc)
		return rc;
	for (i = 0; i < 7 && !rc; i++)
		rc = store_err(mdb_dbi_open(txn, names[i],
					    ro ? 0 : MDB_CREATE, dbis[i]));
	if (rc)
		goto fail;
	if (meta_get64(s, txn, "format", &fmt) == -ENOENT) {
		/* An index with no store in it, where one was made: a new
		 * one would orphan every segment (format.c). */
		if (!made) {
			rc = store_index_refuse_new(s);
			goto fail;
		}
		rc = store_init_root(s, txn);
	} else {
		rc = store_load_meta(s, txn, &clean);
	}
	if (rc)
		goto fail;
	return store_err(mdb_txn_commit(txn));
fail:
	mdb_txn_abort(txn);
	return rc;
}

/*
 * The format file only once its index is on the disk: a format file is
 * the proof an index existed (format.c). An older store's file only
 * gains the index line: failing that costs no safety it had before.
 */
static int store_format_name_index(struct store *s, bool fresh)
{
	int rc = store_err(mdb_env_sync(s->env, 1));

	if (!rc)
		rc = store_format_write(s);
	if (rc && fresh)
		log_error("cannot write '%s/format': %s", s->path,
			  strerror(-rc));
	else if (rc)
		log_warn("cannot name the index in '%s/format': %s", s->path,
			 strerror(-rc));
	return fresh ? rc : 0;
}

int store_open(const struct store_opts *o, struct store **out)
{
	struct store *s = calloc(1, sizeof(*s));
	struct store_format fmt = { 0 };
	char p[SEG_PATH_MAX];
	bool fresh = false;
	int rc;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->lock_fd = -1;
	s->snap_fd = -1;
	s->path = strdup(o->path);
	if (o->boot_id && !(s->boot_id = strdup(o->boot_id))) {
		free(s->path);
		s->path = NULL;	/* reported as ENOMEM below */
	}
	s->flags = o->flags;
	if (s->flags & STORE_NOLOCK)
		s->flags |= STORE_RDONLY;
	s->amend_ms = o->amend_window_ms ? o->amend_window_ms : 2000;
	s->sync_ms = o->sync_interval_ms ? o->sync_interval_ms : 1000;
	pthread_mutex_init(&s->qlock, NULL);
	pthread_mutex_init(&s->seglock, NULL);
	pthread_mutex_init(&s->packlock, NULL);
	s->pack_fd = -1;
	pthread_cond_init(&s->qcond, NULL);
	pthread_cond_init(&s->qdone, NULL);
	pthread_cond_init(&s->fcond, NULL);
	if (!s->path) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = store_prepare_dir(s, &fresh);
	if (!rc && !fresh)
		rc = store_format_read(s, &fmt);
	if (rc)
		goto fail;
	rc = store_lock(s);
	if (rc)
		goto fail;
	if (!(s->flags & STORE_RDONLY))
		store_make_private(s);
	snprintf(p, sizeof(p), "%s/data", s->path);
	if (!(s->flags & STORE_RDONLY) && mkdir(p, 0755) && errno != EEXIST) {
		rc = -errno;
		goto fail;
	}
	if (!(s->flags & STORE_RDONLY)) {
		rc = snap_recover(s);
		if (rc) {
			log_error("cannot check store '%s' after a restart: %s",
				  s->path, strerror(-rc));
			goto fail;
		}
	}
	rc = fresh ? 0 : store_index_present(s);
	if (!rc)
		rc = store_index_check(s);
	if (!rc)
		rc = store_env_open(s, o);
	if (rc)
		goto fail;
	rc = store_dbs_open(s, fresh);
	if (rc) {
		if (rc != -EUCLEAN)	/* that one said why */
			log_error("cannot open store '%s': %s", s->path,
				  strerror(-rc));
		goto fail;
	}
	rc = store_index_tag_check(s, &fmt);
	if (rc)
		goto fail;
	if (!(s->flags & STORE_RDONLY) && (fresh || !fmt.has_tag)) {
		rc = store_format_name_index(s, fresh);
		if (rc)
			goto fail;
	}
	if (!(s->flags & STORE_RDONLY)) {
		rc = store_recover(s);
		if (rc) {
			log_error("cannot recover store '%s': %s", s->path,
				  strerror(-rc));
			goto fail;
		}
		rc = snap_open(s);
		if (!rc)
			rc = snap_sync(s);	/* this boot's first snapshot */
		if (rc) {
			log_error("cannot sync store '%s': %s", s->path,
				  strerror(-rc));
			goto fail;
		}
		rc = store_commit_start(s);
		if (rc)
			goto fail;
	}
	*out = s;
	return 0;
fail:
	store_close(s);
	return rc;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->started)
		store_commit_stop(s);
	if (s->env) {
		if (s->started) {
			MDB_txn *txn;

			seg_pack_close(s);
			/* Clean mark: the next open may skip the orphan scan. */
			if (!mdb_txn_begin(s->env, NULL, 0, &txn)) {
				if (store_meta_save(s, txn, true))
					mdb_txn_abort(txn);
				else
					mdb_txn_commit(txn);
			}
			if (snap_sync(s))
				log_warn("cannot sync store '%s' on close",
					 s->path);
		}
		snap_close(s);	/* its read txn must end before the env */
		mdb_env_close(s->env);
	}
	verify_shutdown(s);
	seg_cleanup(s);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->recovered);
	pthread_mutex_destroy(&s->qlock);
	pthread_mutex_destroy(&s->seglock);
	pthread_mutex_destroy(&s->packlock);
	pthread_cond_destroy(&s->qcond);
	pthread_cond_destroy(&s->qdone);
	pthread_cond_destroy(&s->fcond);
	free(s->path);
	free((char *)s->boot_id);
	free(s);
}
