/*
 * remote_s3_int.h - what the files of the s3 destination share:
 * remote_s3.c (open, check, ship), remote_s3_meta.c (the replica's
 * headers) and remote_s3_mpu.c (multipart uploads). docs/replica-s3.md
 * describes the format they write.
 */
#ifndef CRRFS_REMOTE_S3_INT_H
#define CRRFS_REMOTE_S3_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "remote/remote.h"
#include "s3/s3.h"

/*
 * Sizes, in one place: objects of S3_MULTIPART_MIN bytes or more go up
 * in parts of S3_PART_SIZE (larger when 10,000 parts would not do),
 * S3_PARTS_IN_FLIGHT at a time, and at most S3_PART_BUDGET parts of all
 * the destination's uploads in memory at once (128 MiB, however many
 * workers ship big files); objects up to S3_INMEM_MAX are read into
 * memory (and get a Content-MD5), bigger ones are streamed from the store.
 */
#define S3_MULTIPART_MIN ((uint64_t)64 * 1024 * 1024)
#define S3_PART_SIZE ((uint64_t)16 * 1024 * 1024)
#define S3_PARTS_MAX 10000u
#define S3_PARTS_IN_FLIGHT 4u
#define S3_PART_BUDGET 8u	/* part buffers in memory per destination */
#define S3_INMEM_MAX ((uint64_t)8 * 1024 * 1024)

/* The metadata names crrfs writes (after "x-amz-meta-"). */
#define S3_META_VID "crrfs-version-id"
#define S3_META_SHA "crrfs-sha256"
#define S3_META_XATTR "crrfs-xattr-"

struct remote_s3 {
	struct remote base;		/* first: remote.c casts */
	struct s3_client *c;		/* thread-safe */
	char *endpoint;			/* for messages */
	char *bucket;
	char *storage_class;		/* destination's, or NULL */
	pthread_mutex_t parts_lock;
	pthread_cond_t parts_cond;	/* a part buffer was given back */
	unsigned parts_used;		/* parts_lock; <= S3_PART_BUDGET */
	unsigned parts_peak;		/* parts_lock; most in use at once */
	/* a reply came without a version id: versioning is asked again
	 * before each ship until it is Enabled */
	atomic_bool unversioned;
};

/* A growable list of "name: value" header lines. */
struct s3_hdrs {
	char **v;
	size_t n, cap;
};

int s3_hdrs_add(struct s3_hdrs *h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void s3_hdrs_release(struct s3_hdrs *h);

/*
 * The headers of a replica of o (POSIX attributes, ids, user metadata,
 * tags, storage class, content type): see docs/replica-s3.md. sha_hex is
 * the bytes' SHA-256. -EINVAL with why for metadata that cannot be sent.
 */
int remote_s3_headers(const struct remote_s3 *r, const struct remote_obj *o,
		      const char *sha_hex, struct s3_hdrs *h, char *why,
		      size_t whylen);

/*
 * After a PUT, CompleteMultipartUpload or DELETE of o answered with
 * version id vid ("" when there was none): 0 when vid is a real one.
 * Otherwise the bucket no longer keeps versions (versioning Suspended
 * after the mount checked it, and "null" is what S3 then answers), so
 * the write just replaced the replica's history: -EPROTO, why saying so
 * with the versioning status asked again, and the next ships wait for
 * versioning to be Enabled (remote_s3_versioning_back).
 */
int remote_s3_versioned(struct remote_s3 *r, const struct remote_obj *o,
			const char *vid, char *why, size_t whylen);

/* Abort o->prev_upload (if any) and clear it with note_upload. */
int remote_s3_drop_upload(struct remote_s3 *r, const struct remote_obj *o,
			  char *why, size_t whylen);

/*
 * Ship the data of file version o (size bytes) in a multipart upload;
 * the parts are hashed in order as they are read, and the upload is
 * aborted, not completed, when they do not make digest.
 */
int remote_s3_multipart(struct remote_s3 *r, const struct remote_obj *o,
			struct store_file *f, uint64_t size,
			const uint8_t digest[32], const struct s3_hdrs *h,
			char *why, size_t whylen);

#endif
