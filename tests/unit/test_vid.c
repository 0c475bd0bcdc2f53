/* test_vid.c - version ids sort in creation order; entry names round-trip. */
#include "check.h"
#include "util/vid.h"

#include <errno.h>

static void test_sorting(void)
{
	static const struct {
		uint64_t ms, seq;
	} order[] = {
		{ 0, 0 }, { 0, 1 }, { 1, 0 }, { 1, 0xffffffffffffULL },
		{ 1700000000000ULL, 5 }, { 1700000000001ULL, 2 },
		{ 0xffffffffffffULL, 0 },
	};
	char prev[VID_LEN + 1] = "", cur[VID_LEN + 1];
	size_t i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		vid_format(order[i].ms, 0xdeadbeef, order[i].seq, cur);
		CHECK(vid_valid(cur));
		CHECK(vid_ms(cur) == order[i].ms);
		if (i)
			CHECK(strcmp(prev, cur) < 0);
		memcpy(prev, cur, sizeof(cur));
	}
	/* The store tag separates stores but never beats time order. */
	vid_format(5, 0xffffffff, 0, prev);
	vid_format(6, 0, 0, cur);
	CHECK(strcmp(prev, cur) < 0);
}

static void test_valid(void)
{
	CHECK(!vid_valid(""));
	CHECK(!vid_valid("0123456789ABCDEFGHJKMNPQR"));	/* 25 */
	CHECK(!vid_valid("0123456789ABCDEFGHJKMNPQRSS"));	/* 27 */
	CHECK(!vid_valid("0123456789ABCDEFGHJKMNPQRI"));	/* I */
	CHECK(!vid_valid("0123456789abcdefghjkmnpqrs"));	/* lower */
	CHECK(vid_valid("0123456789ABCDEFGHJKMNPQRS"));
}

static void test_entry_names(void)
{
	char vid[VID_LEN + 1], back[VID_LEN + 1], name[VID_ENTRY_MAX];
	bool dm = true;

	vid_format(1763785512123ULL, 7, 42, vid);
	/* 2025-11-22T04:25:12.123Z */
	CHECK(vid_entry_name(1763785512123000000LL, vid, false, name,
			     sizeof(name)) > 0);
	CHECK(!strncmp(name, "20251122T042512.123Z-", 21));
	CHECK_EQ_INT(vid_entry_parse(name, back, &dm), 0);
	CHECK_EQ_STR(back, vid);
	CHECK(!dm);

	CHECK(vid_entry_name(1763785512123000000LL, vid, true, name,
			     sizeof(name)) > 0);
	CHECK_EQ_INT(vid_entry_parse(name, back, &dm), 0);
	CHECK(dm);

	CHECK_EQ_INT(vid_entry_parse("nonsense", back, &dm), -EINVAL);
	CHECK_EQ_INT(vid_entry_parse("20251122T042512.123Z-short", back, &dm),
		     -EINVAL);
	CHECK_EQ_INT(vid_entry_name(0, vid, false, name, 10), -ENAMETOOLONG);
}

int main(void)
{
	test_sorting();
	test_valid();
	test_entry_names();
	return check_done("test_vid");
}
