/*
 * cmd_fsck.c - `crrfs fsck STORE [--deep] [--repair] [--json]`: check a
 * store's index against its data, and optionally collect what a crash left.
 *
 * Design: checking opens the store read-only without its lock, so it can
 * look at a mounted store; repairing takes the lock like a mount does, so
 * it can never race the daemon. The store logs each problem it finds (with
 * its subject) on stderr; this command adds the counts on stdout, and
 * says "repaired" only after a --repair that fixed something.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "store/store.h"
#include "util/log.h"

static const char fsck_usage[] =
	"usage: crrfs fsck STORE [--deep] [--repair] [--json]\n"
	"\n"
	"Check that every version in STORE has all its data, that data\n"
	"reference counts are right, and find data no version uses (left by\n"
	"a crash). Each problem is printed on stderr; the totals on stdout.\n"
	"Exit status 0 when the store is clean, 1 when problems remain.\n"
	"\n"
	"  --deep      also read every version and compare its bytes with its\n"
	"              recorded sha256 (slow: reads all data)\n"
	"  --repair    fix counts and collect orphans (the store must not be\n"
	"              mounted); missing or damaged data cannot be repaired:\n"
	"              with --deep, versions whose bytes do not match are\n"
	"              marked damaged so reads of them fail (nothing deleted)\n"
	"  --json      print the totals as a JSON object\n"
	"  -h, --help  show this help\n";

static void fsck_json(const char *store, const struct store_fsck_report *r,
		      int result)
{
	fputs("{\"store\": ", stdout);
	cli_json_string(stdout, store, strlen(store));
	printf(", \"clean\": %s, \"keys\": %" PRIu64
	       ", \"versions\": %" PRIu64
	       ", \"delete_markers\": %" PRIu64
	       ", \"segments\": %" PRIu64
	       ", \"bytes_stored\": %" PRIu64
	       ", \"missing_data\": %" PRIu64
	       ", \"short_data\": %" PRIu64
	       ", \"bad_data\": %" PRIu64
	       ", \"verified\": %" PRIu64
	       ", \"unverified\": %" PRIu64
	       ", \"marked_damaged\": %" PRIu64
	       ", \"bad_refcounts\": %" PRIu64
	       ", \"orphan_segments\": %" PRIu64
	       ", \"orphan_bytes\": %" PRIu64
	       ", \"pending_keys\": %" PRIu64
	       ", \"index_errors\": %" PRIu64 "}\n",
	       result == 0 ? "true" : "false", r->keys, r->versions,
	       r->delete_markers, r->segments, r->bytes_stored,
	       r->missing_data, r->short_data, r->bad_data, r->verified,
	       r->unverified, r->marked, r->bad_refcounts, r->orphan_segments,
	       r->orphan_bytes, r->pending_keys, r->index_errors);
}

/*
 * The last line: "repaired" only when --repair fixed something; without
 * it, what was found and whether --repair would fix it. Counts and
 * orphans can be fixed; missing or damaged data cannot.
 */
static void fsck_verdict(const struct store_fsck_report *r, int result,
			 bool repair)
{
	uint64_t fixable = r->bad_refcounts + r->orphan_segments;
	uint64_t lost = r->missing_data + r->short_data + r->bad_data +
			r->index_errors;

	if (result == 0)
		puts(repair && fixable ? "repaired: the store is clean now"
				       : "clean");
	else if (repair)
		puts("problems remain: --repair cannot fix missing or damaged "
		     "data or dangling index entries");
	else if (fixable && !lost)
		puts("problems found; 'crrfs fsck --repair' would fix them");
	else if (fixable)
		puts("problems found; 'crrfs fsck --repair' would fix the "
		     "counts and orphans, not missing or damaged data");
	else
		puts("problems found; --repair cannot fix missing or damaged "
		     "data or dangling index entries");
}

static void fsck_print(const char *store, const struct store_fsck_report *r,
		       int result, bool deep, bool repair)
{
	uint64_t problems = r->missing_data + r->short_data + r->bad_data +
			    r->bad_refcounts + r->orphan_segments +
			    r->index_errors;

	printf("store '%s': %" PRIu64 " keys, %" PRIu64 " versions, %" PRIu64
	       " delete markers, %" PRIu64 " segments, %" PRIu64
	       " bytes stored\n", store, r->keys, r->versions,
	       r->delete_markers, r->segments, r->bytes_stored);
	if (deep)
		printf("versions read: %" PRIu64 " matched their sha256, %"
		       PRIu64 " could not be checked (no sha256 recorded)\n",
		       r->verified, r->unverified);
	if (problems)
		printf("versions with missing data: %" PRIu64 "\n"
		       "versions with data cut short: %" PRIu64 "\n"
		       "versions whose bytes are damaged: %" PRIu64 "%s\n"
		       "segments with wrong reference counts: %" PRIu64 "\n"
		       "orphan segments: %" PRIu64 " (%" PRIu64 " bytes)\n"
		       "dangling index entries: %" PRIu64 "\n",
		       r->missing_data, r->short_data, r->bad_data,
		       deep ? "" : " (not read: see --deep)",
		       r->bad_refcounts, r->orphan_segments, r->orphan_bytes,
		       r->index_errors);
	/* Not a problem: files being created, or drafts a crash left,
	 * which the next mount turns into versions. */
	if (r->pending_keys)
		printf("keys with no version yet: %" PRIu64 "\n",
		       r->pending_keys);
	/* Marking is what --repair can do about damaged bytes: reads of
	 * them fail instead of returning them. */
	if (r->marked)
		printf("%" PRIu64 " versions marked damaged: reads of them "
		       "fail until restored or purged\n", r->marked);
	if (r->unmarked)
		printf("'crrfs fsck --deep --repair' would mark %" PRIu64
		       " damaged versions so reads of them fail\n",
		       r->unmarked);
	fsck_verdict(r, result, repair);
}

static int fsck_run(const char *path, bool deep, bool repair, bool json)
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
	rc = store_fsck(s, (repair ? STORE_FSCK_REPAIR : 0) |
			   (deep ? STORE_FSCK_DEEP : 0), &r);
	if (rc < 0) {
		cli_err("cannot check store '%s': %s", path, strerror(-rc));
		rc = CLI_FAIL;
		goto out;
	}
	if (json)
		fsck_json(path, &r, rc);
	else
		fsck_print(path, &r, rc, deep, repair);
	rc = rc == 0 ? CLI_OK : CLI_FAIL;
out:
	store_close(s);
	return rc;
}

int cmd_fsck(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "deep", no_argument, NULL, 'd' },
		{ "repair", no_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool deep = false, repair = false, json = false;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			deep = true;
			break;
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
	return fsck_run(argv[optind], deep, repair, json);
}
