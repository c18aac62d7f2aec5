#include "relstore_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* "commit 123456\0": the type and a decimal size fit in this, or the object
 * is not git's. */
#define HEADER_MAX 32

struct loose {
	const char *hex, *path;
	char header[HEADER_MAX];
	size_t header_len;
	int have_header;
	git_object_t type;
	uint64_t size, done;
};

static int unreadable(struct fl_err *err, const struct loose *l, const char *cause)
{
	return fl_err_set(err, FL_ERROR, "release store: object %s in %s is unreadable: %s", l->hex,
			  l->path, cause);
}

static int header_parse(struct loose *l, struct fl_err *err)
{
	char *sp = memchr(l->header, ' ', l->header_len), *end;
	unsigned long long n;

	if (!sp)
		return unreadable(err, l, "bad header");
	*sp = '\0';
	l->type = git_object_string2type(l->header);
	if (l->type != GIT_OBJECT_BLOB && l->type != GIT_OBJECT_TREE &&
	    l->type != GIT_OBJECT_COMMIT && l->type != GIT_OBJECT_TAG)
		return unreadable(err, l, "bad header: unknown type");
	errno = 0;
	n = strtoull(sp + 1, &end, 10);
	if (errno || end == sp + 1 || *end != '\0' || sp[1] == '-' || sp[1] == '+')
		return unreadable(err, l, "bad header: bad size");
	l->size = n;
	l->have_header = 1;
	return 0;
}

/* Takes n inflated bytes: the header first, then content for the sink. */
static int take(struct loose *l, const char *p, size_t n, cp_relstore_sink_fn sink, void *ctx,
		struct fl_err *err)
{
	int rc;

	while (!l->have_header && n > 0) {
		if (*p == '\0') {
			if ((rc = header_parse(l, err)) < 0)
				return rc;
		} else if (l->header_len + 1 >= sizeof(l->header)) {
			return unreadable(err, l, "bad header: too long");
		} else {
			l->header[l->header_len++] = *p;
			l->header[l->header_len] = '\0';
		}
		p++;
		n--;
	}
	if (n == 0)
		return 0;
	if ((uint64_t)n > l->size - l->done)
		return unreadable(err, l, "longer than its header says");
	l->done += n;
	return sink ? sink(ctx, p, n, err) : 0;
}

int cp_relstore_loose_read(git_object_t *type_out, uint64_t *size_out, struct cp_relstore *rs,
			   const git_oid *id, int header_only, cp_relstore_sink_fn sink, void *ctx,
			   struct fl_err *err)
{
	char hex[GIT_OID_HEXSZ + 1], path[PATH_MAX], cause[96];
	struct loose l = {.hex = hex, .path = path};
	unsigned char *in = NULL, *out = NULL;
	z_stream zs;
	int fd = -1, z_ok = 0, eof = 0, zr = Z_OK, rc = 0;

	*type_out = GIT_OBJECT_INVALID;
	*size_out = 0;
	git_oid_tostr(hex, sizeof(hex), id);
	if ((size_t)snprintf(path, sizeof(path), "%s/%.2s/%s", rs->objects_dir, hex, hex + 2) >=
	    sizeof(path))
		return fl_err_set(err, FL_ETOOBIG, "release store: object path is too long");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return FL_ENOTFOUND; /* not loose: packed, or missing */
	if (fd < 0)
		return unreadable(err, &l, strerror(errno));
	memset(&zs, 0, sizeof(zs));
	in = malloc(CHUNK);
	out = malloc(CHUNK);
	if (!in || !out) {
		rc = fl_err_set(err, FL_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (inflateInit(&zs) != Z_OK) {
		rc = fl_err_set(err, FL_ENOMEM, "release store: cannot start zlib");
		goto cleanup;
	}
	z_ok = 1;
	/* Every turn reads input, yields output or ends: the file's length and
	 * the header's size bound the loop, whatever the bytes are. */
	while (zr != Z_STREAM_END && !(header_only && l.have_header)) {
		uInt in_before, out_n;

		if (zs.avail_in == 0 && !eof) {
			ssize_t n = read(fd, in, CHUNK);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = unreadable(err, &l, strerror(errno));
				goto cleanup;
			}
			eof = n == 0;
			zs.next_in = in;
			zs.avail_in = (uInt)n;
		}
		in_before = zs.avail_in;
		zs.next_out = out;
		zs.avail_out = (uInt)CHUNK;
		zr = inflate(&zs, Z_NO_FLUSH);
		out_n = (uInt)CHUNK - zs.avail_out;
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
			snprintf(cause, sizeof(cause), "corrupt zlib stream (%s)",
				 zs.msg ? zs.msg : "error");
			rc = unreadable(err, &l, cause);
			goto cleanup;
		}
		if ((rc = take(&l, (const char *)out, out_n, sink, ctx, err)) < 0)
			goto cleanup;
		if (zr != Z_STREAM_END && out_n == 0 && zs.avail_in == in_before &&
		    (eof || in_before > 0)) {
			rc = unreadable(err, &l,
					eof ? "truncated (the zlib stream ends early)"
					    : "corrupt zlib stream (no progress)");
			goto cleanup;
		}
	}
	if (!l.have_header) {
		rc = unreadable(err, &l, "truncated (no header)");
		goto cleanup;
	}
	if (!header_only && l.done != l.size) {
		snprintf(cause, sizeof(cause), "%llu of %llu bytes", (unsigned long long)l.done,
			 (unsigned long long)l.size);
		rc = unreadable(err, &l, cause);
		goto cleanup;
	}
	*type_out = l.type;
	*size_out = l.size;
cleanup:
	if (z_ok)
		inflateEnd(&zs);
	free(out);
	free(in);
	close(fd);
	return rc;
}

int cp_relstore_object_check(struct cp_relstore *rs, const git_oid *id, git_object_t want,
			     int header_only, struct fl_err *err)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_object_t type;
	uint64_t size;
	int rc;

	git_oid_tostr(hex, sizeof(hex), id);
	rc = cp_relstore_loose_read(&type, &size, rs, id, header_only, NULL, NULL, err);
	if (rc == FL_ENOTFOUND) {
		/* Packed objects are libgit2's to read: it checks their CRCs. */
		if (git_odb_exists(rs->odb, id))
			return 0;
		return fl_err_set(err, FL_ERROR,
				  "release store: object %s in %s is unreadable: missing", hex,
				  rs->objects_dir);
	}
	if (rc < 0)
		return rc;
	if (want != GIT_OBJECT_ANY && type != want)
		return fl_err_set(err, FL_ERROR,
				  "release store: object %s in %s is unreadable: a %s, not a %s",
				  hex, rs->objects_dir, git_object_type2string(type),
				  git_object_type2string(want));
	return 0;
}
