-- 0007: the replay cache across restarts. A signature dated in the future
-- (inside the allowed clock skew) is still acceptable after a restart, whose
-- start-time rule refuses only what was signed before the start; its nonce is
-- kept here until the signature expires. Rows past "expires" are pruned.

CREATE TABLE replay_nonces (
	keyid TEXT NOT NULL,
	nonce TEXT NOT NULL,
	created INTEGER NOT NULL,	-- the signature's created (unix seconds)
	expires INTEGER NOT NULL,	-- the nonce is needed until then
	PRIMARY KEY (keyid, nonce)
) WITHOUT ROWID;
CREATE INDEX replay_nonces_by_expiry ON replay_nonces (expires);
