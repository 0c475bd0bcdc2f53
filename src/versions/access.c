/*
 * access.c - the permission checks the kernel cannot make for the
 * .versions interface.
 *
 * With default_permissions the kernel checks the node an xattr is set on
 * (a .versions folder carries the mode of the key it stands for, see
 * view.c). Undeleting, or restoring a deleted key or a symlink, also
 * puts a name back into a folder the kernel never looked at, and maybe
 * into deleted folders above it, which come back too. Creating that name
 * on the live tree would need write and search permission on the folder,
 * so the same is asked here, of every folder that gains a name: the
 * parent, and while that is deleted, its own parent, up to the first live
 * one. No ACLs: crrfs stores none.
 */
#include "versions/versions.h"

#include <errno.h>

static bool in_group(const struct versions_cred *who, gid_t gid)
{
	if (who->gid == gid)
		return true;
	for (int i = 0; i < who->ngroups; i++)
		if (who->groups[i] == gid)
			return true;
	return false;
}

/* generic_permission() of the kernel for want (MAY_* style: 4 2 1). */
static bool cred_may(const struct versions_cred *who,
		     const struct store_attr *a, unsigned want)
{
	unsigned m;

	if (who->uid == 0)
		return true;
	if (a->uid == who->uid)
		m = (a->mode >> 6) & 7;
	else if (in_group(who, a->gid))
		m = (a->mode >> 3) & 7;
	else
		m = a->mode & 7;
	return (m & want) == want;
}

int versions_may_revive(struct store *s, uint64_t oid,
			const struct versions_cred *who)
{
	struct store_entry e;
	uint64_t dir;
	int rc;

	if (!who || who->uid == 0)
		return 0;
	rc = store_key_parent(s, oid, &dir);
	while (!rc && dir) {
		rc = store_stat(s, dir, &e);
		if (rc)
			break;
		if (e.pending || !cred_may(who, &e.head.attr, 3))
			return -EACCES;
		if (e.live)
			return 0;
		rc = store_key_parent(s, dir, &dir);
	}
	return rc;
}
