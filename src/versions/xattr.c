/*
 * xattr.c - extended attributes: the user.crrfs.* scripting interface
 * (SPEC section 3) and plain user metadata.
 *
 * Every name goes through one table of reserved names, so a wrong name,
 * value or place gets one precise errno (the choices are listed in
 * versions.h) and nothing falls through to a silent no-op. Values we
 * produce are ASCII without a trailing newline; values we parse must be
 * exact (a trailing newline in a version id is EINVAL).
 *
 * listxattr shows only what is stored (user metadata and tags). The
 * computed names (version-id, sha256) are left out on purpose: cp -a and
 * rsync -X copy every listed name and would fail on read-only ones, and
 * listing would expose versions (ending their amend window) and hash
 * whole files just because someone ran getfattr -d.
 */
#include "versions/versions.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "util/vid.h"

#define CRRFS_PREFIX "user.crrfs."
#define TAG_PREFIX "user.crrfs.tag."
#define TAG_NAME_MAX 128
#define TAG_VALUE_MAX 256
#define TAGS_MAX 10

enum xname {
	XN_USER,		/* ordinary user metadata */
	XN_VERSION_ID,
	XN_SHA256,
	XN_DELETE_MARKER,
	XN_DELETED,
	XN_RESTORE,
	XN_TAG,
	XN_REPLICATION,		/* later issue: read-only, absent for now */
	XN_UNKNOWN_CRRFS,
	XN_SECURITY,
	XN_OTHER_NS,		/* system.*, trusted.* */
};

static enum xname xname_of(const char *name)
{
	static const struct {
		const char *suffix;
		enum xname x;
	} fixed[] = {
		{ "version-id", XN_VERSION_ID },
		{ "sha256", XN_SHA256 },
		{ "delete-marker", XN_DELETE_MARKER },
		{ "deleted", XN_DELETED },
		{ "restore", XN_RESTORE },
		{ "replication-status", XN_REPLICATION },
		{ "pending-ops", XN_REPLICATION },
		{ "pending-bytes", XN_REPLICATION },
		{ "oldest-pending", XN_REPLICATION },
	};
	const char *rest;
	size_t i;

	if (!strncmp(name, "security.", 9))
		return XN_SECURITY;
	if (strncmp(name, "user.", 5))
		return XN_OTHER_NS;
	if (strncmp(name, CRRFS_PREFIX, strlen(CRRFS_PREFIX)))
		return XN_USER;
	rest = name + strlen(CRRFS_PREFIX);
	if (!strncmp(rest, "tag.", 4))
		return XN_TAG;
	if (!strncmp(rest, "replication-status.", 19) && rest[19])
		return XN_REPLICATION;
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (!strcmp(rest, fixed[i].suffix))
			return fixed[i].x;
	return XN_UNKNOWN_CRRFS;
}

/* Copy a string value out as getxattr(2) would. */
static int put_str(void *buf, size_t size, const char *s)
{
	size_t len = strlen(s);

	if (size && size < len)
		return -ERANGE;
	if (size)
		memcpy(buf, s, len);
	return (int)len;
}

static bool is_virtual(const struct versions_node *vn)
{
	return vn->kind != VERSIONS_LIVE;
}

/* A .versions entry that is a delete marker: it has no bytes and no
 * metadata, only the delete-marker attribute. */
static bool is_marker(const struct versions_node *vn)
{
	return vn->kind == VERSIONS_ENTRY &&
	       (vn->v.flags & STORE_V_DELETE_MARKER);
}

/* A node whose stored metadata get and list read: a live key or a data
 * version; the folders of .versions have none of their own. */
static bool has_stored(const struct versions_node *vn)
{
	return (vn->kind == VERSIONS_LIVE || vn->kind == VERSIONS_ENTRY) &&
	       !is_marker(vn);
}

static uint64_t vseq_of(const struct versions_node *vn)
{
	return vn->kind == VERSIONS_ENTRY ? vn->vseq : 0;
}

/* The version a computed attribute describes: the head of a live key or
 * the entry itself. A key the store no longer has (removed under us)
 * has no such attribute: -ENOENT becomes -ENODATA, as getxattr(2) says. */
static int target_vinfo(struct store *s, const struct versions_node *vn,
			struct store_vinfo *v)
{
	int rc;

	if (vn->kind == VERSIONS_ENTRY) {
		*v = vn->v;
		return 0;
	}
	if (vn->kind != VERSIONS_LIVE)
		return -ENODATA;
	rc = versions_vinfo(s, vn->oid, 0, v);
	return rc == -ENOENT ? -ENODATA : rc;
}

static int get_version_id(struct store *s, const struct versions_node *vn,
			  void *buf, size_t size)
{
	struct store_vinfo v;
	int rc = target_vinfo(s, vn, &v);

	if (rc < 0)
		return rc;
	rc = store_expose(s, v.oid, v.vseq);
	if (rc < 0 && rc != -EROFS)	/* a read-only store amends nothing */
		return rc;
	return put_str(buf, size, v.vid);
}

static int get_sha256(struct store *s, const struct versions_node *vn,
		      void *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	char out[65];
	uint8_t sum[32];
	struct store_vinfo v;
	int rc = target_vinfo(s, vn, &v), i;

	if (rc < 0)
		return rc;
	if (v.flags & STORE_V_DELETE_MARKER)
		return -ENODATA;
	rc = store_sha256(s, v.oid, v.vseq, sum);
	if (rc < 0)
		return rc;
	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[sum[i] >> 4];
		out[2 * i + 1] = hex[sum[i] & 15];
	}
	out[64] = '\0';
	return put_str(buf, size, out);
}

/* .versions/<key> of a deleted key, or a folder's, but not the root's. */
static bool is_history_dir(const struct versions_node *vn)
{
	return vn->kind == VERSIONS_KEY ||
	       (vn->kind == VERSIONS_DIR && vn->oid != STORE_ROOT_OID);
}

static int get_deleted(struct store *s, const struct versions_node *vn,
		       void *buf, size_t size)
{
	struct store_entry e;
	int rc;

	if (!is_history_dir(vn))
		return -ENODATA;
	rc = store_stat(s, vn->oid, &e);
	if (rc < 0)
		return rc;
	if (e.pending)
		return -ENODATA;
	return put_str(buf, size,
		       e.head.flags & STORE_V_DELETE_MARKER ? "1" : "0");
}

static int get_stored(struct store *s, const struct versions_node *vn,
		      const char *name, void *buf, size_t size)
{
	int rc;

	if (!has_stored(vn))
		return -ENODATA;
	rc = store_getxattr(s, vn->oid, vseq_of(vn), name, buf, size);
	return rc == -ENOENT ? -ENODATA : rc;
}

int versions_getxattr(struct store *s, const struct versions_node *vn,
		      const char *name, void *buf, size_t size)
{
	switch (xname_of(name)) {
	case XN_USER:
	case XN_TAG:
		return get_stored(s, vn, name, buf, size);
	case XN_VERSION_ID:
		return get_version_id(s, vn, buf, size);
	case XN_SHA256:
		return get_sha256(s, vn, buf, size);
	case XN_DELETE_MARKER:
		return is_marker(vn) ? put_str(buf, size, "1") : -ENODATA;
	case XN_DELETED:
		return get_deleted(s, vn, buf, size);
	case XN_SECURITY:
		/* Not supported, rather than absent: ls -l asks every file
		 * for security.selinux until it is told the filesystem has no
		 * such thing, then remembers that for the whole mount (a
		 * FUSE round trip per file saved: half of a warm ls -l). */
	case XN_OTHER_NS:
		return -ENOTSUP;
	default:	/* restore is write-only; replication comes later */
		return -ENODATA;
	}
}

int versions_listxattr(struct store *s, const struct versions_node *vn,
		       char *buf, size_t size)
{
	int rc;

	if (!has_stored(vn))
		return 0;
	rc = store_listxattr(s, vn->oid, vseq_of(vn), buf, size);
	return rc == -ENOENT || rc == -ENODATA ? 0 : rc;
}

/* Number of tags stored on the head of oid, or -errno. */
static int count_tags(struct store *s, uint64_t oid)
{
	char *buf = malloc(STORE_XATTRS_TOTAL_MAX);
	int len, n = 0, i;

	if (!buf)
		return -ENOMEM;
	len = store_listxattr(s, oid, 0, buf, STORE_XATTRS_TOTAL_MAX);
	if (len == -ENOENT || len == -ENODATA)
		len = 0;
	if (len < 0) {
		n = len;
		goto out;
	}
	for (i = 0; i < len; i += (int)strlen(buf + i) + 1)
		if (!strncmp(buf + i, TAG_PREFIX, strlen(TAG_PREFIX)))
			n++;
out:
	free(buf);
	return n;
}

static int check_tag(struct store *s, const struct versions_node *vn,
		     const char *name, const char *value, size_t size)
{
	size_t nlen = strlen(name) - strlen(TAG_PREFIX), i;
	int n;

	if (nlen < 1 || nlen > TAG_NAME_MAX || size > TAG_VALUE_MAX)
		return -EINVAL;
	for (i = 0; i < size; i++)
		if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
			return -EINVAL;
	if (store_getxattr(s, vn->oid, 0, name, NULL, 0) >= 0)
		return 0;	/* replacing a tag never adds one */
	n = count_tags(s, vn->oid);
	if (n < 0)
		return n;
	return n >= TAGS_MAX ? -EINVAL : 0;
}

static unsigned store_xflags(int flags)
{
	return (flags & XATTR_CREATE ? STORE_XATTR_CREATE : 0) |
	       (flags & XATTR_REPLACE ? STORE_XATTR_REPLACE : 0);
}

static int set_restore(struct store *s, const struct versions_node *vn,
		       const char *value, size_t size,
		       struct versions_effect *eff)
{
	char vid[VID_LEN + 1];
	int rc;

	if (vn->kind == VERSIONS_ENTRY ||
	    (vn->kind == VERSIONS_DIR && vn->oid == STORE_ROOT_OID))
		return -EROFS;
	if (size != VID_LEN)
		return -EINVAL;
	memcpy(vid, value, VID_LEN);
	vid[VID_LEN] = '\0';
	if (!vid_valid(vid))
		return -EINVAL;
	rc = store_restore(s, vn->oid, vid, NULL);
	if (rc == -ENOENT)
		return -ENODATA;
	if (rc < 0)
		return rc;
	eff->changed_oid = vn->oid;
	return 0;
}

int versions_setxattr(struct store *s, const struct versions_node *vn,
		      const char *name, const void *value, size_t size,
		      int flags, struct versions_effect *eff)
{
	enum xname x = xname_of(name);
	int rc;

	switch (x) {
	case XN_SECURITY:
	case XN_OTHER_NS:
		return -ENOTSUP;
	case XN_UNKNOWN_CRRFS:
		return -EINVAL;
	case XN_VERSION_ID:
	case XN_SHA256:
	case XN_DELETE_MARKER:
	case XN_DELETED:
	case XN_REPLICATION:
		return -EPERM;
	case XN_RESTORE:
		return set_restore(s, vn, value, size, eff);
	case XN_TAG:
	case XN_USER:
		break;
	}
	if (is_virtual(vn))
		return -EROFS;
	if (x == XN_TAG) {
		rc = check_tag(s, vn, name, value, size);
		if (rc < 0)
			return rc;
	}
	return store_setxattr(s, vn->oid, name, value, size,
			      store_xflags(flags));
}

static int remove_marker(struct store *s, const struct versions_node *vn,
			 struct versions_effect *eff)
{
	int rc;

	if (!is_marker(vn))
		return -ENODATA;
	rc = store_delete_version(s, vn->oid, vn->vseq, false);
	if (rc < 0)
		return rc;
	eff->changed_oid = vn->oid;
	return 0;
}

static int remove_deleted(struct store *s, const struct versions_node *vn,
			  struct versions_effect *eff)
{
	int rc;

	if (!is_history_dir(vn))
		return -ENODATA;
	rc = store_undelete(s, vn->oid);
	if (rc == -ENOENT)
		return -ENODATA;	/* the head is not a delete marker */
	if (rc < 0)
		return rc;
	eff->changed_oid = vn->oid;
	return 0;
}

int versions_removexattr(struct store *s, const struct versions_node *vn,
			 const char *name, bool allow_purge,
			 struct versions_effect *eff)
{
	enum xname x = xname_of(name);
	int rc;

	(void)allow_purge;	/* removing a marker never needs it */
	switch (x) {
	case XN_SECURITY:
	case XN_OTHER_NS:
		return -ENOTSUP;
	case XN_UNKNOWN_CRRFS:
		return -EINVAL;
	case XN_VERSION_ID:
	case XN_SHA256:
	case XN_RESTORE:
	case XN_REPLICATION:
		return -EPERM;
	case XN_DELETE_MARKER:
		return remove_marker(s, vn, eff);
	case XN_DELETED:
		return remove_deleted(s, vn, eff);
	case XN_TAG:
	case XN_USER:
		break;
	}
	if (is_virtual(vn))
		return -EROFS;
	rc = store_setxattr(s, vn->oid, name, NULL, 0, 0);
	return rc == -ENOENT ? -ENODATA : rc;
}
