/*
 * vid.h - version ids and the names of .versions entries.
 *
 * A version id is 26 characters of Crockford base32 (0-9, A-Z without
 * I, L, O, U) encoding 128 bits: 48 bits of milliseconds since the epoch,
 * 32 bits naming the store, 48 bits of the store's version counter. It is
 * URL-safe and, within one store, sorts bytewise in creation order, since
 * the caller keeps the milliseconds monotonic and the counter grows.
 */
#ifndef CRRFS_VID_H
#define CRRFS_VID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VID_LEN 26

/* Write the id and a NUL into out[VID_LEN + 1]. */
void vid_format(uint64_t ms, uint32_t store_tag, uint64_t seq,
		char out[VID_LEN + 1]);

/*
 * The milliseconds of a valid id. Ids of different stores order by
 * (milliseconds, store, counter) bytewise: the time-then-id order that
 * picks a key's current version, the same in every store.
 */
uint64_t vid_ms(const char *vid);

/* True if s is exactly VID_LEN characters of the alphabet above. */
bool vid_valid(const char *s);

/*
 * Name of a .versions entry: "<YYYYMMDDTHHMMSS.mmmZ>-<vid>" plus
 * ".deleted" for a delete marker. Returns the length, or -ENAMETOOLONG
 * if size is too small. VID_ENTRY_MAX is always enough.
 */
#define VID_ENTRY_MAX (20 + 1 + VID_LEN + 8 + 1)
int vid_entry_name(int64_t btime_ns, const char *vid, bool delete_marker,
		   char *out, size_t size);

/*
 * Parse an entry name back: copies the vid into vid_out and sets
 * *delete_marker. -EINVAL if name is not of that form.
 */
int vid_entry_parse(const char *name, char vid_out[VID_LEN + 1],
		    bool *delete_marker);

#endif
