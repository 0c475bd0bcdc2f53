/*
 * cmd_mount.c - `crrfs mount` and `mount.crrfs` (what mount(8) runs for
 * fstab entries of type crrfs): check the arguments, then serve the mount
 * in the foreground or as a daemon.
 *
 * Design: the daemon forks before anything is opened (LMDB and threads do
 * not survive a fork), and the parent stays until the child says, over a
 * pipe, that the mount is up or why it is not. So `crrfs mount` returning
 * 0 means the mountpoint is really mounted, and a failure is reported on
 * the caller's terminal, not only in syslog. The child keeps the caller's
 * stderr until then, and prints its own error there before reporting.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf/rules.h"
#include "util/log.h"

static const char mount_usage[] =
	"usage: crrfs mount STORE MOUNTPOINT [-f] [-d] [-o OPTIONS] "
	"[--rules FILE]\n"
	"       crrfs mount STORE --reload\n"
	"\n"
	"Mount the versioned store STORE (a directory, created on first use)\n"
	"on MOUNTPOINT and replicate it as its rule file says. Returns once\n"
	"the mount is up; the daemon logs to syslog, or to STORE/crrfs.log\n"
	"where there is no syslog (no /dev/log). Unmount with\n"
	"'fusermount3 -u MOUNTPOINT'. SIGHUP to the daemon, or --reload,\n"
	"reads the rule file again (a bad file is refused, the old rules\n"
	"stay).\n"
	"\n"
	"  -f, --foreground   stay in the foreground, log to stderr\n"
	"  -d, --debug        libfuse debug output (implies -f)\n"
	"  -o OPTIONS         comma-separated, may be repeated:\n"
	"      allow_purge          rm in .versions permanently deletes a version\n"
	"      sync                 every change is on disk before it returns\n"
	"      sync_interval=MS     how often the index is synced (default 1000)\n"
	"      verify               a file read from start to end is checked\n"
	"                           against its recorded sha256 (EIO if it\n"
	"                           differs); costs CPU on every such read\n"
	"      amend_window=MS      attribute changes this soon after a write\n"
	"                           amend that version (default 2000)\n"
	"      attr_timeout=S       kernel attribute cache (default 1.0)\n"
	"      entry_timeout=S      kernel name cache (default 1.0)\n"
	"      threads=N            at most N FUSE worker threads\n"
	"      nocreate             fail if STORE does not exist\n"
	"      ro                   read-only mount (no replication)\n"
	"      rules=FILE           as --rules\n"
	"      workers=N            uploads in parallel per destination\n"
	"                           (default 16)\n"
	"      allow_other, allow_root, default_permissions, fsname=, subtype=\n"
	"                           as for any FUSE filesystem\n"
	"  --rules FILE       replication rules (default: STORE/rules.ini when\n"
	"                     it exists); a bad file mounts nothing\n"
	"  --reload           ask the daemon serving STORE (or a mount point)\n"
	"                     to reload its rule file\n"
	"  -h, --help         show this help\n";

static const char helper_usage[] =
	"usage: mount.crrfs STORE MOUNTPOINT [-sfnv] [-o OPTIONS]\n"
	"\n"
	"Called by mount(8) for fstab entries of type crrfs, e.g.\n"
	"  /srv/store  /mnt/data  crrfs  defaults,allow_other  0  0\n"
	"Options are those of 'crrfs mount'.\n"
	"  -s  ignore unknown mount options (sloppy)\n"
	"  -f  check the arguments, do not mount (fake)\n"
	"  -n  accepted, has no effect (there is no mtab to update)\n"
	"  -v  say what was mounted\n";

/* What the daemon's child reports through the pipe, once. */
struct mount_ctx {
	const char *store;
	const char *store_abs;	/* for STORE/crrfs.log */
	const char *mountpoint;
	int fd;			/* write end of the pipe, -1 in foreground */
	bool reported;
};

static void mount_say_error(const struct mount_ctx *c, int err,
			    const char *msg)
{
	if (msg)
		cli_err("cannot mount '%s': %s", c->store, msg);
	else if (err == -EBUSY)
		cli_err("cannot mount '%s': store is in use by another crrfs "
			"process", c->store);
	else
		cli_err("cannot mount '%s' on '%s': %s", c->store,
			c->mountpoint, strerror(-err));
}

/*
 * Without a syslog socket (a container, a minimal system) syslog(3)
 * drops everything, so the daemon's stderr becomes STORE/crrfs.log, with
 * the time and pid on each line. 0 when it did, -errno when it did not
 * (syslog is there, or the file cannot be opened).
 */
static int mount_log_file(const struct mount_ctx *c)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;

	if (!stat("/dev/log", &st) && S_ISSOCK(st.st_mode))
		return -EEXIST;
	if (snprintf(path, sizeof(path), "%s/crrfs.log", c->store_abs) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	dup2(fd, STDERR_FILENO);
	close(fd);
	log_set_stamps(1);
	return 0;
}

/* Called by fs_run() once the mount is up (err 0) or has failed. */
static void mount_ready(void *arg, int err, const char *msg)
{
	struct mount_ctx *c = arg;
	int null;

	if (c->reported)
		return;
	c->reported = true;
	if (err)
		mount_say_error(c, err, msg);
	if (c->fd < 0)
		return;
	/* The parent exits when it reads this; nothing to do if it is
	 * already gone (SIGPIPE is ignored). */
	if (write(c->fd, &err, sizeof(err)) != sizeof(err))
		log_warn("cannot report to the parent process: %s",
			 strerror(errno));
	close(c->fd);
	c->fd = -1;
	if (err)
		return;
	/* Detach from the terminal; messages go to syslog from now on,
	 * or to STORE/crrfs.log where there is none. */
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		if (mount_log_file(c) < 0)
			dup2(null, STDERR_FILENO);
		close(null);
	}
}

static int mount_serve(struct cli_mount_opts *m, struct mount_ctx *c)
{
	int rc = fs_run(&m->fs, mount_ready, c);

	/* fs_run promises ready; report anyway if it failed before. */
	if (!c->reported)
		mount_ready(c, rc ? rc : -EIO, NULL);
	return rc ? CLI_FAIL : CLI_OK;
}

/* Parent side: wait for the child's word. */
static int mount_wait(pid_t pid, int fd, const struct mount_ctx *c)
{
	int err = 0, status = 0;
	ssize_t n;

	do
		n = read(fd, &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n == sizeof(err) && err == 0)
		return CLI_OK;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (n != sizeof(err)) {
		if (WIFSIGNALED(status))
			cli_err("cannot mount '%s' on '%s': the daemon was "
				"killed by signal %d", c->store, c->mountpoint,
				WTERMSIG(status));
		else
			cli_err("cannot mount '%s' on '%s': the daemon exited "
				"before the mount was up", c->store,
				c->mountpoint);
	}
	return CLI_FAIL;
}

static int mount_daemon(struct cli_mount_opts *m, struct mount_ctx *c)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		cli_err("cannot mount '%s': pipe: %s", c->store,
			strerror(errno));
		return CLI_FAIL;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		cli_err("cannot mount '%s': fork: %s", c->store,
			strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return CLI_FAIL;
	}
	if (pid > 0) {
		close(fds[1]);
		return mount_wait(pid, fds[0], c);
	}
	close(fds[0]);
	c->fd = fds[1];
	setsid();
	if (chdir("/") < 0)
		log_warn("cannot change directory to '/': %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	log_setup("crrfs", 1, LOG_LVL_INFO);
	exit(mount_serve(m, c));
}

/* Is path the mount point of a FUSE mount already? From mountinfo. */
static bool mount_is_fuse_mounted(const char *path)
{
	char *type = NULL, *src = NULL;
	bool found = cli_mountinfo_find(path, &type, &src) == 1 &&
		     !strncmp(type, "fuse", 4);

	free(type);
	free(src);
	return found;
}

/* Absolute paths, and the checks that give clear errors up front. */
static int mount_paths(const char *store, const char *mnt, char **store_abs,
		       char **mnt_abs)
{
	struct stat st;
	size_t len;

	*mnt_abs = NULL;
	*store_abs = realpath(store, NULL);
	if (!*store_abs && errno == ENOENT)
		*store_abs = cli_abspath(store);	/* created on mount */
	if (!*store_abs) {
		cli_err("cannot open store '%s': %s", store, strerror(errno));
		return CLI_FAIL;
	}
	*mnt_abs = realpath(mnt, NULL);
	if (!*mnt_abs || stat(*mnt_abs, &st) < 0) {
		if (errno == ENOTCONN)
			cli_err("cannot mount on '%s': %s (a mount whose daemon "
				"died; 'fusermount3 -u %s' clears it)", mnt,
				strerror(errno), mnt);
		else
			cli_err("cannot mount on '%s': %s", mnt,
				strerror(errno));
		return CLI_FAIL;
	}
	if (!S_ISDIR(st.st_mode)) {
		cli_err("cannot mount on '%s': %s", mnt, strerror(ENOTDIR));
		return CLI_FAIL;
	}
	if (mount_is_fuse_mounted(*mnt_abs)) {
		cli_err("cannot mount on '%s': a FUSE filesystem is already "
			"mounted there", mnt);
		return CLI_FAIL;
	}
	len = strlen(*mnt_abs);
	if (!strncmp(*store_abs, *mnt_abs, len) &&
	    ((*store_abs)[len] == '/' || (*store_abs)[len] == '\0' ||
	     len == 1)) {
		cli_err("cannot mount '%s' on '%s': the store would be inside "
			"its own mount", store, mnt);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/*
 * Check the rule file here, before any fork, so a bad one is refused on
 * the caller's terminal with its line and nothing is mounted. *abs gets
 * its absolute path for the daemon (which runs in /), or NULL.
 */
static int mount_rules(const struct cli_mount_opts *m, const char *store_abs,
		       char **abs)
{
	struct rules *r = NULL;
	char err[1024], *path;
	int e = 0;

	*abs = NULL;
	if (m->fs.read_only)
		return CLI_OK;	/* a read-only mount ships nothing */
	path = m->rules ? strdup(m->rules) : cli_rules_default(store_abs, &e);
	if (!path) {
		if (!m->rules && !e)
			return CLI_OK;	/* no rules: replicas still come in */
		cli_err("cannot load rule file '%s/rules.ini': %s", store_abs,
			strerror(e ? -e : ENOMEM));
		return CLI_FAIL;
	}
	if (rules_load(path, store_abs, &r, err, sizeof(err)) < 0) {
		cli_err("%s", err);
		free(path);
		return CLI_FAIL;
	}
	rules_free(r);
	*abs = realpath(path, NULL);
	if (!*abs)
		cli_err("cannot load rule file '%s': %s", path,
			strerror(errno));
	free(path);
	return *abs ? CLI_OK : CLI_FAIL;
}

static int mount_start(struct cli_mount_opts *m, const char *store,
		       const char *mnt, bool foreground, bool fake)
{
	char *store_abs = NULL, *mnt_abs = NULL, *rules_abs = NULL;
	struct mount_ctx c = { .fd = -1 };
	int rc;

	rc = mount_paths(store, mnt, &store_abs, &mnt_abs);
	if (rc != CLI_OK)
		goto out;
	rc = mount_rules(m, store_abs, &rules_abs);
	if (rc != CLI_OK)
		goto out;
	m->fs.rules_path = rules_abs;
	if (cli_mount_opts_finish(m, store_abs, mnt_abs) < 0) {
		cli_err("cannot mount '%s': %s", store, strerror(ENOMEM));
		rc = CLI_FAIL;
		goto out;
	}
	if (fake)
		goto out;
	c.store = store;
	c.store_abs = store_abs;
	c.mountpoint = mnt;
	if (foreground) {
		log_setup("crrfs", 0, m->fs.debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
		rc = mount_serve(m, &c);
	} else {
		rc = mount_daemon(m, &c);
	}
out:
	m->fs.rules_path = NULL;
	free(rules_abs);
	free(store_abs);
	free(mnt_abs);
	return rc;
}

/* `crrfs mount STORE --reload`: the daemon re-reads its rule file. */
static int mount_reload(const char *arg)
{
	char *store = NULL, *answer = NULL;
	int rc;

	if (cli_store_of(arg, &store) < 0)
		return CLI_FAIL;
	rc = cli_ctl_ask(store, "reload", &answer);
	if (answer)
		cli_ctl_trim(answer);
	if (rc == 0)
		printf("rules of '%s' reloaded\n", arg);
	else if (rc > 0)
		cli_err("%s (the old rules stay)", answer);
	else if (rc == -ENOENT || rc == -ECONNREFUSED)
		cli_err("cannot reload the rules of '%s': no crrfs daemon "
			"replicates it (not mounted, or mounted read-only)",
			arg);
	else if (rc < 0)
		cli_err("cannot reload the rules of '%s': %s", arg,
			strerror(-rc));
	free(answer);
	free(store);
	return rc == 0 ? CLI_OK : CLI_FAIL;
}

int cmd_mount(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "rules", required_argument, NULL, 'r' },
		{ "reload", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_mount_opts m;
	bool foreground = false, reload = false;
	int c, rc = CLI_USAGE;

	cli_mount_opts_init(&m);
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":fdo:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			foreground = true;
			break;
		case 'd':
			m.fs.debug = true;
			foreground = true;
			break;
		case 'o':
			if (cli_mount_opts_add(&m, optarg, false) < 0)
				goto out;
			break;
		case 'r':
			free(m.rules);
			m.rules = strdup(optarg);
			if (!m.rules) {
				rc = CLI_FAIL;
				goto out;
			}
			break;
		case 'R':
			reload = true;
			break;
		case 'h':
			fputs(mount_usage, stdout);
			rc = CLI_OK;
			goto out;
		default:
			rc = cli_bad_option("mount", c, argv);
			goto out;
		}
	}
	if (reload) {
		/* The daemon re-reads the file it was started with. */
		if (argc - optind != 1 || m.rules || m.pass || foreground)
			rc = cli_usage("mount", "--reload takes only STORE (or "
				       "its mount point)");
		else
			rc = mount_reload(argv[optind]);
		goto out;
	}
	if (argc - optind != 2) {
		rc = cli_usage("mount", "expected STORE and MOUNTPOINT");
		goto out;
	}
	rc = mount_start(&m, argv[optind], argv[optind + 1], foreground,
			 false);
out:
	cli_mount_opts_release(&m);
	return rc;
}

int cmd_mount_helper(int argc, char **argv)
{
	struct cli_mount_opts m;
	bool sloppy = false, fake = false, verbose = false;
	char **lists = calloc((size_t)argc, sizeof(char *));
	int c, nlists = 0, rc = CLI_USAGE;

	cli_mount_opts_init(&m);
	if (!lists) {
		rc = CLI_FAIL;
		goto out;
	}
	opterr = 0;
	/* Sloppiness applies to every -o, wherever it stands: collect first. */
	while ((c = getopt(argc, argv, ":sfnvo:t:h")) != -1) {
		switch (c) {
		case 's':
			sloppy = true;
			break;
		case 'f':
			fake = true;
			break;
		case 'n':
		case 't':
			break;
		case 'v':
			verbose = true;
			break;
		case 'o':
			lists[nlists++] = optarg;
			break;
		case 'h':
			fputs(helper_usage, stdout);
			rc = CLI_OK;
			goto out;
		default:
			cli_err("mount.crrfs: unknown option '%s'",
				argv[optind - 1]);
			goto out;
		}
	}
	if (argc - optind != 2) {
		cli_err("mount.crrfs: expected STORE and MOUNTPOINT");
		goto out;
	}
	for (int i = 0; i < nlists; i++)
		if (cli_mount_opts_add(&m, lists[i], sloppy) < 0)
			goto out;
	rc = mount_start(&m, argv[optind], argv[optind + 1], false, fake);
	if (rc == CLI_OK && verbose)
		printf("crrfs: %s '%s' on '%s'\n", fake ? "would mount" :
		       "mounted", argv[optind], argv[optind + 1]);
out:
	cli_mount_opts_release(&m);
	free(lists);
	return rc;
}
