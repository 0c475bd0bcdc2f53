/*
 * codec.c - the byte layout of objects and version records.
 *
 * Design: a version byte, then fixed-width fields in host byte order
 * (little-endian on every machine we build for), then the variable parts
 * with explicit lengths. Decoding checks every length against the buffer
 * before use, so a corrupt record is -EIO and never a read out of bounds;
 * decoded views point into the buffer (no copies, no allocation).
 */
#include "store_int.h"

#include <errno.h>
#include <string.h>

#define OBJ_FORMAT 1
#define VREC_FORMAT 1

/* fixed part: fmt, type, flags, pad, parent, head, namelen */
#define OBJ_FIXED (4 + 8 + 8 + 2)
/*
 * After the name, an optional tail: one byte of enum obj_ext, then the
 * parts it names. Records written before the tail existed simply end at
 * the name (ino = oid, folder fields unknown), and readers that predate
 * it ignore it.
 */
enum obj_ext {
	EXT_INO = 1 << 0,	/* u64 ino */
	EXT_DIR = 1 << 1,	/* i64 dmtime, i64 dctime, u64 nsubdirs */
};
_Static_assert(OBJ_FIXED + STORE_NAME_MAX + 1 + 8 + 24 <= OBJ_ENCODED_MAX,
	       "OBJ_ENCODED_MAX too small");
/* fixed part: fmt(4: fmt u8 + 3 pad) flags vid btime deadline
 * mode uid gid size atime mtime ctime sha nruns */
#define VREC_FIXED (4 + 4 + STORE_VID_LEN + 8 + 8 + 12 + 8 + 24 + 32 + 4)

void be64_put(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

uint64_t be64_get(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

uint16_t host16_get(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

uint32_t host32_get(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

uint64_t host64_get(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* Writer and reader cursors: memcpy keeps unaligned access legal. */
#define PUT(p, x) do { memcpy((p), &(x), sizeof(x)); (p) += sizeof(x); } while (0)

struct rd {
	const uint8_t *p, *end;
	bool bad;
};

static void rd_get(struct rd *r, void *out, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		memset(out, 0, n);
		return;
	}
	memcpy(out, r->p, n);
	r->p += n;
}

static const uint8_t *rd_take(struct rd *r, size_t n)
{
	const uint8_t *q = r->p;

	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	return q;
}

static unsigned obj_ext(const struct obj *o)
{
	return (o->ino ? EXT_INO : 0) |
	       (o->type == STORE_T_DIR && o->dir_known ? EXT_DIR : 0);
}

size_t obj_encoded_size(const struct obj *o)
{
	unsigned ext = obj_ext(o);

	if (!ext)
		return OBJ_FIXED + o->namelen;
	return OBJ_FIXED + o->namelen + 1 + (ext & EXT_INO ? 8 : 0) +
	       (ext & EXT_DIR ? 24 : 0);
}

void obj_encode(const struct obj *o, uint8_t *out)
{
	uint8_t *p = out;
	unsigned ext;

	*p++ = OBJ_FORMAT;
	*p++ = o->type;
	*p++ = o->flags;
	*p++ = 0;
	PUT(p, o->parent);
	PUT(p, o->head);
	PUT(p, o->namelen);
	memcpy(p, o->name, o->namelen);
	p += o->namelen;
	ext = obj_ext(o);
	if (!ext)
		return;
	*p++ = (uint8_t)ext;
	if (ext & EXT_INO)
		PUT(p, o->ino);
	if (ext & EXT_DIR) {
		PUT(p, o->dmtime_ns);
		PUT(p, o->dctime_ns);
		PUT(p, o->nsubdirs);
	}
}

static int obj_decode_ext(struct rd *r, struct obj *o)
{
	uint8_t ext = 0;

	o->ino = 0;
	o->ino_given = false;
	o->dir_known = false;
	o->dmtime_ns = o->dctime_ns = 0;
	o->nsubdirs = 0;
	if (r->p < r->end)
		rd_get(r, &ext, 1);
	if (ext & EXT_INO)
		rd_get(r, &o->ino, 8);
	if (ext & EXT_DIR) {
		rd_get(r, &o->dmtime_ns, 8);
		rd_get(r, &o->dctime_ns, 8);
		rd_get(r, &o->nsubdirs, 8);
		o->dir_known = true;
	}
	return r->bad ? -EIO : 0;
}

int obj_decode(const void *buf, size_t len, struct obj *o)
{
	struct rd r = { buf, (const uint8_t *)buf + len, false };
	uint8_t hdr[4];
	const uint8_t *name;

	rd_get(&r, hdr, 4);
	rd_get(&r, &o->parent, 8);
	rd_get(&r, &o->head, 8);
	rd_get(&r, &o->namelen, 2);
	if (r.bad || hdr[0] != OBJ_FORMAT || o->namelen > STORE_NAME_MAX)
		return -EIO;
	name = rd_take(&r, o->namelen);
	if (!name || hdr[1] < STORE_T_FILE || hdr[1] > STORE_T_SYMLINK)
		return -EIO;
	o->type = hdr[1];
	o->flags = hdr[2];
	memcpy(o->name, name, o->namelen);
	o->name[o->namelen] = '\0';
	return obj_decode_ext(&r, o);
}

size_t vrec_encoded_size(const struct vrec *v)
{
	return VREC_FIXED + (size_t)v->nruns * RUN_BYTES + 4 + v->xlen + 4 +
	       v->tlen;
}

void vrec_encode(const struct vrec *v, uint8_t *out)
{
	uint8_t *p = out;

	*p++ = VREC_FORMAT;
	*p++ = 0;
	*p++ = 0;
	*p++ = 0;
	PUT(p, v->flags);
	memcpy(p, v->vid, STORE_VID_LEN);
	p += STORE_VID_LEN;
	PUT(p, v->btime_ns);
	PUT(p, v->deadline_ns);
	PUT(p, v->attr.mode);
	PUT(p, v->attr.uid);
	PUT(p, v->attr.gid);
	PUT(p, v->attr.size);
	PUT(p, v->attr.atime_ns);
	PUT(p, v->attr.mtime_ns);
	PUT(p, v->attr.ctime_ns);
	memcpy(p, v->sha256, 32);
	p += 32;
	PUT(p, v->nruns);
	if (v->nruns)
		memcpy(p, v->runs, (size_t)v->nruns * RUN_BYTES);
	p += (size_t)v->nruns * RUN_BYTES;
	PUT(p, v->xlen);
	if (v->xlen)
		memcpy(p, v->xattrs, v->xlen);
	p += v->xlen;
	PUT(p, v->tlen);
	if (v->tlen)
		memcpy(p, v->target, v->tlen);
}

int vrec_decode(const void *buf, size_t len, struct vrec *v)
{
	struct rd r = { buf, (const uint8_t *)buf + len, false };
	uint8_t hdr[4];
	uint32_t off = 0;
	const char *n;
	const uint8_t *val;
	uint8_t nl;
	uint32_t vl;

	rd_get(&r, hdr, 4);
	rd_get(&r, &v->flags, 4);
	rd_get(&r, v->vid, STORE_VID_LEN);
	v->vid[STORE_VID_LEN] = '\0';
	rd_get(&r, &v->btime_ns, 8);
	rd_get(&r, &v->deadline_ns, 8);
	rd_get(&r, &v->attr.mode, 4);
	rd_get(&r, &v->attr.uid, 4);
	rd_get(&r, &v->attr.gid, 4);
	rd_get(&r, &v->attr.size, 8);
	rd_get(&r, &v->attr.atime_ns, 8);
	rd_get(&r, &v->attr.mtime_ns, 8);
	rd_get(&r, &v->attr.ctime_ns, 8);
	rd_get(&r, v->sha256, 32);
	rd_get(&r, &v->nruns, 4);
	if (r.bad || hdr[0] != VREC_FORMAT || v->nruns > (1u << 28))
		return -EIO;
	v->runs = rd_take(&r, (size_t)v->nruns * RUN_BYTES);
	rd_get(&r, &v->xlen, 4);
	v->xattrs = rd_take(&r, v->xlen);
	rd_get(&r, &v->tlen, 4);
	v->target = (const char *)rd_take(&r, v->tlen);
	if (r.bad)
		return -EIO;
	/* The xattr blob must walk cleanly to its end. */
	while (xattr_next(v->xattrs, v->xlen, &off, &n, &nl, &val, &vl) > 0)
		;
	if (off != v->xlen)
		return -EIO;
	return 0;
}

void run_at(const struct vrec *v, uint32_t i, struct run *r)
{
	memcpy(r, v->runs + (size_t)i * RUN_BYTES, RUN_BYTES);
}

void run_put(uint8_t *raw, uint32_t i, const struct run *r)
{
	memcpy(raw + (size_t)i * RUN_BYTES, r, RUN_BYTES);
}

uint64_t vrec_alloc_bytes(const struct vrec *v)
{
	uint64_t n = 0;
	struct run r;
	uint32_t i;

	for (i = 0; i < v->nruns; i++) {
		uint64_t start, end;

		run_at(v, i, &r);
		start = r.first * STORE_CHUNK;
		end = (r.first + r.count) * STORE_CHUNK;
		if (end > v->attr.size)
			end = v->attr.size;
		if (end > start)
			n += end - start;
	}
	return n;
}

int xattr_next(const uint8_t *x, uint32_t xlen, uint32_t *off,
	       const char **name, uint8_t *nlen, const uint8_t **val,
	       uint32_t *vlen)
{
	uint32_t o = *off;

	if (o >= xlen)
		return 0;
	if (xlen - o < 5)
		return -EIO;
	*nlen = x[o];
	memcpy(vlen, x + o + 1, 4);
	o += 5;
	if (*nlen == 0 || xlen - o < *nlen || xlen - o - *nlen < *vlen)
		return -EIO;
	*name = (const char *)x + o;
	*val = x + o + *nlen;
	*off = o + *nlen + *vlen;
	return 1;
}
