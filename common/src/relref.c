/* relref.c - "NAME@VERSION" release references. */
#include "fairlead/relref.h"

#include <string.h>

#include "fairlead/trust.h"
#include "fairlead/util.h"

int fl_relref_name_valid(const char *name)
{
	size_t n;

	if (!fl_id_valid(name))
		return 0;
	n = strlen(name);
	return name[n - 1] != '.' && (n < 5 || strcmp(name + n - 5, ".lock") != 0);
}

static int parse(struct fl_relref *out, const char *s, int need_version, struct fl_err *err)
{
	/* Neither half may contain '@', so the first one splits. */
	const char *at = s ? strchr(s, '@') : NULL;
	size_t n = at ? (size_t)(at - s) : s ? strlen(s) : 0;

	memset(out, 0, sizeof(*out));
	if (!s || (!at && need_version) || n == 0 || n > FL_RELREF_NAME_MAX ||
	    (at && strlen(at + 1) > FL_RELREF_VERSION_MAX))
		goto bad;
	memcpy(out->name, s, n);
	if (at)
		memcpy(out->version, at + 1, strlen(at + 1));
	if (!fl_relref_name_valid(out->name) || (at && !fl_trust_semver_valid(out->version)))
		goto bad;
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return fl_err_set(err, FL_EINVAL,
			  need_version ? "'%.80s' is not NAME@VERSION (a release name and a "
					 "semantic version)"
				       : "'%.80s' is not NAME or NAME@VERSION (a release name "
					 "and a semantic version)",
			  s ? s : "");
}

int fl_relref_parse(struct fl_relref *out, const char *s, struct fl_err *err)
{
	return parse(out, s, 1, err);
}

int fl_relref_parse_any(struct fl_relref *out, const char *s, struct fl_err *err)
{
	return parse(out, s, 0, err);
}
