/*
 * test_store_trust.c - a store whose files cannot be trusted is refused
 * at open, and nothing is changed (issue 9, items 2, 3, 13): an index that
 * is missing, empty, or another store's; a truncated index (an error,
 * never a SIGBUS); a format file of an unknown version. The walk that
 * looks for every index page in the file is checked against LMDB's own
 * page counts on an index with deep trees and overflow pages.
 */
#include "store_test_util.h"

#include <fcntl.h>
#include <lmdb.h>

#include "store/store_int.h"

static int open_at(const char *dir, unsigned flags, struct store **s)
{
	char path[512];
	struct store_opts o = { 0 };

	snprintf(path, sizeof(path), "%s/store", dir);
	o.path = path;
	o.flags = flags;
	*s = NULL;
	return store_open(&o, s);
}

/* Run cmd through sh with every '@' replaced by dir. */
static void sh(const char *cmd, const char *dir)
{
	char buf[2048];
	size_t n = 0;

	for (; *cmd && n + strlen(dir) + 2 < sizeof(buf); cmd++) {
		if (*cmd == '@') {
			memcpy(buf + n, dir, strlen(dir));
			n += strlen(dir);
		} else {
			buf[n++] = *cmd;
		}
	}
	buf[n] = '\0';
	CHECK_EQ_INT(system(buf), 0);
}

static int count_files(const char *dir)
{
	char cmd[600];
	int n = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "find '%s/store/data' -type f | wc -l",
		 dir);
	p = popen(cmd, "r");
	if (p && fscanf(p, "%d", &n) != 1)
		n = -1;
	if (p)
		pclose(p);
	return n;
}

/* Deep trees (thousands of keys) and overflow pages (big xattrs). */
static void fill(const char *dir)
{
	struct store *s = tst_open(dir, 0, 0);
	char name[32], big[9000];
	uint64_t oid = 0;
	int i;

	CHECK(s != NULL);
	if (!s)
		return;
	memset(big, 'x', sizeof(big));
	for (i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "file-%05d", i);
		oid = tst_put(s, STORE_ROOT_OID, name, name, strlen(name));
		CHECK(oid != 0);
		if (i % 300 == 0)
			CHECK_EQ_INT(store_setxattr(s, oid, "user.big", big,
						    sizeof(big), 0), 0);
	}
	CHECK(tst_put(s, STORE_ROOT_OID, "large", big, sizeof(big)) != 0);
	store_close(s);
}

static uint64_t branch_pages, overflow_pages;

static uint64_t stat_pages(MDB_txn *txn, MDB_dbi dbi)
{
	MDB_stat st;

	if (mdb_stat(txn, dbi, &st))
		return 0;
	branch_pages += st.ms_branch_pages;
	overflow_pages += st.ms_overflow_pages;
	return st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
}

/* Every page LMDB counts in every DB (free, main, named), from LMDB. */
static uint64_t lmdb_pages(const char *dir)
{
	static const char *const names[] = { "dirents", "objects", "versions",
					     "segments", "meta", "queue",
					     "drafts" };
	char path[512];
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	uint64_t n = 0;
	size_t i;

	snprintf(path, sizeof(path), "%s/store/index", dir);
	if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 8) ||
	    mdb_env_open(env, path, MDB_RDONLY, 0644) ||
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn))
		goto out;
	n = stat_pages(txn, 0) + stat_pages(txn, 1);
	for (i = 0; i < 7; i++) {
		MDB_dbi dbi;

		if (!mdb_dbi_open(txn, names[i], 0, &dbi))
			n += stat_pages(txn, dbi);
	}
out:
	if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return n;
}

static void test_walk(const char *dir)
{
	char path[512];
	uint64_t need = 0, pages = 0, want = lmdb_pages(dir);
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/store/index/data.mdb", dir);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && fstat(fd, &st) == 0);
	if (fd < 0)
		return;
	/* The walk finds exactly the pages LMDB counts, all in the file;
	 * there are branch pages and overflow pages to find. */
	CHECK(want > 100);
	CHECK(branch_pages > 0 && overflow_pages > 0);
	CHECK_EQ_INT(store_index_walk(fd, (uint64_t)st.st_size, &need,
				      &pages), 0);
	CHECK_EQ_INT(pages, want);
	CHECK_EQ_INT(store_index_walk(fd, (uint64_t)st.st_size, &need, NULL),
		     0);
	/* Shorter: pages are missing. */
	CHECK_EQ_INT(store_index_walk(fd, 8192, &need, &pages), 1);
	CHECK(need > 8192);
	CHECK_EQ_INT(store_index_walk(fd, (uint64_t)st.st_size / 2, &need,
				      NULL), 1);
	CHECK_EQ_INT(store_index_walk(fd, 4096, &need, NULL), 1);
	close(fd);
}

static void test_refusals(const char *dir)
{
	struct store *s = NULL;
	int segs = count_files(dir);

	CHECK(segs >= 1);
	sh("cp -a '@/store/index' '@/index.saved'", dir);
	/* Truncated: refused, read-only or not, never a SIGBUS. */
	sh("truncate -s 8192 '@/store/index/data.mdb'", dir);
	CHECK_EQ_INT(open_at(dir, STORE_RDONLY | STORE_NOLOCK, &s), -EUCLEAN);
	CHECK_EQ_INT(open_at(dir, 0, &s), -EUCLEAN);
	/* Missing or empty: refused, and no new index is made. */
	sh("rm -r '@/store/index'", dir);
	CHECK_EQ_INT(open_at(dir, 0, &s), -EUCLEAN);
	CHECK_EQ_INT(open_at(dir, STORE_CREATE, &s), -EUCLEAN);
	CHECK_EQ_INT(open_at(dir, STORE_RDONLY | STORE_NOLOCK, &s), -EUCLEAN);
	sh("test ! -e '@/store/index'", dir);
	sh("cp -a '@/index.saved' '@/store/index' && "
	   ": > '@/store/index/data.mdb'", dir);
	CHECK_EQ_INT(open_at(dir, 0, &s), -EUCLEAN);
	CHECK_EQ_INT(count_files(dir), segs);
	/* Unknown format version. */
	sh("cp '@/index.saved/data.mdb' '@/store/index/' && "
	   "cp '@/store/format' '@/format.saved'", dir);
	sh("printf 'crrfs-store 2\\n' > '@/store/format'", dir);
	CHECK_EQ_INT(open_at(dir, 0, &s), -EPROTONOSUPPORT);
	CHECK_EQ_INT(open_at(dir, STORE_RDONLY | STORE_NOLOCK, &s),
		     -EPROTONOSUPPORT);
	/* A format file from before the index line gets one... */
	sh("printf 'crrfs-store 1\\n' > '@/store/format'", dir);
	CHECK_EQ_INT(open_at(dir, 0, &s), 0);
	store_close(s);
	sh("cmp -s '@/store/format' '@/format.saved'", dir);
	/* ...and then another index is refused. */
	sh("printf 'crrfs-store 1\\nindex 00000000\\n' > '@/store/format'",
	   dir);
	CHECK_EQ_INT(open_at(dir, 0, &s), -EUCLEAN);
	CHECK_EQ_INT(count_files(dir), segs);
	sh("cp '@/format.saved' '@/store/format'", dir);
	CHECK_EQ_INT(open_at(dir, 0, &s), 0);
	store_close(s);
}

int main(void)
{
	char *dir = tst_tmpdir();

	CHECK(dir != NULL);
	if (!dir)
		return 1;
	fill(dir);
	test_walk(dir);
	test_refusals(dir);
	tst_rmrf(dir);
	free(dir);
	return check_done("test_store_trust");
}
