/*
 * cmd_fsck.c - `crrfs fsck STORE [--repair] [--json]`: check a store's
 * index against its data, and optionally collect what a crash left.
 *
 * Design: checking opens the store read-only without its lock, so it can
 * look at a mounted store; repairing takes the lock like a mount does, so
 * it can never race the daemon. The store logs each problem it finds (with
 * its subject) on stderr; this command adds the counts on stdout.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "store/store.h"
#include "util/log.h"

static const char fsck_usage[] =
	"usage: crrfs fsck STORE [--repair] [--json]\n"
	"\n"
	"Check that every version in STORE has its data, that data reference\n"
	"counts are right, and find data no version uses (left by a crash).\n"
	"Each problem is printed on stderr; the totals on stdout. Exit status\n"
	"0 when the store is clean, 1 when problems remain.\n"
	"\n"
	"  --repair    fix counts and collect orphans (the store must not be\n"
	"              mounted)\n"
	"  --json      print the totals as a JSON object\n"
	"  -h, --help  show this help\n";

static void fsck_print(const char *store, const struct store_fsck_report *r,
		       int result, bool json)
{
	uint64_t problems = r->missing_data + r->bad_refcounts +
			    r->orphan_segments + r->pending_keys +
			    r->index_errors;

	if (json) {
		fputs("{\"store\": ", stdout);
		cli_json_string(stdout, store, strlen(store));
		printf(", \"clean\": %s, \"keys\": %" PRIu64
		       ", \"versions\": %" PRIu64
		       ", \"delete_markers\": %" PRIu64
		       ", \"segments\": %" PRIu64
		       ", \"bytes_stored\": %" PRIu64
		       ", \"missing_data\": %" PRIu64
		       ", \"bad_refcounts\": %" PRIu64
		       ", \"orphan_segments\": %" PRIu64
		       ", \"orphan_bytes\": %" PRIu64
		       ", \"pending_keys\": %" PRIu64
		       ", \"index_errors\": %" PRIu64 "}\n",
		       result == 0 ? "true" : "false", r->keys, r->versions,
		       r->delete_markers, r->segments, r->bytes_stored,
		       r->missing_data, r->bad_refcounts, r->orphan_segments,
		       r->orphan_bytes, r->pending_keys, r->index_errors);
		return;
	}
	printf("store '%s': %" PRIu64 " keys, %" PRIu64 " versions, %" PRIu64
	       " delete markers, %" PRIu64 " segments, %" PRIu64
	       " bytes stored\n", store, r->keys, r->versions,
	       r->delete_markers, r->segments, r->bytes_stored);
	if (problems)
		printf("versions with missing data: %" PRIu64 "\n"
		       "segments with wrong reference counts: %" PRIu64 "\n"
		       "orphan segments: %" PRIu64 " (%" PRIu64 " bytes)\n"
		       "keys with no version: %" PRIu64 "\n"
		       "dangling index entries: %" PRIu64 "\n",
		       r->missing_data, r->bad_refcounts, r->orphan_segments,
		       r->orphan_bytes, r->pending_keys, r->index_errors);
	if (result == 0)
		printf(problems ? "repaired: the store is clean now\n"
				: "clean\n");
	else
		printf("problems remain%s\n",
		       problems ? "; 'crrfs fsck --repair' fixes what it can"
				: "");
}

static int fsck_run(const char *path, bool repair, bool json)
{
	struct store_opts so = { .path = path };
	struct store_fsck_report r;
	struct store *s = NULL;
	int rc;

	so.flags = repair ? 0 : STORE_RDONLY | STORE_NOLOCK;
	rc = store_open(&so, &s);
	if (rc == -EBUSY) {
		cli_err("cannot repair '%s': store is in use by another crrfs "
			"process (unmount it first)", path);
		return CLI_FAIL;
	}
	if (rc < 0) {
		cli_err("cannot open store '%s': %s", path, strerror(-rc));
		return CLI_FAIL;
	}
	memset(&r, 0, sizeof(r));
	rc = store_fsck(s, repair ? STORE_FSCK_REPAIR : 0, &r);
	if (rc < 0) {
		cli_err("cannot check store '%s': %s", path, strerror(-rc));
		rc = CLI_FAIL;
		goto out;
	}
	fsck_print(path, &r, rc, json);
	rc = rc == 0 ? CLI_OK : CLI_FAIL;
out:
	store_close(s);
	return rc;
}

int cmd_fsck(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "repair", no_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool repair = false, json = false;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			repair = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(fsck_usage, stdout);
			return CLI_OK;
		default:
			return cli_bad_option("fsck", c, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage("fsck", "expected one STORE");
	/* Problems are reported by the store as warnings, one per line. */
	log_setup("crrfs", 0, LOG_LVL_WARN);
	return fsck_run(argv[optind], repair, json);
}
