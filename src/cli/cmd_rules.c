/*
 * cmd_rules.c - `crrfs rules check FILE [--json]`: lint a replication rule
 * file and say what it would do.
 *
 * Design: the check is exactly the one a mount makes (rules_load), so a
 * file that passes here is one the daemon accepts, bar what needs the
 * network (an S3 bucket's versioning) or the store (a dir destination that
 * is the store itself). The summary restates each rule in words, so a
 * mistake in a prefix or a tag shows before any data moves.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "conf/rules.h"

static const char rules_usage[] =
	"usage: crrfs rules check FILE [--json]\n"
	"\n"
	"Check a replication rule file the way 'crrfs mount --rules' does and\n"
	"summarise it: the destinations, and for each rule what it matches,\n"
	"where it ships and whether delete markers go too. Exit status 0 when\n"
	"the file is valid, 1 (with the file, line and reason) when not.\n"
	"Checks that need the network, such as an S3 bucket's versioning,\n"
	"are made when replication starts.\n"
	"\n"
	"  --json      print the parsed file as a JSON object\n"
	"  -h, --help  show this help\n";

static void json_str(const char *s)
{
	if (s)
		cli_json_string(stdout, s, strlen(s));
	else
		fputs("null", stdout);
}

static void json_dest(const struct rules_dest *d)
{
	fputs("{\"name\": ", stdout);
	json_str(d->name);
	printf(", \"type\": \"%s\", \"line\": %u",
	       d->type == RULES_DEST_S3 ? "s3" : "dir", d->line);
	if (d->type == RULES_DEST_DIR) {
		fputs(", \"path\": ", stdout);
		json_str(d->path);
		fputs("}", stdout);
		return;
	}
	fputs(", \"endpoint\": ", stdout);
	json_str(d->endpoint);
	fputs(", \"region\": ", stdout);
	json_str(d->region);
	fputs(", \"bucket\": ", stdout);
	json_str(d->bucket);
	fputs(", \"credentials\": ", stdout);
	json_str(d->credentials);
	fputs(", \"profile\": ", stdout);
	json_str(d->profile);
	fputs(", \"storage_class\": ", stdout);
	json_str(d->storage_class);
	fputs(", \"ca_file\": ", stdout);
	json_str(d->ca_file);
	printf(", \"path_style\": %s}", d->path_style ? "true" : "false");
}

static void json_rule(const struct rules *r, const struct rules_rule *rule)
{
	fputs("{\"id\": ", stdout);
	json_str(rule->id);
	printf(", \"status\": \"%s\", \"priority\": %u, \"line\": %u, "
	       "\"prefix\": ", rule->enabled ? "enabled" : "disabled",
	       rule->priority, rule->line);
	json_str(rule->prefix);
	fputs(", \"tags\": {", stdout);
	for (size_t t = 0; t < rule->ntags; t++) {
		fputs(t ? ", " : "", stdout);
		json_str(rule->tags[t].name);
		fputs(": ", stdout);
		json_str(rule->tags[t].value);
	}
	fputs("}, \"destination\": ", stdout);
	json_str(r->dests[rule->dest].name);
	printf(", \"delete_marker_replication\": \"%s\", \"storage_class\": ",
	       rule->delete_markers ? "enabled" : "disabled");
	json_str(rule->storage_class);
	fputs("}", stdout);
}

static void rules_print_json(const struct rules *r)
{
	fputs("{\"file\": ", stdout);
	json_str(r->path);
	fputs(", \"valid\": true, \"source\": {\"region\": ", stdout);
	json_str(r->source_region);
	fputs("}, \"destinations\": [", stdout);
	for (size_t i = 0; i < r->ndests; i++) {
		fputs(i ? ", " : "", stdout);
		json_dest(&r->dests[i]);
	}
	fputs("], \"rules\": [", stdout);
	for (size_t i = 0; i < r->nrules; i++) {
		fputs(i ? ", " : "", stdout);
		json_rule(r, &r->rules[i]);
	}
	fputs("]}\n", stdout);
}

static void text_dest(const struct rules_dest *d)
{
	if (d->type == RULES_DEST_DIR) {
		printf("destination %s: crrfs store '%s'\n", d->name, d->path);
		return;
	}
	printf("destination %s: s3 bucket '%s' at %s (region %s, %s "
	       "addressing", d->name, d->bucket, d->endpoint,
	       d->region ? d->region : "us-east-1",
	       d->path_style ? "path-style" : "virtual-hosted");
	if (d->storage_class)
		printf(", storage class %s", d->storage_class);
	printf(", credentials from %s", d->credentials ? d->credentials :
	       "AWS_* variables");
	if (d->profile)
		printf(" profile %s", d->profile);
	if (d->ca_file)
		printf(", CA file %s", d->ca_file);
	puts(")");
}

static void text_rule(const struct rules *r, const struct rules_rule *rule)
{
	printf("rule %s: %s, priority %u, to %s: ", rule->id,
	       rule->enabled ? "enabled" : "disabled", rule->priority,
	       r->dests[rule->dest].name);
	if (rule->prefix[0])
		printf("keys starting with '%s'", rule->prefix);
	else
		fputs("every key", stdout);
	for (size_t t = 0; t < rule->ntags; t++)
		printf("%s%s=%s", t ? " and " : " tagged ",
		       rule->tags[t].name, rule->tags[t].value);
	printf("; delete markers %s", rule->delete_markers ? "shipped" :
	       "not shipped");
	if (rule->storage_class)
		printf("; storage class %s", rule->storage_class);
	putchar('\n');
}

static void rules_print_text(const struct rules *r)
{
	size_t enabled = 0;

	for (size_t i = 0; i < r->nrules; i++)
		enabled += r->rules[i].enabled;
	printf("rule file '%s' is valid: %zu destination%s, %zu rule%s "
	       "(%zu enabled)\n", r->path, r->ndests,
	       r->ndests == 1 ? "" : "s", r->nrules,
	       r->nrules == 1 ? "" : "s", enabled);
	if (r->source_region)
		printf("source: region %s\n", r->source_region);
	for (size_t i = 0; i < r->ndests; i++)
		text_dest(&r->dests[i]);
	for (size_t i = 0; i < r->nrules; i++)
		text_rule(r, &r->rules[i]);
	if (!enabled)
		puts("nothing will be replicated: no rule is enabled");
}

static int rules_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rules *r = NULL;
	bool json = false;
	char err[1024];
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(rules_usage, stdout);
			return CLI_OK;
		default:
			return cli_bad_option("rules", c, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage("rules", argc == optind ? "no rule file "
				 "given" : "too many arguments");
	if (rules_load(argv[optind], NULL, &r, err, sizeof(err)) < 0) {
		cli_err("%s", err);
		return CLI_FAIL;
	}
	if (json)
		rules_print_json(r);
	else
		rules_print_text(r);
	rules_free(r);
	return CLI_OK;
}

int cmd_rules(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage("rules", "no subcommand given (check)");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(rules_usage, stdout);
		return CLI_OK;
	}
	if (strcmp(argv[1], "check"))
		return cli_usage("rules", "unknown subcommand '%s'", argv[1]);
	return rules_check(argc - 1, argv + 1);
}
