/*
 * test_store_power.c - a power loss, simulated: the index was committed
 * MDB_NOSYNC, the newest meta page on the disk is torn, and the machine
 * restarted (another boot id). The store must open at its last synced
 * state with every fsync'ed version; after a crash of the process alone
 * (same boot id) it must keep everything, even what was never synced.
 */
#include "store_test_util.h"

#include <fcntl.h>
#include <sys/wait.h>

static struct store *open_boot(const char *dir, const char *boot)
{
	char path[512];
	struct store_opts o = { 0 };
	struct store *s = NULL;

	snprintf(path, sizeof(path), "%s/store", dir);
	o.path = path;
	o.flags = STORE_CREATE;
	o.sync_interval_ms = 3600 * 1000;	/* only explicit syncs */
	o.amend_window_ms = 1;
	o.boot_id = boot;
	if (store_open(&o, &s))
		return NULL;
	return s;
}

/* In a child that dies without closing: a put, an fsync'ed put, a put. */
static void child_writes(const char *dir, const char *boot)
{
	struct store_attr a = tst_attr(0644);
	struct store_entry e;
	struct store_file *f;
	struct store *s;
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		s = open_boot(dir, boot);
		if (!s)
			_exit(2);
		if (!tst_put(s, STORE_ROOT_OID, "early", "e", 1))
			_exit(3);
		if (store_create(s, STORE_ROOT_OID, "synced", &a, &e) ||
		    store_file_open(s, e.oid, 0, &f) ||
		    store_file_write(f, "fsynced", 7, 0) != 7 ||
		    store_file_seal(f, e.oid, &a, STORE_DURABLE, NULL))
			_exit(4);
		store_file_free(f);
		if (!tst_put(s, STORE_ROOT_OID, "late", "never synced", 12))
			_exit(5);
		_exit(0);	/* no store_close: a crash */
	}
	CHECK(pid > 0);
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Tear the newest meta page of the index, as a power loss can. */
static void tear_newest_meta(const char *dir)
{
	char path[512], page[4096];
	uint64_t t[2] = { 0, 0 };
	int fd, slot, newest;

	snprintf(path, sizeof(path), "%s/store/index/data.mdb", dir);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	for (slot = 0; slot < 2; slot++) {
		CHECK(pread(fd, page, sizeof(page), slot * 4096) == 4096);
		memcpy(&t[slot], page + 144, 8);
	}
	newest = t[1] > t[0];
	memset(page, 0x5a, sizeof(page));
	CHECK(pwrite(fd, page, sizeof(page), newest * 4096) == 4096);
	close(fd);
}

static bool has(struct store *s, const char *name, const char *want)
{
	struct store_entry e;
	size_t len;
	char *got;
	bool ok;

	if (store_lookup(s, STORE_ROOT_OID, name, &e))
		return false;
	got = tst_get(s, e.oid, 0, &len);
	ok = got && len == strlen(want) && !memcmp(got, want, len);
	free(got);
	return ok;
}

int main(void)
{
	char *dir = tst_tmpdir(), *dir2 = tst_tmpdir(), *dir3 = tst_tmpdir();
	struct store_fsck_report r;
	struct store *s;

	/* Power loss: torn meta, new boot -> the synced state. */
	child_writes(dir, "boot-A");
	tear_newest_meta(dir);
	s = open_boot(dir, "boot-B");
	CHECK(s != NULL);
	if (s) {
		CHECK(has(s, "early", "e"));
		CHECK(has(s, "synced", "fsynced"));
		CHECK(!has(s, "late", "never synced"));	/* after the sync */
		CHECK_EQ_INT(store_fsck(s, 0, &r), 0);
		/* and it goes on working */
		CHECK(tst_put(s, STORE_ROOT_OID, "after", "a", 1));
		store_close(s);
	}
	s = open_boot(dir, "boot-B");
	CHECK(s && has(s, "after", "a") && has(s, "synced", "fsynced"));
	store_close(s);

	/* The process alone crashed (same boot): nothing is rolled back. */
	child_writes(dir2, "boot-A");
	s = open_boot(dir2, "boot-A");
	CHECK(s != NULL);
	if (s) {
		CHECK(has(s, "late", "never synced"));
		CHECK_EQ_INT(store_fsck(s, 0, &r), 0);
		store_close(s);
	}

	/* A clean close, then a reboot: everything is there. */
	s = open_boot(dir3, "boot-A");
	CHECK(s && tst_put(s, STORE_ROOT_OID, "clean", "c", 1));
	store_close(s);
	s = open_boot(dir3, "boot-B");
	CHECK(s && has(s, "clean", "c"));
	store_close(s);

	tst_rmrf(dir);
	tst_rmrf(dir2);
	tst_rmrf(dir3);
	free(dir);
	free(dir2);
	free(dir3);
	return check_done("test_store_power");
}
