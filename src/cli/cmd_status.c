/*
 * cmd_status.c - `crrfs status STORE|MOUNTPOINT [--json]`: the
 * replication backlog, failures and lag, per destination and rule.
 *
 * Design: the daemon serving the store answers when there is one (it
 * knows the rules in force and what is in flight); otherwise the store is
 * read directly, read-only and unlocked as fsck does, with the rule file
 * at STORE/rules.ini. Both print the report of repl_report, so a script
 * sees one format whether the store is mounted or not.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "conf/rules.h"
#include "repl/repl.h"
#include "store/store.h"
#include "util/log.h"

static const char status_usage[] =
	"usage: crrfs status STORE|MOUNTPOINT [--json]\n"
	"\n"
	"Show replication per destination and rule: pending versions and\n"
	"bytes, the age of the oldest pending version, and failed versions\n"
	"with their last error. Asks the daemon when the store is mounted,\n"
	"else reads the store (read-only).\n"
	"\n"
	"  --json      print a JSON object\n"
	"  -h, --help  show this help\n";

/* No daemon: read the store, with its rule file when it has a good one. */
static int status_offline(const char *store, bool json)
{
	struct rules *r = NULL;
	struct store *s = NULL;
	char err[1024], *rules;
	int rc, e = 0;

	rc = cli_store_open_ro(store, &s);
	if (rc < 0)
		return CLI_FAIL;
	rules = cli_rules_default(store, &e);
	/* A bad rule file does not hide the backlog that is queued. */
	if (rules && rules_load(rules, store, &r, err, sizeof(err)) < 0)
		log_warn("%s (status shown without it)", err);
	rc = repl_report_rules(s, r, stdout, json);
	if (rc < 0)
		cli_err("cannot read the replication status of '%s': %s",
			store, strerror(-rc));
	rules_free(r);
	free(rules);
	store_close(s);
	return rc < 0 ? CLI_FAIL : CLI_OK;
}

int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *store = NULL;
	bool json = false;
	int c, rc;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(status_usage, stdout);
			return CLI_OK;
		default:
			return cli_bad_option("status", c, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage("status", "expected one STORE or MOUNTPOINT");
	log_setup("crrfs", 0, LOG_LVL_WARN);
	if (cli_store_of(argv[optind], &store) < 0)
		return CLI_FAIL;
	rc = cli_ctl(store, json ? "status --json" : "status");
	if (rc == -ENOENT || rc == -ECONNREFUSED) {
		rc = status_offline(store, json);
	} else if (rc < 0) {
		cli_err("cannot ask the daemon of '%s' for its status: %s",
			argv[optind], strerror(-rc));
		rc = CLI_FAIL;
	} else {
		rc = rc ? CLI_FAIL : CLI_OK;
	}
	free(store);
	return rc;
}
