/*
 * format.c - STORE/format, and why the store refuses an index it cannot
 * trust rather than starting a new one.
 *
 * Design: data segments are raw bytes (a file's chunks, or small files
 * packed side by side) that name neither key nor version, so an index
 * cannot be rebuilt from them: the index is the only record of which
 * segments are used. An index that is missing, emptied, or made anew
 * would make every segment look orphaned, the mount would show an empty
 * tree, and the orphan collection (at open after a crash, and in fsck
 * --repair) would delete all the data. So:
 *   - STORE/format is written only once the new index is on the disk, so
 *     a format file means an index existed: without one (or with an
 *     index that has no store in it) the open is refused;
 *   - the format file names its index by the store's random tag
 *     ("index <8 hex>"), so an index made afresh (another tag) is
 *     refused too. A format file without that line (a store made before
 *     it existed) gets it at its next read-write open.
 * Refusals return -EUCLEAN and change nothing.
 *
 * The file is "crrfs-store <version>\n" and then "key value" lines; a
 * version other than FORMAT_VERSION is refused (a newer crrfs made it).
 * Unknown lines are ignored: a change that old versions must not
 * overlook bumps the version.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

#define FORMAT_MAGIC "crrfs-store "
#define FORMAT_VERSION 1
#define FORMAT_MAX 4096

/* The version token of line 1, printable and short, for a message. */
static void version_token(const char *p, char out[24])
{
	size_t i;

	for (i = 0; i < 23 && p[i] && p[i] != '\n'; i++)
		out[i] = p[i] >= 0x21 && p[i] <= 0x7e ? p[i] : '?';
	out[i] = '\0';
}

static int format_parse(const struct store *s, const char *path, char *buf,
			struct store_format *f)
{
	char *line, *save = NULL, ver[24], *end;
	unsigned long v;

	if (strncmp(buf, FORMAT_MAGIC, strlen(FORMAT_MAGIC))) {
		log_error("cannot open store '%s': '%s' is not a crrfs format "
			  "file (it does not start with '" FORMAT_MAGIC "')",
			  s->path, path);
		return -EUCLEAN;
	}
	version_token(buf + strlen(FORMAT_MAGIC), ver);
	errno = 0;
	v = strtoul(ver, &end, 10);
	if (!ver[0] || *end || errno || v != FORMAT_VERSION) {
		log_error("cannot open store '%s': '%s' says format version "
			  "%s, which this crrfs does not know (it knows "
			  "version %d)", s->path, path, ver[0] ? ver : "''",
			  FORMAT_VERSION);
		return -EPROTONOSUPPORT;
	}
	line = strtok_r(buf, "\n", &save);	/* line 1, checked above */
	while ((line = strtok_r(NULL, "\n", &save))) {
		unsigned long tag;

		if (strncmp(line, "index ", 6))
			continue;
		tag = strtoul(line + 6, &end, 16);
		if (*end || strlen(line + 6) != 8) {
			log_error("cannot open store '%s': '%s' has a bad "
				  "index line '%.40s'", s->path, path, line);
			return -EUCLEAN;
		}
		f->has_tag = true;
		f->tag = (uint32_t)tag;
	}
	return 0;
}

int store_format_read(const struct store *s, struct store_format *f)
{
	char path[SEG_PATH_MAX], *buf = malloc(FORMAT_MAX + 1);
	ssize_t n;
	int fd, rc;

	memset(f, 0, sizeof(*f));
	if (!buf)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/format", s->path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		log_error("cannot open store '%s': cannot read '%s': %s",
			  s->path, path, strerror(-rc));
		goto out;
	}
	n = read(fd, buf, FORMAT_MAX);
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc) {
		log_error("cannot open store '%s': cannot read '%s': %s",
			  s->path, path, strerror(-rc));
		goto out;
	}
	buf[n] = '\0';
	if (memchr(buf, '\0', (size_t)n))
		buf[0] = '\0';	/* binary: not ours, said below */
	rc = format_parse(s, path, buf, f);
out:
	free(buf);
	return rc;
}

/* Written to a temporary name and renamed: a crash leaves the old file
 * or the new one, never a torn one. */
int store_format_write(const struct store *s)
{
	char path[SEG_PATH_MAX], tmp[SEG_PATH_MAX + 8], text[64];
	int fd, rc = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/format", s->path);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(text, sizeof(text), FORMAT_MAGIC "%d\nindex %08" PRIx32 "\n",
		 FORMAT_VERSION, s->tag);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	n = write(fd, text, strlen(text));
	if (n != (ssize_t)strlen(text))
		rc = n < 0 ? -errno : -EIO;
	if (!rc && fsync(fd))
		rc = -errno;
	close(fd);
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (!rc) {
		fd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			if (fsync(fd))
				rc = -errno;
			close(fd);
		}
	}
out:
	if (rc)
		unlink(tmp);
	return rc;
}

static int seg_count_one(void *arg, uint64_t seg, const char *path)
{
	(void)seg;
	(void)path;
	(*(uint64_t *)arg)++;
	return 0;
}

int store_index_refuse_new(struct store *s)
{
	uint64_t n = 0;
	int rc = seg_scan(s, seg_count_one, &n);

	if (rc)
		log_error("cannot open store '%s': index is missing or empty, "
			  "and its data directory cannot be read (%s); "
			  "refusing to start a new index (nothing was changed)",
			  s->path, strerror(-rc));
	else if (n)
		log_error("cannot open store '%s': index is missing or empty "
			  "but %" PRIu64 " data segment%s; refusing to start "
			  "a new index over the data, which would lose it "
			  "(nothing was changed; put the index back from a "
			  "copy)", s->path, n,
			  n == 1 ? " exists" : "s exist");
	else
		log_error("cannot open store '%s': index is missing or empty; "
			  "refusing to start a new one, which would lose its "
			  "keys (nothing was changed; put the index back from "
			  "a copy, or remove the store to start afresh)",
			  s->path);
	return -EUCLEAN;
}

int store_index_present(struct store *s)
{
	char path[SEG_PATH_MAX];
	struct stat st;
	int rc;

	snprintf(path, sizeof(path), "%s/index/data.mdb", s->path);
	rc = stat(path, &st) ? -errno : 0;
	if (!rc && st.st_size > 0)
		return 0;
	if (rc && rc != -ENOENT) {
		log_error("cannot open store '%s': cannot look at '%s': %s",
			  s->path, path, strerror(-rc));
		return rc;
	}
	return store_index_refuse_new(s);
}

int store_index_tag_check(const struct store *s, const struct store_format *f)
{
	if (!f->has_tag || f->tag == s->tag)
		return 0;
	log_error("cannot open store '%s': its index does not belong to it "
		  "(the index is of store tag %08" PRIx32 ", '%s/format' "
		  "names %08" PRIx32 "); refusing to use it, which would lose "
		  "the data (nothing was changed; put the index back from a "
		  "copy)", s->path, s->tag, s->path, f->tag);
	return -EUCLEAN;
}
