/*
 * xml.c - element text out of S3's XML answers, by plain search (see
 * xml.h for why that is enough).
 */
#include "s3/xml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *mem_find(const char *hay, size_t len, const char *needle)
{
	return memmem(hay, len, needle, strlen(needle));
}

/* Locate <tag>inner</tag> (or <tag/>) from xml[from]. */
static int find_elem(const char *xml, size_t len, size_t from,
		     const char *tag, size_t *start, size_t *end,
		     size_t *after)
{
	char open[80], close[80], empty[80];
	const char *p, *q;
	size_t n = strlen(tag);

	if (n + 4 > sizeof(open))
		return 0;
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	snprintf(empty, sizeof(empty), "<%s/>", tag);
	while (from < len) {
		p = mem_find(xml + from, len - from, "<");
		if (!p)
			return 0;
		from = (size_t)(p - xml);
		if (!strncmp(p, empty, strlen(empty)) &&
		    from + strlen(empty) <= len) {
			*start = *end = from;
			*after = from + strlen(empty);
			return 1;
		}
		if (from + strlen(open) <= len && !strncmp(p, open,
							   strlen(open))) {
			*start = from + strlen(open);
			q = mem_find(xml + *start, len - *start, close);
			if (!q)
				return 0;
			*end = (size_t)(q - xml);
			*after = *end + strlen(close);
			return 1;
		}
		from++;
	}
	return 0;
}

static int decode(const char *s, size_t len, char *out, size_t size)
{
	static const struct { const char *ent; char c; } ents[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
		{ "&quot;", '"' }, { "&apos;", '\'' },
	};
	size_t i = 0, o = 0, k;

	while (i < len) {
		unsigned long cp = 0;
		char c = s[i];
		size_t adv = 1;

		if (c == '&') {
			for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
				size_t el = strlen(ents[k].ent);

				if (i + el <= len &&
				    !strncmp(s + i, ents[k].ent, el)) {
					c = ents[k].c;
					adv = el;
					break;
				}
			}
			if (adv == 1 && i + 2 < len && s[i + 1] == '#') {
				char *e;
				const char *semi = memchr(s + i, ';', len - i);

				if (s[i + 2] == 'x' || s[i + 2] == 'X')
					cp = strtoul(s + i + 3, &e, 16);
				else
					cp = strtoul(s + i + 2, &e, 10);
				if (semi && e == semi) {
					adv = (size_t)(semi - (s + i)) + 1;
					/* UTF-8 of the code point */
					char u[4];
					size_t ul = 0;

					if (cp < 0x80) {
						u[ul++] = (char)cp;
					} else if (cp < 0x800) {
						u[ul++] = (char)(0xc0 | (cp >> 6));
						u[ul++] = (char)(0x80 | (cp & 0x3f));
					} else if (cp < 0x10000) {
						u[ul++] = (char)(0xe0 | (cp >> 12));
						u[ul++] = (char)(0x80 | ((cp >> 6) & 0x3f));
						u[ul++] = (char)(0x80 | (cp & 0x3f));
					} else {
						u[ul++] = (char)(0xf0 | (cp >> 18));
						u[ul++] = (char)(0x80 | ((cp >> 12) & 0x3f));
						u[ul++] = (char)(0x80 | ((cp >> 6) & 0x3f));
						u[ul++] = (char)(0x80 | (cp & 0x3f));
					}
					for (k = 0; k < ul; k++)
						if (o + 1 < size)
							out[o++] = u[k];
					i += adv;
					continue;
				}
			}
		}
		if (o + 1 < size)
			out[o++] = c;
		i += adv;
	}
	if (size)
		out[o] = '\0';
	return (int)o;
}

int s3_xml_text(const char *xml, size_t len, const char *tag, char **out)
{
	size_t start, end, after;

	*out = NULL;
	if (!xml || !find_elem(xml, len, 0, tag, &start, &end, &after))
		return -ENOENT;
	*out = malloc(end - start + 1);
	if (!*out)
		return -ENOMEM;
	decode(xml + start, end - start, *out, end - start + 1);
	return 0;
}

int s3_xml_copy(const char *xml, size_t len, const char *tag, char *buf,
		size_t size)
{
	size_t start, end, after;

	if (size)
		buf[0] = '\0';
	if (!xml || !find_elem(xml, len, 0, tag, &start, &end, &after))
		return -ENOENT;
	decode(xml + start, end - start, buf, size);
	return 0;
}

int s3_xml_next(const char *xml, size_t len, size_t *pos, const char *tag,
		const char *tag2, size_t *start, size_t *end, int *which)
{
	size_t s1, e1, a1, s2, e2, a2;
	int f1 = find_elem(xml, len, *pos, tag, &s1, &e1, &a1);
	int f2 = tag2 ? find_elem(xml, len, *pos, tag2, &s2, &e2, &a2) : 0;

	if (f1 && (!f2 || s1 < s2)) {
		*start = s1, *end = e1, *pos = a1, *which = 1;
		return 1;
	}
	if (f2) {
		*start = s2, *end = e2, *pos = a2, *which = 2;
		return 1;
	}
	return 0;
}

int s3_xml_escape(const char *s, char **out)
{
	size_t n = 0;
	const char *p;
	char *o;

	for (p = s; *p; p++)
		n += (*p == '&' || *p == '<' || *p == '>' || *p == '"' ||
		      *p == '\'') ? 6 : 1;
	*out = o = malloc(n + 1);
	if (!o)
		return -ENOMEM;
	for (p = s; *p; p++) {
		switch (*p) {
		case '&': o += sprintf(o, "&amp;"); break;
		case '<': o += sprintf(o, "&lt;"); break;
		case '>': o += sprintf(o, "&gt;"); break;
		case '"': o += sprintf(o, "&quot;"); break;
		case '\'': o += sprintf(o, "&apos;"); break;
		default: *o++ = *p;
		}
	}
	*o = '\0';
	return 0;
}
