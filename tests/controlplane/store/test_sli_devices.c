/* test_sli_devices.c - one aggregate per device over a window for the
 * rollout gates: minutes merged with their sketches, the window's edges,
 * the release filter, devices without data. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_test.h"
#include "store/store.h"

#define T0 1700000040LL /* a whole minute */

TestSuite(sli_devices, .timeout = 60);

static struct cp_store *open_store(void)
{
	struct cp_store *s = NULL;
	struct fl_err err = {0, ""};
	char path[512];

	snprintf(path, sizeof(path), "%s/fairlead.db", fl_test_tmpdir());
	cr_assert_eq(cp_store_open(&s, path, -1, &err), 0, "%s", err.msg);
	return s;
}

/* dev at minute t running release, n inferences at latency lat ms. */
static void put(struct cp_store *s, const char *dev, int64_t t, const char *release, int n,
		double lat)
{
	struct cp_sli_sample x;
	struct fl_err err = {0, ""};

	memset(&x, 0, sizeof(x));
	snprintf(x.device_id, sizeof(x.device_id), "%s", dev);
	x.minute = t;
	snprintf(x.release, sizeof(x.release), "%s", release);
	x.labels = strdup("{}");
	snprintf(x.hw, sizeof(x.hw), "default");
	snprintf(x.site, sizeof(x.site), "default");
	cr_assert_eq(fl_sketch_new(&x.latency_ms), 0);
	cr_assert_eq(fl_sketch_add_n(x.latency_ms, lat, (uint64_t)n), 0);
	x.inferences = n;
	x.errors = 1;
	x.carbon_g = 0.25;
	x.drift_checks = 2;
	x.drift_alarms = 1;
	cr_assert_eq(cp_store_sli_write(s, &x, 1, NULL, 0, T0, &err), 0, "%s", err.msg);
	cp_sli_sample_release(&x);
}

static void free_aggs(struct cp_sli_agg *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fl_sketch_free(a[i].latency_ms);
	free(a);
}

Test(sli_devices, per_device_window_and_release)
{
	struct cp_store *s = open_store();
	struct fl_err err = {0, ""};
	const char *ids[] = {"d1", "d2", "nobody"};
	struct cp_sli_agg *a = NULL;

	put(s, "d1", T0, "det@1.0.0", 100, 10);
	put(s, "d1", T0 + 60, "det@1.0.0", 100, 30);
	put(s, "d1", T0 + 120, "det@2.0.0", 50, 90); /* after the update */
	put(s, "d1", T0 + 180, "det@1.0.0", 7, 10);  /* outside [T0, T0+180) */
	put(s, "d2", T0 + 60, "det@1.0.0", 40, 20);
	put(s, "d2", T0 - 60, "det@1.0.0", 40, 20); /* before the window */

	cr_assert_eq(cp_store_sli_devices(&a, ids, 3, s, NULL, T0, T0 + 180, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(a[0].inferences, 250);
	cr_assert_eq(a[0].reports, 3);
	cr_assert_eq(a[0].errors, 3);
	cr_assert_eq(a[0].drift_checks, 6);
	cr_assert_eq(a[0].drift_alarms, 3);
	cr_assert_float_eq(a[0].carbon_g, 0.75, 1e-12);
	cr_assert_eq(fl_sketch_count(a[0].latency_ms), 250);
	cr_assert_float_eq(fl_sketch_max(a[0].latency_ms), 90, 1e-9);
	cr_assert_eq(a[1].inferences, 40);
	cr_assert_eq(a[2].inferences, 0);
	cr_assert_null(a[2].latency_ms);
	free_aggs(a, 3);

	/* Only what ran the new release: d1's last minute in the window. */
	cr_assert_eq(cp_store_sli_devices(&a, ids, 3, s, "det@2.0.0", T0, T0 + 180, &err), 0);
	cr_assert_eq(a[0].inferences, 50);
	cr_assert_float_eq(fl_sketch_quantile(a[0].latency_ms, 0.95), 90, 0.9);
	cr_assert_eq(a[1].inferences, 0);
	free_aggs(a, 3);

	/* A release name alone matches every version, and no other name. */
	put(s, "d2", T0, "detector@1.0.0", 5, 20);
	cr_assert_eq(cp_store_sli_devices(&a, ids, 2, s, "det", T0, T0 + 180, &err), 0);
	cr_assert_eq(a[0].inferences, 250);
	cr_assert_eq(a[1].inferences, 40);
	free_aggs(a, 2);
	cr_assert_eq(cp_store_sli_devices(&a, ids, 2, s, "det@1.0.0", T0, T0 + 180, &err), 0);
	cr_assert_eq(a[0].inferences, 200);
	free_aggs(a, 2);

	/* Bad window: refused, nothing returned. */
	a = (void *)1;
	cr_assert_eq(cp_store_sli_devices(&a, ids, 2, s, NULL, T0 + 60, T0, &err), FL_EINVAL);
	cr_assert_null(a);
	cp_store_free(s);
}
