/*
 * rules.h - the replication rule file (SPEC §4): load it, check it, and
 * say which rule ships a version to which destination.
 *
 * Design: rules_load() reads the whole file with inih and refuses it, with
 * the file, the line and the reason, before anything is mounted or
 * shipped: every check that needs no network happens here (S3 bucket
 * versioning is checked by the replication code at start, since it needs
 * the server). What it returns is immutable: a reload builds a new struct
 * rules and swaps the pointer, so readers never see half a file.
 *
 * Matching follows S3 replication V2: a version goes to every destination
 * for which some enabled rule's filter (prefix, and all of its tags)
 * matches; where several do, the rule with the highest priority wins and
 * its settings (storage class, delete markers) apply.
 */
#ifndef CRRFS_CONF_RULES_H
#define CRRFS_CONF_RULES_H

#include <stdbool.h>
#include <stddef.h>

/* Longest destination name or rule id (they appear in xattr names). */
#define RULES_NAME_MAX 64

enum rules_dest_type { RULES_DEST_S3, RULES_DEST_DIR };

/* A [destination NAME] section. Strings are NULL when the key is absent. */
struct rules_dest {
	char *name;
	enum rules_dest_type type;
	char *endpoint;		/* s3: "http://..." or "https://..." */
	char *region;		/* s3: NULL means the default, us-east-1 */
	char *bucket;		/* s3 */
	char *credentials;	/* s3: absolute path; NULL: AWS_* env */
	char *profile;		/* s3: profile in credentials; NULL: default */
	char *storage_class;	/* s3: NULL means the bucket's default */
	char *ca_file;		/* s3: absolute path; NULL: system CAs */
	bool path_style;	/* s3: path-style rather than virtual-hosted */
	char *path;		/* dir: absolute path of the replica store */
	unsigned line;		/* line of the section header */
};

/* One tag: a tag.NAME = VALUE filter, or one tag of a version. */
struct rules_tag {
	const char *name;
	const char *value;
};

/* A [rule ID] section. */
struct rules_rule {
	char *id;
	bool enabled;
	unsigned priority;	/* higher wins for one destination */
	char *prefix;		/* "" matches every key */
	struct rules_tag *tags;	/* ANDed; strings owned by the rule */
	size_t ntags;
	size_t dest;		/* index into rules.dests */
	bool delete_markers;	/* delete_marker_replication = enabled */
	char *storage_class;	/* override, or NULL: the destination's */
	unsigned line;		/* line of the section header */
};

/* A whole rule file. Destinations and rules are in file order. */
struct rules {
	char *path;		/* the file, as given to rules_load */
	char *source_region;	/* [source] region, or NULL */
	struct rules_dest *dests;
	size_t ndests;
	struct rules_rule *rules;
	size_t nrules;
};

/*
 * Read and check the rule file at path. store_path, when not NULL, is the
 * store being mounted: a dir destination that is that store (by
 * realpath) is refused. On success *out is a malloc'ed struct rules the
 * caller frees with rules_free(). On failure *out is NULL, err holds one
 * line ("cannot load rule file 'PATH': line N: REASON", or the errno's
 * text when the file cannot be read) and the return is -EINVAL for a bad
 * file, -ENOMEM, or the errno of opening or reading it.
 */
int rules_load(const char *path, const char *store_path, struct rules **out,
	       char *err, size_t errlen);

void rules_free(struct rules *r);

/* Whether rule's filter matches a version, whatever its status. */
bool rules_rule_matches(const struct rules_rule *rule, const char *key,
			const struct rules_tag *tags, size_t ntags);

/* What rules_match decides for one destination. */
struct rules_choice {
	const struct rules_rule *rule;	/* the winning rule, or NULL */
	bool delete_markers;		/* ship this key's delete markers */
};

/*
 * For a version of key with these tags, fill out[i] for each destination
 * r->dests[i] (out has r->ndests entries): the enabled matching rule with
 * the highest priority, or NULL when none matches. For a delete marker,
 * pass no tags (markers have none, so only rules without tag filters can
 * match, as in S3) and ship it where delete_markers is set. Returns how
 * many destinations have a rule. The pointers are valid as long as r.
 */
size_t rules_match(const struct rules *r, const char *key,
		   const struct rules_tag *tags, size_t ntags,
		   struct rules_choice *out);

/* Find a destination by name: its index, or -1. */
long rules_dest_find(const struct rules *r, const char *name);

#endif
