/*
 * main.c - the crrfs command: find the subcommand and run it.
 *
 * Design: dispatch only. Each subcommand lives in its own cmd_*.c with
 * the signature of struct command, so adding one is one file and one line
 * in the table. The same binary is mount.crrfs for mount(8), told apart
 * by the name it was run under.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"


struct command {
	const char *name;
	int (*run)(int argc, char **argv);	/* NULL: not available yet */
	const char *summary;
};

static const struct command commands[] = {
	{ "mount", cmd_mount, "mount a store on a directory" },
	{ "versions", cmd_versions, "list the versions of a file" },
	{ "restore", cmd_restore, "restore or undelete a file" },
	{ "fsck", cmd_fsck, "check (and repair) a store" },
	{ "status", cmd_status, "replication backlog and lag" },
	{ "resync", cmd_resync, "replicate existing or failed versions" },
	{ "verify", NULL, "compare a store with its replica" },
	{ "rules", cmd_rules, "check a replication rules file" },
	{ "explain", cmd_explain, "say which rule matches a key" },
	{ "replicate", cmd_replicate, "ship the backlog without mounting" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void main_help(FILE *f)
{
	fputs("usage: crrfs COMMAND [ARGS...]\n"
	      "\n"
	      "A versioned object store, mounted as a directory.\n"
	      "\n"
	      "Commands:\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %s%s\n", commands[i].name,
			commands[i].summary,
			commands[i].run ? "" : " (not yet available)");
	fputs("\n"
	      "'crrfs COMMAND --help' explains one command; 'crrfs --version'\n"
	      "prints the version. Also run as 'mount.crrfs' by mount(8).\n", f);
}

static int main_version(void)
{
	printf("crrfs %s\n", CRRFS_VERSION);
	return CLI_OK;
}

int main(int argc, char **argv)
{
	const char *self = argc > 0 ? strrchr(argv[0], '/') : NULL;
	char help[] = "--help";
	char *help_args[] = { NULL, NULL, help, NULL };
	const char *name;

	self = self ? self + 1 : (argc > 0 ? argv[0] : "crrfs");
	if (!strcmp(self, "mount.crrfs"))
		return cmd_mount_helper(argc, argv);
	if (argc < 2) {
		main_help(stderr);
		return CLI_USAGE;
	}
	name = argv[1];
	/* "crrfs help CMD" is "crrfs CMD --help". */
	if (!strcmp(name, "help") && argc > 2) {
		help_args[0] = argv[0];
		help_args[1] = argv[2];
		argc = 3;
		argv = help_args;
		name = argv[1];
	}
	if (!strcmp(name, "--help") || !strcmp(name, "-h") ||
	    !strcmp(name, "help")) {
		main_help(stdout);
		return CLI_OK;
	}
	if (!strcmp(name, "--version") || !strcmp(name, "-V") ||
	    !strcmp(name, "version"))
		return main_version();
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strcmp(name, commands[i].name))
			continue;
		if (!commands[i].run) {
			cli_err("'%s' is not available in this version of "
				"crrfs", name);
			return CLI_FAIL;
		}
		return commands[i].run(argc - 1, argv + 1);
	}
	cli_err("unknown command '%s'", name);
	fputs("Try 'crrfs --help'.\n", stderr);
	return CLI_USAGE;
}
