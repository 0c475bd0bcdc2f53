/*
 * log.c - see log.h. One fprintf per message so lines from several
 * threads never interleave (stdio locks the stream per call).
 */
#include "util/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "crrfs";
static int log_syslog;
static enum log_level log_max = LOG_LVL_INFO;
static atomic_int log_stamps;	/* set once threads may be running */

void log_setup(const char *ident, int use_syslog, enum log_level max)
{
	log_ident = ident ? ident : "crrfs";
	log_syslog = use_syslog;
	log_max = max;
	if (use_syslog)
		openlog(log_ident, LOG_PID, LOG_DAEMON);
}

void log_set_stamps(int on)
{
	atomic_store(&log_stamps, on);
}

/* "2026-12-05T18:40:00.123Z crrfs[42]: " for a file nobody stamps. */
static void stamp(char *buf, size_t size)
{
	struct timeval tv;
	struct tm tm;
	char t[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%03ldZ %s[%ld]: ", t,
		 (long)(tv.tv_usec / 1000), log_ident, (long)getpid());
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *const prefix[] = { "error", "warning", "info",
					      "debug" };
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
				    LOG_DEBUG };
	char buf[1024];
	va_list ap;

	if (lvl > log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (atomic_load(&log_stamps)) {
		char st[96];

		stamp(st, sizeof(st));
		fprintf(stderr, "%s%s: %s\n", st, prefix[lvl], buf);
	} else {
		fprintf(stderr, "%s: %s: %s\n", log_ident, prefix[lvl], buf);
	}
	if (log_syslog)
		syslog(prio[lvl], "%s", buf);
}
