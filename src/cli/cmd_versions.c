/*
 * cmd_versions.c - `crrfs versions PATH` lists a file's versions through
 * the mount; `crrfs versions --store STORE KEY` reads them from the store.
 *
 * Design: the first form uses only the public interface (.versions and
 * xattrs), so it shows exactly what a script would see. The second opens
 * the store read-only without its lock, so tests and operators can look at
 * the store itself, mounted or not, and compare.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/log.h"

static const char versions_usage[] =
	"usage: crrfs versions PATH [--json]\n"
	"       crrfs versions --store STORE KEY [--json]\n"
	"\n"
	"List the versions of a file in a crrfs mount, oldest first, whether\n"
	"the file is live or deleted: creation time (UTC), version id, size,\n"
	"'deleted' for a delete marker and 'current' for the newest.\n"
	"\n"
	"  --json          print a JSON array of {key, version_id, created,\n"
	"                  size, delete_marker, current, sha256}\n"
	"  --store STORE   read the store directly (read-only; works while it\n"
	"                  is mounted); KEY is the path inside the store\n"
	"  -h, --help      show this help\n";

static int versions_mounted(const char *path, bool json)
{
	struct cli_where w = { 0 };
	struct cli_version *v = NULL;
	size_t n = 0;
	int rc;

	rc = cli_where_find(path, &w);
	if (!rc)
		rc = cli_versions_read(&w, json, &v, &n);
	if (rc < 0) {
		cli_versions_err("list versions of", path, rc);
		rc = CLI_FAIL;
		goto out;
	}
	cli_versions_print(stdout, w.key, v, n, json);
	rc = CLI_OK;
out:
	free(v);
	cli_where_release(&w);
	return rc;
}

struct versions_acc {
	struct cli_version *v;
	uint64_t *vseq;		/* of each v, to hash it afterwards */
	bool *want_sha;		/* a data version with no digest yet */
	size_t n, cap;
};

static int versions_collect(void *arg, const struct store_vinfo *si)
{
	struct versions_acc *a = arg;
	struct cli_version *v;

	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;

		uint64_t *vs;
		bool *ws;

		v = realloc(a->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		a->v = v;
		vs = realloc(a->vseq, cap * sizeof(*vs));
		if (!vs)
			return -ENOMEM;
		a->vseq = vs;
		ws = realloc(a->want_sha, cap * sizeof(*ws));
		if (!ws)
			return -ENOMEM;
		a->want_sha = ws;
		a->cap = cap;
	}
	a->vseq[a->n] = si->vseq;
	a->want_sha[a->n] = !(si->flags & STORE_V_DELETE_MARKER) &&
			    !(si->flags & STORE_V_HAS_SHA);
	v = &a->v[a->n++];
	memset(v, 0, sizeof(*v));
	memcpy(v->vid, si->vid, sizeof(v->vid));
	v->created_ms = si->btime_ns / 1000000;
	v->size = si->attr.size;
	v->delete_marker = si->flags & STORE_V_DELETE_MARKER;
	if (si->flags & STORE_V_HAS_SHA) {
		v->has_sha = true;
		for (int i = 0; i < 32; i++)
			snprintf(v->sha256 + 2 * i, 3, "%02x", si->sha256[i]);
	}
	return 0;
}

/*
 * Digests not computed yet are computed now (the store is read-only:
 * nothing is kept), so the output is the same as through the mount,
 * where reading user.crrfs.sha256 computes it.
 */
static int versions_hash(struct store *s, uint64_t oid,
			 struct versions_acc *a)
{
	uint8_t sum[32];
	int rc;

	for (size_t i = 0; i < a->n; i++) {
		if (!a->want_sha[i])
			continue;
		rc = store_sha256(s, oid, a->vseq[i], sum);
		if (rc < 0)
			return rc;
		a->v[i].has_sha = true;
		for (int j = 0; j < 32; j++)
			snprintf(a->v[i].sha256 + 2 * j, 3, "%02x", sum[j]);
	}
	return 0;
}

/*
 * Find key (live or deleted) in the store, one component at a time with
 * store_lookup_any(), so a file under a deleted or renamed-away folder is
 * found too (store_resolve() follows only live folders).
 */
static int versions_lookup(struct store *s, const char *key,
			   struct store_entry *e)
{
	char *copy = strdup(key), *comp, *next, *save = NULL;
	uint64_t dir = STORE_ROOT_OID;
	int rc = -ENOENT;

	if (!copy)
		return -ENOMEM;
	if (!*key || key[strlen(key) - 1] == '/') {
		rc = -EISDIR;
		goto out;
	}
	comp = strtok_r(copy, "/", &save);
	while (comp) {
		next = strtok_r(NULL, "/", &save);
		rc = store_lookup_any(s, dir, comp, e);
		if (rc < 0 || !next)
			break;
		if (e->type != STORE_T_DIR) {
			rc = -ENOTDIR;
			break;
		}
		dir = e->oid;
		comp = next;
	}
out:
	free(copy);
	return rc;
}

static int versions_store(const char *path, const char *key, bool json)
{
	struct store_opts so = { .path = path,
				 .flags = STORE_RDONLY | STORE_NOLOCK };
	struct versions_acc a = { 0 };
	struct store *s = NULL;
	struct store_entry e;
	int rc;

	while (*key == '/')
		key++;
	rc = store_open(&so, &s);
	if (rc < 0) {
		cli_err("cannot open store '%s': %s", path, strerror(-rc));
		rc = CLI_FAIL;
		goto out;
	}
	rc = versions_lookup(s, key, &e);
	if (!rc)
		rc = store_versions(s, e.oid, versions_collect, &a);
	if (!rc)
		rc = versions_hash(s, e.oid, &a);
	if (rc < 0) {
		cli_versions_err("list versions of", key, rc);
		rc = CLI_FAIL;
		goto out;
	}
	cli_versions_sort(a.v, a.n);
	cli_versions_print(stdout, key, a.v, a.n, json);
	rc = CLI_OK;
out:
	free(a.v);
	free(a.vseq);
	free(a.want_sha);
	store_close(s);
	return rc;
}

int cmd_versions(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *store = NULL;
	bool json = false;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 's':
			store = optarg;
			break;
		case 'h':
			fputs(versions_usage, stdout);
			return CLI_OK;
		default:
			return cli_bad_option("versions", c, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage("versions", store ? "expected one KEY"
						   : "expected one PATH");
	/* Store messages are for the daemon's log; ours say it in one line. */
	log_setup("crrfs", 0, LOG_LVL_ERROR);
	if (store)
		return versions_store(store, argv[optind], json);
	return versions_mounted(argv[optind], json);
}
