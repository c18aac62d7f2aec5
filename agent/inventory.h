/*
 * inventory.h - what the device reports about itself on every check-in:
 * {"os","os_release","arch","hw_model","agent_version","firmware_version",
 *  "model_version"}, all strings.
 *
 * hw_model: the override, else /sys/firmware/devicetree/base/model, else
 * /sys/class/dmi/id/product_name, else "unknown". firmware_version: the
 * override, else VERSION_ID from /etc/os-release, else "unknown".
 */
#ifndef AG_INVENTORY_H
#define AG_INVENTORY_H

#include <jansson.h>

#include "fairlead/err.h"

struct ag_inventory_opts {
	const char *hw_model;	      /* NULL: detect */
	const char *firmware_version; /* NULL: detect */
	const char *root;	      /* prefix for the files read; NULL: "" (tests) */
};

/* *out is a new object the caller owns. */
int ag_inventory_collect(json_t **out, const struct ag_inventory_opts *o, struct fl_err *err);

#endif
