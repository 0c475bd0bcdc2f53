/*
 * test_inbox_keys.c - an inbox record whose key the store could never
 * hold (".versions/x", "a/../b", "a//b", "/a", a component over 255
 * bytes, ...) is refused by the ingest: moved to inbox/bad with a reason
 * naming the key, logged, and never applied; a good record beside them
 * still is.
 *
 * Design: the records are real ones (remote_inbox_write from a real
 * source version) with only the key changed, so nothing but the key can
 * be why they are refused.
 */
#include <fcntl.h>
#include <limits.h>

#include "remote/inbox.h"
#include "remote/remote.h"
#include "store_test_util.h"

static char dst_path[512];

static void write_record(struct store *src, uint64_t oid, const char *key,
			 const char *name)
{
	char p[1024], why[REMOTE_WHY_MAX] = "";
	struct remote_obj o = { 0 };
	struct store_entry e;
	int fd;

	CHECK_EQ_INT(store_stat(src, oid, &e), 0);
	o.src = src;
	o.oid = oid;
	o.key = key;
	o.v = e.head;
	o.prev_upload = "";
	snprintf(p, sizeof(p), "%s/inbox/%s", dst_path, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ_INT(remote_inbox_write(fd, &o, why, sizeof(why)), 0);
	close(fd);
}

static char *why_of(const char *name)
{
	char p[1024], *buf = calloc(1, 4096);
	FILE *f;

	snprintf(p, sizeof(p), "%s/inbox/bad/%s.why", dst_path, name);
	f = fopen(p, "r");
	if (f && buf && !fgets(buf, 4096, f))
		buf[0] = '\0';
	if (f)
		fclose(f);
	return buf;
}

int main(void)
{
	static const char *const bad[] = {
		".versions/x", ".versions/", "a/.versions/../b", "a/../b",
		"./a", "a//b", "/a", "a/./b", "..", "a/b//",
	};
	char long_comp[300], long_key[5000], name[64], p[1024];
	char *src_dir = tst_tmpdir(), *dst_dir = tst_tmpdir();
	struct store *src = NULL, *dst = NULL;
	struct store_entry e;
	size_t nbad = sizeof(bad) / sizeof(bad[0]), i;
	uint64_t oid;

	if (!src_dir || !dst_dir)
		return 1;
	snprintf(dst_path, sizeof(dst_path), "%s/store", dst_dir);
	src = tst_open(src_dir, 0, 0);
	dst = tst_open(dst_dir, 0, 0);
	CHECK(src && dst);
	if (!src || !dst)
		return check_done("test_inbox_keys");
	oid = tst_put(src, STORE_ROOT_OID, "f", "bytes", 5);
	snprintf(p, sizeof(p), "%s/inbox", dst_path);
	CHECK_EQ_INT(mkdir(p, 0755), 0);
	for (i = 0; i < nbad; i++) {
		snprintf(name, sizeof(name), "bad-%02zu.rec", i);
		write_record(src, oid, bad[i], name);
	}
	memset(long_comp, 'c', 256);
	long_comp[256] = '\0';
	write_record(src, oid, long_comp, "bad-long-comp.rec");
	/* 41 components of 99 bytes: each fine, 4100 bytes in all */
	for (i = 0; i < 41 * 100; i++)
		long_key[i] = i % 100 == 99 ? '/' : 'd';
	strcpy(long_key + 41 * 100 - 1, "");
	write_record(src, oid, long_key, "bad-long-key.rec");
	write_record(src, oid, "good/f", "zz-good.rec");

	/* only the good one is applied */
	CHECK_EQ_INT(remote_dir_ingest(dst, dst_path), 1);
	CHECK_EQ_INT(store_resolve(dst, "good/f", &e), 0);
	CHECK(store_resolve(dst, ".versions/x", &e) != 0);
	CHECK(store_lookup_any(dst, STORE_ROOT_OID, ".versions", &e) != 0);
	CHECK(store_resolve(dst, "b", &e) != 0);
	for (i = 0; i < nbad + 2; i++) {
		char *why;

		if (i < nbad)
			snprintf(name, sizeof(name), "bad-%02zu.rec", i);
		else
			snprintf(name, sizeof(name), "bad-long-%s.rec",
				 i == nbad ? "comp" : "key");
		why = why_of(name);
		if (!why || !strstr(why, "invalid key")) {
			fprintf(stderr, "%s: reason '%s', expected 'invalid "
				"key ...'\n", name, why ? why : "(none)");
			check_failures++;
		}
		free(why);
	}
	store_close(dst);
	store_close(src);
	tst_rmrf(src_dir);
	tst_rmrf(dst_dir);
	free(src_dir);
	free(dst_dir);
	return check_done("test_inbox_keys");
}
