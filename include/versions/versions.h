/*
 * versions.h - the hidden .versions view and the user.crrfs.* xattrs.
 *
 * This part knows what the virtual tree and the reserved xattrs mean; it
 * knows nothing of FUSE or inodes. The fs layer maps its nodes to a
 * struct versions_node, calls one function here, and replies. Effects on
 * the live tree that the kernel cannot see (a restore, an undelete) are
 * returned in a struct versions_effect so the fs layer can invalidate the
 * kernel's caches after it replied.
 *
 * Design choices (see docs/design-fs.md):
 *  - .versions/<dir>/ lists every name under <dir> with history (live or
 *    deleted; pending keys have none). A name with a file key and a folder
 *    key is resolved by store_lookup_any(): the live one, else the folder.
 *  - .versions/<key>/ of a file or symlink lists its versions, named by
 *    vid_entry_name(); of a folder key it lists the folder's children.
 *  - Errnos of the xattr interface: unknown user.crrfs.* name -> EINVAL
 *    on set/remove, ENODATA on get; read-only names -> EPERM on set or
 *    remove; anything written inside .versions that is not allowed ->
 *    EROFS; malformed version id or a delete marker's id given to restore
 *    -> EINVAL; well-formed id that the key does not have -> ENODATA.
 */
#ifndef CRRFS_VERSIONS_H
#define CRRFS_VERSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "store/store.h"

#define VERSIONS_DIRNAME ".versions"

enum versions_kind {
	VERSIONS_LIVE = 0,	/* a key of the live tree */
	VERSIONS_DIR = 1,	/* .versions/<folder>/ (oid of the folder) */
	VERSIONS_KEY = 2,	/* .versions/<file key>/ */
	VERSIONS_ENTRY = 3,	/* one version (oid, vseq) */
};

/* What an fs node stands for, as this part sees it. A plain value. */
struct versions_node {
	enum versions_kind kind;
	uint64_t oid;
	uint64_t vseq;			/* VERSIONS_ENTRY */
	enum store_type type;		/* of the key (of the version for an
					 * entry) */
	struct store_vinfo v;		/* VERSIONS_ENTRY: the version */
};

/* What the caller must tell the kernel after replying. */
struct versions_effect {
	uint64_t changed_oid;	/* live key whose content/attrs changed, or 0 */
};

/* Inode numbers of virtual nodes, disjoint from live oids. */
uint64_t versions_ino(const struct versions_node *vn);

/*
 * Look name up in virtual directory dir (VERSIONS_DIR or VERSIONS_KEY).
 * -ENOENT if absent, -ENOTDIR if dir is an entry.
 */
int versions_lookup(struct store *s, const struct versions_node *dir,
		    const char *name, struct versions_node *out);

/*
 * stat(2) of a virtual node. Owner, group and mode are those of what it
 * shows, so the kernel's default_permissions check applies them: an entry
 * has its version's mode with the write bits cleared; a folder of
 * .versions has the mode of the folder or key it stands for (a file key's
 * with x added where it has r), write bits kept (see view.c).
 */
int versions_stat(struct store *s, const struct versions_node *vn,
		  struct stat *st);

/*
 * Called per child of a virtual directory, in order. Return 0 to go on,
 * 1 to stop (versions_list returns 0), -errno to abort.
 */
typedef int (*versions_fill_fn)(void *arg, const char *name,
				const struct versions_node *child);

/*
 * List dir's children. For VERSIONS_DIR, after (NULL = start) names the
 * last child already seen; for VERSIONS_KEY the first skip children are
 * skipped instead (versions have no name order the store can seek).
 */
int versions_list(struct store *s, const struct versions_node *dir,
		  const char *after, uint64_t skip, versions_fill_fn fn,
		  void *arg);

/* The vinfo of version vseq of oid (0 = the head; -ENODATA if pending). */
int versions_vinfo(struct store *s, uint64_t oid, uint64_t vseq,
		   struct store_vinfo *out);

/* Who asks (from the FUSE request), for what the kernel cannot check. */
struct versions_cred {
	uid_t uid;
	gid_t gid;
	const gid_t *groups;		/* supplementary; not copied */
	int ngroups;
};

/*
 * -EACCES unless who may put key oid's name back: write and search
 * permission on its folder, and on each deleted folder above it that
 * would come back with it, up to the first live one (access.c). who NULL
 * (no default_permissions: the kernel checks nothing either) or root: 0.
 */
int versions_may_revive(struct store *s, uint64_t oid,
			const struct versions_cred *who);

/* ---- xattrs. Return value length / 0, or -errno as listxattr(2). */

int versions_getxattr(struct store *s, const struct versions_node *vn,
		      const char *name, void *buf, size_t size);
int versions_listxattr(struct store *s, const struct versions_node *vn,
		       char *buf, size_t size);
/*
 * flags: XATTR_CREATE / XATTR_REPLACE from <sys/xattr.h>. who is checked
 * by versions_may_revive() where a restore or undelete brings a name back
 * (a deleted key, a symlink); the kernel has checked the node itself.
 */
int versions_setxattr(struct store *s, const struct versions_node *vn,
		      const struct versions_cred *who, const char *name,
		      const void *value, size_t size, int flags,
		      struct versions_effect *eff);
int versions_removexattr(struct store *s, const struct versions_node *vn,
			 const struct versions_cred *who, const char *name,
			 bool allow_purge, struct versions_effect *eff);

#endif
