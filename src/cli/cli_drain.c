/*
 * cli_drain.c - replication without a mount, for `crrfs replicate` and
 * `crrfs resync` on a store nobody serves: open the store with its lock,
 * start the workers (and the inbox of replicas), optionally queue a
 * resync, and wait until nothing more can be shipped.
 *
 * The inbox is applied here, once before the workers start and once after
 * they stopped, rather than left to the ingest thread alone: that thread
 * may not get to its first pass before an empty backlog lets the command
 * exit, and the second pass takes what arrived meanwhile.
 *
 * Design: the same repl code a mount runs, with no control socket; the
 * store's lock keeps a mount from starting meanwhile, so one process
 * ships a store's backlog at a time. Interrupting it loses nothing: the
 * jobs stay queued in the store and the next run (or mount) resumes them.
 */
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "remote/remote.h"
#include "repl/repl.h"
#include "store/store.h"

static void drain_progress(void *arg, uint64_t done, uint64_t left)
{
	cli_progress_update(arg, done, left);
}

static int drain_open(const char *store, struct store **s)
{
	struct store_opts so = { .path = store };
	int rc = cli_store_check(store);

	if (rc)
		return rc;
	rc = store_open(&so, s);

	if (rc == -EBUSY)
		cli_err("store '%s' is mounted: its daemon replicates it",
			store);
	else if (rc < 0)
		cli_err("cannot open store '%s': %s", store, strerror(-rc));
	return rc;
}

/* Apply STORE/inbox; 0 or -errno (said on stderr). */
static int drain_inbox(struct store *s, const char *store, uint64_t *applied)
{
	int rc = remote_dir_ingest(s, store);

	if (rc < 0) {
		cli_err("cannot take in the replicas in '%s/inbox': %s",
			store, strerror(-rc));
		return rc;
	}
	*applied += (uint64_t)rc;
	return 0;
}

static int drain_resync(struct repl *r, const char *store,
			const struct cli_resync *rs)
{
	uint64_t queued = 0, skipped = 0;
	int rc = repl_resync(r, rs->rule, rs->failed, &queued, &skipped);

	if (rc == -ENOENT && rs->rule) {
		cli_err("cannot resync '%s': its rule file has no rule '%s'",
			store, rs->rule);
		return rc;
	}
	if (rc < 0) {
		cli_err("cannot resync '%s': %s", store, strerror(-rc));
		return rc;
	}
	printf("resync: %" PRIu64 " version%s queued, %" PRIu64 " skipped\n",
	       queued, queued == 1 ? "" : "s", skipped);
	fflush(stdout);
	return 0;
}

int cli_drain_offline(const char *store, const char *rules, const char *what,
		      const struct cli_resync *rs, unsigned stall_s)
{
	struct repl_opts ro = { .store_path = store, .rules_path = rules };
	struct cli_progress p;
	struct repl_backlog b = { 0 };
	struct store *s = NULL;
	struct repl *r = NULL;
	char err[1024] = "";
	uint64_t applied = 0;
	int rc, drained;

	rc = drain_open(store, &s);
	if (rc < 0)
		goto out;
	rc = drain_inbox(s, store, &applied);
	if (rc < 0)
		goto out;
	ro.store = s;
	rc = repl_new(&ro, &r, err, sizeof(err));
	if (rc < 0) {
		cli_err("%s", err[0] ? err : strerror(-rc));
		goto out;
	}
	rc = repl_start(r, false);
	if (rc < 0) {
		cli_err("cannot start replication of '%s': %s", store,
			strerror(-rc));
		goto out;
	}
	if (rs) {
		rc = drain_resync(r, store, rs);
		if (rc < 0)
			goto out;
	}
	cli_progress_init(&p, what);
	rc = repl_drain_stall(r, drain_progress, &p, stall_s * 1000);
	if (rc == -ETIMEDOUT) {
		b.ops = 0;
		repl_backlog_total(s, &b);
		cli_progress_end(&p, p.done, b.failed);
		fflush(stdout);
		cli_err("%s of '%s': nothing shipped for %u s, %" PRIu64
			" version%s still pending (a destination unreachable? "
			"'crrfs status %s' says why)", what, store, stall_s,
			b.ops, b.ops == 1 ? "" : "s", store);
		rc = 1;
		goto out;
	}
	if (rc < 0) {
		cli_err("cannot %s '%s': %s", what, store, strerror(-rc));
		goto out;
	}
	drained = rc;
	rc = repl_backlog_total(s, &b);
	if (rc < 0 || (drained == 1 && !b.failed))
		b.failed = drained;	/* at least what drain said */
	cli_progress_end(&p, p.done, b.failed);
	rc = cli_failed_report(what, store, b.failed);
out:
	repl_free(r);
	/* what arrived while the workers ran; the thread is gone now */
	if (r && drain_inbox(s, store, &applied) < 0 && rc == 0)
		rc = 1;
	if (applied)
		printf("%s: applied %" PRIu64 " replica%s from '%s/inbox'\n",
		       what, applied, applied == 1 ? "" : "s", store);
	store_close(s);
	return rc;
}

int cli_failed_report(const char *what, const char *store, uint64_t failed)
{
	if (!failed)
		return 0;
	cli_err("%s of '%s': %" PRIu64 " version%s FAILED ('crrfs status "
		"%s' says why, 'crrfs resync --failed %s' retries)", what,
		store, failed, failed == 1 ? "" : "s", store, store);
	return 1;
}
