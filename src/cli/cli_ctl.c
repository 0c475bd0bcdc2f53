/*
 * cli_ctl.c - one request to the daemon that serves a store, its answer
 * copied to where the user sees it.
 *
 * Design: the answer is collected whole before it is printed, so it goes
 * to stdout when the daemon said yes and to stderr when it said no, and
 * a failing command never prints half of its answer on stdout.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>

#include "repl/repl.h"

int cli_ctl(const char *store, const char *request)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	if (!f)
		return -errno;
	rc = repl_ctl_call(store, request, f);
	fclose(f);
	if (rc >= 0 && len)
		fwrite(buf, 1, len, rc == 0 ? stdout : stderr);
	free(buf);
	return rc;
}
