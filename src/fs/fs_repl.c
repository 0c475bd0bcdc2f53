/*
 * fs_repl.c - replication in the life of a mount: the replicator is made
 * right after the store opens (so a refusal, such as an S3 bucket without
 * versioning, fails the mount before anything is mounted), starts once
 * the mount serves, and stops after the last handle is sealed, so every
 * version the mount made is queued before the store closes.
 *
 * SIGHUP reloads the rule file. libfuse would unmount on it; we take the
 * signal over. The handler only writes one byte to a pipe (all that is
 * async-signal-safe); a thread of ours reads it, calls repl_reload and
 * logs the result, so a bad file is reported and the old rules stay.
 */
#include "fs/fs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "repl/repl.h"
#include "util/log.h"

#define HUP_RELOAD 'h'
#define HUP_QUIT 'q'

/* The pipe's write end for the handler; one mount per process. */
static volatile sig_atomic_t hup_fd = -1;

static void hup_handler(int sig)
{
	int saved = errno;
	char c = HUP_RELOAD;

	(void)sig;
	/* Non-blocking: with the pipe full, a reload is pending anyway. */
	if (hup_fd >= 0 && write(hup_fd, &c, 1) < 0)
		(void)0;
	errno = saved;
}

static void hup_reload(struct fs *fs)
{
	char err[1024];
	int rc;

	if (!fs->repl) {
		log_warn("SIGHUP: nothing to reload: the read-only store "
			 "'%s' runs no replication", fs->o->store_path);
		return;
	}
	/* repl_reload logs a success itself; a refusal is ours to say. */
	err[0] = '\0';
	rc = repl_reload(fs->repl, err, sizeof(err));
	if (rc < 0)
		log_warn("SIGHUP: rules not reloaded, the old ones stay: %s",
			 err[0] ? err : strerror(-rc));
}

static void *hup_main(void *arg)
{
	struct fs *fs = arg;
	char c;
	ssize_t n;

	for (;;) {
		n = read(fs->hup_pipe[0], &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != 1 || c == HUP_QUIT)
			return NULL;
		hup_reload(fs);
	}
}

int fs_repl_open(struct fs *fs, char *err, size_t errlen)
{
	struct repl_opts ro;

	fs->hup_pipe[0] = fs->hup_pipe[1] = -1;
	err[0] = '\0';
	if (!fs->store_rw)
		return 0;
	memset(&ro, 0, sizeof(ro));
	ro.store = fs->st;
	ro.store_path = fs->o->store_path;
	ro.rules_path = fs->o->rules_path;
	ro.workers = fs->o->repl_workers;
	return repl_new(&ro, &fs->repl, err, errlen);
}

static int hup_install(struct fs *fs)
{
	struct sigaction sa;
	int rc;

	if (pipe2(fs->hup_pipe, O_CLOEXEC) < 0)
		return -errno;
	if (fcntl(fs->hup_pipe[1], F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	rc = -pthread_create(&fs->hup_thread, NULL, hup_main, fs);
	if (rc)
		return rc;
	fs->hup_running = true;
	hup_fd = fs->hup_pipe[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = hup_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	/* Replaces libfuse's exit handler, which would unmount. */
	if (sigaction(SIGHUP, &sa, NULL) < 0)
		return -errno;
	return 0;
}

int fs_repl_start(struct fs *fs)
{
	int rc;

	if (fs->repl) {
		rc = repl_start(fs->repl, true);
		if (rc < 0) {
			log_error("cannot start replication of '%s': %s",
				  fs->o->store_path, strerror(-rc));
			return rc;
		}
	}
	rc = hup_install(fs);
	if (rc < 0)
		log_error("cannot handle SIGHUP: %s", strerror(-rc));
	return rc;
}

void fs_repl_stop(struct fs *fs)
{
	char c = HUP_QUIT;

	/* From here a SIGHUP changes nothing: shutdown goes on. */
	if (hup_fd >= 0) {
		signal(SIGHUP, SIG_IGN);
		hup_fd = -1;
	}
	if (fs->hup_running) {
		while (write(fs->hup_pipe[1], &c, 1) < 0 && errno == EINTR)
			;
		pthread_join(fs->hup_thread, NULL);
		fs->hup_running = false;
	}
	for (int i = 0; i < 2; i++)
		if (fs->hup_pipe[i] >= 0)
			close(fs->hup_pipe[i]);
	fs->hup_pipe[0] = fs->hup_pipe[1] = -1;
	repl_free(fs->repl);
	fs->repl = NULL;
}
