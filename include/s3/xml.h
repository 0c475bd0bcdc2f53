/*
 * xml.h - just enough XML for S3's answers: the text of an element, and a
 * walk over repeated elements (<Version>, <DeleteMarker>, <Part>).
 *
 * Design: S3 answers are small, flat, machine-written documents with no
 * attributes we need, no CDATA and no comments, so a search for
 * "<Name>" ... "</Name>" is exact enough, and keeps libxml2 out of the
 * build. Entities (&amp; &lt; &gt; &quot; &apos; &#N; &#xN;) are decoded,
 * so keys come back byte for byte.
 */
#ifndef CRRFS_S3_XML_H
#define CRRFS_S3_XML_H

#include <stddef.h>

/*
 * The decoded text of the first <tag>...</tag> in xml[0, len) (an empty
 * element "<tag/>" gives ""). *out is malloc'ed (free()). -ENOENT when
 * absent, -ENOMEM.
 */
int s3_xml_text(const char *xml, size_t len, const char *tag, char **out);

/* The same into buf (truncated to size - 1 bytes); -ENOENT when absent. */
int s3_xml_copy(const char *xml, size_t len, const char *tag, char *buf,
		size_t size);

/*
 * Find the next element <tag> or <tag2> (tag2 may be NULL) at or after
 * *pos: its inner text is xml[*start, *end), *which is 1 or 2, and *pos
 * moves past it. Returns 1 when found, 0 at the end.
 */
int s3_xml_next(const char *xml, size_t len, size_t *pos, const char *tag,
		const char *tag2, size_t *start, size_t *end, int *which);

/* Escape s for an XML text node into *out (malloc'ed). */
int s3_xml_escape(const char *s, char **out);

#endif
