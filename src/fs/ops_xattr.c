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
#include <string.h>

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

#define CALLER_GROUPS_MAX 64

/*
 * The caller, for the checks of a restore or undelete that the kernel
 * cannot make (versions_may_revive); NULL when the kernel checks nothing
 * (no default_permissions) or for plain user metadata, which needs no
 * look at the caller's groups in /proc. Groups beyond the buffer are left
 * out: that can only refuse, never allow.
 */
static const struct versions_cred *caller(fuse_req_t req,
					  const struct versions_node *vn,
					  const char *name,
					  struct versions_cred *c,
					  gid_t groups[CALLER_GROUPS_MAX])
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	int n;

	if (!fs_of(req)->o->default_permissions ||
	    (vn->kind == VERSIONS_LIVE && strncmp(name, "user.crrfs.", 11)))
		return NULL;
	c->uid = ctx->uid;
	c->gid = ctx->gid;
	n = ctx->uid ? fuse_req_getgroups(req, CALLER_GROUPS_MAX, groups) : 0;
	c->ngroups = n < 0 ? 0 : n > CALLER_GROUPS_MAX ? CALLER_GROUPS_MAX : n;
	c->groups = groups;
	return c;
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	struct fs *fs = fs_of(req);
	struct versions_effect eff = { 0 };
	struct versions_node vn;
	struct versions_cred c;
	gid_t groups[CALLER_GROUPS_MAX];
	int rc;

	pthread_rwlock_rdlock(&fs->rename_lock);	/* a store call by oid */
	fs_vnode(fs_node(req, ino), &vn);
	rc = fs->o->read_only ? -EROFS :
		versions_setxattr(fs->st, &vn,
				  caller(req, &vn, name, &c, groups), name,
				  value, size, flags, &eff);
	pthread_rwlock_unlock(&fs->rename_lock);
	if (eff.changed_oid)
		fs_inval_oid(fs, eff.changed_oid);
	fuse_reply_err(req, -rc);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs *fs = fs_of(req);
	struct versions_effect eff = { 0 };
	struct versions_node vn;
	struct versions_cred c;
	gid_t groups[CALLER_GROUPS_MAX];
	int rc;

	pthread_rwlock_rdlock(&fs->rename_lock);	/* a store call by oid */
	fs_vnode(fs_node(req, ino), &vn);
	rc = fs->o->read_only ? -EROFS :
		versions_removexattr(fs->st, &vn,
				     caller(req, &vn, name, &c, groups), name,
				     fs->o->allow_purge, &eff);
	pthread_rwlock_unlock(&fs->rename_lock);
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
