/*
 * ops_xattr.c - FUSE xattr handlers. All meaning lives in src/versions/;
 * here we only map the node, tell the kernel about live files that
 * changed behind its back (restore, undelete) and reply. The invalidation
 * comes before the reply, so the caller's next open cannot see stale
 * pages; it takes no lock the kernel holds for this request (the xattr
 * call locks its own inode, we invalidate the live file's).
 */
#include "fs/fs_int.h"

#include <errno.h>
#include <stdlib.h>

/*
 * getxattr and listxattr differ only in the call (name NULL lists): both
 * follow the size protocol, where size 0 asks only for the length.
 */
static void read_reply(fuse_req_t req, fuse_ino_t ino, const char *name,
		       size_t size)
{
	struct fs *fs = fs_of(req);
	struct versions_node vn;
	char *buf = NULL;
	int rc = 0;

	if (size) {
		buf = malloc(size);
		if (!buf)
			rc = -ENOMEM;
	}
	fs_vnode(fs_node(req, ino), &vn);
	if (!rc)
		rc = name ? versions_getxattr(fs->st, &vn, name, buf, size)
			  : versions_listxattr(fs->st, &vn, buf, size);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (!size)
		fuse_reply_xattr(req, (size_t)rc);
	else
		fuse_reply_buf(req, buf, (size_t)rc);
	free(buf);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	read_reply(req, ino, name, size);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	read_reply(req, ino, NULL, size);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	struct fs *fs = fs_of(req);
	struct versions_effect eff = { 0 };
	struct versions_node vn;
	int rc;

	fs_vnode(fs_node(req, ino), &vn);
	rc = fs->o->read_only ? -EROFS :
		versions_setxattr(fs->st, &vn, name, value, size, flags, &eff);
	if (eff.changed_oid)
		fs_inval_oid(fs, eff.changed_oid);
	fuse_reply_err(req, -rc);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs *fs = fs_of(req);
	struct versions_effect eff = { 0 };
	struct versions_node vn;
	int rc;

	fs_vnode(fs_node(req, ino), &vn);
	rc = fs->o->read_only ? -EROFS :
		versions_removexattr(fs->st, &vn, name, fs->o->allow_purge,
				     &eff);
	if (eff.changed_oid)
		fs_inval_oid(fs, eff.changed_oid);
	fuse_reply_err(req, -rc);
}

void fs_ops_xattr(struct fuse_lowlevel_ops *ops)
{
	ops->getxattr = op_getxattr;
	ops->listxattr = op_listxattr;
	ops->setxattr = op_setxattr;
	ops->removexattr = op_removexattr;
}
