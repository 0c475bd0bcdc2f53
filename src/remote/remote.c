/*
 * remote.c - the face of src/remote/: pick the backend by destination
 * type, then thin wrappers over its vtable. Nothing else lives here, so
 * a backend is all in its own file, but for the one reason every backend
 * gives for a version whose bytes are not its own.
 */
#include "remote/remote.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "s3/http.h"

int remote_global_init(void)
{
	return s3_http_global_init();
}

int remote_open(const struct rules_dest *d, const char *store_path,
		struct remote **out, char *why, size_t whylen)
{
	*out = NULL;
	switch (d->type) {
	case RULES_DEST_DIR:
		return remote_dir_open(d, store_path, out, why, whylen);
	case RULES_DEST_S3:
		return remote_s3_open(d, out, why, whylen);
	}
	snprintf(why, whylen, "unknown destination type");
	return -EINVAL;
}

int remote_check(struct remote *r, char *why, size_t whylen)
{
	return r->ops->check(r, why, whylen);
}

int remote_ship(struct remote *r, const struct remote_obj *o, char *why,
		size_t whylen)
{
	return r->ops->ship(r, o, why, whylen);
}

const char *remote_name(const struct remote *r)
{
	return r->name;
}

void remote_free(struct remote *r)
{
	if (r)
		r->ops->free(r);
}

int remote_bad_data(const struct remote_obj *o, int rc, char *why,
		    size_t whylen)
{
	if (!rc) {
		snprintf(why, whylen, "data of '%s' version %s does not match "
			 "its sha256: the store's copy is damaged (run crrfs "
			 "fsck --deep)", o->key, o->v.vid);
		/* So that reads through the mount fail too, not only
		 * shipping; nothing to add when marking fails. */
		if (o->src && (o->v.flags & STORE_V_HAS_SHA))
			store_mark_damaged(o->src, o->oid, o->v.vseq,
					   o->v.sha256);
		return -EIO;
	}
	if (rc == -EIO)
		snprintf(why, whylen, "data of '%s' version %s cannot be read "
			 "(%s): the store's copy is damaged (run crrfs fsck "
			 "--deep)", o->key, o->v.vid, strerror(-rc));
	else
		snprintf(why, whylen, "cannot read data of '%s' version %s: %s",
			 o->key, o->v.vid, strerror(-rc));
	return rc;
}
