/*
 * test_cli_repl.c - the replication commands' argument handling (usage
 * errors exit 2 before anything is opened, --help exits 0), the mount
 * options they add, the helpers that find a store, and `crrfs explain`
 * against a real (fresh) store and rule file, output captured.
 */
#include "check.h"
#include "cli/cli.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

typedef int (*cmd_fn)(int argc, char **argv);

/* Run cmd with the NULL-terminated args, stdout (and stderr) into files,
 * and return its exit status; *out gets stdout's text (malloc'ed). */
static int run(cmd_fn cmd, char **out, const char *arg0, ...)
{
	char *argv[16], path[] = "/tmp/test_cli_repl.XXXXXX";
	int fd = mkstemp(path), saved = dup(STDOUT_FILENO), argc = 0, rc;
	va_list ap;
	FILE *f;
	long len;

	argv[argc++] = (char *)arg0;
	va_start(ap, arg0);
	while (argc < 15 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	fflush(stdout);
	dup2(fd, STDOUT_FILENO);
	rc = cmd(argc, argv);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	f = fdopen(fd, "r");
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	*out = calloc(1, (size_t)len + 1);
	if (fread(*out, 1, (size_t)len, f) != (size_t)len)
		(*out)[0] = '\0';
	fclose(f);
	unlink(path);
	return rc;
}

#define RUN(cmd, ...)                                                  \
	({                                                             \
		char *out_ = NULL;                                     \
		int rc_ = run(cmd, &out_, __VA_ARGS__, (char *)NULL);  \
		free(out_);                                            \
		rc_;                                                   \
	})

static void test_usage(void)
{
	/* Wrong argument counts and unknown options: 2, nothing opened. */
	CHECK_EQ_INT(RUN(cmd_status, "status"), CLI_USAGE);
	CHECK_EQ_INT(RUN(cmd_status, "status", "a", "b"), CLI_USAGE);
	CHECK_EQ_INT(RUN(cmd_status, "status", "--nope", "a"), CLI_USAGE);
	CHECK_EQ_INT(RUN(cmd_resync, "resync"), CLI_USAGE);
	CHECK_EQ_INT(RUN(cmd_resync, "resync", "a", "--rule"), CLI_USAGE);
	CHECK_EQ_INT(RUN(cmd_resync, "resync", "a", "--rule", ""), CLI_USAGE);
	CHECK_EQ_INT(RUN(cmd_resync, "resync", "a", "--rule", "x y"),
		     CLI_USAGE);
	CHECK_EQ_INT(RUN(cmd_resync, "resync", "a", "--all"), CLI_USAGE);
	CHECK_EQ_INT(RUN(cmd_replicate, "replicate"), CLI_USAGE);
	CHECK_EQ_INT(RUN(cmd_replicate, "replicate", "a", "b"), CLI_USAGE);
	CHECK_EQ_INT(RUN(cmd_replicate, "replicate", "a", "--rules"),
		     CLI_USAGE);
	CHECK_EQ_INT(RUN(cmd_explain, "explain", "a"), CLI_USAGE);
	CHECK_EQ_INT(RUN(cmd_explain, "explain", "a", "k", "x"), CLI_USAGE);
	CHECK_EQ_INT(RUN(cmd_explain, "explain", "a", "k", "--tag", "novalue"),
		     CLI_USAGE);
	CHECK_EQ_INT(RUN(cmd_explain, "explain", "a", "k", "--tag", "=v"),
		     CLI_USAGE);
	CHECK_EQ_INT(RUN(cmd_mount, "mount", "a", "--reload", "b"), CLI_USAGE);
	CHECK_EQ_INT(RUN(cmd_mount, "mount", "--reload"), CLI_USAGE);
	CHECK_EQ_INT(RUN(cmd_mount, "mount", "a", "--reload", "--rules", "r"),
		     CLI_USAGE);
	CHECK_EQ_INT(RUN(cmd_mount, "mount", "a", "--rules"), CLI_USAGE);

	/* --help: 0. */
	CHECK_EQ_INT(RUN(cmd_status, "status", "--help"), CLI_OK);
	CHECK_EQ_INT(RUN(cmd_resync, "resync", "--help"), CLI_OK);
	CHECK_EQ_INT(RUN(cmd_replicate, "replicate", "-h"), CLI_OK);
	CHECK_EQ_INT(RUN(cmd_explain, "explain", "--help"), CLI_OK);

	/* A subject that does not exist: 1, one line. */
	CHECK_EQ_INT(RUN(cmd_status, "status", "/nonexistent/s"), CLI_FAIL);
	CHECK_EQ_INT(RUN(cmd_resync, "resync", "/nonexistent/s"), CLI_FAIL);
	CHECK_EQ_INT(RUN(cmd_replicate, "replicate", "/nonexistent/s"),
		     CLI_FAIL);
	CHECK_EQ_INT(RUN(cmd_explain, "explain", "/nonexistent/s", "k"),
		     CLI_FAIL);
	CHECK_EQ_INT(RUN(cmd_mount, "mount", "/nonexistent/s", "--reload"),
		     CLI_FAIL);
}

static void test_mount_opts(void)
{
	struct cli_mount_opts m;

	cli_mount_opts_init(&m);
	CHECK_EQ_INT(cli_mount_opts_add(&m, "rules=/etc/r.ini,workers=8",
					false), 0);
	CHECK_EQ_STR(m.rules, "/etc/r.ini");
	CHECK_EQ_INT(m.fs.repl_workers, 8);
	CHECK_EQ_INT(cli_mount_opts_add(&m, "rules=/b.ini", false), 0);
	CHECK_EQ_STR(m.rules, "/b.ini");	/* later wins */
	CHECK_EQ_INT(cli_mount_opts_add(&m, "rules=", false), -EINVAL);
	CHECK_EQ_INT(cli_mount_opts_add(&m, "workers=0", false), -EINVAL);
	CHECK_EQ_INT(cli_mount_opts_finish(&m, "/srv/s", "/mnt"), 0);
	/* Ours, so never handed to libfuse. */
	CHECK_EQ_STR(m.fs.fuse_opts, "subtype=crrfs,fsname=/srv/s");
	cli_mount_opts_release(&m);
	CHECK(m.rules == NULL);
}

static void test_store_of(void)
{
	char *type = NULL, *src = NULL, *store = NULL;
	int err = 0;

	CHECK_EQ_INT(cli_mountinfo_find("/proc", &type, &src), 1);
	CHECK_EQ_STR(type, "proc");
	free(type);
	free(src);
	CHECK_EQ_INT(cli_mountinfo_find("/proc/self", &type, &src), 0);
	CHECK(type == NULL && src == NULL);
	/* A mount point of something else is refused. */
	CHECK_EQ_INT(cli_store_of("/proc/self/..", &store), -EINVAL);
	/* Not a mount point: the path itself is the store. */
	CHECK_EQ_INT(cli_store_of("/proc/self/../self", &store), 0);
	CHECK(store && !strncmp(store, "/proc/", 6));
	free(store);
	CHECK_EQ_INT(cli_store_of("/nonexistent", &store), -ENOENT);
	CHECK(cli_rules_default("/nonexistent", &err) == NULL);
	CHECK_EQ_INT(err, 0);
}

static const char rules_ini[] =
	"[destination eu]\ntype = dir\npath = /tmp/nowhere-eu\n"
	"[rule tax]\nstatus = enabled\npriority = 10\nprefix = Tax/\n"
	"tag.project = alpha\ndestination = eu\n"
	"[rule all]\nstatus = enabled\npriority = 5\ndestination = eu\n"
	"delete_marker_replication = enabled\n"
	"[rule off]\nstatus = disabled\npriority = 7\ndestination = eu\n";

static void test_explain(void)
{
	char dir[] = "/tmp/test_cli_repl.d.XXXXXX", store[256], rules[256];
	struct store_opts so = { .flags = STORE_CREATE };
	struct store *s = NULL;
	char *out = NULL;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(store, sizeof(store), "%s/s", dir);
	snprintf(rules, sizeof(rules), "%s/s/rules.ini", dir);
	so.path = store;
	CHECK_EQ_INT(store_open(&so, &s), 0);
	store_close(s);
	f = fopen(rules, "w");
	fputs(rules_ini, f);
	fclose(f);

	CHECK_EQ_INT(run(cmd_explain, &out, "explain", store, "Tax/a.pdf",
			 "--tag", "project=alpha", (char *)NULL), 0);
	CHECK(strstr(out, "': absent, tags (given): project=alpha\n"));
	CHECK(strstr(out, "rule tax (priority 10, to eu): matches\n"));
	CHECK(strstr(out, "rule all (priority 5, to eu): matches\n"));
	CHECK(strstr(out, "rule off (priority 7, to eu): disabled (its "
		      "filter matches)\n"));
	CHECK(strstr(out, "destination eu: rule tax wins (priority 10); "
		      "delete markers: shipped (rule all)\n"));
	free(out);

	CHECK_EQ_INT(run(cmd_explain, &out, "explain", store, "Tax/a.pdf",
			 "--tag", "project=beta", "--json", (char *)NULL), 0);
	CHECK(strstr(out, "\"reason\": \"tag project is 'beta', not "
		      "'alpha'\""));
	CHECK(strstr(out, "{\"name\": \"eu\", \"rule\": \"all\", "
		      "\"delete_markers\": true, \"delete_marker_rule\": "
		      "\"all\"}"));
	free(out);

	CHECK_EQ_INT(run(cmd_explain, &out, "explain", store, "docs/x",
			 (char *)NULL), 0);
	CHECK(strstr(out, "rule tax (priority 10, to eu): no match: key does "
		      "not start with 'Tax/'\n"));
	free(out);

	/* A bad rule file: 1, nothing on stdout. */
	f = fopen(rules, "w");
	fputs("[rule x]\nprefx = a\n", f);
	fclose(f);
	CHECK_EQ_INT(run(cmd_explain, &out, "explain", store, "k",
			 (char *)NULL), 1);
	CHECK_EQ_STR(out, "");
	free(out);
	unlink(rules);
	CHECK_EQ_INT(RUN(cmd_explain, "explain", store, "k"), 1);
	{
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		CHECK_EQ_INT(system(cmd), 0);
	}
}

int main(void)
{
	test_usage();
	test_mount_opts();
	test_store_of();
	test_explain();
	return check_done("test_cli_repl");
}
