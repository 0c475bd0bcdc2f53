/*
 * test_store_reseal.c - store_file_reseal(): a later close of the same open
 * file replaces the version its earlier close made (same id, new bytes,
 * counts right, old data collected) only while that version is the head
 * and unexposed; otherwise it adds a version and the old one stays as it
 * was.
 */
#include "store_test_util.h"

#define KiB 1024

static void fill(char *buf, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(seed + i * 13 + i / 997);
}

static int reseal(struct store_file *f, uint64_t oid, uint64_t vseq,
		  struct store_entry *e)
{
	struct store_attr a = tst_attr(0644);

	return store_file_reseal(f, oid, vseq, &a, e);
}

static void check_clean(struct store *s)
{
	struct store_fsck_report r;

	CHECK_EQ_INT(store_fsck(s, 0, &r), 0);
	CHECK_EQ_INT(r.bad_refcounts, 0);
	CHECK_EQ_INT(r.orphan_segments, 0);
}

/* Version vseq of oid (0: the head) holds the text want. */
static void check_text(struct store *s, uint64_t oid, uint64_t vseq,
		       const char *want)
{
	size_t len;
	char *got = tst_get(s, oid, vseq, &len);

	CHECK_EQ_STR(got, want);
	free(got);
}

/* Content as of the last close, in one version with the first id. */
static void test_replaces_unexposed(struct store *s)
{
	size_t big = 600 * KiB, len;
	char *data = malloc(2 * big), *got;
	struct store_file *f = NULL;
	struct store_entry e, e2;
	uint64_t oid;

	fill(data, 2 * big, 3);
	oid = tst_put(s, STORE_ROOT_OID, "log", data, big);
	CHECK(oid);
	CHECK_EQ_INT(store_stat(s, oid, &e), 0);
	CHECK_EQ_INT(store_file_open(s, oid, 0, &f), 0);
	CHECK_EQ_INT(store_file_write(f, data + big, big, big), (long)big);
	CHECK_EQ_INT(reseal(f, oid, e.head.vseq, &e2), 0);
	store_file_free(f);
	CHECK_EQ_INT(tst_nversions(s, oid), 1);
	CHECK_EQ_INT(e2.head.vseq, e.head.vseq);
	CHECK_EQ_STR(e2.head.vid, e.head.vid);
	CHECK_EQ_INT(e2.head.attr.size, 2 * big);
	CHECK(!(e2.head.flags & STORE_V_HAS_SHA));
	got = tst_get(s, oid, 0, &len);
	CHECK(got && len == 2 * big && !memcmp(got, data, len));
	free(got);
	check_clean(s);

	/* A rewrite from scratch: the first bytes are collected. */
	CHECK_EQ_INT(store_file_open(s, oid, 0, &f), 0);
	CHECK_EQ_INT(store_file_truncate(f, 0), 0);
	CHECK_EQ_INT(store_file_write(f, "x", 1, 0), 1);
	CHECK_EQ_INT(reseal(f, oid, e.head.vseq, &e2), 0);
	store_file_free(f);
	CHECK_EQ_INT(tst_nversions(s, oid), 1);
	CHECK_EQ_INT(e2.head.alloc_bytes, 1);
	check_clean(s);
	free(data);
}

/* Exposed, or no longer the head: a new version; the old one unchanged. */
static void test_keeps_seen_versions(struct store *s)
{
	struct store_file *f = NULL;
	struct store_entry e, e2, e3;
	uint64_t oid;

	oid = tst_put(s, STORE_ROOT_OID, "seen", "first", 5);
	CHECK(oid);
	CHECK_EQ_INT(store_stat(s, oid, &e), 0);
	CHECK_EQ_INT(store_expose(s, oid, e.head.vseq), 0);
	CHECK_EQ_INT(store_file_open(s, oid, 0, &f), 0);
	CHECK_EQ_INT(store_file_write(f, "+", 1, 5), 1);
	CHECK_EQ_INT(reseal(f, oid, e.head.vseq, &e2), 0);
	CHECK_EQ_INT(tst_nversions(s, oid), 2);
	CHECK(e2.head.vseq != e.head.vseq);
	check_text(s, oid, e.head.vseq, "first");
	/* e is not the head any more: the next reseal naming it adds one. */
	CHECK_EQ_INT(store_file_write(f, "+", 1, 6), 1);
	CHECK_EQ_INT(reseal(f, oid, e.head.vseq, &e3), 0);
	CHECK_EQ_INT(tst_nversions(s, oid), 3);
	check_text(s, oid, e2.head.vseq, "first+");
	/* ... and naming the head (unexposed) replaces it. */
	CHECK_EQ_INT(store_file_write(f, "+", 1, 7), 1);
	CHECK_EQ_INT(reseal(f, oid, e3.head.vseq, &e2), 0);
	CHECK_EQ_INT(tst_nversions(s, oid), 3);
	check_text(s, oid, 0, "first+++");
	store_file_free(f);
	check_clean(s);
}

/* A key deleted meanwhile is not brought back. */
static void test_deleted(struct store *s)
{
	struct store_file *f = NULL;
	struct store_entry e, e2;
	uint64_t oid, gone = 0;

	oid = tst_put(s, STORE_ROOT_OID, "gone", "abc", 3);
	CHECK_EQ_INT(store_stat(s, oid, &e), 0);
	CHECK_EQ_INT(store_file_open(s, oid, 0, &f), 0);
	CHECK_EQ_INT(store_unlink(s, STORE_ROOT_OID, "gone", &gone), 0);
	CHECK_EQ_INT(store_file_write(f, "d", 1, 3), 1);
	CHECK_EQ_INT(reseal(f, oid, e.head.vseq, &e2), -ENOENT);
	store_file_free(f);
	check_clean(s);
}

int main(void)
{
	char *dir = tst_tmpdir();
	struct store *s = tst_open(dir, 0, 1);

	CHECK(s);
	if (!s)
		return check_done("test_store_reseal");
	test_replaces_unexposed(s);
	test_keeps_seen_versions(s);
	test_deleted(s);
	store_close(s);
	tst_rmrf(dir);
	free(dir);
	return check_done("test_store_reseal");
}
