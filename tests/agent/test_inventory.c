/* Inventory: overrides, devicetree/DMI/os-release detection, fallbacks. */
#include <sys/utsname.h>

#include "agent_test.h"

#include "agent/inventory.h"
#include "fairlead/fs.h"

static void put(const char *root, const char *rel, const char *text, size_t len)
{
	char path[4096], dir[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	cr_assert(eq(int, fl_fs_mkdir_p(dir, 0755, NULL), 0));
	f = fopen(path, "wb");
	cr_assert(yes(f != NULL));
	fwrite(text, 1, len, f);
	fclose(f);
}

static const char *field(const json_t *inv, const char *k)
{
	const char *s = json_string_value(json_object_get(inv, k));

	cr_assert(yes(s != NULL), "missing %s", k);
	return s;
}

Test(agent_inventory, detects_from_files)
{
	const char *root = ag_test_tmpdir();
	struct ag_inventory_opts o = {NULL, NULL, root};
	struct fl_err err = {0};
	struct utsname u;
	json_t *inv = NULL;

	/* devicetree strings end in NUL */
	put(root, "/sys/firmware/devicetree/base/model", "Raspberry Pi 4 Model B\0", 23);
	put(root, "/sys/class/dmi/id/product_name", "ignored\n", 8);
	put(root, "/etc/os-release", "NAME=\"Debian\"\nVERSION_ID=\"12\"\nID=debian\n", 40);
	cr_assert(eq(int, ag_inventory_collect(&inv, &o, &err), 0), "%s", err.msg);
	uname(&u);
	cr_assert(eq(str, S(field(inv, "hw_model")), "Raspberry Pi 4 Model B"));
	cr_assert(eq(str, S(field(inv, "firmware_version")), "12"));
	cr_assert(eq(str, S(field(inv, "os")), u.sysname));
	cr_assert(eq(str, S(field(inv, "os_release")), u.release));
	cr_assert(eq(str, S(field(inv, "arch")), u.machine));
	cr_assert(eq(str, S(field(inv, "agent_version")), FL_VERSION));
	cr_assert(eq(str, S(field(inv, "model_version")), "none"));
	json_decref(inv);
}

Test(agent_inventory, dmi_fallback_and_unknowns)
{
	const char *root = ag_test_tmpdir();
	struct ag_inventory_opts o = {NULL, NULL, root};
	json_t *inv = NULL;

	cr_assert(eq(int, ag_inventory_collect(&inv, &o, NULL), 0));
	cr_assert(eq(str, S(field(inv, "hw_model")), "unknown"));
	cr_assert(eq(str, S(field(inv, "firmware_version")), "unknown"));
	json_decref(inv);

	put(root, "/sys/class/dmi/id/product_name", "KVM Box  \n", 10);
	put(root, "/etc/os-release", "VERSION_ID=3.19.1\n", 18);
	cr_assert(eq(int, ag_inventory_collect(&inv, &o, NULL), 0));
	cr_assert(eq(str, S(field(inv, "hw_model")), "KVM Box"));
	cr_assert(eq(str, S(field(inv, "firmware_version")), "3.19.1"));
	json_decref(inv);
}

Test(agent_inventory, overrides_win)
{
	const char *root = ag_test_tmpdir();
	struct ag_inventory_opts o = {"jetson-orin", "fw-2.4.0", root};
	json_t *inv = NULL;

	put(root, "/sys/firmware/devicetree/base/model", "Other\0", 6);
	cr_assert(eq(int, ag_inventory_collect(&inv, &o, NULL), 0));
	cr_assert(eq(str, S(field(inv, "hw_model")), "jetson-orin"));
	cr_assert(eq(str, S(field(inv, "firmware_version")), "fw-2.4.0"));
	json_decref(inv);
}
