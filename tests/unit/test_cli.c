/*
 * test_cli.c - the CLI's pure helpers: JSON string escaping (any bytes in,
 * valid JSON out), absolute paths, times, and the -o option table.
 */
#include "check.h"
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static char *json_of(const char *s, size_t len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	cli_json_string(f, s, len);
	fclose(f);
	return buf;
}

static void test_json(void)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
		{ "plain.txt", 9, "\"plain.txt\"" },
		{ "a\"b\\c", 5, "\"a\\\"b\\\\c\"" },
		{ "tab\there\nnl", 11, "\"tab\\there\\nnl\"" },
		{ "\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\"" },
		{ "nul\0x", 5, "\"nul\\u0000x\"" },
		{ "caf\xc3\xa9", 5, "\"caf\xc3\xa9\"" },		/* UTF-8 kept */
		{ "\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\"" },	/* 4 bytes */
		{ "bad\xff", 4, "\"bad\\u00ff\"" },
		{ "\xc3", 1, "\"\\u00c3\"" },			/* truncated */
		{ "\xc0\xaf", 2, "\"\\u00c0\\u00af\"" },		/* overlong */
		{ "\xed\xa0\x80", 3, "\"\\u00ed\\u00a0\\u0080\"" },	/* surrogate */
		{ "\xf4\x90\x80\x80", 4,
		  "\"\\u00f4\\u0090\\u0080\\u0080\"" },		/* > U+10FFFF */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = json_of(cases[i].in, cases[i].len);

		CHECK_EQ_STR(got, cases[i].out);
		free(got);
	}
}

static void test_abspath(void)
{
	char cwd[4096], want[4200];
	char *p;

	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	p = cli_abspath("/a//b/./c/");
	CHECK_EQ_STR(p, "/a/b/c");
	free(p);
	p = cli_abspath("/");
	CHECK_EQ_STR(p, "/");
	free(p);
	p = cli_abspath("x/../y");
	snprintf(want, sizeof(want), "%s/x/../y", strcmp(cwd, "/") ? cwd : "");
	CHECK_EQ_STR(p, want);
	free(p);
}

static void test_time(void)
{
	char out[32];

	cli_format_time(0, out);
	CHECK_EQ_STR(out, "1970-01-01T00:00:00.000Z");
	cli_format_time(1795321512123LL, out);
	CHECK_EQ_STR(out, "2026-11-22T04:25:12.123Z");
}

static void test_mount_opts(void)
{
	struct cli_mount_opts m;

	cli_mount_opts_init(&m);
	CHECK(m.fs.create);
	CHECK_EQ_INT(cli_mount_opts_add(&m, "rw,defaults,_netdev,x-systemd.a=b,"
					"allow_purge,threads=4", false), 0);
	CHECK_EQ_INT(cli_mount_opts_add(&m, "ro,attr_timeout=0,"
					"entry_timeout=0.5,allow_other", false), 0);
	CHECK(m.fs.allow_purge);
	CHECK(m.fs.read_only);
	CHECK_EQ_INT(m.fs.max_threads, 4);
	CHECK(m.fs.attr_timeout == 0);
	CHECK(m.fs.entry_timeout == 0.5);
	CHECK_EQ_INT(cli_mount_opts_finish(&m, "/srv/s", "/mnt"), 0);
	CHECK_EQ_STR(m.fs.fuse_opts,
		     "allow_other,default_permissions,subtype=crrfs,"
		     "fsname=/srv/s");
	CHECK_EQ_STR(m.fs.store_path, "/srv/s");
	cli_mount_opts_release(&m);

	/* Unknown options and bad values are errors, unless sloppy. */
	cli_mount_opts_init(&m);
	CHECK_EQ_INT(cli_mount_opts_add(&m, "allow_prge", false), -EINVAL);
	CHECK_EQ_INT(cli_mount_opts_add(&m, "allow_prge", true), 0);
	CHECK_EQ_INT(cli_mount_opts_add(&m, "threads=0", false), -EINVAL);
	CHECK_EQ_INT(cli_mount_opts_add(&m, "threads=4x", false), -EINVAL);
	CHECK_EQ_INT(cli_mount_opts_add(&m, "attr_timeout=-1", false),
		     -EINVAL);
	CHECK_EQ_INT(cli_mount_opts_add(&m, "nocreate,fsname=x", false), 0);
	CHECK(!m.fs.create);
	CHECK_EQ_INT(cli_mount_opts_finish(&m, "/a,b", "/mnt"), 0);
	CHECK_EQ_STR(m.fs.fuse_opts, "fsname=x,subtype=crrfs");
	cli_mount_opts_release(&m);

	/* default_permissions given as well is not said twice */
	cli_mount_opts_init(&m);
	CHECK_EQ_INT(cli_mount_opts_add(&m, "default_permissions,allow_other",
					false), 0);
	CHECK_EQ_INT(cli_mount_opts_finish(&m, "/a,b", "/mnt"), 0);
	CHECK_EQ_STR(m.fs.fuse_opts,
		     "default_permissions,allow_other,subtype=crrfs");
	cli_mount_opts_release(&m);
}

int main(void)
{
	test_json();
	test_abspath();
	test_time();
	test_mount_opts();
	return check_done("test_cli");
}
