/*
 * ingest.c - the thread that takes in replicas other stores deliver to
 * this one's STORE/inbox (their dir destinations), while it is open here.
 *
 * Design: the store must apply replicas through its one writer (this
 * process holds the store's lock), so the writer watches the inbox:
 * inotify says when a record is renamed into it, and a 1 s poll catches
 * anything inotify missed (an overflow, or no inotify at all). Each pass
 * calls remote_dir_ingest(), which applies every record in order.
 */
#include "repl/repl_int.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

#define INGEST_POLL_MS 1000

static bool inbox_busy(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool busy = false;

	if (!d)
		return false;
	while (!busy && (e = readdir(d))) {
		size_t n = strlen(e->d_name);

		/* records are "<vid>.rec"; dot files are being written */
		busy = e->d_name[0] != '.' && n > 4 &&
		       !strcmp(e->d_name + n - 4, ".rec");
	}
	closedir(d);
	return busy;
}

static void *ingest_main(void *arg)
{
	struct repl *r = arg;
	char dir[PATH_MAX], ev[4096];
	int in = -1, last_rc = 0;

	snprintf(dir, sizeof(dir), "%s/inbox", r->store_path);
	if (mkdir(dir, 0755) && errno != EEXIST)
		log_warn("cannot make inbox '%s': %s", dir, strerror(errno));
	in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (in >= 0 && inotify_add_watch(in, dir, IN_MOVED_TO |
					 IN_CLOSE_WRITE) < 0) {
		close(in);
		in = -1;
	}
	while (!atomic_load(&r->stop)) {
		struct pollfd p[2] = { { r->stop_fd, POLLIN, 0 },
				       { in, POLLIN, 0 } };
		int rc;

		if (inbox_busy(dir)) {
			rc = remote_dir_ingest(r->store, r->store_path);
			if (rc < 0 && rc != last_rc)
				log_error("cannot take in replicas from '%s': "
					  "%s", dir, strerror(-rc));
			last_rc = rc < 0 ? rc : 0;
		}
		poll(p, in >= 0 ? 2 : 1, INGEST_POLL_MS);
		if (in >= 0 && (p[1].revents & POLLIN))
			while (read(in, ev, sizeof(ev)) > 0)
				;
	}
	if (in >= 0)
		close(in);
	return NULL;
}

int repl_inbox_start(struct repl *r)
{
	int rc;

	if (r->inbox_running)
		return 0;
	rc = -pthread_create(&r->inbox_thread, NULL, ingest_main, r);
	if (!rc)
		r->inbox_running = true;
	return rc;
}

void repl_stop_signal(struct repl *r)
{
	uint64_t one = 1;

	if (r->stop_fd >= 0 && write(r->stop_fd, &one, sizeof(one)) < 0)
		log_debug("cannot wake threads: %s", strerror(errno));
}

void repl_inbox_stop(struct repl *r)
{
	repl_stop_signal(r);
	if (r->inbox_running)
		pthread_join(r->inbox_thread, NULL);
	r->inbox_running = false;
}
