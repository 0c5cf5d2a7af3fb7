/*
 * boinc_upload.c - BOINC's upload requests read, answered and stored (see
 * boinc_upload.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "server-tools/boinc_key.h"
#include "server-tools/boinc_upload.h"
#include "server-tools/boinc_xml.h"

#define DATA_TAG "<data>\n"

int boinc_upload_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > BOINC_UPLOAD_NAME_MAX || name[0] == '.')
		return 0;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
	       n;
}

static int get_u64(const struct boinc_xml_node *n, const char *name, uint64_t *out,
		   struct error *err)
{
	double d;
	int64_t v;
	int ret = boinc_xml_child_i64(n, name, 0, INT64_C(1) << 40, &v, err);

	if (ret == ERROR_FORMAT) { /* BOINC writes sizes as doubles ("1234.000000") */
		ret = boinc_xml_child_double(n, name, 0, 1099511627776.0, &d, err);
		if (ret == 0 && d != (double)(int64_t)d)
			ret = error_set(err, ERROR_FORMAT, "<%s> is not a whole number", name);
		v = (int64_t)d;
	}
	if (ret == 0)
		*out = (uint64_t)v;
	return ret;
}

static int parse_upload(struct boinc_upload_request *r, const struct boinc_xml_node *up,
			struct error *err)
{
	const struct boinc_xml_node *fi = boinc_xml_child(up, "file_info");
	int ret;

	r->kind = BOINC_UPLOAD_DATA;
	if (!fi)
		return error_set(err, ERROR_MISSING, "no <file_info> in the upload");
	if ((ret = boinc_xml_child_str(fi, "name", r->name, sizeof(r->name), err)) < 0 ||
	    (ret = get_u64(up, "nbytes", &r->nbytes, err)) < 0 ||
	    (ret = get_u64(up, "offset", &r->offset, err)) < 0)
		return ret;
	ret = boinc_xml_child_str(up, "md5_cksum", r->md5, sizeof(r->md5), err);
	if (ret < 0 && ret != ERROR_MISSING)
		return ret;
	if (r->md5[0] && strlen(r->md5) != 32)
		return error_set(err, ERROR_FORMAT, "<md5_cksum> is not 32 hex digits");
	if (r->offset > r->nbytes)
		return error_set(err, ERROR_RANGE, "offset %llu is past the file's %llu bytes",
				 (unsigned long long)r->offset, (unsigned long long)r->nbytes);
	if (!boinc_xml_child(up, "data"))
		return error_set(err, ERROR_MISSING, "no <data> in the upload");
	return 0;
}

int boinc_upload_parse(struct boinc_upload_request *r, const void *body, size_t len,
		       struct error *err)
{
	struct boinc_xml_caps caps = boinc_xml_default_caps;
	const struct boinc_xml_node *root, *up;
	const char *data = memmem(body,
				  len < BOINC_UPLOAD_HEADER_MAX + sizeof(DATA_TAG)
				      ? len
				      : BOINC_UPLOAD_HEADER_MAX + sizeof(DATA_TAG),
				  DATA_TAG, strlen(DATA_TAG));
	struct boinc_xml *x = NULL;
	size_t head = data ? (size_t)(data - (const char *)body) + strlen(DATA_TAG) : len;
	int ret;

	memset(r, 0, sizeof(*r));
	if (head > BOINC_UPLOAD_HEADER_MAX + strlen(DATA_TAG))
		return error_set(err, ERROR_TOO_BIG, "upload request header over %u bytes",
				 BOINC_UPLOAD_HEADER_MAX);
	caps.max_bytes = BOINC_UPLOAD_HEADER_MAX + strlen(DATA_TAG);
	caps.max_nodes = 200;
	ret = data ? boinc_xml_parse_prefix(&x, body, head, &caps, err)
		   : boinc_xml_parse(&x, body, len, &caps, err);
	if (ret < 0)
		return ret;
	root = boinc_xml_root(x);
	if (strcmp(root->name, "data_server_request") != 0) {
		ret = error_set(err, ERROR_FORMAT, "not a data server request: <%s>", root->name);
		goto out;
	}
	if (boinc_xml_child(root, "get_file_size")) {
		r->kind = BOINC_UPLOAD_GET_SIZE;
		ret = boinc_xml_child_str(root, "get_file_size", r->name, sizeof(r->name), err);
	} else if ((up = boinc_xml_child(root, "file_upload")) != NULL) {
		ret = data ? parse_upload(r, up, err)
			   : error_set(err, ERROR_FORMAT, "an upload without <data>");
		r->data_at = head;
	} else {
		ret = error_set(err, ERROR_FORMAT, "neither <get_file_size> nor <file_upload>");
	}
	if (ret == 0 && !boinc_upload_name_ok(r->name))
		ret = error_set(err, ERROR_FORMAT, "bad file name '%.40s'", r->name);
out:
	boinc_xml_free(x);
	return ret;
}

long boinc_upload_reply(char *buf, size_t size, int status, int64_t file_size, const char *message)
{
	char esc[512], fs[64] = "";
	long n;
	int w;

	esc[0] = '\0';
	if (message && boinc_xml_escape(esc, sizeof(esc), message) < 0)
		esc[0] = '\0';
	if (file_size >= 0)
		snprintf(fs, sizeof(fs), "    <file_size>%lld</file_size>\n", (long long)file_size);
	w = snprintf(buf, size,
		     "<data_server_reply>\n    <status>%d</status>\n%s%s%s%s"
		     "</data_server_reply>\n",
		     status, fs, esc[0] ? "    <message>" : "", esc, esc[0] ? "</message>\n" : "");
	n = w;
	return w < 0 || (size_t)w >= size ? -1 : n;
}

int boinc_upload_size(const char *dir, const char *name, uint64_t *size, struct error *err)
{
	char path[FILEIO_PATH_MAX];
	struct stat st;

	*size = 0;
	if (!boinc_upload_name_ok(name))
		return error_set(err, ERROR_FORMAT, "bad file name");
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0
				       : error_set(err, ERROR_IO, "cannot stat '%s': %s", path,
						   strerror(errno));
	*size = (uint64_t)st.st_size;
	return 0;
}

int boinc_upload_store(const char *dir, const struct boinc_upload_request *r, const void *data,
		       size_t len, uint64_t *size, struct error *err)
{
	char path[FILEIO_PATH_MAX], md5[BOINC_MD5_HEX + 1];
	uint64_t have;
	int fd, ret;

	if ((ret = boinc_upload_size(dir, r->name, &have, err)) < 0)
		return ret;
	if (have != r->offset)
		return error_set(err, ERROR_STATE, "'%s' has %llu bytes, the upload starts at %llu",
				 r->name, (unsigned long long)have, (unsigned long long)r->offset);
	if (len > r->nbytes - r->offset)
		return error_set(err, ERROR_RANGE, "more bytes than the file's %llu",
				 (unsigned long long)r->nbytes);
	snprintf(path, sizeof(path), "%s/%s", dir, r->name);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd < 0)
		return error_set(err, ERROR_IO, "cannot open '%s': %s", path, strerror(errno));
	if ((len && write(fd, data, len) != (ssize_t)len) || fsync(fd) < 0) {
		ret = error_set(err, ERROR_IO, "cannot write '%s': %s", path, strerror(errno));
		close(fd);
		return ret;
	}
	close(fd);
	*size = have + len;
	if (*size == r->nbytes && r->md5[0]) {
		if ((ret = boinc_md5_file(path, md5, NULL, err)) < 0)
			return ret;
		if (strcasecmp(md5, r->md5) != 0) {
			unlink(path);
			return error_set(err, ERROR_HASH, "'%s': MD5 %s, the client says %s",
					 r->name, md5, r->md5);
		}
	}
	return 0;
}
