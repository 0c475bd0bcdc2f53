/*
 * test_store_crash.c - what survives a crash and what fsck finds: a child
 * process seals files, fsyncs a draft, writes data it never seals, and
 * dies without store_close(); the parent reopens and checks every sealed
 * version, the draft turned version, no orphans, a clean fsck. Then fsck
 * against a deleted and an extra segment file, and a full disk (tmpfs).
 */
#include <sys/mount.h>
#include <sys/wait.h>

#include "store_test_util.h"

static void child_work(const char *dir)
{
	struct store *s = tst_open(dir, 0, 0);
	struct store_attr a = tst_attr(0644);
	struct store_entry e;
	struct store_file *f;
	char name[32], buf[70000];
	int i;

	if (!s)
		_exit(2);
	memset(buf, 'c', sizeof(buf));
	for (i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "sealed%d", i);
		if (!tst_put(s, STORE_ROOT_OID, name, buf, 1000 + i))
			_exit(3);
	}
	/* fsync of a file still open: a draft. */
	if (store_create(s, STORE_ROOT_OID, "draft", &a, &e) ||
	    store_file_open(s, e.oid, 0, &f) ||
	    store_file_write(f, "drafted", 7, 0) != 7 ||
	    store_file_seal(f, e.oid, &a, STORE_DRAFT | STORE_DURABLE, NULL))
		_exit(4);
	/* Written, never sealed: orphan data and a pending key. */
	if (store_create(s, STORE_ROOT_OID, "never", &a, &e) ||
	    store_file_open(s, e.oid, 0, &f) ||
	    store_file_write(f, buf, sizeof(buf), 0) != sizeof(buf))
		_exit(5);
	_exit(0);	/* no store_close, no free: as kill -9 */
}

static void test_crash(const char *dir)
{
	struct store_fsck_report r;
	struct store_entry e;
	struct store *s;
	char name[32], *got;
	size_t len;
	int i, st = -1;
	pid_t pid = fork();

	if (pid == 0)
		child_work(dir);
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	s = tst_open(dir, 0, 0);
	CHECK(s != NULL);
	if (!s)
		return;
	for (i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "sealed%d", i);
		CHECK_EQ_INT(store_lookup(s, STORE_ROOT_OID, name, &e), 0);
		CHECK_EQ_INT(e.head.attr.size, 1000 + i);
	}
	CHECK_EQ_INT(store_lookup(s, STORE_ROOT_OID, "draft", &e), 0);
	CHECK(e.live);
	got = tst_get(s, e.oid, 0, &len);
	CHECK(got && len == 7 && !memcmp(got, "drafted", 7));
	free(got);
	CHECK_EQ_INT(store_lookup_any(s, STORE_ROOT_OID, "never", &e),
		     -ENOENT);
	CHECK_EQ_INT(store_fsck(s, 0, &r), 0);
	CHECK_EQ_INT(r.orphan_segments, 0);
	CHECK_EQ_INT(r.pending_keys, 0);
	CHECK_EQ_INT(r.missing_data, 0);
	store_close(s);
}

static int find_seg(void *arg, const char *name, const struct store_entry *e)
{
	(void)name;
	*(uint64_t *)arg = e->oid;
	return 1;
}

static void test_fsck(const char *dir)
{
	struct store *s = tst_open(dir, 0, 0);
	struct store_fsck_report r;
	char cmd[1024];
	uint64_t oid = 0;
	int rc;

	if (!s)
		return;
	CHECK(tst_put(s, STORE_ROOT_OID, "victim", "v", 1));
	store_readdir(s, STORE_ROOT_OID, NULL, 0, find_seg, &oid);
	store_close(s);
	/* An extra file, and one segment gone. */
	snprintf(cmd, sizeof(cmd),
		 "set -e; cd '%s/store/data'; mkdir -p ff; "
		 "echo junk > ff/00000000deadbeff; "
		 "f=$(ls -t */* | grep -v deadbeff | head -1); rm \"$f\"",
		 dir);
	CHECK_EQ_INT(system(cmd), 0);
	/* A clean mark skips the scan at open; fsck still looks. */
	s = tst_open(dir, 0, 0);
	CHECK(s != NULL);
	if (!s)
		return;
	rc = store_fsck(s, 0, &r);
	CHECK_EQ_INT(rc, 1);
	CHECK_EQ_INT(r.missing_data, 1);
	CHECK_EQ_INT(r.orphan_segments, 1);
	rc = store_fsck(s, STORE_FSCK_REPAIR, &r);
	CHECK_EQ_INT(r.orphan_segments, 1);
	CHECK_EQ_INT(rc, 1);	/* missing data cannot be repaired */
	CHECK_EQ_INT(store_fsck(s, 0, &r), 1);
	CHECK_EQ_INT(r.orphan_segments, 0);
	store_close(s);
}

static void test_enospc(const char *dir)
{
	char mnt[512], buf[65536];
	struct store *s;
	struct store_file *f;
	struct store_entry e;
	struct store_attr a = tst_attr(0644);
	ssize_t n = 0;
	uint64_t off = 0, keep;
	size_t len;
	char *got;

	snprintf(mnt, sizeof(mnt), "%s/small", dir);
	mkdir(mnt, 0755);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=4m")) {
		printf("enospc: cannot mount tmpfs, skipped\n");
		return;
	}
	/* Small map: the index fits in the 4 MiB too. */
	s = tst_open(mnt, 0, 0);
	CHECK(s != NULL);
	if (!s)
		goto out;
	memset(buf, 'k', sizeof(buf));
	keep = tst_put(s, STORE_ROOT_OID, "keep", buf, 1000);
	CHECK(keep);
	CHECK_EQ_INT(store_create(s, STORE_ROOT_OID, "fill", &a, &e), 0);
	CHECK_EQ_INT(store_file_open(s, e.oid, 0, &f), 0);
	while (off < 64 * 1024 * 1024) {
		n = store_file_write(f, buf, sizeof(buf), off);
		if (n < (ssize_t)sizeof(buf))
			break;
		off += (uint64_t)n;
	}
	if (n > 0 && n < (ssize_t)sizeof(buf))
		n = store_file_write(f, buf, sizeof(buf), off + (uint64_t)n);
	CHECK_EQ_INT(n, -ENOSPC);
	got = tst_get(s, keep, 0, &len);
	CHECK(got && len == 1000 && got[999] == 'k');
	free(got);
	/* Free the space: the store goes on. */
	store_file_free(f);
	CHECK_EQ_INT(store_unlink(s, STORE_ROOT_OID, "fill", NULL), 0);
	CHECK(tst_put(s, STORE_ROOT_OID, "after", "ok", 2));
	store_close(s);
out:
	umount(mnt);
}

int main(void)
{
	char *dir = tst_tmpdir(), *dir2 = tst_tmpdir();

	test_crash(dir);
	test_fsck(dir2);
	test_enospc(dir);
	tst_rmrf(dir);
	tst_rmrf(dir2);
	free(dir);
	free(dir2);
	return check_done("test_store_crash");
}
