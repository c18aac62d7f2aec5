/*
 * carbon.c - the SCI table: grid intensity per site, embodied emissions and
 * lifetime per hardware model.
 */
#include "carbon.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fairlead/buf.h"
#include "fairlead/fs.h"
#include "fairlead/json.h"
#include "fairlead/map.h"

#define YEAR_S (365.25 * 86400.0)

struct hw_entry {
	double embodied_g;
	double lifetime_s;
};

struct cp_carbon {
	double default_intensity;
	struct hw_entry default_hw;
	struct fl_map sites; /* name -> double * */
	struct fl_map hw;    /* name -> struct hw_entry * */
};

int cp_carbon_new(struct cp_carbon **out, struct fl_err *err)
{
	struct cp_carbon *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return fl_err_set(err, FL_ENOMEM, "out of memory");
	c->default_intensity = CP_CARBON_DEFAULT_INTENSITY;
	c->default_hw.embodied_g = CP_CARBON_DEFAULT_EMBODIED * 1000.0;
	c->default_hw.lifetime_s = CP_CARBON_DEFAULT_LIFETIME * YEAR_S;
	fl_map_init(&c->sites);
	fl_map_init(&c->hw);
	*out = c;
	return 0;
}

void cp_carbon_free(struct cp_carbon *c)
{
	const char *k;
	void *v;

	if (!c)
		return;
	for (size_t i = 0; fl_map_next(&c->sites, &i, &k, &v);)
		free(v);
	for (size_t i = 0; fl_map_next(&c->hw, &i, &k, &v);)
		free(v);
	fl_map_release(&c->sites);
	fl_map_release(&c->hw);
	free(c);
}

static int number(double *out, const json_t *v, int positive, const char *what, const char *key,
		  struct fl_err *err)
{
	double d;

	if (!json_is_number(v))
		return fl_err_set(err, FL_EINVAL, "carbon: %s '%s' must be a number", what, key);
	d = json_number_value(v);
	if (!isfinite(d) || d < 0 || (positive && d <= 0))
		return fl_err_set(err, FL_EINVAL, "carbon: %s '%s' must be %s", what, key,
				  positive ? "above 0" : "0 or more");
	*out = d;
	return 0;
}

static int parse_sites(struct cp_carbon *c, json_t *sites, struct fl_err *err)
{
	const char *k;
	json_t *v;
	int rc;

	if (!json_is_object(sites))
		return fl_err_set(err, FL_EINVAL,
				  "carbon: grid_intensity_g_per_kwh must be an object");
	if (json_object_size(sites) > CP_CARBON_MAX_ENTRIES)
		return fl_err_set(err, FL_EINVAL, "carbon: over %d sites", CP_CARBON_MAX_ENTRIES);
	json_object_foreach (sites, k, v) {
		double d = 0, *p;

		if ((rc = number(&d, v, 0, "grid intensity of site", k, err)) < 0)
			return rc;
		if (strcmp(k, "default") == 0) {
			c->default_intensity = d;
			continue;
		}
		if (!(p = malloc(sizeof(*p))))
			return fl_err_set(err, FL_ENOMEM, "out of memory");
		*p = d;
		if (fl_map_put(&c->sites, k, p, NULL) < 0) {
			free(p);
			return fl_err_set(err, FL_ENOMEM, "out of memory");
		}
	}
	return 0;
}

static int parse_hw(struct cp_carbon *c, json_t *hw, struct fl_err *err)
{
	static const char *const allowed[] = {"embodied_kg", "lifetime_years", NULL};
	const char *k;
	json_t *v;
	int rc;

	if (!json_is_object(hw))
		return fl_err_set(err, FL_EINVAL, "carbon: hardware must be an object");
	if (json_object_size(hw) > CP_CARBON_MAX_ENTRIES)
		return fl_err_set(err, FL_EINVAL, "carbon: over %d hardware models",
				  CP_CARBON_MAX_ENTRIES);
	json_object_foreach (hw, k, v) {
		struct hw_entry e = c->default_hw, *p;
		double kg = e.embodied_g / 1000.0, years = e.lifetime_s / YEAR_S;

		if (!json_is_object(v))
			return fl_err_set(err, FL_EINVAL, "carbon: hardware '%s' must be an object",
					  k);
		if ((rc = fl_json_only(v, allowed, err)) < 0) {
			fl_err_prefix(err, "carbon: hardware '%s'", k);
			return rc;
		}
		if (json_object_get(v, "embodied_kg") &&
		    (rc = number(&kg, json_object_get(v, "embodied_kg"), 0,
				 "embodied_kg of hardware", k, err)) < 0)
			return rc;
		if (json_object_get(v, "lifetime_years") &&
		    (rc = number(&years, json_object_get(v, "lifetime_years"), 1,
				 "lifetime_years of hardware", k, err)) < 0)
			return rc;
		e.embodied_g = kg * 1000.0;
		e.lifetime_s = years * YEAR_S;
		if (strcmp(k, "default") == 0) {
			c->default_hw = e;
			continue;
		}
		if (!(p = malloc(sizeof(*p))))
			return fl_err_set(err, FL_ENOMEM, "out of memory");
		*p = e;
		if (fl_map_put(&c->hw, k, p, NULL) < 0) {
			free(p);
			return fl_err_set(err, FL_ENOMEM, "out of memory");
		}
	}
	return 0;
}

int cp_carbon_parse(struct cp_carbon **out, const json_t *doc, struct fl_err *err)
{
	static const char *const allowed[] = {"grid_intensity_g_per_kwh", "hardware", NULL};
	struct cp_carbon *c = NULL;
	json_t *v;
	int rc;

	*out = NULL;
	if (!json_is_object(doc))
		return fl_err_set(err, FL_EINVAL, "carbon: the table must be a JSON object");
	if ((rc = fl_json_only(doc, allowed, err)) < 0) {
		fl_err_prefix(err, "carbon");
		return rc;
	}
	if ((rc = cp_carbon_new(&c, err)) < 0)
		return rc;
	/* Hardware "default" first, so that other models inherit it. */
	if ((v = json_object_get(doc, "hardware")) && json_is_object(v) &&
	    json_object_get(v, "default")) {
		json_t *only = json_pack("{sO}", "default", json_object_get(v, "default"));

		rc = only ? parse_hw(c, only, err) : fl_err_set(err, FL_ENOMEM, "out of memory");
		json_decref(only);
		if (rc < 0)
			goto fail;
	}
	if ((v = json_object_get(doc, "grid_intensity_g_per_kwh")) &&
	    (rc = parse_sites(c, v, err)) < 0)
		goto fail;
	if ((v = json_object_get(doc, "hardware")) && (rc = parse_hw(c, v, err)) < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	cp_carbon_free(c);
	return rc;
}

int cp_carbon_load(struct cp_carbon **out, const char *path, int required, struct fl_err *err)
{
	struct fl_buf b = FL_BUF_INIT;
	json_t *doc = NULL;
	int rc;

	*out = NULL;
	if (!path || !fl_fs_exists(path)) {
		if (required)
			return fl_err_set(err, FL_ENOTFOUND, "carbon table '%s' not found",
					  path ? path : "");
		return cp_carbon_new(out, err);
	}
	fl_buf_init(&b, 1 << 20);
	if ((rc = fl_fs_read(&b, path, err)) < 0 ||
	    (rc = fl_json_parse(&doc, b.ptr ? b.ptr : "", b.len, err)) < 0 ||
	    (rc = cp_carbon_parse(out, doc, err)) < 0)
		fl_err_prefix(err, "%s", path);
	json_decref(doc);
	fl_buf_release(&b);
	return rc;
}

double cp_carbon_intensity(const struct cp_carbon *c, const char *site)
{
	const double *p = site ? fl_map_get(&c->sites, site) : NULL;

	return p ? *p : c->default_intensity;
}

double cp_carbon_grams(const struct cp_carbon *c, const char *site, const char *hw, double energy_j,
		       double window_s)
{
	const struct hw_entry *h = hw ? fl_map_get(&c->hw, hw) : NULL;
	double kwh = energy_j / 3.6e6;

	if (!h)
		h = &c->default_hw;
	return kwh * cp_carbon_intensity(c, site) + h->embodied_g * (window_s / h->lifetime_s);
}
