/*
 * tls.h - the one TLS policy of every Fairlead HTTPS server (fairleadd and
 * the benchmark baseline), as a GnuTLS priority string.
 *
 * Mozilla's "intermediate" profile: TLS 1.3, and TLS 1.2 with ECDHE key
 * exchange and AEAD ciphers only (no CBC, no SHA-1 MACs or signatures, no
 * static RSA); the server's order wins.
 */
#ifndef CP_HTTP_TLS_H
#define CP_HTTP_TLS_H

#define CP_TLS_PRIORITIES                                                                          \
	"NONE:+VERS-TLS1.3:+VERS-TLS1.2:+ECDHE-ECDSA:+ECDHE-RSA:+AES-128-GCM:+AES-256-GCM:"        \
	"+CHACHA20-POLY1305:+AEAD:+SIGN-ALL:-SIGN-RSA-SHA1:-SIGN-ECDSA-SHA1:"                      \
	"+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+COMP-NULL:+CTYPE-X509:"                  \
	"%SERVER_PRECEDENCE"

#endif
