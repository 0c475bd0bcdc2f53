/*
 * test_store_pack.c - small files live in shared pack segments: no segment
 * file per small file, and every way a small file can change (edit, grow
 * past PACK_MAX, truncate, fsync, purge, crash) keeps each version's bytes.
 */
#include "store_test_util.h"

#include <signal.h>
#include <sys/wait.h>

#include "store/store_int.h"

static uint64_t seg_files(struct store *s)
{
	struct store_fsck_report r;

	store_fsck(s, 0, &r);
	return r.segments;
}

static void pattern(char *buf, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = (char)('a' + (seed + i * 13) % 26);
}

/* The bytes of version vseq (0 = head) equal want[0..len). */
static bool same(struct store *s, uint64_t oid, uint64_t vseq,
		 const char *want, size_t len)
{
	size_t got_len;
	char *got = tst_get(s, oid, vseq, &got_len);
	bool ok = got && got_len == len && !memcmp(got, want, len);

	free(got);
	return ok;
}

static uint64_t head_vseq(struct store *s, uint64_t oid)
{
	struct store_entry e;

	return store_stat(s, oid, &e) ? 0 : e.head.vseq;
}

static void test_many_small(struct store *s)
{
	char name[32], buf[5000];
	uint64_t before = seg_files(s), oid[200];
	int i;

	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "small%03d", i);
		pattern(buf, sizeof(buf), (unsigned)i);
		oid[i] = tst_put(s, STORE_ROOT_OID, name, buf,
				 (size_t)(i * 25));
		CHECK(oid[i]);
	}
	/* 200 files, one pack: not 200 segment files. */
	CHECK(seg_files(s) - before <= 1);
	for (i = 0; i < 200; i++) {
		pattern(buf, sizeof(buf), (unsigned)i);
		CHECK(same(s, oid[i], 0, buf, (size_t)(i * 25)));
	}
}

/* Edit a packed file, grow it past PACK_MAX, truncate it: every version
 * keeps its own bytes. */
static void test_edit_grow_truncate(struct store *s)
{
	static char v1[3000], v2[3000], v3[300000];
	struct store_attr a = tst_attr(0644);
	struct store_file *f;
	uint64_t oid, s1, s2;

	pattern(v1, sizeof(v1), 1);
	oid = tst_put(s, STORE_ROOT_OID, "edit", v1, sizeof(v1));
	s1 = head_vseq(s, oid);

	/* v2: an edit in the middle (copy from the pack into memory). */
	memcpy(v2, v1, sizeof(v2));
	memcpy(v2 + 1000, "EDITED", 6);
	CHECK_EQ_INT(store_file_open(s, oid, 0, &f), 0);
	CHECK_EQ_INT(store_file_write(f, "EDITED", 6, 1000), 6);
	CHECK_EQ_INT(store_file_seal(f, oid, &a, 0, NULL), 0);
	s2 = head_vseq(s, oid);
	CHECK(s2 > s1);
	CHECK(same(s, oid, s1, v1, sizeof(v1)));
	CHECK(same(s, oid, s2, v2, sizeof(v2)));

	/* v3: the same copy writes far past PACK_MAX: the small chunk
	 * spills into a segment of the file's own; the gap reads zeros. */
	memset(v3, 0, sizeof(v3));
	memcpy(v3, v2, sizeof(v2));
	memcpy(v3 + 250000, "TAIL", 4);
	CHECK_EQ_INT(store_file_write(f, "TAIL", 4, 250000), 4);
	CHECK_EQ_INT(store_file_size(f), 250004);
	CHECK_EQ_INT(store_file_seal(f, oid, &a, 0, NULL), 0);
	CHECK(same(s, oid, 0, v3, 250004));
	CHECK(same(s, oid, s2, v2, sizeof(v2)));
	store_file_free(f);

	/* Truncate a small in-memory file down and up: zeros, not stale. */
	CHECK_EQ_INT(store_file_open(s, oid, s1, &f), 0);
	CHECK_EQ_INT(store_file_write(f, "x", 1, 10), 1);	/* in memory */
	CHECK_EQ_INT(store_file_truncate(f, 20), 0);
	CHECK_EQ_INT(store_file_truncate(f, 2000), 0);
	memcpy(v2, v1, 20);
	v2[10] = 'x';
	memset(v2 + 20, 0, 2000 - 20);
	CHECK_EQ_INT(store_file_seal(f, oid, &a, 0, NULL), 0);
	store_file_free(f);
	CHECK(same(s, oid, 0, v2, 2000));
	CHECK(same(s, oid, s1, v1, sizeof(v1)));

	/* Truncate to nothing: an empty version, no data at all. */
	CHECK_EQ_INT(store_file_open(s, oid, 0, &f), 0);
	CHECK_EQ_INT(store_file_truncate(f, 0), 0);
	CHECK_EQ_INT(store_file_seal(f, oid, &a, 0, NULL), 0);
	store_file_free(f);
	CHECK(same(s, oid, 0, "", 0));
}

/* A packed file grown past PACK_MAX by a later copy. */
static void test_grow_from_pack(struct store *s)
{
	static char small[4096], big[200000];
	struct store_attr a = tst_attr(0644);
	struct store_file *f;
	uint64_t oid, s1;

	pattern(small, sizeof(small), 7);
	oid = tst_put(s, STORE_ROOT_OID, "grow", small, sizeof(small));
	s1 = head_vseq(s, oid);
	memset(big, 0, sizeof(big));
	memcpy(big, small, sizeof(small));
	pattern(big + 150000, 50000, 9);
	CHECK_EQ_INT(store_file_open(s, oid, 0, &f), 0);
	CHECK_EQ_INT(store_file_write(f, big + 150000, 50000, 150000), 50000);
	CHECK_EQ_INT(store_file_seal(f, oid, &a, 0, NULL), 0);
	store_file_free(f);
	CHECK(same(s, oid, 0, big, sizeof(big)));
	CHECK(same(s, oid, s1, small, sizeof(small)));
}

/* Purging packed versions frees nothing another version still reads. */
static void test_purge(struct store *s)
{
	char a1[100], b1[100];
	uint64_t a, b, va;

	pattern(a1, sizeof(a1), 3);
	pattern(b1, sizeof(b1), 4);
	a = tst_put(s, STORE_ROOT_OID, "pa", a1, sizeof(a1));
	b = tst_put(s, STORE_ROOT_OID, "pb", b1, sizeof(b1));
	va = head_vseq(s, a);
	CHECK(tst_put(s, STORE_ROOT_OID, "pa", "new", 3) == a);
	CHECK_EQ_INT(store_delete_version(s, a, va, true), 0);
	CHECK_EQ_INT(tst_nversions(s, a), 1);
	CHECK(same(s, b, 0, b1, sizeof(b1)));
	CHECK(same(s, a, 0, "new", 3));
}

/* A child seals small files (some fsync'ed drafts) and dies without
 * closing the store: all of it is there after reopening, fsck clean. */
static void test_crash(const char *dir)
{
	char name[32], buf[1000];
	struct store_fsck_report r;
	struct store_entry e;
	struct store *s;
	pid_t pid;
	int i, st;

	pid = fork();
	if (pid == 0) {
		struct store_attr a = tst_attr(0644);
		struct store_file *f;

		s = tst_open(dir, 0, 1);
		for (i = 0; s && i < 50; i++) {
			snprintf(name, sizeof(name), "crash%02d", i);
			pattern(buf, sizeof(buf), (unsigned)i);
			tst_put(s, STORE_ROOT_OID, name, buf, sizeof(buf));
		}
		if (s && !store_create(s, STORE_ROOT_OID, "draft", &a, &e) &&
		    !store_file_open(s, e.oid, 0, &f)) {
			store_file_write(f, "durable", 7, 0);
			store_file_seal(f, e.oid, &a,
					STORE_DURABLE | STORE_DRAFT, NULL);
		}
		_exit(0);	/* no store_close: as if killed */
	}
	CHECK(pid > 0);
	waitpid(pid, &st, 0);
	s = tst_open(dir, 0, 1);
	CHECK(s != NULL);
	if (!s)
		return;
	for (i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "crash%02d", i);
		pattern(buf, sizeof(buf), (unsigned)i);
		CHECK_EQ_INT(store_lookup(s, STORE_ROOT_OID, name, &e), 0);
		CHECK(same(s, e.oid, 0, buf, sizeof(buf)));
	}
	CHECK_EQ_INT(store_lookup(s, STORE_ROOT_OID, "draft", &e), 0);
	CHECK(same(s, e.oid, 0, "durable", 7));
	CHECK_EQ_INT(store_fsck(s, 0, &r), 0);
	store_close(s);
}

int main(void)
{
	char *dir = tst_tmpdir(), *dir2 = tst_tmpdir();
	struct store_fsck_report r;
	struct store *s = tst_open(dir, 0, 1);

	CHECK(s != NULL);
	if (!s)
		return check_done("test_store_pack");
	test_many_small(s);
	test_edit_grow_truncate(s);
	test_grow_from_pack(s);
	test_purge(s);
	CHECK_EQ_INT(store_fsck(s, 0, &r), 0);
	CHECK_EQ_INT(r.orphan_segments, 0);
	store_close(s);
	test_crash(dir2);
	tst_rmrf(dir);
	tst_rmrf(dir2);
	free(dir);
	free(dir2);
	return check_done("test_store_pack");
}
