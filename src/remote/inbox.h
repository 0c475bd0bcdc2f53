/*
 * inbox.h - the record a dir destination delivers into DEST/inbox/: one
 * self-contained file per version (or delete marker), written by the
 * shipper (remote_dir.c) and applied by whoever holds DEST
 * (remote_ingest.c). The layout is in docs/replica-dir.md.
 *
 * Design: a record is written whole into a temporary file, synced and
 * renamed, so a name without the ".tmp-" prefix is always complete; the
 * reader still checks everything (sizes, a digest of the metadata, the
 * data digest while copying), since a disk or a newer crrfs may hand it
 * anything.
 */
#ifndef CRRFS_REMOTE_INBOX_H
#define CRRFS_REMOTE_INBOX_H

#include <stddef.h>
#include <stdint.h>

#include "remote/remote.h"
#include "store/store.h"

#define INBOX_DIR "inbox"
#define INBOX_BAD_DIR "inbox/bad"
#define INBOX_TMP_PREFIX ".tmp-"
#define INBOX_SUFFIX ".rec"
/* "<vid>.rec" with its NUL. */
#define INBOX_NAME_MAX (STORE_VID_LEN + sizeof(INBOX_SUFFIX))

/*
 * The name of o's record: "<vid>.rec". Vids of one store sort in the
 * order it made them (milliseconds first, then the store's tag, then its
 * counter), so name order is ship order for each source, even after the
 * source was restored from a backup (its counter goes back, its clock
 * does not).
 */
/*
 * snprintf for paths: -ENAMETOOLONG rather than a silently cut path.
 */
int remote_pathf(char *out, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void remote_inbox_name(const char *vid, char out[INBOX_NAME_MAX]);

/*
 * Write o's record to fd (a fresh empty file): metadata from o, bytes
 * streamed from the source store (never whole in memory), digests. Does
 * not sync. Errors of the source (the version's data cannot be read or
 * does not match its checksum) are returned as -EIO/-ENOENT with why
 * filled in; errors writing fd as their -errno. Checks o->cancel between
 * its 1 MiB pieces: -ECANCELED, why "cancelled".
 */
int remote_inbox_write(int fd, const struct remote_obj *o, char *why,
		       size_t whylen);

/*
 * A parsed record. Every pointer points into memory the struct owns;
 * valid until remote_inbox_release(). rep.data_fd is the fd given to
 * remote_inbox_read (not owned: the caller closes it).
 */
struct remote_inbox_rec {
	struct store_replica rep;
	uint8_t data_sha[32];
	void *meta;			/* the metadata block */
	struct store_xattr *xattrs;
};

/*
 * Parse the record open on fd. -EBADMSG (why says what is wrong) for a
 * record that is malformed, truncated, or of a newer format; -errno for
 * a read error. On failure nothing needs releasing.
 */
int remote_inbox_read(int fd, struct remote_inbox_rec *r, char *why,
		      size_t whylen);

void remote_inbox_release(struct remote_inbox_rec *r);

#endif
