/*
 * log.c - see log.h. One fprintf per message so lines from several
 * threads never interleave (stdio locks the stream per call).
 */
#include "util/log.h"

#include <stdio.h>
#include <syslog.h>

static const char *log_ident = "crrfs";
static int log_syslog;
static enum log_level log_max = LOG_LVL_INFO;

void log_setup(const char *ident, int use_syslog, enum log_level max)
{
	log_ident = ident ? ident : "crrfs";
	log_syslog = use_syslog;
	log_max = max;
	if (use_syslog)
		openlog(log_ident, LOG_PID, LOG_DAEMON);
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
	fprintf(stderr, "%s: %s: %s\n", log_ident, prefix[lvl], buf);
	if (log_syslog)
		syslog(prio[lvl], "%s", buf);
}
