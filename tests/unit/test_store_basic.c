/*
 * test_store_basic.c - the store's namespace and history: create, seal,
 * read back, versions, delete markers, folders, rename, xattrs, restore,
 * undelete, version-specific deletes, setattr amends, the lock.
 */
#include "store_test_util.h"

static void test_roundtrip(struct store *s)
{
	struct store_entry e;
	char *got;
	size_t len;
	uint64_t oid = tst_put(s, STORE_ROOT_OID, "a.txt", "hello", 5);

	CHECK(oid > STORE_ROOT_OID);
	got = tst_get(s, oid, 0, &len);
	CHECK(got && len == 5 && !memcmp(got, "hello", 5));
	free(got);
	CHECK_EQ_INT(store_lookup(s, STORE_ROOT_OID, "a.txt", &e), 0);
	CHECK(e.live && !e.pending && e.type == STORE_T_FILE);
	CHECK_EQ_INT(e.head.attr.size, 5);
	CHECK_EQ_INT(e.head.attr.mode, S_IFREG | 0644);
	CHECK_EQ_INT(tst_nversions(s, oid), 1);
	CHECK_EQ_INT(store_lookup(s, STORE_ROOT_OID, "nope", &e), -ENOENT);
}

struct vlist {
	char vids[8][STORE_VID_LEN + 1];
	uint64_t vseq[8];
	unsigned flags[8];
	int n;
};

static int vlist_cb(void *arg, const struct store_vinfo *v)
{
	struct vlist *l = arg;

	if (l->n < 8) {
		strcpy(l->vids[l->n], v->vid);
		l->vseq[l->n] = v->vseq;
		l->flags[l->n] = v->flags;
	}
	l->n++;
	return 0;
}

static void test_three_seals(struct store *s)
{
	static const char *data[] = { "one", "two!", "three" };
	struct vlist l = { .n = 0 };
	uint64_t oid = 0;
	char *got;
	size_t len;
	int i;

	for (i = 0; i < 3; i++)
		oid = tst_put(s, STORE_ROOT_OID, "three", data[i],
			      strlen(data[i]));
	CHECK_EQ_INT(store_versions(s, oid, vlist_cb, &l), 0);
	CHECK_EQ_INT(l.n, 3);
	CHECK(strcmp(l.vids[0], l.vids[1]) < 0);
	CHECK(strcmp(l.vids[1], l.vids[2]) < 0);
	for (i = 0; i < 3 && l.n == 3; i++) {
		got = tst_get(s, oid, l.vseq[i], &len);
		CHECK(got && !strcmp(got, data[i]));
		free(got);
	}
}

static void test_unlink_mkdir(struct store *s)
{
	struct store_attr da = tst_attr(0755);
	struct store_entry d, e;
	uint64_t oid, got = 0;
	struct vlist l = { .n = 0 };

	CHECK_EQ_INT(store_mkdir(s, STORE_ROOT_OID, "dir", &da, &d), 0);
	CHECK(d.live && d.type == STORE_T_DIR);
	CHECK_EQ_INT(store_mkdir(s, STORE_ROOT_OID, "dir", &da, &e), -EEXIST);
	oid = tst_put(s, d.oid, "f", "x", 1);
	CHECK(oid);
	CHECK_EQ_INT(store_rmdir(s, STORE_ROOT_OID, "dir", NULL), -ENOTEMPTY);
	CHECK_EQ_INT(store_unlink(s, STORE_ROOT_OID, "dir", NULL), -EISDIR);
	CHECK_EQ_INT(store_dir_has_children(s, d.oid), 1);
	CHECK_EQ_INT(store_unlink(s, d.oid, "f", &got), 0);
	CHECK_EQ_INT(got, oid);
	CHECK_EQ_INT(store_lookup(s, d.oid, "f", &e), -ENOENT);
	CHECK_EQ_INT(store_lookup_any(s, d.oid, "f", &e), 0);
	CHECK(!e.live && (e.head.flags & STORE_V_DELETE_MARKER));
	CHECK_EQ_INT(store_versions(s, oid, vlist_cb, &l), 0);
	CHECK_EQ_INT(l.n, 2);
	CHECK(l.flags[1] & STORE_V_DELETE_MARKER);
	CHECK_EQ_INT(store_dir_has_children(s, d.oid), 0);
	/* Undelete brings it back. */
	CHECK_EQ_INT(store_undelete(s, oid), 0);
	CHECK_EQ_INT(store_lookup(s, d.oid, "f", &e), 0);
	CHECK_EQ_INT(tst_nversions(s, oid), 1);
	CHECK_EQ_INT(store_unlink(s, d.oid, "f", NULL), 0);
	CHECK_EQ_INT(store_rmdir(s, STORE_ROOT_OID, "dir", NULL), 0);
	CHECK_EQ_INT(store_lookup(s, STORE_ROOT_OID, "dir", &e), -ENOENT);
	/* Creating the name again continues the same key's history. */
	CHECK_EQ_INT(store_mkdir(s, STORE_ROOT_OID, "dir", &da, &e), 0);
	CHECK_EQ_INT(e.oid, d.oid);
	CHECK_EQ_INT(tst_nversions(s, d.oid), 3);
	/* A pending key vanishes on unlink. */
	CHECK_EQ_INT(store_create(s, d.oid, "p", &da, &e), 0);
	CHECK(e.pending && !e.live);
	CHECK_EQ_INT(store_create(s, d.oid, "p", &da, &e), -EEXIST);
	CHECK_EQ_INT(store_unlink(s, d.oid, "p", NULL), 0);
	CHECK_EQ_INT(store_lookup_any(s, d.oid, "p", &e), -ENOENT);
	/* A file and a folder of one name: the live one wins. */
	CHECK(tst_put(s, d.oid, "f", "y", 1) == oid);
	CHECK_EQ_INT(tst_nversions(s, oid), 3);
}

/* A key that comes back brings back the deleted folders above it. */
static void test_revive_folders(struct store *s)
{
	struct store_attr da = tst_attr(0755);
	struct store_entry a, b, e;
	struct vlist l = { .n = 0 };
	uint64_t f, g;

	CHECK_EQ_INT(store_mkdir(s, STORE_ROOT_OID, "ra", &da, &a), 0);
	CHECK_EQ_INT(store_mkdir(s, a.oid, "rb", &da, &b), 0);
	f = tst_put(s, b.oid, "f", "one", 3);
	g = tst_put(s, b.oid, "g", "two", 3);
	CHECK(f && g);
	CHECK_EQ_INT(store_unlink(s, b.oid, "f", NULL), 0);
	CHECK_EQ_INT(store_unlink(s, b.oid, "g", NULL), 0);
	CHECK_EQ_INT(store_rmdir(s, a.oid, "rb", NULL), 0);
	CHECK_EQ_INT(store_rmdir(s, STORE_ROOT_OID, "ra", NULL), 0);

	/* Undelete: both folders live again, top down. */
	CHECK_EQ_INT(store_undelete(s, f), 0);
	CHECK_EQ_INT(store_resolve(s, "ra/rb/f", &e), 0);
	CHECK(e.live && e.oid == f);
	CHECK_EQ_INT(tst_nversions(s, a.oid), 1);	/* marker stripped */

	/* Restore by id of a key under a folder deleted again. */
	CHECK_EQ_INT(store_unlink(s, b.oid, "f", NULL), 0);
	CHECK_EQ_INT(store_rmdir(s, a.oid, "rb", NULL), 0);
	CHECK_EQ_INT(store_versions(s, g, vlist_cb, &l), 0);
	CHECK_EQ_INT(l.n, 2);
	CHECK_EQ_INT(store_restore(s, g, l.vids[0], &e), 0);
	CHECK_EQ_INT(store_resolve(s, "ra/rb/g", &e), 0);
	CHECK(e.live);

	/* A live file where a folder was: the folder cannot come back. */
	CHECK_EQ_INT(store_unlink(s, b.oid, "g", NULL), 0);
	CHECK_EQ_INT(store_rmdir(s, a.oid, "rb", NULL), 0);
	CHECK(tst_put(s, a.oid, "rb", "file", 4));
	CHECK_EQ_INT(store_undelete(s, g), -EEXIST);
	CHECK_EQ_INT(store_lookup_any(s, b.oid, "g", &e), 0);
	CHECK(!e.live);	/* nothing changed */
}

struct names {
	char buf[64][16];
	int n;
};

static int names_cb(void *arg, const char *name, const struct store_entry *e)
{
	struct names *nm = arg;

	(void)e;
	if (nm->n < 64)
		snprintf(nm->buf[nm->n], 16, "%s", name);
	nm->n++;
	return 0;
}

static void test_readdir(struct store *s)
{
	struct store_attr da = tst_attr(0755);
	struct store_entry d, e;
	struct names nm = { .n = 0 };
	static const char *order[] = { "a", "a-b", "a.c", "b", "c" };
	int i;

	CHECK_EQ_INT(store_mkdir(s, STORE_ROOT_OID, "rd", &da, &d), 0);
	CHECK(tst_put(s, d.oid, "b", "1", 1));
	CHECK(tst_put(s, d.oid, "a-b", "1", 1));
	CHECK_EQ_INT(store_mkdir(s, d.oid, "a", &da, &e), 0);
	CHECK(tst_put(s, d.oid, "a.c", "1", 1));
	CHECK(tst_put(s, d.oid, "c", "1", 1));
	CHECK(tst_put(s, d.oid, "gone", "1", 1));
	CHECK_EQ_INT(store_unlink(s, d.oid, "gone", NULL), 0);
	CHECK_EQ_INT(store_readdir(s, d.oid, NULL, 0, names_cb, &nm), 0);
	CHECK_EQ_INT(nm.n, 5);
	for (i = 0; i < 5 && nm.n == 5; i++)
		CHECK_EQ_STR(nm.buf[i], order[i]);
	nm.n = 0;
	CHECK_EQ_INT(store_readdir(s, d.oid, "a", 0, names_cb, &nm), 0);
	CHECK_EQ_INT(nm.n, 4);
	CHECK_EQ_STR(nm.buf[0], "a-b");
	nm.n = 0;
	CHECK_EQ_INT(store_readdir(s, d.oid, NULL, STORE_RD_ALL, names_cb,
				   &nm), 0);
	CHECK_EQ_INT(nm.n, 6);
}

static void test_paths(struct store *s)
{
	struct store_attr da = tst_attr(0755);
	struct store_entry d, e;
	char *p = NULL;
	uint64_t oid;

	CHECK_EQ_INT(store_mkdir(s, STORE_ROOT_OID, "docs", &da, &d), 0);
	oid = tst_put(s, d.oid, "a.txt", "z", 1);
	CHECK_EQ_INT(store_key_path(s, oid, &p), 0);
	CHECK_EQ_STR(p, "docs/a.txt");
	free(p);
	CHECK_EQ_INT(store_key_path(s, d.oid, &p), 0);
	CHECK_EQ_STR(p, "docs/");
	free(p);
	CHECK_EQ_INT(store_key_path(s, STORE_ROOT_OID, &p), 0);
	CHECK_EQ_STR(p, "");
	free(p);
	CHECK_EQ_INT(store_resolve(s, "docs/a.txt", &e), 0);
	CHECK_EQ_INT(e.oid, oid);
	CHECK_EQ_INT(store_resolve(s, "docs/", &e), 0);
	CHECK_EQ_INT(e.oid, d.oid);
	CHECK_EQ_INT(store_resolve(s, "docs/a.txt/", &e), -ENOTDIR);
	CHECK_EQ_INT(store_resolve(s, "", &e), 0);
	CHECK_EQ_INT(e.oid, STORE_ROOT_OID);
}

static void test_symlink(struct store *s)
{
	struct store_attr a = tst_attr(0777);
	struct store_entry e;
	char *t = NULL;

	CHECK_EQ_INT(store_symlink(s, STORE_ROOT_OID, "ln", "a/b/c", &a, &e),
		     0);
	CHECK_EQ_INT(e.type, STORE_T_SYMLINK);
	CHECK_EQ_INT(e.head.attr.size, 5);
	CHECK_EQ_INT(store_readlink(s, e.oid, 0, &t), 0);
	CHECK_EQ_STR(t, "a/b/c");
	free(t);
}

static void test_xattrs(struct store *s)
{
	char buf[64];
	static char big[STORE_XATTR_MAX + 1];
	uint64_t oid = tst_put(s, STORE_ROOT_OID, "x", "data", 4);

	CHECK_EQ_INT(store_getxattr(s, oid, 0, "user.a", buf, sizeof(buf)),
		     -ENODATA);
	CHECK_EQ_INT(store_setxattr(s, oid, "user.a", "1234", 4, 0), 0);
	CHECK_EQ_INT(store_setxattr(s, oid, "user.b", "", 0, 0), 0);
	CHECK_EQ_INT(store_setxattr(s, oid, "user.a", "x", 1,
				    STORE_XATTR_CREATE), -EEXIST);
	CHECK_EQ_INT(store_setxattr(s, oid, "user.c", "x", 1,
				    STORE_XATTR_REPLACE), -ENODATA);
	CHECK_EQ_INT(store_getxattr(s, oid, 0, "user.a", buf, sizeof(buf)), 4);
	CHECK(!memcmp(buf, "1234", 4));
	CHECK_EQ_INT(store_getxattr(s, oid, 0, "user.a", NULL, 0), 4);
	CHECK_EQ_INT(store_getxattr(s, oid, 0, "user.a", buf, 2), -ERANGE);
	CHECK_EQ_INT(store_listxattr(s, oid, 0, buf, sizeof(buf)), 14);
	CHECK(!memcmp(buf, "user.a\0user.b\0", 14));
	CHECK_EQ_INT(store_listxattr(s, oid, 0, NULL, 0), 14);
	CHECK_EQ_INT(store_listxattr(s, oid, 0, buf, 3), -ERANGE);
	CHECK_EQ_INT(store_setxattr(s, oid, "user.big", big, sizeof(big), 0),
		     -E2BIG);
	CHECK_EQ_INT(store_setxattr(s, oid, "user.a", NULL, 0, 0), 0);
	CHECK_EQ_INT(store_setxattr(s, oid, "user.a", NULL, 0, 0), -ENODATA);
	CHECK_EQ_INT(store_listxattr(s, oid, 0, buf, sizeof(buf)), 7);
	/* Inside the amend window: still one version. */
	CHECK_EQ_INT(tst_nversions(s, oid), 1);
	/* A new version keeps the metadata. */
	CHECK(tst_put(s, STORE_ROOT_OID, "x", "more", 4) == oid);
	CHECK_EQ_INT(store_getxattr(s, oid, 0, "user.b", buf, sizeof(buf)), 0);
}

static void test_setattr_amend(struct store *s)
{
	struct store_attr a = tst_attr(0600);
	struct store_entry e;
	uint64_t oid = tst_put(s, STORE_ROOT_OID, "am", "abc", 3);
	struct vlist l = { .n = 0 };
	char *got;
	size_t len;

	CHECK_EQ_INT(store_setattr(s, oid, &a, STORE_SET_MODE, &e), 0);
	CHECK_EQ_INT(e.head.attr.mode, S_IFREG | 0600);
	CHECK_EQ_INT(tst_nversions(s, oid), 1);
	CHECK_EQ_INT(store_expose(s, oid, e.head.vseq), 0);
	a.uid = 42;
	CHECK_EQ_INT(store_setattr(s, oid, &a, STORE_SET_UID, &e), 0);
	CHECK_EQ_INT(e.head.attr.uid, 42);
	CHECK_EQ_INT(e.head.attr.mode, S_IFREG | 0600);
	CHECK_EQ_INT(store_versions(s, oid, vlist_cb, &l), 0);
	CHECK_EQ_INT(l.n, 2);
	got = tst_get(s, oid, 0, &len);
	CHECK(got && len == 3 && !memcmp(got, "abc", 3));
	free(got);
	/* Restore of version 1: a third version, same bytes. */
	tst_put(s, STORE_ROOT_OID, "am", "changed", 7);
	CHECK_EQ_INT(store_restore(s, oid, l.vids[0], &e), 0);
	CHECK_EQ_INT(e.head.attr.size, 3);
	CHECK_EQ_INT(tst_nversions(s, oid), 4);
	got = tst_get(s, oid, 0, &len);
	CHECK(got && len == 3 && !memcmp(got, "abc", 3));
	free(got);
	CHECK_EQ_INT(store_restore(s, oid, "0000000000000000000000000Z", &e),
		     -ENOENT);
}

static void test_sha(struct store *s)
{
	static const uint8_t abc[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
		0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
		0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
	uint8_t out[32];
	struct store_entry e;
	uint64_t oid = tst_put(s, STORE_ROOT_OID, "sha", "abc", 3);

	CHECK_EQ_INT(store_sha256(s, oid, 0, out), 0);
	CHECK(!memcmp(out, abc, 32));
	CHECK_EQ_INT(store_stat(s, oid, &e), 0);
	CHECK(e.head.flags & STORE_V_HAS_SHA);
	CHECK(!memcmp(e.head.sha256, abc, 32));
}

static void test_delete_version(struct store *s)
{
	struct vlist l = { .n = 0 };
	struct store_entry e;
	uint64_t oid = tst_put(s, STORE_ROOT_OID, "dv", "v1", 2);

	tst_put(s, STORE_ROOT_OID, "dv", "v2", 2);
	CHECK_EQ_INT(store_unlink(s, STORE_ROOT_OID, "dv", NULL), 0);
	CHECK_EQ_INT(store_versions(s, oid, vlist_cb, &l), 0);
	CHECK_EQ_INT(l.n, 3);
	CHECK_EQ_INT(store_delete_version(s, oid, l.vseq[0], false), -EPERM);
	/* Removing the marker on top brings the key back. */
	CHECK_EQ_INT(store_delete_version(s, oid, l.vseq[2], false), 0);
	CHECK_EQ_INT(store_lookup(s, STORE_ROOT_OID, "dv", &e), 0);
	CHECK_EQ_INT(e.head.vseq, l.vseq[1]);
	CHECK_EQ_INT(store_delete_version(s, oid, l.vseq[0], true), 0);
	CHECK_EQ_INT(tst_nversions(s, oid), 1);
	CHECK_EQ_INT(store_delete_version(s, oid, l.vseq[1], true), 0);
	CHECK_EQ_INT(store_stat(s, oid, &e), -ENOENT);
}

int main(void)
{
	char *dir = tst_tmpdir();
	struct store *s, *s2;

	s = tst_open(dir, 0, 0);
	CHECK(s != NULL);
	if (!s)
		return check_done("test_store_basic");
	s2 = tst_open(dir, 0, 0);
	CHECK(s2 == NULL);
	test_roundtrip(s);
	test_three_seals(s);
	test_unlink_mkdir(s);
	test_revive_folders(s);
	test_readdir(s);
	test_paths(s);
	test_symlink(s);
	test_xattrs(s);
	test_setattr_amend(s);
	test_sha(s);
	test_delete_version(s);
	store_close(s);
	tst_rmrf(dir);
	free(dir);
	return check_done("test_store_basic");
}
