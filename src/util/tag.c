/*
 * tag.c - see tag.h. A small strict UTF-8 decoder (no overlong forms, no
 * surrogates, nothing above U+10FFFF) counts characters as S3 does and
 * checks each against the allowed set.
 */
#include "util/tag.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* The code point at *p (advanced past it), or -1 for invalid UTF-8. */
static int32_t utf8_next(const unsigned char **p, const unsigned char *end)
{
	static const int32_t min[4] = { 0, 0x80, 0x800, 0x10000 };
	const unsigned char *s = *p;
	int32_t cp;
	int n, i;

	if (s[0] < 0x80)
		n = 0, cp = s[0];
	else if ((s[0] & 0xe0) == 0xc0)
		n = 1, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 2, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 3, cp = s[0] & 0x07;
	else
		return -1;
	if (end - s <= n)
		return -1;
	for (i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*p = s + n + 1;
	return cp;
}

static bool char_ok(int32_t cp)
{
	if (cp < 0x80)
		return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
		       (cp >= '0' && cp <= '9') || (cp && strchr(" +-=._:/@",
								 (int)cp));
	return cp >= 0xa0 && cp != 0xfffe && cp != 0xffff;
}

/* NULL, or what is wrong with s (len bytes) as a name or value. */
static const char *text_problem(const void *s, size_t len, size_t max,
				bool name)
{
	const unsigned char *p = s, *end = p + len;
	size_t n = 0;

	while (p < end) {
		int32_t cp = utf8_next(&p, end);

		if (cp < 0)
			return name ? "name is not valid UTF-8" :
				      "value is not valid UTF-8";
		if (!char_ok(cp))
			return name ? "name has a character S3 does not "
				      "allow (letters, digits, spaces and "
				      "+ - = . _ : / @)" :
				      "value has a character S3 does not "
				      "allow (letters, digits, spaces and "
				      "+ - = . _ : / @)";
		n++;
	}
	if (n > max)
		return name ? "name is longer than 128 characters" :
			      "value is longer than 256 characters";
	return NULL;
}

const char *tag_problem(const char *name, size_t nlen, const void *value,
			size_t vlen)
{
	const char *why;

	if (!nlen)
		return "name is empty";
	why = text_problem(name, nlen, TAG_NAME_CHARS, true);
	if (!why && nlen >= 4 && !strncasecmp(name, "aws:", 4))
		why = "name starts with 'aws:', which is reserved";
	return why ? why : text_problem(value, vlen, TAG_VALUE_CHARS, false);
}
