/*
 * test_rules.c - the rule file loader and matcher (include/conf/rules.h).
 *
 * Table-driven: each bad file must be refused at the right line with the
 * right reason, and nothing returned; good files must give the right
 * structures, and rules_match the S3 answer for prefixes, tags,
 * priorities, disabled rules and delete markers.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "conf/rules.h"

static char tmpdir[] = "/tmp/crrfs-test-rules-XXXXXX";
static char file[PATH_MAX];

static void write_file(const char *text)
{
	FILE *f = fopen(file, "w");

	if (!f) {
		perror(file);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

static int load(const char *text, const char *store, struct rules **r,
		char *err, size_t errlen)
{
	write_file(text);
	return rules_load(file, store, r, err, errlen);
}

#define DEST_EU "[destination eu]\ntype = s3\nendpoint = https://s3.example\n" \
		"bucket = b\n"

struct bad_case {
	const char *text;
	unsigned line;
	const char *reason;
};

static const struct bad_case bad_cases[] = {
	{ "region = x\n", 1, "key 'region' is outside any section" },
	{ "[source]\nregion = a\n[source]\n", 3,
	  "duplicate section '[source]' (first at line 1)" },
	{ "[source]\nregoin = a\n", 2, "unknown key 'regoin'" },
	{ "[source x]\n", 1, "takes no name" },
	{ "[sauce]\n", 1, "unknown section '[sauce]'" },
	{ "[destination]\n", 1, "needs a name" },
	{ "[destination a/b]\n", 1, "bad destination name 'a/b'" },
	{ "[rule x\n", 1, "no ']'" },
	{ "[rule x] y\n", 1, "text after section header" },
	{ DEST_EU "[destination eu]\n", 5,
	  "duplicate section '[destination eu]' (first at line 1)" },
	{ DEST_EU "[rule a]\nstatus = enabled\ndestination = eu\n"
	  "[rule a]\n", 8, "duplicate section '[rule a]'" },
	{ DEST_EU "region = x\nregion = y\n", 6,
	  "duplicate key 'region' (first at line 5)" },
	{ DEST_EU "[rule a]\nstatus = enabled\nprefx = x\n", 7,
	  "unknown key 'prefx' in section '[rule a]'" },
	{ DEST_EU "[rule a]\nstatus = enabled\n", 5,
	  "rule 'a' names no destination" },
	{ DEST_EU "[rule a]\nstatus = enabled\ndestination = us\n", 7,
	  "rule 'a' names unknown destination 'us'" },
	{ DEST_EU "[rule a]\ndestination = eu\n", 5, "has no status" },
	{ DEST_EU "[rule a]\nstatus = on\n", 6,
	  "bad status 'on': expected enabled or disabled" },
	{ DEST_EU "[rule a]\nstatus = enabled\npriority = -1\n", 7,
	  "bad priority '-1'" },
	{ DEST_EU "[rule a]\nstatus = enabled\npriority = 1x\n", 7,
	  "bad priority '1x'" },
	{ DEST_EU "[rule a]\nstatus = enabled\npriority = 99999999999\n", 7,
	  "bad priority" },
	{ DEST_EU "[rule a]\nstatus = enabled\npriority = \n", 7,
	  "bad priority ''" },
	{ DEST_EU "[rule a]\nstatus = enabled\ndestination = eu\n"
	  "priority = 3\n[rule b]\nstatus = disabled\ndestination = eu\n"
	  "priority = 3\n", 12,
	  "rule 'b' has the same priority (3) as rule 'a' (line 5) for "
	  "destination 'eu'" },
	{ DEST_EU "[rule a]\nstatus = enabled\ndestination = eu\n"
	  "[rule b]\nstatus = enabled\ndestination = eu\n", 8,
	  "same priority (0)" },
	{ DEST_EU "[rule a]\nstatus = enabled\ndestination = eu\n"
	  "tag.p = x\ndelete_marker_replication = enabled\n", 9,
	  "has a tag filter (line 8): delete_marker_replication cannot be "
	  "enabled" },
	{ DEST_EU "[rule a]\nstatus = enabled\ndestination = eu\n"
	  "delete_marker_replication = yes\n", 8,
	  "bad delete_marker_replication 'yes'" },
	{ DEST_EU "[rule a]\nstatus = enabled\ntag.p = x\ntag.p = y\n", 8,
	  "duplicate key 'tag.p'" },
	{ DEST_EU "[rule a]\nstatus = enabled\ntag. = x\n", 7,
	  "bad tag name ''" },
	{ DEST_EU "[rule a]\nstatus = enabled\nprefix = /Tax\n", 7,
	  "bad prefix '/Tax'" },
	{ "[destination x]\ntype = ftp\n", 2,
	  "bad type 'ftp': expected s3 or dir" },
	{ "[destination x]\nendpoint = s3.example\n", 2,
	  "bad endpoint 's3.example'" },
	{ "[destination x]\nendpoint = https://\n", 2, "bad endpoint" },
	{ "[destination x]\nendpoint = http://127.0.0.1:99999999\n", 2,
	  "bad endpoint 'http://127.0.0.1:99999999': port '99999999' is not "
	  "in 1..65535" },
	{ "[destination x]\nendpoint = http://h:0\n", 2, "port '0' is not" },
	{ "[destination x]\nendpoint = http://h:\n", 2, "port '' is not" },
	{ "[destination x]\nendpoint = http://h:80x/\n", 2, "port '80x'" },
	{ "[destination x]\nendpoint = https://ak:sk@s3.example\n", 2,
	  "bad endpoint 'https://ak:sk@s3.example': user info ('user:pass@') "
	  "is not allowed; use 'credentials'" },
	{ "[destination x]\nendpoint = http://ak@h:80\n", 2, "user info" },
	{ "[destination x]\npath_style = yes\n", 2,
	  "bad path_style 'yes': expected true or false" },
	{ "[destination x]\nbucket = b\nendpoint = http://h\n", 1,
	  "destination 'x' has no type" },
	{ "[destination x]\ntype = s3\nbucket = b\n", 1,
	  "s3 destination 'x' has no endpoint" },
	{ "[destination x]\ntype = s3\nendpoint = http://h:9000\n", 1,
	  "s3 destination 'x' has no bucket" },
	{ "[destination x]\ntype = s3\nendpoint = http://h\nbucket = b\n"
	  "path = /srv/r\n", 5, "key 'path' is for dir destinations" },
	{ "[destination x]\ntype = dir\n", 1,
	  "dir destination 'x' has no path" },
	{ "[destination x]\ntype = dir\npath = srv/r\n", 3,
	  "bad path 'srv/r': expected an absolute path" },
	{ "[destination x]\ntype = dir\npath = /srv/r\nbucket = b\n", 4,
	  "key 'bucket' is for s3 destinations; 'x' is dir" },
	{ "[destination x]\ntype = dir\npath = /srv/r\n[rule a]\n"
	  "status = enabled\ndestination = x\nstorage_class = GLACIER\n", 7,
	  "key 'storage_class' is for s3 destinations; 'x' is dir" },
	{ DEST_EU "storage_class = a b\n", 5, "bad storage_class 'a b'" },
	{ DEST_EU "credentials = eu.cred\n", 5, "bad credentials" },
	{ "[source]\njust words\n", 2, "expected '[section]', 'key = value'" },
	/* An indented line is a key of its own, not a continuation. */
	{ "[source]\nregion = a\n  region = b\n", 3, "duplicate key 'region'" },
	/* The earliest problem wins, whichever check finds it. */
	{ "[rule a]\nstatus = enabled\ndestination = nowhere\n"
	  "[destination x]\ntype = dir\n", 3, "unknown destination" },
};

static void test_bad(void)
{
	char err[512], want[64];

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct rules *r = (struct rules *)1;
		int rc = load(c->text, NULL, &r, err, sizeof(err));

		snprintf(want, sizeof(want), "': line %u: ", c->line);
		if (rc != -EINVAL || r || !strstr(err, want) ||
		    !strstr(err, c->reason) ||
		    strncmp(err, "cannot load rule file '", 23)) {
			fprintf(stderr, "bad case %zu: rc %d, err \"%s\"; "
				"expected line %u and \"%s\"\n", i, rc, err,
				c->line, c->reason);
			check_failures++;
		}
	}
}

static void test_long_line(void)
{
	char text[1024], err[512];
	struct rules *r;

	snprintf(text, sizeof(text), "[source]\nregion = %0300d\n", 0);
	CHECK_EQ_INT(load(text, NULL, &r, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "line 2: line is longer than") != NULL);
}

static void test_missing_file(void)
{
	char err[512];
	struct rules *r;

	CHECK_EQ_INT(rules_load("/nonexistent/r.ini", NULL, &r, err,
				sizeof(err)), -ENOENT);
	CHECK(r == NULL);
	CHECK_EQ_STR(err, "cannot load rule file '/nonexistent/r.ini': "
			  "No such file or directory");
	CHECK_EQ_INT(rules_load(tmpdir, NULL, &r, err, sizeof(err)), -EISDIR);
}

static const char spec_example[] =
	"\xEF\xBB\xBF; the example of SPEC section 4\n"
	"[source]\n"
	"region = us-east-1\n"
	"\n"
	"[destination eu]\n"
	"type = s3                 ; s3 or dir\n"
	"endpoint = https://s3.eu-west-1.amazonaws.com\n"
	"region = eu-west-1\n"
	"bucket = backup-eu\n"
	"credentials = /etc/crrfs/eu.credentials   ; else AWS_*\n"
	"storage_class = STANDARD_IA\n"
	"; ca_file = ..., path_style = true\n"
	"\n"
	"[destination dr]\n"
	"  type = dir\n"
	"  path = /srv/replica-store\n"
	"\n"
	"[rule tax]\n"
	"status = enabled          ; enabled | disabled\n"
	"priority = 10\n"
	"prefix = Tax/             ; optional\n"
	"tag.project = alpha       ; optional, several are ANDed\n"
	"tag.year = 2024\n"
	"destination = eu\n"
	"delete_marker_replication = disabled\n"
	"storage_class = GLACIER_IR  ; optional override\n"
	"\n"
	"[rule all]\n"
	"status = enabled\n"
	"destination = dr\n"
	"delete_marker_replication = enabled\n"
	"\n"
	"[rule docs]\n"
	"status = enabled\n"
	"priority = 20\n"
	"prefix = Tax/docs/\n"
	"destination = eu\n"
	"delete_marker_replication = enabled\n"
	"\n"
	"[rule old]\n"
	"status = disabled\n"
	"priority = 30\n"
	"destination = eu\n";

static void test_good(void)
{
	char err[512];
	struct rules *r = NULL;
	const struct rules_rule *t;

	CHECK_EQ_INT(load(spec_example, NULL, &r, err, sizeof(err)), 0);
	if (!r) {
		fprintf(stderr, "%s\n", err);
		check_failures++;
		return;
	}
	CHECK_EQ_STR(r->path, file);
	CHECK_EQ_STR(r->source_region, "us-east-1");
	CHECK_EQ_INT(r->ndests, 2);
	CHECK_EQ_STR(r->dests[0].name, "eu");
	CHECK_EQ_INT(r->dests[0].type, RULES_DEST_S3);
	CHECK_EQ_STR(r->dests[0].endpoint, "https://s3.eu-west-1.amazonaws.com");
	CHECK_EQ_STR(r->dests[0].region, "eu-west-1");
	CHECK_EQ_STR(r->dests[0].bucket, "backup-eu");
	CHECK_EQ_STR(r->dests[0].credentials, "/etc/crrfs/eu.credentials");
	CHECK_EQ_STR(r->dests[0].storage_class, "STANDARD_IA");
	CHECK(r->dests[0].ca_file == NULL);
	CHECK(r->dests[0].profile == NULL);
	CHECK(!r->dests[0].path_style);
	CHECK_EQ_INT(r->dests[0].line, 5);
	CHECK_EQ_STR(r->dests[1].name, "dr");
	CHECK_EQ_INT(r->dests[1].type, RULES_DEST_DIR);
	CHECK_EQ_STR(r->dests[1].path, "/srv/replica-store");
	CHECK_EQ_INT(r->nrules, 4);
	t = &r->rules[0];
	CHECK_EQ_STR(t->id, "tax");
	CHECK(t->enabled);
	CHECK_EQ_INT(t->priority, 10);
	CHECK_EQ_STR(t->prefix, "Tax/");
	CHECK_EQ_INT(t->ntags, 2);
	CHECK_EQ_STR(t->tags[0].name, "project");
	CHECK_EQ_STR(t->tags[0].value, "alpha");
	CHECK_EQ_STR(t->tags[1].name, "year");
	CHECK_EQ_STR(t->tags[1].value, "2024");
	CHECK_EQ_INT(t->dest, 0);
	CHECK(!t->delete_markers);
	CHECK_EQ_STR(t->storage_class, "GLACIER_IR");
	CHECK_EQ_INT(t->line, 18);
	CHECK_EQ_STR(r->rules[1].prefix, "");
	CHECK_EQ_INT(r->rules[1].dest, 1);
	CHECK_EQ_INT(r->rules[1].priority, 0);
	CHECK(r->rules[1].delete_markers);
	CHECK(r->rules[1].storage_class == NULL);
	CHECK(!r->rules[3].enabled);
	CHECK_EQ_INT(rules_dest_find(r, "dr"), 1);
	CHECK_EQ_INT(rules_dest_find(r, "nope"), -1);
	rules_free(r);

	/* Empty files and comment-only files hold no rules. */
	CHECK_EQ_INT(load("", NULL, &r, err, sizeof(err)), 0);
	CHECK(r && r->ndests == 0 && r->nrules == 0 && !r->source_region);
	rules_free(r);
	CHECK_EQ_INT(load("; nothing\n# here\n\n", NULL, &r, err,
			  sizeof(err)), 0);
	rules_free(r);
	/* path_style, ca_file, profile; CRLF line ends. */
	CHECK_EQ_INT(load("[destination m]\r\ntype = s3\r\n"
			  "endpoint = http://127.0.0.1:7480\r\nbucket = b\r\n"
			  "path_style = true\r\nca_file = /etc/ca.pem\r\n"
			  "profile = rgw\r\n", NULL, &r, err, sizeof(err)), 0);
	if (r) {
		CHECK(r->dests[0].path_style);
		CHECK_EQ_STR(r->dests[0].endpoint, "http://127.0.0.1:7480");
		CHECK_EQ_STR(r->dests[0].ca_file, "/etc/ca.pem");
		CHECK_EQ_STR(r->dests[0].profile, "rgw");
	}
	rules_free(r);
}

static void test_self(void)
{
	char text[PATH_MAX + 128], err[512], store[PATH_MAX], alias[PATH_MAX];
	struct rules *r;

	snprintf(store, sizeof(store), "%s/store", tmpdir);
	snprintf(alias, sizeof(alias), "%s/alias", tmpdir);
	CHECK_EQ_INT(mkdir(store, 0700), 0);
	CHECK_EQ_INT(symlink(store, alias), 0);
	/* Through a symlink and a trailing slash: the same directory. */
	snprintf(text, sizeof(text), "[destination d]\ntype = dir\n"
		 "path = %s/\n", alias);
	CHECK_EQ_INT(load(text, store, &r, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "line 3: destination 'd' is the store itself") !=
	      NULL);
	/* Without a store (rules check), or for another store: fine. */
	CHECK_EQ_INT(load(text, NULL, &r, err, sizeof(err)), 0);
	rules_free(r);
	CHECK_EQ_INT(load(text, tmpdir, &r, err, sizeof(err)), 0);
	rules_free(r);
}

static const char *winner(const struct rules_choice *c)
{
	return c->rule ? c->rule->id : "-";
}

static void test_match(void)
{
	static const struct rules_tag alpha[] = {
		{ "project", "alpha" }, { "year", "2024" },
	};
	static const struct rules_tag alpha_only[] = { { "project", "alpha" } };
	static const struct rules_tag beta[] = {
		{ "year", "2024" }, { "project", "beta" },
	};
	struct rules_choice c[2];
	char err[512];
	struct rules *r;

	CHECK_EQ_INT(load(spec_example, NULL, &r, err, sizeof(err)), 0);
	if (!r)
		return;
	/* Every key goes to dr through 'all'; Tax/ with both tags to eu. */
	CHECK_EQ_INT(rules_match(r, "Tax/2024.pdf", alpha, 2, c), 2);
	CHECK_EQ_STR(winner(&c[0]), "tax");
	CHECK_EQ_STR(winner(&c[1]), "all");
	CHECK(!c[0].delete_markers);
	CHECK(c[1].delete_markers);
	/* Tags are ANDed, in any order; a missing or wrong one misses. */
	CHECK_EQ_INT(rules_match(r, "Tax/2024.pdf", alpha_only, 1, c), 1);
	CHECK_EQ_STR(winner(&c[0]), "-");
	CHECK_EQ_INT(rules_match(r, "Tax/2024.pdf", beta, 2, c), 1);
	CHECK_EQ_STR(winner(&c[0]), "-");
	/* The prefix is a prefix of the key, byte for byte. */
	CHECK_EQ_INT(rules_match(r, "tax/2024.pdf", alpha, 2, c), 1);
	CHECK_EQ_STR(winner(&c[0]), "-");
	CHECK_EQ_INT(rules_match(r, "Tax", alpha, 2, c), 1);
	CHECK_EQ_STR(winner(&c[0]), "-");
	/* Both tax and docs match: docs has the higher priority. */
	CHECK_EQ_INT(rules_match(r, "Tax/docs/a", alpha, 2, c), 2);
	CHECK_EQ_STR(winner(&c[0]), "docs");
	CHECK(c[0].delete_markers);
	/* A delete marker has no tags: docs (no tag filter) still ships
	 * it; 'old' (priority 30, no filter) is disabled and never wins. */
	CHECK_EQ_INT(rules_match(r, "Tax/docs/a", NULL, 0, c), 2);
	CHECK_EQ_STR(winner(&c[0]), "docs");
	CHECK_EQ_INT(rules_match(r, "Tax/2024.pdf", NULL, 0, c), 1);
	CHECK_EQ_STR(winner(&c[0]), "-");
	CHECK(!c[0].delete_markers);
	CHECK(rules_rule_matches(&r->rules[3], "anything", NULL, 0));
	CHECK(!rules_rule_matches(&r->rules[0], "Tax/x", alpha_only, 1));
	rules_free(r);

	/* A lower-priority rule wins where the higher one's filter misses;
	 * the winner's delete marker setting is the one that counts. */
	CHECK_EQ_INT(load("[destination d]\ntype = dir\npath = /r\n"
			  "[rule hi]\nstatus = enabled\npriority = 5\n"
			  "prefix = a/\ndestination = d\n"
			  "[rule lo]\nstatus = enabled\npriority = 1\n"
			  "destination = d\ndelete_marker_replication = "
			  "enabled\n", NULL, &r, err, sizeof(err)), 0);
	if (!r)
		return;
	CHECK_EQ_INT(rules_match(r, "a/x", NULL, 0, c), 1);
	CHECK_EQ_STR(winner(&c[0]), "hi");
	CHECK(!c[0].delete_markers);
	CHECK_EQ_INT(rules_match(r, "b/x", NULL, 0, c), 1);
	CHECK_EQ_STR(winner(&c[0]), "lo");
	CHECK(c[0].delete_markers);
	rules_free(r);
}

int main(void)
{
	char path[PATH_MAX];

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(file, sizeof(file), "%s/rules.ini", tmpdir);
	test_bad();
	test_long_line();
	test_missing_file();
	test_good();
	test_self();
	test_match();
	unlink(file);
	snprintf(path, sizeof(path), "%s/alias", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/store", tmpdir);
	rmdir(path);
	rmdir(tmpdir);
	return check_done("test_rules");
}
