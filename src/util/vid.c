/*
 * vid.c - see vid.h. Pure functions, no state: the store owns the counter
 * and the clock, which keeps these table-testable.
 */
#include "util/vid.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char vid_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void vid_format(uint64_t ms, uint32_t store_tag, uint64_t seq,
		char out[VID_LEN + 1])
{
	/* 128 bits, most significant first, as two 64-bit halves. */
	uint64_t hi = (ms & 0xffffffffffffULL) << 16 | (store_tag >> 16);
	uint64_t lo = (uint64_t)(store_tag & 0xffff) << 48 |
		      (seq & 0xffffffffffffULL);
	int i;

	/* 26 digits of 5 bits = 130 bits: the top two bits are zero. */
	for (i = VID_LEN - 1; i >= 0; i--) {
		out[i] = vid_alphabet[lo & 31];
		lo = lo >> 5 | (hi & 31) << 59;
		hi >>= 5;
	}
	out[VID_LEN] = '\0';
}

uint64_t vid_ms(const char *vid)
{
	uint64_t v = 0;

	/* The first 10 digits: 2 zero bits, then the 48 bits of time. */
	for (int i = 0; i < 10; i++) {
		const char *p = strchr(vid_alphabet, vid[i]);

		v = v << 5 | (uint64_t)(p && *p ? p - vid_alphabet : 0);
	}
	return v & 0xffffffffffffULL;
}

bool vid_valid(const char *s)
{
	size_t i;

	for (i = 0; i < VID_LEN; i++)
		if (!s[i] || !strchr(vid_alphabet, s[i]))
			return false;
	return s[VID_LEN] == '\0';
}

int vid_entry_name(int64_t btime_ns, const char *vid, bool delete_marker,
		   char *out, size_t size)
{
	time_t secs = (time_t)(btime_ns / 1000000000);
	int ms = (int)((btime_ns / 1000000) % 1000);
	struct tm tm;
	int n;

	if (btime_ns < 0) {
		secs = 0;
		ms = 0;
	}
	gmtime_r(&secs, &tm);
	n = snprintf(out, size, "%04d%02d%02dT%02d%02d%02d.%03dZ-%s%s",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ms, vid,
		     delete_marker ? ".deleted" : "");
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return n;
}

int vid_entry_parse(const char *name, char vid_out[VID_LEN + 1],
		    bool *delete_marker)
{
	static const char shape[] = "DDDDDDDDTDDDDDD.DDDZ-";
	size_t i, len = strlen(name);

	for (i = 0; shape[i]; i++) {
		char c = name[i];

		if (shape[i] == 'D' ? (c < '0' || c > '9') : c != shape[i])
			return -EINVAL;
	}
	if (len == i + VID_LEN)
		*delete_marker = false;
	else if (len == i + VID_LEN + 8 && !strcmp(name + i + VID_LEN,
						   ".deleted"))
		*delete_marker = true;
	else
		return -EINVAL;
	memcpy(vid_out, name + i, VID_LEN);
	vid_out[VID_LEN] = '\0';
	return vid_valid(vid_out) ? 0 : -EINVAL;
}
