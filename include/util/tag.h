/*
 * tag.h - what makes an object tag S3 accepts, checked where a tag is
 * set (the user.crrfs.tag.* xattrs) and again where one is shipped, so
 * a tag that would make the bucket's tagging unreadable never gets in.
 *
 * The rules (Amazon S3 "Categorizing your storage using tags" and the
 * AWS tagging restrictions): at most TAG_COUNT_MAX tags per object; a
 * name of 1..TAG_NAME_CHARS characters, a value of 0..TAG_VALUE_CHARS,
 * both valid UTF-8 made of letters, digits and spaces of any script and
 * + - = . _ : / @; a name must not start with "aws:". Outside ASCII,
 * any code point but the C1 controls, surrogates and U+FFFE/U+FFFF is
 * taken for a letter, digit or space (crrfs carries no Unicode tables).
 */
#ifndef CRRFS_UTIL_TAG_H
#define CRRFS_UTIL_TAG_H

#include <stddef.h>

#define TAG_COUNT_MAX 10
#define TAG_NAME_CHARS 128
#define TAG_VALUE_CHARS 256

/*
 * NULL when name (nlen bytes) = value (vlen bytes) is a valid tag, else
 * why not, as a static string ("value is not valid UTF-8").
 */
const char *tag_problem(const char *name, size_t nlen, const void *value,
			size_t vlen);

#endif
