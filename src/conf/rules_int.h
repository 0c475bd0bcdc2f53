/*
 * rules_int.h - what the two halves of the rule loader share: the state
 * of one load (rules_parse.c fills it line by line from inih; rules.c
 * checks the whole, resolves names, and owns the entry point).
 *
 * Design: every error goes through rules_fail(), which keeps the one with
 * the smallest line number. Checks that need the whole file (names used
 * before their section, duplicate priorities) run after parsing in any
 * order and still report the first problem in the file.
 */
#ifndef CRRFS_CONF_RULES_INT_H
#define CRRFS_CONF_RULES_INT_H

#include <stdio.h>

#include "conf/rules.h"

/* Keys of a [destination] section; the index is also a bit in `seen`. */
enum dest_key {
	DK_TYPE, DK_ENDPOINT, DK_REGION, DK_BUCKET, DK_CREDENTIALS,
	DK_PROFILE, DK_STORAGE_CLASS, DK_CA_FILE, DK_PATH_STYLE, DK_PATH,
	DK_COUNT
};

/* Keys of a [rule] section (tag.* are counted apart, in the rule). */
enum rule_key {
	RK_STATUS, RK_PRIORITY, RK_PREFIX, RK_DESTINATION, RK_DELETE_MARKERS,
	RK_STORAGE_CLASS, RK_TAG, RK_COUNT
};

/* Where each key of a section was set: 0 when it was not. */
struct rules_dest_meta {
	unsigned key_line[DK_COUNT];
};

struct rules_rule_meta {
	unsigned key_line[RK_COUNT];	/* RK_TAG: the first tag.* line */
	char *dest_name;		/* as written; resolved after parsing */
};

enum rules_section { SEC_NONE, SEC_SOURCE, SEC_DEST, SEC_RULE, SEC_BAD };

struct rules_loader {
	const char *path;
	struct rules *r;
	struct rules_dest_meta *dmeta;	/* parallel to r->dests */
	struct rules_rule_meta *rmeta;	/* parallel to r->rules */
	size_t dcap, rcap;

	/* The reader's side: the file and the line inih is working on. */
	FILE *f;
	char *buf;
	size_t bufcap;
	unsigned line;
	int io_err;			/* -errno of a failed read */

	/* The section the current line belongs to. */
	enum rules_section sec;
	size_t idx;			/* into dests or rules */
	unsigned source_line;		/* where [source] was, or 0 */
	unsigned source_region_line;

	/* The first error: smallest line wins; nomem overrides all. */
	unsigned err_line;		/* 0: none yet */
	char err[512];
	bool nomem;
};

/* Record an error at line (1-based) unless an earlier one is kept. */
void rules_fail(struct rules_loader *ld, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Run inih over ld->f, filling ld->r with every section and key and
 * checking each value on its own. Errors are recorded with rules_fail
 * (or ld->io_err, ld->nomem).
 */
void rules_parse(struct rules_loader *ld);

#endif
