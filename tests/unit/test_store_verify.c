/*
 * test_store_verify.c - damaged data is found, never returned as good
 * (issue 9 items 4 and 5, at the store's level): a truncate that drops a
 * working copy's whole segment leaves no orphan; a segment cut short is
 * -EIO on read and short_data in fsck; overwritten bytes are bad_data in
 * fsck --deep and -EIO on a STORE_VERIFY read to the end; a truncate up
 * is no false alarm; a store sealed by an older crrfs, which left
 * segments short after a truncate up, still reads zeros there.
 */
#include "store_test_util.h"

#include <lmdb.h>

#define KiB 1024

static void fill(char *buf, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = (char)(seed * 31 + i * 7 + i / 4096);
}

/* Path of the only segment file of the store in dir (or ""). */
static void one_segment(const char *dir, char *out, size_t size)
{
	char cmd[700];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls -d '%s'/store/data/*/*", dir);
	out[0] = '\0';
	p = popen(cmd, "r");
	if (!p)
		return;
	if (fgets(out, (int)size, p))
		out[strcspn(out, "\n")] = '\0';
	pclose(p);
}

static struct store *reopen(struct store *s, const char *dir, unsigned fl)
{
	store_close(s);
	return tst_open(dir, fl, 0);
}

static void test_truncate_leak(const char *dir)
{
	static char buf[256 * KiB];
	struct store_attr a = tst_attr(0644);
	struct store_fsck_report r;
	struct store *s = tst_open(dir, 0, 0);
	struct store_file *f;
	uint64_t oid;

	CHECK(s != NULL);
	if (!s)
		return;
	fill(buf, sizeof(buf), 1);
	oid = tst_put(s, STORE_ROOT_OID, "leak", buf, sizeof(buf));
	CHECK(oid);
	CHECK_EQ_INT(store_file_open(s, oid, 0, &f), 0);
	CHECK_EQ_INT(store_file_write(f, buf, 5000, 200000), 5000);
	CHECK_EQ_INT(store_file_truncate(f, 120551), 0);
	CHECK_EQ_INT(store_file_seal(f, oid, &a, 0, NULL), 0);
	store_file_free(f);
	s = reopen(s, dir, 0);
	CHECK_EQ_INT(store_fsck(s, 0, &r), 0);
	CHECK_EQ_INT(r.orphan_segments, 0);
	store_close(s);
}

/* Write name (300 KiB) with its sha256 recorded; returns its oid. */
static uint64_t put_hashed(struct store *s, const char *name, char *buf,
			   size_t len)
{
	uint8_t sum[32];
	uint64_t oid;

	fill(buf, len, 2);
	oid = tst_put(s, STORE_ROOT_OID, name, buf, len);
	CHECK(oid);
	CHECK_EQ_INT(store_sha256(s, oid, 0, sum), 0);
	return oid;
}

static void test_cut_short(const char *dir)
{
	static char buf[300 * KiB], got[300 * KiB];
	struct store_fsck_report r;
	struct store *s = tst_open(dir, 0, 0);
	struct store_file *f;
	char seg[600];
	uint64_t oid;

	if (!s)
		return;
	oid = put_hashed(s, "short", buf, sizeof(buf));
	store_close(s);
	one_segment(dir, seg, sizeof(seg));
	CHECK_EQ_INT(truncate(seg, 200 * KiB), 0);
	s = tst_open(dir, 0, 0);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ_INT(store_fsck(s, 0, &r), 1);
	CHECK_EQ_INT(r.short_data, 1);
	CHECK_EQ_INT(store_file_open(s, oid, 0, &f), 0);
	CHECK_EQ_INT(store_file_read(f, got, 128 * KiB, 0), 128 * KiB);
	CHECK(!memcmp(got, buf, 128 * KiB));
	CHECK_EQ_INT(store_file_read(f, got, sizeof(got), 0), -EIO);
	store_file_free(f);
	store_close(s);
}

/* Make dir's store look written by a crrfs before short_seg_from. */
static void forget_short_seg_from(const char *dir)
{
	char p[600];
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val k = { 14, (void *)"short_seg_from" };

	snprintf(p, sizeof(p), "%s/store/index", dir);
	CHECK_EQ_INT(mdb_env_create(&env), 0);
	CHECK_EQ_INT(mdb_env_set_maxdbs(env, 8), 0);
	CHECK_EQ_INT(mdb_env_set_mapsize(env, (size_t)64 << 30), 0);
	CHECK_EQ_INT(mdb_env_open(env, p, 0, 0644), 0);
	CHECK_EQ_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
	CHECK_EQ_INT(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	CHECK_EQ_INT(mdb_del(txn, dbi, &k, NULL), 0);
	CHECK_EQ_INT(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void test_older_store_short(const char *dir)
{
	static char buf[300 * KiB], got[300 * KiB];
	struct store_fsck_report r;
	struct store *s = tst_open(dir, 0, 0);
	struct store_file *f;
	char seg[600];
	uint64_t oid, oid2;

	if (!s)
		return;
	oid = put_hashed(s, "old", buf, sizeof(buf));
	store_close(s);
	one_segment(dir, seg, sizeof(seg));
	CHECK_EQ_INT(truncate(seg, 200 * KiB), 0);
	forget_short_seg_from(dir);
	s = tst_open(dir, 0, 0);
	CHECK(s != NULL);
	if (!s)
		return;
	/* what an older crrfs read there: zeros, and fsck finds nothing */
	CHECK_EQ_INT(store_file_open(s, oid, 0, &f), 0);
	CHECK_EQ_INT(store_file_read(f, got, sizeof(got), 0), sizeof(got));
	CHECK(!memcmp(got, buf, 200 * KiB));
	CHECK(got[250 * KiB] == 0);
	store_file_free(f);
	CHECK_EQ_INT(store_fsck(s, 0, &r), 0);
	CHECK_EQ_INT(r.short_data, 0);
	/* segments sealed from now on are checked, across a reopen */
	oid2 = tst_put(s, STORE_ROOT_OID, "new", buf, sizeof(buf));
	CHECK(oid2);
	s = reopen(s, dir, 0);
	CHECK(s != NULL);
	if (!s)
		return;
	{
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "truncate -s 100K \"$(ls -d '%s'"
			 "/store/data/*/* | sort | tail -n 1)\"", dir);
		CHECK_EQ_INT(system(cmd), 0);
	}
	CHECK_EQ_INT(store_fsck(s, 0, &r), 1);
	CHECK_EQ_INT(r.short_data, 1);
	CHECK_EQ_INT(store_file_open(s, oid2, 0, &f), 0);
	CHECK_EQ_INT(store_file_read(f, got, sizeof(got), 0), -EIO);
	store_file_free(f);
	store_close(s);
}

static void test_overwritten(const char *dir)
{
	static char buf[300 * KiB], got[300 * KiB];
	struct store_fsck_report r;
	struct store *s = tst_open(dir, 0, 0);
	struct store_file *f;
	char seg[600];
	uint64_t oid;
	FILE *fp;

	if (!s)
		return;
	oid = put_hashed(s, "over", buf, sizeof(buf));
	CHECK_EQ_INT(store_fsck(s, STORE_FSCK_DEEP, &r), 0);
	CHECK_EQ_INT(r.verified, 1);
	store_close(s);
	one_segment(dir, seg, sizeof(seg));
	fp = fopen(seg, "r+b");
	CHECK(fp != NULL);
	if (fp) {
		fseek(fp, 150 * KiB, SEEK_SET);
		fputs("overwritten", fp);
		fclose(fp);
	}
	/* Without STORE_VERIFY the bytes come back; fsck --deep sees it. */
	s = tst_open(dir, 0, 0);
	if (!s)
		return;
	CHECK_EQ_INT(store_fsck(s, 0, &r), 0);
	CHECK_EQ_INT(store_fsck(s, STORE_FSCK_DEEP, &r), 1);
	CHECK_EQ_INT(r.bad_data, 1);
	CHECK_EQ_INT(r.verified, 0);
	s = reopen(s, dir, STORE_VERIFY);
	if (!s)
		return;
	CHECK_EQ_INT(store_file_open(s, oid, 0, &f), 0);
	/* In order but split, as readahead sends it: the last read fails. */
	CHECK_EQ_INT(store_file_read(f, got + 128 * KiB, 128 * KiB, 128 * KiB),
		     128 * KiB);
	CHECK_EQ_INT(store_file_read(f, got, 128 * KiB, 0), 128 * KiB);
	CHECK_EQ_INT(store_file_read(f, got, sizeof(got), 256 * KiB), -EIO);
	store_file_free(f);
	/* Known damaged: a new copy fails even a read in the middle. */
	CHECK_EQ_INT(store_file_open(s, oid, 0, &f), 0);
	CHECK_EQ_INT(store_file_read(f, got, 4096, 8192), -EIO);
	store_file_free(f);
	store_close(s);
}

static void test_truncate_up(const char *dir)
{
	static char buf[100000], got[120000];
	struct store_attr a = tst_attr(0644);
	struct store_fsck_report r;
	struct store *s = tst_open(dir, STORE_VERIFY, 0);
	struct store_entry e;
	struct store_file *f;
	uint8_t sum[32];

	if (!s)
		return;
	fill(buf, sizeof(buf), 3);
	CHECK_EQ_INT(store_create(s, STORE_ROOT_OID, "up", &a, &e), 0);
	CHECK_EQ_INT(store_file_open(s, e.oid, 0, &f), 0);
	CHECK_EQ_INT(store_file_write(f, buf, sizeof(buf), 0), sizeof(buf));
	CHECK_EQ_INT(store_file_truncate(f, sizeof(got)), 0);
	/* Its own segment ends early: zeros there, no error. */
	CHECK_EQ_INT(store_file_read(f, got, sizeof(got), 0), sizeof(got));
	CHECK_EQ_INT(store_file_seal(f, e.oid, &a, 0, NULL), 0);
	store_file_free(f);
	CHECK_EQ_INT(store_sha256(s, e.oid, 0, sum), 0);
	s = reopen(s, dir, STORE_VERIFY);
	if (!s)
		return;
	CHECK_EQ_INT(store_fsck(s, STORE_FSCK_DEEP, &r), 0);
	CHECK_EQ_INT(store_file_open(s, e.oid, 0, &f), 0);
	CHECK_EQ_INT(store_file_read(f, got, sizeof(got), 0), sizeof(got));
	CHECK(!memcmp(got, buf, sizeof(buf)));
	CHECK(got[sizeof(got) - 1] == 0);
	store_file_free(f);
	store_close(s);
}

/* A known mismatch is kept in the record: a copy opened on it, even in a
 * store without STORE_VERIFY, fails reads and writes; a truncate to 0
 * starts clean. A sha that is not the record's marks nothing. */
static void test_mark_damaged(const char *dir)
{
	static char buf[300 * KiB], got[4096];
	struct store *s = tst_open(dir, 0, 0);
	struct store_entry e;
	struct store_file *f;
	uint8_t other[32];
	uint64_t oid;

	CHECK(s != NULL);
	if (!s)
		return;
	oid = put_hashed(s, "m", buf, sizeof(buf));
	CHECK_EQ_INT(store_lookup(s, STORE_ROOT_OID, "m", &e), 0);
	memcpy(other, e.head.sha256, 32);
	other[0] ^= 1;
	CHECK_EQ_INT(store_mark_damaged(s, oid, e.head.vseq, other), 0);
	s = reopen(s, dir, 0);
	CHECK_EQ_INT(store_lookup(s, STORE_ROOT_OID, "m", &e), 0);
	CHECK(!(e.head.flags & STORE_V_DAMAGED));
	CHECK_EQ_INT(store_mark_damaged(s, oid, e.head.vseq, e.head.sha256),
		     0);
	CHECK_EQ_INT(store_mark_damaged(s, oid, e.head.vseq, e.head.sha256),
		     0);
	CHECK_EQ_INT(store_mark_damaged(s, oid, 999, e.head.sha256), -ENOENT);
	s = reopen(s, dir, 0);
	CHECK_EQ_INT(store_lookup(s, STORE_ROOT_OID, "m", &e), 0);
	CHECK(e.head.flags & STORE_V_DAMAGED);
	CHECK(e.head.flags & STORE_V_HAS_SHA);
	CHECK_EQ_INT(store_file_open(s, oid, 0, &f), 0);
	CHECK_EQ_INT(store_file_read(f, got, sizeof(got), 0), -EIO);
	CHECK_EQ_INT(store_file_write(f, "x", 1, sizeof(buf)), -EIO);
	CHECK_EQ_INT(store_file_truncate(f, 10), -EIO);
	CHECK_EQ_INT(store_file_truncate(f, 0), 0);
	CHECK_EQ_INT(store_file_write(f, "new", 3, 0), 3);
	CHECK_EQ_INT(store_file_read(f, got, sizeof(got), 0), 3);
	store_file_free(f);
	store_close(s);
}

int main(void)
{
	void (*tests[])(const char *) = {
		test_truncate_leak, test_cut_short, test_overwritten,
		test_truncate_up, test_mark_damaged, test_older_store_short,
	};
	size_t i;

	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		char *dir = tst_tmpdir();

		CHECK(dir != NULL);
		if (!dir)
			break;
		tests[i](dir);
		tst_rmrf(dir);
		free(dir);
	}
	return check_done("test_store_verify");
}
