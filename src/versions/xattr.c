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
 * whole files just because someone ran getfattr -d. The replication
 * names are computed the same way, from repl's records in the store, so a
 * read-only mount of a replica still says REPLICA.
 */
#include "versions/versions.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>

#include "repl/repl.h"
#include "util/tag.h"
#include "util/vid.h"

#define CRRFS_PREFIX "user.crrfs."
#define TAG_PREFIX "user.crrfs.tag."

enum xname {
	XN_USER,		/* ordinary user metadata */
	XN_VERSION_ID,
	XN_SHA256,
	XN_DELETE_MARKER,
	XN_DELETED,
	XN_RESTORE,
	XN_TAG,
	XN_REPL_STATUS,		/* replication-status[.DEST] */
	XN_PENDING_OPS,		/* the backlog, on the mount root */
	XN_PENDING_BYTES,
	XN_OLDEST_PENDING,
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
		{ "replication-status", XN_REPL_STATUS },
		{ "pending-ops", XN_PENDING_OPS },
		{ "pending-bytes", XN_PENDING_BYTES },
		{ "oldest-pending", XN_OLDEST_PENDING },
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
		return XN_REPL_STATUS;
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

/* "2026-11-22T04:25:12.123Z", or "" for 0 (nothing pending). */
static void format_utc_ms(int64_t ns, char out[64])
{
	int64_t ms = ns / 1000000;
	time_t sec = (time_t)(ms / 1000);
	struct tm tm;

	out[0] = '\0';
	if (ns <= 0 || !gmtime_r(&sec, &tm))
		return;
	snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)(ms % 1000));
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

/* replication-status[.DEST] of the version a node shows (repl.c keeps
 * it; a version no rule applied to has none: ENODATA). */
static int get_repl_status(struct store *s, const struct versions_node *vn,
			   const char *name, void *buf, size_t size)
{
	const char *dest = name + strlen(CRRFS_PREFIX "replication-status");
	struct store_vinfo v;
	int rc = target_vinfo(s, vn, &v);

	if (rc < 0)
		return rc;
	rc = repl_version_status(s, v.oid, v.vseq, v.flags,
				 *dest ? dest + 1 : NULL, buf, size);
	return rc == -ENOENT ? -ENODATA : rc;
}

/* The backlog, on the mount root only. oldest-pending is the UTC
 * creation time of the oldest version still to ship, empty when none. */
static int get_backlog(struct store *s, const struct versions_node *vn,
		       enum xname x, void *buf, size_t size)
{
	struct repl_backlog b;
	char out[64];
	int rc;

	if (vn->kind != VERSIONS_LIVE || vn->oid != STORE_ROOT_OID)
		return -ENODATA;
	rc = repl_backlog_total(s, &b);
	if (rc < 0)
		return rc;
	if (x == XN_PENDING_OPS)
		snprintf(out, sizeof(out), "%" PRIu64, b.ops);
	else if (x == XN_PENDING_BYTES)
		snprintf(out, sizeof(out), "%" PRIu64, b.bytes);
	else
		format_utc_ms(b.oldest_ns, out);
	return put_str(buf, size, out);
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
	case XN_REPL_STATUS:
		return get_repl_status(s, vn, name, buf, size);
	case XN_PENDING_OPS:
	case XN_PENDING_BYTES:
	case XN_OLDEST_PENDING:
		return get_backlog(s, vn, xname_of(name), buf, size);
	case XN_SECURITY:
		/* Not supported, rather than absent: ls -l asks every file
		 * for security.selinux until it is told the filesystem has no
		 * such thing, then remembers that for the whole mount (a
		 * FUSE round trip per file saved: half of a warm ls -l). */
	case XN_OTHER_NS:
		return -ENOTSUP;
	default:	/* restore is write-only */
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
	const char *tname = name + strlen(TAG_PREFIX);
	int n;

	/* what S3 would refuse would make the replica's tagging fail */
	if (tag_problem(tname, strlen(tname), value, size))
		return -EINVAL;
	if (store_getxattr(s, vn->oid, 0, name, NULL, 0) >= 0)
		return 0;	/* replacing a tag never adds one */
	n = count_tags(s, vn->oid);
	if (n < 0)
		return n;
	return n >= TAG_COUNT_MAX ? -EINVAL : 0;
}

static unsigned store_xflags(int flags)
{
	return (flags & XATTR_CREATE ? STORE_XATTR_CREATE : 0) |
	       (flags & XATTR_REPLACE ? STORE_XATTR_REPLACE : 0);
}

/* A restore that puts a name back (of a deleted key, or a symlink, whose
 * change replaces the name) must be allowed in the folder as well. */
static int check_restore(struct store *s, const struct versions_node *vn,
			 const struct versions_cred *who)
{
	struct store_entry e;
	int rc = store_stat(s, vn->oid, &e);

	if (rc < 0)
		return rc == -ENOENT ? -ENODATA : rc;
	if (e.live && e.type != STORE_T_SYMLINK)
		return 0;
	return versions_may_revive(s, vn->oid, who);
}

static int set_restore(struct store *s, const struct versions_node *vn,
		       const struct versions_cred *who, const char *value,
		       size_t size, struct versions_effect *eff)
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
	rc = check_restore(s, vn, who);
	if (rc < 0)
		return rc;
	rc = store_restore(s, vn->oid, vid, NULL);
	if (rc == -ENOENT)
		return -ENODATA;
	if (rc < 0)
		return rc;
	eff->changed_oid = vn->oid;
	return 0;
}

int versions_setxattr(struct store *s, const struct versions_node *vn,
		      const struct versions_cred *who, const char *name,
		      const void *value, size_t size, int flags,
		      struct versions_effect *eff)
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
	case XN_REPL_STATUS:
	case XN_PENDING_OPS:
	case XN_PENDING_BYTES:
	case XN_OLDEST_PENDING:
		return -EPERM;
	case XN_RESTORE:
		return set_restore(s, vn, who, value, size, eff);
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
			 const struct versions_cred *who,
			 struct versions_effect *eff)
{
	struct store_entry e;
	int rc;

	if (!is_marker(vn))
		return -ENODATA;
	rc = store_stat(s, vn->oid, &e);
	if (!rc && e.head.vseq == vn->vseq)	/* on top: the key returns */
		rc = versions_may_revive(s, vn->oid, who);
	if (rc < 0)
		return rc;
	rc = store_delete_version(s, vn->oid, vn->vseq, false);
	if (rc < 0)
		return rc;
	eff->changed_oid = vn->oid;
	return 0;
}

static int remove_deleted(struct store *s, const struct versions_node *vn,
			  const struct versions_cred *who,
			  struct versions_effect *eff)
{
	struct store_entry e;
	int rc;

	if (!is_history_dir(vn))
		return -ENODATA;
	rc = store_stat(s, vn->oid, &e);
	if (rc == -ENOENT || (!rc && e.live))
		return -ENODATA;	/* nothing to undelete */
	if (!rc)
		rc = versions_may_revive(s, vn->oid, who);
	if (rc < 0)
		return rc;
	rc = store_undelete(s, vn->oid);
	if (rc == -ENOENT)
		return -ENODATA;	/* the head is not a delete marker */
	if (rc < 0)
		return rc;
	eff->changed_oid = vn->oid;
	return 0;
}

int versions_removexattr(struct store *s, const struct versions_node *vn,
			 const struct versions_cred *who, const char *name,
			 bool allow_purge, struct versions_effect *eff)
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
	case XN_REPL_STATUS:
	case XN_PENDING_OPS:
	case XN_PENDING_BYTES:
	case XN_OLDEST_PENDING:
		return -EPERM;
	case XN_DELETE_MARKER:
		return remove_marker(s, vn, who, eff);
	case XN_DELETED:
		return remove_deleted(s, vn, who, eff);
	case XN_TAG:
	case XN_USER:
		break;
	}
	if (is_virtual(vn))
		return -EROFS;
	rc = store_setxattr(s, vn->oid, name, NULL, 0, 0);
	return rc == -ENOENT ? -ENODATA : rc;
}
