/*
 * store_test_util.h - helpers the store unit tests share: a fresh store in
 * a temporary directory, and one-line ways to make and read files.
 */
#ifndef CRRFS_STORE_TEST_UTIL_H
#define CRRFS_STORE_TEST_UTIL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "store/store.h"

static inline char *tst_tmpdir(void)
{
	char tmpl[] = "/tmp/crrfs-store-test-XXXXXX";
	char *d = mkdtemp(tmpl);

	return d ? strdup(d) : NULL;
}

static inline void tst_rmrf(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", dir);
}

static inline struct store *tst_open(const char *dir, unsigned flags,
				     unsigned amend_ms)
{
	char path[512];
	struct store_opts o = { 0 };
	struct store *s = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/store", dir);
	o.path = path;
	o.flags = STORE_CREATE | flags;
	o.amend_window_ms = amend_ms;
	o.sync_interval_ms = 100;
	rc = store_open(&o, &s);
	if (rc)
		fprintf(stderr, "store_open: %s\n", strerror(-rc));
	return s;
}

static inline struct store_attr tst_attr(unsigned mode)
{
	struct store_attr a = { 0 };

	a.mode = mode;
	a.uid = 1000;
	a.gid = 1000;
	a.mtime_ns = a.atime_ns = a.ctime_ns = 1700000000000000000LL;
	return a;
}

/* Write (or overwrite) file parent/name with data; returns its oid. */
static inline uint64_t tst_put(struct store *s, uint64_t parent,
			       const char *name, const void *data, size_t len)
{
	struct store_attr a = tst_attr(0644);
	struct store_entry e;
	struct store_file *f;
	int rc;

	rc = store_lookup(s, parent, name, &e);
	if (rc == -ENOENT)
		rc = store_create(s, parent, name, &a, &e);
	if (rc)
		return 0;
	if (store_file_open(s, e.oid, 0, &f))
		return 0;
	if (store_file_truncate(f, 0) ||
	    (len && store_file_write(f, data, len, 0) != (ssize_t)len) ||
	    store_file_seal(f, e.oid, &a, 0, NULL)) {
		store_file_free(f);
		return 0;
	}
	store_file_free(f);
	return e.oid;
}

/* Read a whole version into a malloc'ed buffer; *len gets its size. */
static inline char *tst_get(struct store *s, uint64_t oid, uint64_t vseq,
			    size_t *len)
{
	struct store_file *f;
	char *buf;
	ssize_t n;

	if (store_file_open(s, oid, vseq, &f))
		return NULL;
	*len = (size_t)store_file_size(f);
	buf = malloc(*len + 1);
	n = store_file_read(f, buf, *len, 0);
	store_file_free(f);
	if (n != (ssize_t)*len) {
		free(buf);
		return NULL;
	}
	buf[*len] = '\0';
	return buf;
}

static inline int tst_count_cb(void *arg, const struct store_vinfo *v)
{
	(void)v;
	(*(int *)arg)++;
	return 0;
}

static inline int tst_nversions(struct store *s, uint64_t oid)
{
	int n = 0;

	if (store_versions(s, oid, tst_count_cb, &n))
		return -1;
	return n;
}

#endif
