/*
 * rules.c - load a rule file (rules_parse.c reads it), check what needs
 * the whole file, and match versions against the rules.
 *
 * Design: a struct rules is built once and never changed, so matching
 * takes no lock and a reload is a pointer swap. Checks that look across
 * sections (a rule's destination may come later in the file) run after
 * parsing; all of them run, and the error with the smallest line number
 * is the one reported, so the answer does not depend on check order.
 */
#include "conf/rules_int.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void rules_fail(struct rules_loader *ld, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ld->err_line && ld->err_line <= line)
		return;
	ld->err_line = line;
	n = snprintf(ld->err, sizeof(ld->err), "line %u: ", line);
	va_start(ap, fmt);
	vsnprintf(ld->err + n, sizeof(ld->err) - (size_t)n, fmt, ap);
	va_end(ap);
}

long rules_dest_find(const struct rules *r, const char *name)
{
	for (size_t i = 0; i < r->ndests; i++)
		if (!strcmp(r->dests[i].name, name))
			return (long)i;
	return -1;
}

/* The first key of a dir destination that only an s3 one takes, or -1. */
static int dest_s3_only_key(const struct rules_dest_meta *m)
{
	static const enum dest_key s3_keys[] = {
		DK_ENDPOINT, DK_REGION, DK_BUCKET, DK_CREDENTIALS, DK_PROFILE,
		DK_STORAGE_CLASS, DK_CA_FILE, DK_PATH_STYLE,
	};
	int best = -1;

	for (size_t i = 0; i < sizeof(s3_keys) / sizeof(s3_keys[0]); i++) {
		unsigned l = m->key_line[s3_keys[i]];

		if (l && (best < 0 || l < m->key_line[best]))
			best = (int)s3_keys[i];
	}
	return best;
}

static void check_dest(struct rules_loader *ld, size_t i,
		       const char *store_real)
{
	static const char *const names[DK_COUNT] = {
		"type", "endpoint", "region", "bucket", "credentials",
		"profile", "storage_class", "ca_file", "path_style", "path",
	};
	const struct rules_dest *d = &ld->r->dests[i];
	const struct rules_dest_meta *m = &ld->dmeta[i];
	char real[PATH_MAX];
	int k;

	if (!m->key_line[DK_TYPE]) {
		rules_fail(ld, d->line, "destination '%s' has no type (s3 or "
			   "dir)", d->name);
		return;
	}
	if (d->type == RULES_DEST_S3) {
		if (!m->key_line[DK_ENDPOINT])
			rules_fail(ld, d->line, "s3 destination '%s' has no "
				   "endpoint", d->name);
		if (!m->key_line[DK_BUCKET])
			rules_fail(ld, d->line, "s3 destination '%s' has no "
				   "bucket", d->name);
		if (m->key_line[DK_PATH])
			rules_fail(ld, m->key_line[DK_PATH], "key 'path' is "
				   "for dir destinations; '%s' is s3",
				   d->name);
		return;
	}
	if (!m->key_line[DK_PATH])
		rules_fail(ld, d->line, "dir destination '%s' has no path",
			   d->name);
	k = dest_s3_only_key(m);
	if (k >= 0)
		rules_fail(ld, m->key_line[k], "key '%s' is for s3 "
			   "destinations; '%s' is dir", names[k], d->name);
	if (d->path && store_real && realpath(d->path, real) &&
	    !strcmp(real, store_real))
		rules_fail(ld, m->key_line[DK_PATH], "destination '%s' is the "
			   "store itself ('%s')", d->name, store_real);
}

/* Resolve rule i's destination; check what the rule needs on its own. */
static void check_rule(struct rules_loader *ld, size_t i)
{
	struct rules_rule *rule = &ld->r->rules[i];
	const struct rules_rule_meta *m = &ld->rmeta[i];
	const struct rules_dest *d;
	long di;

	if (!m->key_line[RK_STATUS])
		rules_fail(ld, rule->line, "rule '%s' has no status (enabled "
			   "or disabled)", rule->id);
	if (rule->ntags && rule->delete_markers)
		rules_fail(ld, m->key_line[RK_DELETE_MARKERS], "rule '%s' "
			   "has a tag filter (line %u): delete_marker_"
			   "replication cannot be enabled (delete markers have "
			   "no tags; S3 refuses this too)", rule->id,
			   m->key_line[RK_TAG]);
	if (!m->dest_name) {
		if (!m->key_line[RK_DESTINATION])
			rules_fail(ld, rule->line, "rule '%s' names no "
				   "destination", rule->id);
		return;
	}
	di = rules_dest_find(ld->r, m->dest_name);
	if (di < 0) {
		rules_fail(ld, m->key_line[RK_DESTINATION], "rule '%s' names "
			   "unknown destination '%s'", rule->id,
			   m->dest_name);
		return;
	}
	rule->dest = (size_t)di;
	d = &ld->r->dests[di];
	if (rule->storage_class && d->type == RULES_DEST_DIR)
		rules_fail(ld, m->key_line[RK_STORAGE_CLASS], "key "
			   "'storage_class' is for s3 destinations; '%s' is "
			   "dir", d->name);
}

/* Two rules for one destination may not share a priority (S3's rule). */
static void check_priorities(struct rules_loader *ld, const bool *resolved)
{
	const struct rules *r = ld->r;

	for (size_t i = 0; i < r->nrules; i++) {
		const struct rules_rule *a = &r->rules[i];
		unsigned line = ld->rmeta[i].key_line[RK_PRIORITY];

		if (!resolved[i])
			continue;
		for (size_t j = 0; j < i; j++) {
			const struct rules_rule *b = &r->rules[j];

			if (!resolved[j] || b->dest != a->dest ||
			    b->priority != a->priority)
				continue;
			rules_fail(ld, line ? line : a->line, "rule '%s' has "
				   "the same priority (%u) as rule '%s' (line "
				   "%u) for destination '%s'", a->id,
				   a->priority, b->id, b->line,
				   r->dests[a->dest].name);
			break;
		}
	}
}

static void check_all(struct rules_loader *ld, const char *store_path)
{
	char store_real[PATH_MAX];
	const char *sr = NULL;
	bool *resolved;

	if (store_path && realpath(store_path, store_real))
		sr = store_real;
	for (size_t i = 0; i < ld->r->ndests; i++)
		check_dest(ld, i, sr);
	resolved = calloc(ld->r->nrules + 1, sizeof(*resolved));
	if (!resolved) {
		ld->nomem = true;
		return;
	}
	for (size_t i = 0; i < ld->r->nrules; i++) {
		ld->r->rules[i].dest = SIZE_MAX;
		check_rule(ld, i);
		resolved[i] = ld->r->rules[i].dest != SIZE_MAX;
	}
	check_priorities(ld, resolved);
	free(resolved);
}

int rules_load(const char *path, const char *store_path, struct rules **out,
	       char *err, size_t errlen)
{
	struct rules_loader ld;
	int rc;

	memset(&ld, 0, sizeof(ld));
	*out = NULL;
	if (errlen)
		err[0] = '\0';
	ld.path = path;
	ld.r = calloc(1, sizeof(*ld.r));
	if (!ld.r || !(ld.r->path = strdup(path))) {
		ld.nomem = true;
		goto out;
	}
	ld.f = fopen(path, "re");
	if (!ld.f) {
		ld.io_err = -errno;
		goto out;
	}
	rules_parse(&ld);
	if (!ld.nomem && !ld.io_err && !ld.err_line)
		check_all(&ld, store_path);
out:
	/* Only rules that made it into r->rules have a dest_name. */
	for (size_t i = 0; ld.r && i < ld.r->nrules; i++)
		free(ld.rmeta[i].dest_name);
	if (ld.nomem) {
		rc = -ENOMEM;
		snprintf(err, errlen, "cannot load rule file '%s': out of "
			 "memory", path);
	} else if (ld.io_err) {
		rc = ld.io_err;
		snprintf(err, errlen, "cannot load rule file '%s': %s", path,
			 strerror(-rc));
	} else if (ld.err_line) {
		rc = -EINVAL;
		snprintf(err, errlen, "cannot load rule file '%s': %s", path,
			 ld.err);
	} else {
		rc = 0;
		*out = ld.r;
		ld.r = NULL;
	}
	if (ld.f)
		fclose(ld.f);
	free(ld.buf);
	free(ld.rmeta);
	free(ld.dmeta);
	rules_free(ld.r);
	return rc;
}

void rules_free(struct rules *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->ndests; i++) {
		struct rules_dest *d = &r->dests[i];

		free(d->name);
		free(d->endpoint);
		free(d->region);
		free(d->bucket);
		free(d->credentials);
		free(d->profile);
		free(d->storage_class);
		free(d->ca_file);
		free(d->path);
	}
	for (size_t i = 0; i < r->nrules; i++) {
		struct rules_rule *rule = &r->rules[i];

		for (size_t t = 0; t < rule->ntags; t++) {
			free((char *)rule->tags[t].name);
			free((char *)rule->tags[t].value);
		}
		free(rule->tags);
		free(rule->id);
		free(rule->prefix);
		free(rule->storage_class);
	}
	free(r->dests);
	free(r->rules);
	free(r->source_region);
	free(r->path);
	free(r);
}

bool rules_rule_matches(const struct rules_rule *rule, const char *key,
			const struct rules_tag *tags, size_t ntags)
{
	if (strncmp(key, rule->prefix, strlen(rule->prefix)))
		return false;
	for (size_t i = 0; i < rule->ntags; i++) {
		size_t j;

		for (j = 0; j < ntags; j++)
			if (!strcmp(tags[j].name, rule->tags[i].name) &&
			    !strcmp(tags[j].value, rule->tags[i].value))
				break;
		if (j == ntags)
			return false;
	}
	return true;
}

size_t rules_match(const struct rules *r, const char *key,
		   const struct rules_tag *tags, size_t ntags,
		   struct rules_choice *out)
{
	size_t n = 0;

	memset(out, 0, r->ndests * sizeof(*out));
	for (size_t i = 0; i < r->nrules; i++) {
		const struct rules_rule *rule = &r->rules[i];
		struct rules_choice *c = &out[rule->dest];

		if (!rule->enabled ||
		    !rules_rule_matches(rule, key, tags, ntags))
			continue;
		/* Priorities are unique per destination: no ties. */
		if (!c->rule || rule->priority > c->rule->priority)
			c->rule = rule;
	}
	for (size_t i = 0; i < r->ndests; i++) {
		out[i].delete_markers = out[i].rule &&
					out[i].rule->delete_markers;
		n += out[i].rule != NULL;
	}
	return n;
}
