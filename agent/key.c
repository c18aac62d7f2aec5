#include "agent/key.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fairlead/buf.h"
#include "fairlead/fs.h"
#include "fairlead/log.h"
#include "agent/state.h"

/* Fills pk, keyid and pk_b64 from sk. */
static void derive(struct ag_key *k)
{
	fl_ed25519_sk_to_pk(k->pk, k->sk);
	fl_keyid(k->keyid, k->pk);
	fl_b64_encode(k->pk_b64, k->pk, sizeof(k->pk));
}

void ag_key_generate(struct ag_key *out)
{
	fl_ed25519_keypair(out->pk, out->sk);
	derive(out);
}

void ag_key_wipe(struct ag_key *k)
{
	/* volatile so the compiler cannot drop the store as dead. */
	volatile uint8_t *p = (volatile uint8_t *)k->sk;

	for (size_t i = 0; i < sizeof(k->sk); i++)
		p[i] = 0;
}

int ag_key_load(struct ag_key *out, const char *dir, const char *name, struct fl_err *err)
{
	static const char probe[] = "fairlead-key-check";
	struct fl_buf b = FL_BUF_INIT;
	uint8_t sig[FL_ED25519_SIG_LEN];
	char path[AG_PATH_MAX];
	struct stat st;
	size_t n = 0, len;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = ag_state_path(path, sizeof(path), dir, name, err)) < 0)
		return rc;
	fl_buf_init(&b, 4096);
	if ((rc = fl_fs_read(&b, path, err)) < 0)
		goto cleanup;
	len = b.len;
	while (len > 0 &&
	       (b.ptr[len - 1] == '\n' || b.ptr[len - 1] == '\r' || b.ptr[len - 1] == ' '))
		len--;
	if (fl_b64_decode(out->sk, sizeof(out->sk), &n, b.ptr, len) < 0 || n != sizeof(out->sk)) {
		rc = fl_err_set(err, FL_EINVAL, "key file '%s' is corrupt", path);
		goto cleanup;
	}
	derive(out);
	/* The secret key embeds its public half; a flipped bit in either shows
	 * here instead of as a mysterious 401 from the server. */
	fl_ed25519_sign(sig, probe, sizeof(probe) - 1, out->sk);
	if (fl_ed25519_verify(sig, probe, sizeof(probe) - 1, out->pk) < 0) {
		rc = fl_err_set(err, FL_EINVAL, "key file '%s' is corrupt (key pair mismatch)",
				path);
		goto cleanup;
	}
	if (stat(path, &st) == 0 && (st.st_mode & 077))
		fl_log(FL_LOG_WARN, "key file '%s' is readable by others; it should be mode 0600",
		       path);
cleanup:
	if (b.ptr)
		memset(b.ptr, 0, b.len);
	fl_buf_release(&b);
	if (rc < 0)
		ag_key_wipe(out);
	return rc;
}

int ag_key_save(const struct ag_key *k, const char *dir, const char *name, struct fl_err *err)
{
	char path[AG_PATH_MAX];
	char text[128];
	size_t len;
	int rc;

	if ((rc = ag_state_path(path, sizeof(path), dir, name, err)) < 0)
		return rc;
	fl_b64_encode(text, k->sk, sizeof(k->sk));
	len = strlen(text);
	text[len++] = '\n';
	rc = fl_fs_write_atomic(path, text, len, 0600, err);
	memset(text, 0, sizeof(text));
	return rc;
}

int ag_key_ensure(struct ag_key *out, int *created, const char *dir, struct fl_err *err)
{
	int rc;

	if (created)
		*created = 0;
	rc = ag_key_load(out, dir, AG_KEY_FILE, err);
	if (rc != FL_ENOTFOUND)
		return rc;
	ag_key_generate(out);
	if ((rc = ag_key_save(out, dir, AG_KEY_FILE, err)) < 0) {
		ag_key_wipe(out);
		return rc;
	}
	if (created)
		*created = 1;
	return 0;
}

int ag_key_promote(const char *dir, struct fl_err *err)
{
	char from[AG_PATH_MAX], to[AG_PATH_MAX];
	int rc;

	if ((rc = ag_state_path(from, sizeof(from), dir, AG_KEY_NEW_FILE, err)) < 0 ||
	    (rc = ag_state_path(to, sizeof(to), dir, AG_KEY_FILE, err)) < 0)
		return rc;
	/* rename() is atomic: after a crash device.key is either the old or the
	 * new key, never a mix, and device.key.new is gone only if it won. */
	if (rename(from, to) != 0)
		return fl_err_set(err, FL_ERROR, "cannot rename '%s' to '%s': %s", from, to,
				  strerror(errno));
	return fl_fs_sync_dir(dir, err);
}

int ag_key_discard_new(const char *dir, struct fl_err *err)
{
	char path[AG_PATH_MAX];
	int rc;

	if ((rc = ag_state_path(path, sizeof(path), dir, AG_KEY_NEW_FILE, err)) < 0)
		return rc;
	if (unlink(path) != 0 && errno != ENOENT)
		return fl_err_set(err, FL_ERROR, "cannot remove '%s': %s", path, strerror(errno));
	return fl_fs_sync_dir(dir, err);
}
