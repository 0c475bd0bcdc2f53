/*
 * log.h - one-line diagnostics.
 *
 * Messages follow the house style: lowercase, the failure first, the
 * subject quoted ("cannot open store '/srv/s': Permission denied"). In the
 * foreground they go to stderr; a daemon sends them to syslog as well, so
 * `crrfs mount` without -f still leaves a trace, and where there is no
 * syslog (no /dev/log) its stderr is a file (STORE/crrfs.log) whose lines
 * carry the time and pid that syslog would add. Safe from any thread.
 */
#ifndef CRRFS_LOG_H
#define CRRFS_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Where messages go; call before threads start. ident is not copied. */
void log_setup(const char *ident, int use_syslog, enum log_level max);

/*
 * With on, each line on stderr starts "TIME ident[pid]: " (UTC, ISO 8601)
 * instead of "ident: ": for stderr redirected to a log file. Any thread.
 */
void log_set_stamps(int on);

void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
