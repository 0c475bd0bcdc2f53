/*
 * test_store_ino.c - what the key record carries beside the name: the inode
 * number (kept by renames, fresh for a dead key that comes back, so never
 * shared by two live keys) and a folder's link count and entry times, on
 * every path that makes a key live or dead (not only the ones the mount
 * uses: undelete, restore, replicas), and across a reopen.
 */
#include <time.h>

#include "store_test_util.h"

static uint64_t ino_of(struct store *s, const char *path)
{
	struct store_entry e;

	if (store_resolve(s, path, &e) || !e.live)
		return 0;
	return e.ino;
}

static uint32_t nlink_of(struct store *s, const char *path)
{
	struct store_entry e;

	if (store_resolve(s, path, &e))
		return 0;
	return e.nlink;
}

/* The id of the first version of a key. */
static int first_vid(void *arg, const struct store_vinfo *v)
{
	strcpy(arg, v->vid);
	return 1;
}

static void pause_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };

	nanosleep(&ts, NULL);
}

static void test_rename_then_revive(struct store *s)
{
	char vid[STORE_VID_LEN + 1] = "";
	uint64_t a, ia, ib;

	a = tst_put(s, STORE_ROOT_OID, "a", "one", 3);
	CHECK(a);
	ia = ino_of(s, "a");
	CHECK_EQ_INT(ia, a);
	pause_ms(5);	/* past the amend window: the rename leaves a marker */
	CHECK_EQ_INT(store_rename(s, STORE_ROOT_OID, "a", STORE_ROOT_OID, "b",
				  0, NULL, NULL), 0);
	CHECK_EQ_INT(ino_of(s, "b"), ia);

	/* The old key comes back (undelete): another file, another number. */
	CHECK_EQ_INT(store_undelete(s, a), 0);
	CHECK(ino_of(s, "a") && ino_of(s, "a") != ia);
	CHECK_EQ_INT(ino_of(s, "b"), ia);

	/* Gone again, then restored by id: again a number of its own. */
	CHECK_EQ_INT(store_unlink(s, STORE_ROOT_OID, "a", NULL), 0);
	CHECK_EQ_INT(store_versions(s, a, first_vid, vid), 0);
	CHECK_EQ_INT(store_restore(s, a, vid, NULL), 0);
	CHECK(ino_of(s, "a") && ino_of(s, "a") != ia);

	/* Renamed back onto its old (dead) name, it keeps its number. */
	CHECK_EQ_INT(store_unlink(s, STORE_ROOT_OID, "a", NULL), 0);
	pause_ms(5);
	CHECK_EQ_INT(store_rename(s, STORE_ROOT_OID, "b", STORE_ROOT_OID, "a",
				  0, NULL, NULL), 0);
	CHECK_EQ_INT(ino_of(s, "a"), ia);
	ib = tst_put(s, STORE_ROOT_OID, "b", "new", 3);
	CHECK(ib && ino_of(s, "b") != ia);
}

static void test_folder_counts(struct store *s)
{
	struct store_attr da = tst_attr(0755);
	struct store_entry d, x, e;

	CHECK_EQ_INT(store_mkdir(s, STORE_ROOT_OID, "d", &da, &d), 0);
	CHECK_EQ_INT(d.nlink, 2);
	CHECK_EQ_INT(store_mkdir(s, d.oid, "x", &da, &x), 0);
	CHECK_EQ_INT(store_mkdir(s, d.oid, "y", &da, &e), 0);
	CHECK(tst_put(s, d.oid, "f", "1", 1));
	CHECK_EQ_INT(nlink_of(s, "d"), 4);
	CHECK_EQ_INT(store_rmdir(s, d.oid, "x", NULL), 0);
	CHECK_EQ_INT(nlink_of(s, "d"), 3);
	CHECK_EQ_INT(store_undelete(s, x.oid), 0);
	CHECK_EQ_INT(nlink_of(s, "d"), 4);
	/* A folder moved with its subfolders: counts follow the keys. */
	pause_ms(5);
	CHECK_EQ_INT(store_rename(s, STORE_ROOT_OID, "d", STORE_ROOT_OID, "d2",
				  0, NULL, NULL), 0);
	CHECK_EQ_INT(nlink_of(s, "d2"), 4);
	CHECK_EQ_INT(nlink_of(s, "d2/x"), 2);
	CHECK_EQ_INT(nlink_of(s, "d2/f"), 1);
	CHECK_EQ_INT(store_resolve(s, "d", &e), -ENOENT);
}

static void test_folder_times(struct store *s)
{
	struct store_attr da = tst_attr(0755), set = { 0 };
	struct store_entry d, e;
	int64_t t0;

	CHECK_EQ_INT(store_mkdir(s, STORE_ROOT_OID, "t", &da, &d), 0);
	t0 = d.head.attr.mtime_ns;
	CHECK(tst_put(s, d.oid, "f", "1", 1));
	CHECK_EQ_INT(store_stat(s, d.oid, &e), 0);
	CHECK(e.head.attr.mtime_ns > t0 && e.head.attr.ctime_ns > t0);
	/* An explicit time wins, and survives a chmod. */
	set.mtime_ns = 42;
	CHECK_EQ_INT(store_setattr(s, d.oid, &set, STORE_SET_MTIME, NULL), 0);
	set.mode = 0700;
	CHECK_EQ_INT(store_setattr(s, d.oid, &set, STORE_SET_MODE, &e), 0);
	CHECK_EQ_INT(e.head.attr.mtime_ns, 42);
	CHECK(tst_put(s, d.oid, "g", "1", 1));
	CHECK_EQ_INT(store_stat(s, d.oid, &e), 0);
	CHECK(e.head.attr.mtime_ns > t0);
}

int main(void)
{
	char *dir = tst_tmpdir();
	struct store *s;
	uint64_t ia;

	s = tst_open(dir, 0, 1);
	CHECK(s != NULL);
	if (!s)
		return check_done("test_store_ino");
	test_rename_then_revive(s);
	test_folder_counts(s);
	test_folder_times(s);
	ia = ino_of(s, "a");
	store_close(s);
	s = tst_open(dir, 0, 1);
	CHECK(s != NULL);
	if (s) {
		CHECK_EQ_INT(ino_of(s, "a"), ia);
		CHECK_EQ_INT(nlink_of(s, "d2"), 4);
		store_close(s);
	}
	tst_rmrf(dir);
	free(dir);
	return check_done("test_store_ino");
}
