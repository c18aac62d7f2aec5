#include "agent/inventory.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "fairlead/buf.h"
#include "fairlead/fs.h"
#include "agent/state.h"

/* Reads the first line of root/path into out, trimmed of the NUL and white
 * space that devicetree and sysfs leave at the end. 0 when found non-empty. */
static int read_line(char *out, size_t cap, const char *root, const char *path)
{
	struct fl_buf b = FL_BUF_INIT;
	char full[AG_PATH_MAX];
	size_t n;
	int rc = -1;

	snprintf(full, sizeof(full), "%s%s", root, path);
	fl_buf_init(&b, 4096);
	if (fl_fs_read(&b, full, NULL) < 0 || b.len == 0)
		goto cleanup;
	n = strcspn(b.ptr, "\n"); /* stops at the first NUL as well */
	while (n > 0 && isspace((unsigned char)b.ptr[n - 1]))
		n--;
	if (n == 0)
		goto cleanup;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, b.ptr, n);
	out[n] = '\0';
	rc = 0;
cleanup:
	fl_buf_release(&b);
	return rc;
}

/* VERSION_ID from an os-release file, unquoted. */
static int os_release_version(char *out, size_t cap, const char *root)
{
	struct fl_buf b = FL_BUF_INIT;
	char full[AG_PATH_MAX];
	const char *line;
	int rc = -1;

	snprintf(full, sizeof(full), "%s%s", root, "/etc/os-release");
	fl_buf_init(&b, 65536);
	if (fl_fs_read(&b, full, NULL) < 0)
		goto cleanup;
	for (line = b.ptr; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		const char *v;
		size_t n;

		if (strncmp(line, "VERSION_ID=", 11) != 0)
			continue;
		v = line + 11;
		n = strcspn(v, "\n");
		if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
			v++;
			n -= 2;
		}
		if (n == 0)
			break;
		if (n >= cap)
			n = cap - 1;
		memcpy(out, v, n);
		out[n] = '\0';
		rc = 0;
		break;
	}
cleanup:
	fl_buf_release(&b);
	return rc;
}

int ag_inventory_collect(json_t **out, const struct ag_inventory_opts *o, struct fl_err *err)
{
	const char *root = o && o->root ? o->root : "";
	char hw[256] = "unknown", fw[128] = "unknown";
	struct utsname u;
	json_t *inv;

	*out = NULL;
	if (uname(&u) != 0)
		return fl_err_set(err, FL_ERROR, "uname failed");
	if (o && o->hw_model && *o->hw_model)
		snprintf(hw, sizeof(hw), "%s", o->hw_model);
	else if (read_line(hw, sizeof(hw), root, "/sys/firmware/devicetree/base/model") < 0 &&
		 read_line(hw, sizeof(hw), root, "/sys/class/dmi/id/product_name") < 0)
		snprintf(hw, sizeof(hw), "unknown");
	if (o && o->firmware_version && *o->firmware_version)
		snprintf(fw, sizeof(fw), "%s", o->firmware_version);
	else if (os_release_version(fw, sizeof(fw), root) < 0)
		snprintf(fw, sizeof(fw), "unknown");

	inv = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "os", u.sysname, "os_release", u.release,
			"arch", u.machine, "hw_model", hw, "agent_version", FL_VERSION,
			"firmware_version", fw, "model_version", "none");
	if (!inv)
		return fl_err_set(err, FL_ENOMEM, "out of memory (or a non-UTF-8 inventory value)");
	*out = inv;
	return 0;
}
