/*
 * rules_parse.c - read a rule file with inih, section by section and key
 * by key, checking each value as it comes.
 *
 * Design: inih (r55 as Debian builds it) neither passes line numbers to
 * the handler nor calls it for a section header, so an empty or repeated
 * section would go unseen. We therefore hand inih the lines ourselves
 * through ini_parse_stream(): the reader counts lines and reads section
 * headers itself, and since inih calls the handler for a line before it
 * asks for the next one, the handler always knows the line it is on.
 * The reader also drops leading blanks, so an indented key is a key and
 * never (as inih would read it) the continuation of the value above: no
 * key here has a multi-line value.
 */
#include "conf/rules_int.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "s3/uri.h"

static const char *const dest_keys[DK_COUNT] = {
	[DK_TYPE] = "type",
	[DK_ENDPOINT] = "endpoint",
	[DK_REGION] = "region",
	[DK_BUCKET] = "bucket",
	[DK_CREDENTIALS] = "credentials",
	[DK_PROFILE] = "profile",
	[DK_STORAGE_CLASS] = "storage_class",
	[DK_CA_FILE] = "ca_file",
	[DK_PATH_STYLE] = "path_style",
	[DK_PATH] = "path",
};

static const char *const rule_keys[RK_COUNT] = {
	[RK_STATUS] = "status",
	[RK_PRIORITY] = "priority",
	[RK_PREFIX] = "prefix",
	[RK_DESTINATION] = "destination",
	[RK_DELETE_MARKERS] = "delete_marker_replication",
	[RK_STORAGE_CLASS] = "storage_class",
	[RK_TAG] = "tag.*",
};

/* S3's limits on a tag's key and value. */
#define TAG_NAME_MAX 128
#define TAG_VALUE_MAX 256

static char *parse_strdup(struct rules_loader *ld, const char *s)
{
	char *d = strdup(s);

	if (!d)
		ld->nomem = true;
	return d;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > RULES_NAME_MAX)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789._-") == n;
}

/* A value that is one word: not empty, no blanks or control bytes. */
static bool word_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

/* Grow an array of elem-sized items to hold one more; false on ENOMEM. */
static bool parse_grow(struct rules_loader *ld, void **arr, size_t n,
		       size_t *cap, size_t elem)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return true;
	ncap = *cap ? *cap * 2 : 4;
	p = realloc(*arr, ncap * elem);
	if (!p) {
		ld->nomem = true;
		return false;
	}
	memset((char *)p + *cap * elem, 0, (ncap - *cap) * elem);
	*arr = p;
	*cap = ncap;
	return true;
}

static void header_destination(struct rules_loader *ld, const char *name)
{
	struct rules *r = ld->r;
	size_t dcap = ld->dcap;	/* dmeta's capacity: it grows in step */
	struct rules_dest *d;

	for (size_t i = 0; i < r->ndests; i++) {
		if (!strcmp(r->dests[i].name, name)) {
			rules_fail(ld, ld->line, "duplicate section "
				   "'[destination %s]' (first at line %u)",
				   name, r->dests[i].line);
			return;
		}
	}
	if (!parse_grow(ld, (void **)&r->dests, r->ndests, &ld->dcap,
			sizeof(*r->dests)) ||
	    !parse_grow(ld, (void **)&ld->dmeta, r->ndests, &dcap,
			sizeof(*ld->dmeta)))
		return;
	d = &r->dests[r->ndests];
	d->name = parse_strdup(ld, name);
	d->line = ld->line;
	if (!d->name)
		return;
	ld->idx = r->ndests++;
	ld->sec = SEC_DEST;
}

static void header_rule(struct rules_loader *ld, const char *id)
{
	struct rules *r = ld->r;
	size_t rcap = ld->rcap;	/* rmeta's capacity: it grows in step */
	struct rules_rule *rule;

	for (size_t i = 0; i < r->nrules; i++) {
		if (!strcmp(r->rules[i].id, id)) {
			rules_fail(ld, ld->line, "duplicate section "
				   "'[rule %s]' (first at line %u)", id,
				   r->rules[i].line);
			return;
		}
	}
	if (!parse_grow(ld, (void **)&r->rules, r->nrules, &ld->rcap,
			sizeof(*r->rules)) ||
	    !parse_grow(ld, (void **)&ld->rmeta, r->nrules, &rcap,
			sizeof(*ld->rmeta)))
		return;
	rule = &r->rules[r->nrules];
	rule->id = parse_strdup(ld, id);
	rule->prefix = parse_strdup(ld, "");
	rule->line = ld->line;
	if (!rule->id || !rule->prefix)
		return;
	ld->idx = r->nrules++;
	ld->sec = SEC_RULE;
}

/* A "[...]" line (s starts with '['): open the section it names. */
static void parse_header(struct rules_loader *ld, const char *s)
{
	char inner[INI_MAX_LINE];
	const char *end = strchr(s, ']'), *rest;
	char *kind, *name;
	size_t n;

	ld->sec = SEC_BAD;	/* until the header proves good */
	if (!end) {
		rules_fail(ld, ld->line, "section header has no ']'");
		return;
	}
	rest = end + 1 + strspn(end + 1, " \t\r\n");
	if (*rest && *rest != ';' && *rest != '#') {
		rules_fail(ld, ld->line, "text after section header");
		return;
	}
	n = (size_t)(end - s - 1);
	if (n >= sizeof(inner))
		n = sizeof(inner) - 1;
	memcpy(inner, s + 1, n);
	inner[n] = '\0';
	kind = inner + strspn(inner, " \t");
	name = kind + strcspn(kind, " \t");
	if (*name)
		*name++ = '\0';
	name += strspn(name, " \t");
	for (n = strlen(name); n && (name[n - 1] == ' ' || name[n - 1] == '\t');)
		name[--n] = '\0';

	if (!strcmp(kind, "source")) {
		if (*name)
			rules_fail(ld, ld->line, "section '[source]' takes "
				   "no name");
		else if (ld->source_line)
			rules_fail(ld, ld->line, "duplicate section "
				   "'[source]' (first at line %u)",
				   ld->source_line);
		else {
			ld->source_line = ld->line;
			ld->sec = SEC_SOURCE;
		}
		return;
	}
	if (strcmp(kind, "destination") && strcmp(kind, "rule")) {
		rules_fail(ld, ld->line, "unknown section '[%s%s%s]'", kind,
			   *name ? " " : "", name);
		return;
	}
	if (!*name) {
		rules_fail(ld, ld->line, "section '[%s]' needs a name, as in "
			   "'[%s %s]'", kind, kind,
			   kind[0] == 'd' ? "NAME" : "ID");
		return;
	}
	if (!name_ok(name)) {
		rules_fail(ld, ld->line, "bad %s name '%s': use letters, "
			   "digits, '.', '_' and '-' (at most %d)",
			   kind[0] == 'd' ? "destination" : "rule", name,
			   RULES_NAME_MAX);
		return;
	}
	if (kind[0] == 'd')
		header_destination(ld, name);
	else
		header_rule(ld, name);
}

/*
 * inih's reader: the next line into str (at most num - 1 bytes with its
 * NUL), with leading blanks dropped; section headers are read here.
 */
static char *parse_reader(char *str, int num, void *stream)
{
	struct rules_loader *ld = stream;
	ssize_t got;
	size_t len;
	char *s;

	errno = 0;
	got = getline(&ld->buf, &ld->bufcap, ld->f);
	if (got < 0) {
		if (ferror(ld->f))
			ld->io_err = errno ? -errno : -EIO;
		return NULL;
	}
	ld->line++;
	s = ld->buf;
	len = (size_t)got;
	if (ld->line == 1 && len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) {
		s += 3;
		len -= 3;
	}
	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	if (memchr(s, '\0', len)) {
		rules_fail(ld, ld->line, "line holds a NUL byte");
		len = 0;
	} else if (num < 2 || len > (size_t)num - 2) {
		rules_fail(ld, ld->line, "line is longer than %d characters",
			   num - 2);
		len = 0;
	}
	memcpy(str, s, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	if (len && *s == '[') {
		s[len] = '\0';
		parse_header(ld, s);
	}
	return str;
}

static void source_key(struct rules_loader *ld, const char *name,
		       const char *value)
{
	if (strcmp(name, "region")) {
		rules_fail(ld, ld->line, "unknown key '%s' in section "
			   "'[source]'", name);
	} else if (ld->source_region_line) {
		rules_fail(ld, ld->line, "duplicate key 'region' (first at "
			   "line %u)", ld->source_region_line);
	} else if (!word_ok(value)) {
		rules_fail(ld, ld->line, "bad region '%s'", value);
	} else {
		ld->source_region_line = ld->line;
		ld->r->source_region = parse_strdup(ld, value);
	}
}

static bool storage_class_ok(const char *v)
{
	size_t n = strlen(v);

	return n && n <= 64 &&
	       strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789_-") == n;
}

/* Check value for dest key k; on success return where it goes. */
static char **dest_field(struct rules_loader *ld, struct rules_dest *d,
			 enum dest_key k, const char *v)
{
	const char *key = dest_keys[k];
	char why[128];

	switch (k) {
	case DK_TYPE:
		if (!strcmp(v, "s3"))
			d->type = RULES_DEST_S3;
		else if (!strcmp(v, "dir"))
			d->type = RULES_DEST_DIR;
		else
			rules_fail(ld, ld->line, "bad type '%s': expected "
				   "s3 or dir", v);
		return NULL;
	case DK_PATH_STYLE:
		if (!strcmp(v, "true"))
			d->path_style = true;
		else if (!strcmp(v, "false"))
			d->path_style = false;
		else
			rules_fail(ld, ld->line, "bad path_style '%s': "
				   "expected true or false", v);
		return NULL;
	case DK_ENDPOINT:
		if (s3_endpoint_check(v, why, sizeof(why))) {
			rules_fail(ld, ld->line, "bad endpoint '%s': %s", v,
				   why);
			return NULL;
		}
		return &d->endpoint;
	case DK_REGION:
	case DK_BUCKET:
	case DK_PROFILE:
		if (!word_ok(v) || (k == DK_BUCKET && strchr(v, '/'))) {
			rules_fail(ld, ld->line, "bad %s '%s'", key, v);
			return NULL;
		}
		return k == DK_REGION ? &d->region :
		       k == DK_BUCKET ? &d->bucket : &d->profile;
	case DK_STORAGE_CLASS:
		if (!storage_class_ok(v)) {
			rules_fail(ld, ld->line, "bad storage_class '%s'", v);
			return NULL;
		}
		return &d->storage_class;
	case DK_CREDENTIALS:
	case DK_CA_FILE:
	case DK_PATH:
		if (v[0] != '/') {
			rules_fail(ld, ld->line, "bad %s '%s': expected an "
				   "absolute path", key, v);
			return NULL;
		}
		return k == DK_CREDENTIALS ? &d->credentials :
		       k == DK_CA_FILE ? &d->ca_file : &d->path;
	case DK_COUNT:
		break;
	}
	return NULL;
}

/*
 * Which of keys[0..n) name is, remembering its line in key_line[]; n
 * (after failing the load with the reason) for an unknown or repeated
 * key. Destinations and rules word these refusals alike.
 */
static unsigned key_take(struct rules_loader *ld, const char *name,
			 const char *const *keys, unsigned n,
			 unsigned *key_line, const char *kind,
			 const char *section)
{
	unsigned k;

	for (k = 0; k < n; k++)
		if (!strcmp(name, keys[k]))
			break;
	if (k == n) {
		rules_fail(ld, ld->line, "unknown key '%s' in section "
			   "'[%s %s]'", name, kind, section);
		return n;
	}
	if (key_line[k]) {
		rules_fail(ld, ld->line, "duplicate key '%s' (first at line "
			   "%u)", name, key_line[k]);
		return n;
	}
	key_line[k] = ld->line;
	return k;
}

static void dest_key(struct rules_loader *ld, const char *name,
		     const char *value)
{
	struct rules_dest *d = &ld->r->dests[ld->idx];
	struct rules_dest_meta *m = &ld->dmeta[ld->idx];
	unsigned k;
	char **field;

	k = key_take(ld, name, dest_keys, DK_COUNT, m->key_line,
		     "destination", d->name);
	if (k == DK_COUNT)
		return;
	field = dest_field(ld, d, k, value);
	if (field)
		*field = parse_strdup(ld, value);
}

static void rule_tag(struct rules_loader *ld, struct rules_rule *rule,
		     struct rules_rule_meta *m, const char *tname,
		     const char *value)
{
	size_t cap = rule->ntags;
	struct rules_tag *t;
	char *n, *v;

	if (!*tname || strlen(tname) > TAG_NAME_MAX) {
		rules_fail(ld, ld->line, "bad tag name '%s': 1 to %d "
			   "characters", tname, TAG_NAME_MAX);
		return;
	}
	if (strlen(value) > TAG_VALUE_MAX) {
		rules_fail(ld, ld->line, "tag value longer than %d "
			   "characters", TAG_VALUE_MAX);
		return;
	}
	for (size_t i = 0; i < rule->ntags; i++) {
		if (!strcmp(rule->tags[i].name, tname)) {
			rules_fail(ld, ld->line, "duplicate key 'tag.%s'",
				   tname);
			return;
		}
	}
	/* Grow by one: a rule has a handful of tags at most. */
	if (!parse_grow(ld, (void **)&rule->tags, rule->ntags, &cap,
			sizeof(*rule->tags)))
		return;
	n = parse_strdup(ld, tname);
	v = parse_strdup(ld, value);
	if (!n || !v) {
		free(n);
		free(v);
		return;
	}
	t = &rule->tags[rule->ntags++];
	t->name = n;
	t->value = v;
	if (!m->key_line[RK_TAG])
		m->key_line[RK_TAG] = ld->line;
}

/* "enabled" -> true, "disabled" -> false; else an error, false. */
static bool parse_enabled(struct rules_loader *ld, const char *key,
			  const char *v)
{
	if (!strcmp(v, "enabled"))
		return true;
	if (strcmp(v, "disabled"))
		rules_fail(ld, ld->line, "bad %s '%s': expected enabled or "
			   "disabled", key, v);
	return false;
}

static void rule_value(struct rules_loader *ld, struct rules_rule *rule,
		       struct rules_rule_meta *m, enum rule_key k,
		       const char *v)
{
	unsigned long prio;
	char *end;

	switch (k) {
	case RK_STATUS:
		rule->enabled = parse_enabled(ld, "status", v);
		break;
	case RK_DELETE_MARKERS:
		rule->delete_markers = parse_enabled(ld, rule_keys[k], v);
		break;
	case RK_PRIORITY:
		errno = 0;
		prio = strtoul(v, &end, 10);
		if (!*v || *end || v[0] < '0' || v[0] > '9' || errno ||
		    prio > INT_MAX) {
			rules_fail(ld, ld->line, "bad priority '%s': expected "
				   "an integer from 0 to %d", v, INT_MAX);
			break;
		}
		rule->priority = (unsigned)prio;
		break;
	case RK_PREFIX:
		if (v[0] == '/') {
			rules_fail(ld, ld->line, "bad prefix '%s': keys do not "
				   "start with '/'", v);
			break;
		}
		free(rule->prefix);
		rule->prefix = parse_strdup(ld, v);
		break;
	case RK_DESTINATION:
		if (!*v) {
			rules_fail(ld, ld->line, "empty destination");
			break;
		}
		m->dest_name = parse_strdup(ld, v);
		break;
	case RK_STORAGE_CLASS:
		if (!storage_class_ok(v)) {
			rules_fail(ld, ld->line, "bad storage_class '%s'", v);
			break;
		}
		rule->storage_class = parse_strdup(ld, v);
		break;
	case RK_TAG:
	case RK_COUNT:
		break;
	}
}

static void rule_key(struct rules_loader *ld, const char *name,
		     const char *value)
{
	struct rules_rule *rule = &ld->r->rules[ld->idx];
	struct rules_rule_meta *m = &ld->rmeta[ld->idx];
	unsigned k;

	if (!strncmp(name, "tag.", 4)) {
		rule_tag(ld, rule, m, name + 4, value);
		return;
	}
	k = key_take(ld, name, rule_keys, RK_TAG, m->key_line, "rule",
		     rule->id);
	if (k == RK_TAG)
		return;
	rule_value(ld, rule, m, k, value);
}

/* inih's handler. It never fails, so inih's own errors are syntax only. */
static int parse_handler(void *user, const char *section, const char *name,
			 const char *value)
{
	struct rules_loader *ld = user;

	(void)section;	/* the reader tracked it, with its line */
	if (ld->nomem)
		return 1;
	switch (ld->sec) {
	case SEC_NONE:
		rules_fail(ld, ld->line, "key '%s' is outside any section",
			   name);
		break;
	case SEC_SOURCE:
		source_key(ld, name, value);
		break;
	case SEC_DEST:
		dest_key(ld, name, value);
		break;
	case SEC_RULE:
		rule_key(ld, name, value);
		break;
	case SEC_BAD:
		break;
	}
	return 1;
}

void rules_parse(struct rules_loader *ld)
{
	int rc = ini_parse_stream(parse_reader, ld, parse_handler, ld);

	if (rc > 0)
		rules_fail(ld, (unsigned)rc, "expected '[section]', 'key = "
			   "value' or a comment");
	else if (rc < 0)
		ld->nomem = true;	/* -2: inih's own allocation */
}
