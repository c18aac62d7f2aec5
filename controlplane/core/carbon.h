/*
 * carbon.h - the SCI carbon model of SLI ingestion (Green Software
 * Foundation): per window, C = E * I + M, where E is the energy in kWh,
 * I the grid intensity of the device's site (gCO2e/kWh) and M the share of
 * the device's embodied emissions that the window uses up:
 *   M = embodied_g * window_s / lifetime_s.
 * Per inference it is C / inferences.
 *
 * The table comes from DATA/carbon.json (or --carbon FILE):
 *   {"grid_intensity_g_per_kwh": {"default": 400, "eu-west": 250},
 *    "hardware": {"default": {"embodied_kg": 20, "lifetime_years": 4},
 *                 "rpi4": {"embodied_kg": 30, "lifetime_years": 5}}}
 * Both members are optional; a missing "default" keeps the built-in one
 * (400 g/kWh; 20 kg over 4 years). Unknown sites and hardware use "default".
 */
#ifndef CP_CARBON_H
#define CP_CARBON_H

#include <jansson.h>
#include <stddef.h>

#include "fairlead/err.h"

#define CP_CARBON_DEFAULT_INTENSITY 400.0 /* gCO2e per kWh: a world-average grid */
#define CP_CARBON_DEFAULT_EMBODIED  20.0  /* kg CO2e of a small edge device */
#define CP_CARBON_DEFAULT_LIFETIME  4.0	  /* years */
#define CP_CARBON_MAX_ENTRIES	    1024

struct cp_carbon;

/* The built-in defaults. */
int cp_carbon_new(struct cp_carbon **out, struct fl_err *err);
/* Parses the table; FL_EINVAL naming the bad member (negative or non-finite
 * numbers, a lifetime of 0, unknown keys, over CP_CARBON_MAX_ENTRIES). */
int cp_carbon_parse(struct cp_carbon **out, const json_t *doc, struct fl_err *err);
/* Loads path; when it does not exist and !required, the defaults. */
int cp_carbon_load(struct cp_carbon **out, const char *path, int required, struct fl_err *err);
void cp_carbon_free(struct cp_carbon *c);

/* gCO2e/kWh of site (NULL or unknown: default). */
double cp_carbon_intensity(const struct cp_carbon *c, const char *site);
/* gCO2e of a window of window_s seconds that used energy_j joules on a device
 * of hardware hw at site. */
double cp_carbon_grams(const struct cp_carbon *c, const char *site, const char *hw, double energy_j,
		       double window_s);

#endif
