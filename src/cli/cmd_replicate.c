/*
 * cmd_replicate.c - `crrfs replicate STORE [--rules FILE]`: ship the
 * replication backlog of a store that is not mounted, and take in the
 * replicas other stores left in STORE/inbox, then exit: for cron and
 * systemd timers (packaging/crrfs-replicate@.service).
 *
 * Design: all the work is cli_drain_offline(), shared with an unmounted
 * `crrfs resync`. The exit status is what a timer needs: 0 when nothing
 * is left, 1 when FAILED versions remain (or the store is mounted, whose
 * daemon replicates it already).
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>

#include "util/log.h"

static const char replicate_usage[] =
	"usage: crrfs replicate STORE [--rules FILE] [--timeout SECONDS]\n"
	"\n"
	"Ship the replication backlog of STORE without mounting it, and\n"
	"apply the replicas waiting in STORE/inbox, then exit. Exit status 0\n"
	"when everything was shipped, 1 when versions FAILED (their number is\n"
	"printed; 'crrfs status' says why) or STORE is mounted. Progress is\n"
	"shown on stderr when it is a terminal.\n"
	"\n"
	"  --rules FILE       the rule file (default: STORE/rules.ini)\n"
	"  --timeout SECONDS  give up (exit 1) when nothing could be shipped\n"
	"                     for this long, e.g. a destination is down\n"
	"                     (default 600; 0 waits for ever)\n"
	"  -h, --help         show this help\n";

int cmd_replicate(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rules", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *rules = NULL;
	unsigned long stall = CLI_DRAIN_STALL_S;
	char *end;
	int c, rc;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			rules = optarg;
			break;
		case 't':
			errno = 0;
			stall = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || stall > 86400 * 7 ||
			    optarg[0] == '-')
				return cli_usage("replicate", "bad --timeout "
						 "'%s': expected seconds",
						 optarg);
			break;
		case 'h':
			fputs(replicate_usage, stdout);
			return CLI_OK;
		default:
			return cli_bad_option("replicate", c, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage("replicate", "expected one STORE");
	log_setup("crrfs", 0, LOG_LVL_WARN);
	rc = cli_drain_offline(argv[optind], rules, "replicate", NULL,
			       (unsigned)stall);
	return rc == 0 ? CLI_OK : CLI_FAIL;
}
