/*
 * cmd_explain.c - `crrfs explain STORE KEY [--rules FILE] [--tag N=V]
 * [--json]`: say which replication rules match a key, which one wins for
 * each destination and why, and whether its delete markers would go.
 *
 * Design: the decision is the one the replication hook makes
 * (rules_match over the same rule file, with the tags of the key's
 * current version read from the store), so the answer cannot drift from
 * what happens. Each rule that does not match says the first reason, in
 * the order S3 checks a filter: status, prefix, then each tag.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "conf/rules.h"
#include "store/store.h"

#define TAG_XATTR "user.crrfs.tag."
#define EXPLAIN_TAGS_MAX 64

static const char explain_usage[] =
	"usage: crrfs explain STORE KEY [--rules FILE] [--tag NAME=VALUE]... "
	"[--json]\n"
	"\n"
	"Say which replication rules match KEY (a path relative to the mount\n"
	"root, 'dir/' for a folder), why the others do not, which rule wins\n"
	"for each destination, and whether the key's delete markers would be\n"
	"shipped. The tags are those of the key's current version in STORE\n"
	"(opened read-only; it may be mounted), or those given with --tag.\n"
	"\n"
	"  --rules FILE         the rule file (default: STORE/rules.ini)\n"
	"  --tag NAME=VALUE     assume this tag instead of the stored ones\n"
	"                       (may be repeated)\n"
	"  --json               print the answer as a JSON object\n"
	"  -h, --help           show this help\n";

/* What the store says about the key. */
struct explain_key {
	const char *key;
	const char *state;		/* "live", "deleted", "absent" */
	bool replica;			/* current version arrived as one */
	bool given;			/* tags from --tag */
	struct rules_tag tags[EXPLAIN_TAGS_MAX];
	size_t ntags;
	char *owned[2 * EXPLAIN_TAGS_MAX];	/* strings to free */
	size_t nowned;
};

static void key_release(struct explain_key *k)
{
	for (size_t i = 0; i < k->nowned; i++)
		free(k->owned[i]);
}

static int key_add_tag(struct explain_key *k, char *name, char *value)
{
	if (k->ntags == EXPLAIN_TAGS_MAX || !name || !value) {
		free(name);
		free(value);
		return k->ntags == EXPLAIN_TAGS_MAX ? -E2BIG : -ENOMEM;
	}
	k->owned[k->nowned++] = name;
	k->owned[k->nowned++] = value;
	k->tags[k->ntags].name = name;
	k->tags[k->ntags++].value = value;
	return 0;
}

/* Find a live key, one component at a time; "dir/" is the folder key. */
static int explain_lookup(struct store *s, const char *key,
			  struct store_entry *e)
{
	char *copy = strdup(key), *comp, *save = NULL;
	uint64_t dir = STORE_ROOT_OID;
	bool folder = *key && key[strlen(key) - 1] == '/';
	int rc = -ENOENT;

	if (!copy)
		return -ENOMEM;
	if (!*key) {
		rc = store_stat(s, STORE_ROOT_OID, e);
		goto out;
	}
	for (comp = strtok_r(copy, "/", &save); comp;
	     comp = strtok_r(NULL, "/", &save)) {
		rc = store_lookup_any(s, dir, comp, e);
		if (rc < 0)
			break;
		dir = e->oid;
	}
	if (!rc && folder != (e->type == STORE_T_DIR))
		rc = -ENOENT;	/* "a/" asked, file "a" found, or back */
out:
	free(copy);
	return rc;
}

static int explain_read_tags(struct store *s, const struct store_entry *e,
			     struct explain_key *k)
{
	struct store_xattr *x = NULL;
	size_t n = 0;
	int rc;

	rc = store_xattrs_get(s, e->oid, 0, &x, &n);
	for (size_t i = 0; rc >= 0 && i < n; i++) {
		if (strncmp(x[i].name, TAG_XATTR, strlen(TAG_XATTR)))
			continue;
		rc = key_add_tag(k, strdup(x[i].name + strlen(TAG_XATTR)),
				 strndup(x[i].value, x[i].size));
	}
	free(x);
	return rc == -ENOENT || rc == -ENODATA ? 0 : rc;
}

static int explain_store(const char *store, struct explain_key *k)
{
	struct store *s = NULL;
	struct store_entry e;
	int rc;

	rc = cli_store_open_ro(store, &s);
	if (rc < 0)
		return rc;
	rc = explain_lookup(s, k->key, &e);
	if (rc == -ENOENT || rc == -ENOTDIR || (!rc && e.pending)) {
		k->state = "absent";
		rc = 0;
		goto out;
	}
	if (rc < 0) {
		cli_err("cannot read key '%s' in store '%s': %s", k->key,
			store, strerror(-rc));
		goto out;
	}
	k->state = e.live ? "live" : "deleted";
	k->replica = e.head.flags & STORE_V_REPLICA;
	if (e.live && !k->given) {
		rc = explain_read_tags(s, &e, k);
		if (rc < 0)
			cli_err("cannot read the tags of '%s' in store '%s': "
				"%s", k->key, store, strerror(-rc));
	}
out:
	store_close(s);
	return rc;
}

/* Why rule does not match (NULL: it does); buf holds the words. */
static const char *explain_why_not(const struct rules_rule *rule,
				   const struct explain_key *k, char *buf,
				   size_t size)
{
	size_t plen = strlen(rule->prefix);

	if (strncmp(k->key, rule->prefix, plen)) {
		snprintf(buf, size, "key does not start with '%s'",
			 rule->prefix);
		return buf;
	}
	for (size_t i = 0; i < rule->ntags; i++) {
		const struct rules_tag *want = &rule->tags[i];
		const char *have = NULL;

		for (size_t j = 0; j < k->ntags; j++)
			if (!strcmp(k->tags[j].name, want->name))
				have = k->tags[j].value;
		if (!have)
			snprintf(buf, size, "tag %s is not set (wants '%s')",
				 want->name, want->value);
		else if (strcmp(have, want->value))
			snprintf(buf, size, "tag %s is '%s', not '%s'",
				 want->name, have, want->value);
		else
			continue;
		return buf;
	}
	if (!rule->enabled) {
		snprintf(buf, size, "disabled (its filter matches)");
		return buf;
	}
	return NULL;
}

static void explain_text(const struct rules *r, const char *store,
			 const struct explain_key *k,
			 const struct rules_choice *c,
			 const struct rules_choice *dm)
{
	char why[512];

	printf("key '%s' in store '%s': %s", k->key, store, k->state);
	if (k->replica)
		fputs(", a replica (replicas are never shipped again)",
		      stdout);
	if (k->ntags) {
		printf(", tags%s:", k->given ? " (given)" : "");
		for (size_t i = 0; i < k->ntags; i++)
			printf(" %s=%s", k->tags[i].name, k->tags[i].value);
	} else {
		printf(", no tags%s", k->given ? " (given)" : "");
	}
	printf("\nrules from '%s'\n", r->path);
	for (size_t i = 0; i < r->nrules; i++) {
		const struct rules_rule *rule = &r->rules[i];
		const char *no = explain_why_not(rule, k, why, sizeof(why));

		/* A disabled rule whose filter matches is no "mismatch". */
		printf("rule %s (priority %u, to %s): %s%s\n", rule->id,
		       rule->priority, r->dests[rule->dest].name,
		       !no ? "matches" : rule->enabled || strncmp(no,
		       "disabled", 8) ? "no match: " : "", no ? no : "");
	}
	for (size_t d = 0; d < r->ndests; d++) {
		printf("destination %s: ", r->dests[d].name);
		if (!c[d].rule) {
			puts("not replicated (no enabled rule matches)");
			continue;
		}
		printf("rule %s wins (priority %u); delete markers: ",
		       c[d].rule->id, c[d].rule->priority);
		if (dm[d].delete_markers)
			printf("shipped (rule %s)\n", dm[d].rule->id);
		else if (dm[d].rule)
			printf("not shipped (rule %s has "
			       "delete_marker_replication disabled)\n",
			       dm[d].rule->id);
		else
			puts("not shipped (markers have no tags, and every "
			     "matching rule has a tag filter)");
	}
}

static void json_str(const char *s)
{
	if (s)
		cli_json_string(stdout, s, strlen(s));
	else
		fputs("null", stdout);
}

static void explain_json(const struct rules *r, const char *store,
			 const struct explain_key *k,
			 const struct rules_choice *c,
			 const struct rules_choice *dm)
{
	char why[512];

	fputs("{\"store\": ", stdout);
	json_str(store);
	fputs(", \"key\": ", stdout);
	json_str(k->key);
	fputs(", \"rules_file\": ", stdout);
	json_str(r->path);
	printf(", \"state\": \"%s\", \"replica\": %s, \"tags_given\": %s, "
	       "\"tags\": {", k->state, k->replica ? "true" : "false",
	       k->given ? "true" : "false");
	for (size_t i = 0; i < k->ntags; i++) {
		fputs(i ? ", " : "", stdout);
		json_str(k->tags[i].name);
		fputs(": ", stdout);
		json_str(k->tags[i].value);
	}
	fputs("}, \"rules\": [", stdout);
	for (size_t i = 0; i < r->nrules; i++) {
		const struct rules_rule *rule = &r->rules[i];
		const char *no = explain_why_not(rule, k, why, sizeof(why));

		fputs(i ? ", {\"id\": " : "{\"id\": ", stdout);
		json_str(rule->id);
		printf(", \"priority\": %u, \"destination\": ", rule->priority);
		json_str(r->dests[rule->dest].name);
		printf(", \"enabled\": %s, \"matches\": %s, \"reason\": ",
		       rule->enabled ? "true" : "false", no ? "false" : "true");
		json_str(no);
		fputs("}", stdout);
	}
	fputs("], \"destinations\": [", stdout);
	for (size_t d = 0; d < r->ndests; d++) {
		fputs(d ? ", {\"name\": " : "{\"name\": ", stdout);
		json_str(r->dests[d].name);
		fputs(", \"rule\": ", stdout);
		json_str(c[d].rule ? c[d].rule->id : NULL);
		fputs(", \"delete_markers\": ", stdout);
		fputs(dm[d].delete_markers ? "true" : "false", stdout);
		fputs(", \"delete_marker_rule\": ", stdout);
		json_str(dm[d].rule ? dm[d].rule->id : NULL);
		fputs("}", stdout);
	}
	fputs("]}\n", stdout);
}

static int explain_run(const char *store_arg, struct explain_key *k,
		       const char *rules_arg, bool json)
{
	struct rules_choice *c = NULL, *dm = NULL;
	char *store = realpath(store_arg, NULL), *rules_path = NULL;
	struct rules *r = NULL;
	char err[1024];
	int rc = CLI_FAIL, e = 0;

	if (!store) {
		cli_err("cannot open store '%s': %s", store_arg,
			strerror(errno));
		goto out;
	}
	rules_path = rules_arg ? strdup(rules_arg) :
		     cli_rules_default(store, &e);
	if (!rules_path) {
		if (rules_arg || e)
			cli_err("cannot load rule file '%s/rules.ini': %s",
				store_arg, strerror(e ? -e : ENOMEM));
		else
			cli_err("cannot explain '%s': store '%s' has no "
				"rules.ini (give --rules FILE)", k->key,
				store_arg);
		goto out;
	}
	if (rules_load(rules_path, store, &r, err, sizeof(err)) < 0) {
		cli_err("%s", err);
		goto out;
	}
	if (explain_store(store, k) < 0)
		goto out;
	c = calloc(r->ndests + 1, sizeof(*c));
	dm = calloc(r->ndests + 1, sizeof(*dm));
	if (!c || !dm) {
		cli_err("cannot explain '%s': %s", k->key, strerror(ENOMEM));
		goto out;
	}
	rules_match(r, k->key, k->tags, k->ntags, c);
	/* A delete marker has no tags: only rules without tag filters. */
	rules_match(r, k->key, NULL, 0, dm);
	if (json)
		explain_json(r, store_arg, k, c, dm);
	else
		explain_text(r, store_arg, k, c, dm);
	rc = CLI_OK;
out:
	free(c);
	free(dm);
	rules_free(r);
	free(rules_path);
	free(store);
	return rc;
}

static int explain_parse_tag(struct explain_key *k, const char *arg)
{
	const char *eq = strchr(arg, '=');

	if (!eq || eq == arg)
		return -EINVAL;
	k->given = true;
	return key_add_tag(k, strndup(arg, (size_t)(eq - arg)),
			   strdup(eq + 1));
}

int cmd_explain(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rules", required_argument, NULL, 'r' },
		{ "tag", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct explain_key k = { .state = "absent" };
	const char *rules = NULL;
	bool json = false;
	int c, rc = CLI_USAGE;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			rules = optarg;
			break;
		case 't':
			if (explain_parse_tag(&k, optarg) < 0) {
				rc = cli_usage("explain", "bad tag '%s' "
					       "(NAME=VALUE, at most %d)",
					       optarg, EXPLAIN_TAGS_MAX);
				goto out;
			}
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(explain_usage, stdout);
			rc = CLI_OK;
			goto out;
		default:
			rc = cli_bad_option("explain", c, argv);
			goto out;
		}
	}
	if (argc - optind != 2) {
		rc = cli_usage("explain", "expected STORE and KEY");
		goto out;
	}
	k.key = argv[optind + 1];
	while (*k.key == '/')
		k.key++;
	rc = explain_run(argv[optind], &k, rules, json);
out:
	key_release(&k);
	return rc;
}
