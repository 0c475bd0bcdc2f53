/*
 * cli_ctl.c - one request to the daemon that serves a store, its answer
 * copied to where the user sees it.
 *
 * Design: the answer is collected whole before it is printed, so it goes
 * to stdout when the daemon said yes and to stderr when it said no, and
 * a failing command never prints half of its answer on stdout.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "repl/repl.h"

int cli_ctl_ask(const char *store, const char *request, char **answer)
{
	size_t len = 0;
	FILE *f;
	int rc;

	*answer = NULL;
	f = open_memstream(answer, &len);
	if (!f)
		return -errno;
	rc = repl_ctl_call(store, request, f);
	if (fclose(f) && rc >= 0)
		rc = -ENOMEM;
	if (rc < 0) {
		free(*answer);
		*answer = NULL;
	}
	return rc;
}

void cli_ctl_trim(char *answer)
{
	size_t n = strlen(answer);

	while (n && (answer[n - 1] == '\n' || answer[n - 1] == '\r'))
		answer[--n] = '\0';
}

int cli_ctl(const char *store, const char *request)
{
	char *answer = NULL;
	int rc = cli_ctl_ask(store, request, &answer);

	if (rc >= 0 && answer)
		fputs(answer, rc == 0 ? stdout : stderr);
	free(answer);
	return rc;
}
