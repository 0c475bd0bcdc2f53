/*
 * ctl.c - the control socket: how `crrfs status/resync/reload` reach the
 * daemon that has a store mounted (it holds the store's lock, so they
 * cannot open the store themselves).
 *
 * Design: a unix socket file STORE/ctl.sock, mode 0600, in the store
 * directory that only its owner may write. An abstract name (as before)
 * could be taken by any local user first, who would then answer root's
 * requests; a file in the store can only be made by the store's owner.
 * Both ends also check the other with SO_PEERCRED: the daemon answers only
 * root and its own uid; the client believes only a daemon running as
 * root, as itself, or as the store directory's owner. A file left by a
 * crash is found stale (nobody answers on it, and only the lock holder
 * binds it) and replaced. One thread serves one connection at a time: one
 * request line in, then "OK <status>\n" and the answer's text until the
 * daemon closes. A store path too long for sun_path is reached through
 * /proc/self/fd/N of the store directory.
 */
#include "repl/repl_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"

#define CTL_LINE_MAX 512
#define CTL_SOCK "ctl.sock"

/* Open the store directory (O_PATH, into *dir) and say its socket's
 * address. */
static int ctl_addr(const char *store_path, int *dir, struct sockaddr_un *sa,
		    socklen_t *len)
{
	int n;

	*dir = open(store_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*dir < 0)
		return -errno;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/" CTL_SOCK,
		     store_path);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path))
		n = snprintf(sa->sun_path, sizeof(sa->sun_path),
			     "/proc/self/fd/%d/" CTL_SOCK, *dir);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
			   (size_t)n + 1);
	return 0;
}

static bool peer_uid(int fd, uid_t *uid)
{
	struct ucred cr;
	socklen_t l = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l))
		return false;
	*uid = cr.uid;
	return true;
}

static bool peer_allowed(int fd)
{
	uid_t uid;

	return peer_uid(fd, &uid) && (uid == 0 || uid == geteuid());
}

/* The client's side: a daemon it may believe (dir: the store's). */
static bool server_trusted(int fd, int dir)
{
	struct stat st;
	uid_t uid;

	if (!peer_uid(fd, &uid))
		return false;
	if (uid == 0 || uid == geteuid())
		return true;
	return !fstat(dir, &st) && uid == st.st_uid;
}

static bool read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		ssize_t k = read(fd, buf + n, size - 1 - n);

		if (k <= 0)
			break;
		n += (size_t)k;
		if (memchr(buf, '\n', n))
			break;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return n > 0;
}

static int do_resync(struct repl *r, char *args, FILE *out)
{
	char *rule = NULL, *tok, *save = NULL;
	uint64_t q = 0, sk = 0;
	bool failed = false;
	int rc;

	for (tok = strtok_r(args, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		if (!strcmp(tok, "--failed")) {
			failed = true;
		} else if (!strcmp(tok, "--rule") &&
			   (rule = strtok_r(NULL, " ", &save))) {
			continue;
		} else {
			fprintf(out, "bad resync argument '%s'\n", tok);
			return 2;
		}
	}
	rc = repl_resync(r, rule, failed, &q, &sk);
	if (rc == -ENOENT && rule) {
		fprintf(out, "no rule '%s' in the rule file\n", rule);
		return 1;
	}
	if (rc) {
		fprintf(out, "resync failed: %s\n", strerror(-rc));
		return 1;
	}
	fprintf(out, "queued %llu skipped %llu\n", (unsigned long long)q,
		(unsigned long long)sk);
	return 0;
}

/* Answer one request into out; returns the exit status to send. */
static int ctl_handle(struct repl *r, char *req, FILE *out)
{
	char err[512];

	if (!strcmp(req, "reload")) {
		if (repl_reload(r, err, sizeof(err))) {
			fprintf(out, "%s\n", err);
			return 1;
		}
		fprintf(out, "rules reloaded\n");
		return 0;
	}
	if (!strcmp(req, "status") || !strcmp(req, "status --json")) {
		struct repl_rules *rr = repl_rules_get(r);
		int rc = repl_report_int(r->store, rr ? rr->rules : NULL, out,
					 req[6] != '\0');

		repl_rules_put(rr);
		return rc ? 1 : 0;
	}
	if (!strcmp(req, "progress")) {
		struct repl_backlog b;

		if (repl_backlog_total(r->store, &b))
			return 1;
		fprintf(out, "%llu %llu %llu\n",
			(unsigned long long)atomic_load(&r->done),
			(unsigned long long)b.ops,
			(unsigned long long)b.failed);
		return 0;
	}
	if (!strncmp(req, "resync", 6) && (!req[6] || req[6] == ' '))
		return do_resync(r, req + 6, out);
	fprintf(out, "unknown request '%s'\n", req);
	return 2;
}

static void ctl_serve(struct repl *r, int fd)
{
	struct timeval tv = { 5, 0 };
	char req[CTL_LINE_MAX], *body = NULL;
	size_t blen = 0;
	FILE *out;
	int st;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (!peer_allowed(fd) || !read_line(fd, req, sizeof(req)))
		return;
	out = open_memstream(&body, &blen);
	if (!out)
		return;
	st = ctl_handle(r, req, out);
	fclose(out);
	dprintf(fd, "OK %d\n", st);
	for (size_t off = 0; off < blen;) {
		ssize_t k = write(fd, body + off, blen - off);

		if (k <= 0)
			break;
		off += (size_t)k;
	}
	free(body);
}

static void *ctl_main(void *arg)
{
	struct repl *r = arg;

	while (!atomic_load(&r->stop)) {
		struct pollfd p[2] = { { r->stop_fd, POLLIN, 0 },
				       { r->ctl_fd, POLLIN, 0 } };
		int fd;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (!(p[1].revents & POLLIN))
			continue;
		fd = accept4(r->ctl_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		ctl_serve(r, fd);
		close(fd);
	}
	return NULL;
}

/*
 * The socket file is there already: left by a daemon that died, if
 * nobody answers on it (no other daemon can be serving, we hold the
 * store's lock). Anything else is not ours to remove.
 */
static int ctl_clear_stale(int dir, const struct sockaddr_un *sa,
			   socklen_t len)
{
	struct stat st;
	int fd, rc;

	if (fstatat(dir, CTL_SOCK, &st, AT_SYMLINK_NOFOLLOW))
		return -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sa, len) ? -errno
							   : -EADDRINUSE;
	close(fd);
	if (rc != -ECONNREFUSED)
		return rc;
	return unlinkat(dir, CTL_SOCK, 0) ? -errno : 0;
}

/* Bind, owner-only before anyone can connect (only listen() allows
 * that), and listen. */
static int ctl_listen(struct repl *r, const struct sockaddr_un *sa,
		      socklen_t len)
{
	const struct sockaddr *a = (const struct sockaddr *)sa;
	int rc;

	if (bind(r->ctl_fd, a, len)) {
		if (errno != EADDRINUSE)
			return -errno;
		rc = ctl_clear_stale(r->ctl_dir, sa, len);
		if (rc)
			return rc;
		if (bind(r->ctl_fd, a, len))
			return -errno;
	}
	if (fchmodat(r->ctl_dir, CTL_SOCK, 0600, 0) || listen(r->ctl_fd, 8)) {
		rc = -errno;
		unlinkat(r->ctl_dir, CTL_SOCK, 0);
		return rc;
	}
	return 0;
}

int repl_ctl_start(struct repl *r)
{
	struct sockaddr_un sa;
	socklen_t len = 0;
	int rc;

	if (r->ctl_running)
		return 0;
	rc = ctl_addr(r->store_path, &r->ctl_dir, &sa, &len);
	if (rc)
		return rc;
	r->ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r->ctl_fd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = ctl_listen(r, &sa, len);
	if (rc) {
		log_warn("cannot open the control socket '%s/" CTL_SOCK "': %s",
			 r->store_path, strerror(-rc));
		goto fail;
	}
	rc = -pthread_create(&r->ctl_thread, NULL, ctl_main, r);
	if (rc) {
		unlinkat(r->ctl_dir, CTL_SOCK, 0);
		goto fail;
	}
	r->ctl_running = true;
	return 0;
fail:
	if (r->ctl_fd >= 0)
		close(r->ctl_fd);
	close(r->ctl_dir);
	r->ctl_fd = r->ctl_dir = -1;
	return rc;
}

void repl_ctl_stop(struct repl *r)
{
	repl_stop_signal(r);
	if (r->ctl_running)
		pthread_join(r->ctl_thread, NULL);
	r->ctl_running = false;
	if (r->ctl_fd >= 0)
		close(r->ctl_fd);
	/* ours: no other daemon binds it while we hold the store's lock */
	if (r->ctl_dir >= 0) {
		unlinkat(r->ctl_dir, CTL_SOCK, 0);
		close(r->ctl_dir);
	}
	r->ctl_fd = r->ctl_dir = -1;
}

int repl_ctl_call(const char *store_path, const char *request, FILE *out)
{
	char head[32], buf[4096];
	struct sockaddr_un sa;
	socklen_t len = 0;
	size_t hn = 0;
	ssize_t k;
	int fd = -1, dir = -1, rc, st = -EPROTO;

	rc = ctl_addr(store_path, &dir, &sa, &len);
	if (rc)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	if (connect(fd, (struct sockaddr *)&sa, len)) {
		rc = errno == ECONNREFUSED || errno == ENOENT ? -ECONNREFUSED
							      : -errno;
		goto out;
	}
	if (!server_trusted(fd, dir)) {
		rc = -EPERM;
		goto out;
	}
	if (dprintf(fd, "%s\n", request) < 0) {
		rc = -EIO;
		goto out;
	}
	shutdown(fd, SHUT_WR);
	/* the status line, then the body as it comes */
	while (hn + 1 < sizeof(head) && (k = read(fd, head + hn, 1)) == 1)
		if (head[hn++] == '\n')
			break;
	head[hn] = '\0';
	if (sscanf(head, "OK %d", &st) != 1) {
		rc = -EPROTO;
		goto out;
	}
	while ((k = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)k, out);
	rc = st;
out:
	if (fd >= 0)
		close(fd);
	close(dir);
	return rc;
}
