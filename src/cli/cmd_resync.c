/*
 * cmd_resync.c - `crrfs resync STORE [--rule ID] [--failed]`: queue what
 * the rules would have shipped but never did (versions made before a
 * rule was enabled), or retry FAILED versions, and follow it to the end
 * with a progress bar.
 *
 * Design: when a daemon serves STORE, it does the queueing (over its
 * control socket) and its workers ship; we follow the backlog by reading
 * the store read-only, as status does, and check now and then that the
 * daemon is still there. Otherwise the work is done here, as `crrfs
 * replicate` does (cli_drain_offline).
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "repl/repl.h"
#include "store/store.h"
#include "util/log.h"

#define POLL_MS 200
#define ALIVE_EVERY 10		/* polls between checks on the daemon */

static const char resync_usage[] =
	"usage: crrfs resync STORE|MOUNTPOINT [--rule ID] [--failed]\n"
	"\n"
	"Queue the versions the rules would ship but never queued (made\n"
	"before a rule was enabled: S3 Batch Replication), or with --failed\n"
	"retry the FAILED ones, and wait until they are shipped. A version\n"
	"older than one its destination already has is skipped. Works on a\n"
	"mounted store (its daemon ships) or an unmounted one. Exit status 1\n"
	"when FAILED versions remain.\n"
	"\n"
	"  --rule ID   only what rule ID ships\n"
	"  --failed    retry FAILED versions instead\n"
	"  -h, --help  show this help\n";

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Is the daemon still serving store? Its answer is not needed. */
static bool resync_alive(const char *store)
{
	FILE *null = fopen("/dev/null", "we");
	int rc;

	if (!null)
		return true;
	rc = repl_ctl_call(store, "progress", null);
	fclose(null);
	return rc != -ENOENT && rc != -ECONNREFUSED;
}

/* Follow the daemon's backlog until nothing is pending. */
static int resync_follow(const char *arg, const char *store)
{
	struct repl_backlog b;
	struct cli_progress p;
	struct store *s = NULL;
	uint64_t prev = 0, done = 0;
	unsigned n = 0;
	int rc;

	if (cli_store_open_ro(store, &s) < 0)
		return -EIO;
	cli_progress_init(&p, "resync");
	for (;; n++) {
		rc = repl_backlog_total(s, &b);
		if (rc < 0) {
			cli_err("cannot follow the resync of '%s': %s", arg,
				strerror(-rc));
			goto out;
		}
		if (n && b.ops < prev)
			done += prev - b.ops;
		prev = b.ops;
		cli_progress_update(&p, done, b.ops);
		if (!b.ops)
			break;
		if (n % ALIVE_EVERY == ALIVE_EVERY - 1 && !resync_alive(store)) {
			cli_err("cannot follow the resync of '%s': its daemon "
				"stopped; %llu versions stay queued for the "
				"next mount", arg, (unsigned long long)b.ops);
			rc = -ESHUTDOWN;
			goto out;
		}
		sleep_ms(POLL_MS);
	}
	cli_progress_end(&p, done, b.failed);
	rc = cli_failed_report("resync", arg, b.failed);
out:
	store_close(s);
	return rc;
}

static int resync_mounted(const char *arg, const char *store,
			  const struct cli_resync *rs)
{
	char *req = NULL, *answer = NULL;
	unsigned long long queued, skipped;
	int rc;

	if (asprintf(&req, "resync%s%s%s", rs->rule ? " --rule " : "",
		     rs->rule ? rs->rule : "", rs->failed ? " --failed" : "")
	    < 0)
		return -ENOMEM;
	rc = cli_ctl_ask(store, req, &answer);
	free(req);
	if (rc == -ENOENT || rc == -ECONNREFUSED)
		return rc;	/* nobody serves it: do it ourselves */
	if (rc < 0) {
		cli_err("cannot ask the daemon of '%s' to resync: %s", arg,
			strerror(-rc));
		return rc;
	}
	cli_ctl_trim(answer);
	if (rc > 0) {
		cli_err("cannot resync '%s': %s", arg, answer);
		free(answer);
		return 1;
	}
	/* The same line as an unmounted resync prints. */
	if (sscanf(answer, "queued %llu skipped %llu", &queued, &skipped) == 2)
		printf("resync: %llu version%s queued, %llu skipped\n", queued,
		       queued == 1 ? "" : "s", skipped);
	else
		puts(answer);
	fflush(stdout);
	free(answer);
	return resync_follow(arg, store);
}

int cmd_resync(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rule", required_argument, NULL, 'r' },
		{ "failed", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_resync rs = { NULL, false };
	char *store = NULL;
	int c, rc;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			rs.rule = optarg;
			break;
		case 'F':
			rs.failed = true;
			break;
		case 'h':
			fputs(resync_usage, stdout);
			return CLI_OK;
		default:
			return cli_bad_option("resync", c, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage("resync", "expected one STORE or MOUNTPOINT");
	if (rs.rule && (!*rs.rule || strpbrk(rs.rule, " \t\n")))
		return cli_usage("resync", "bad rule id '%s'", rs.rule);
	log_setup("crrfs", 0, LOG_LVL_WARN);
	if (cli_store_of(argv[optind], &store) < 0)
		return CLI_FAIL;
	rc = resync_mounted(argv[optind], store, &rs);
	if (rc == -ENOENT || rc == -ECONNREFUSED)
		rc = cli_drain_offline(store, NULL, "resync", &rs,
				       CLI_DRAIN_STALL_S);
	free(store);
	return rc == 0 ? CLI_OK : CLI_FAIL;
}
