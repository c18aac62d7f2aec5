/*
 * sslshim.c - makes Debian 12's civetweb 1.15 work with OpenSSL 3.
 *
 * civetweb loads OpenSSL with dlopen("libssl.so") and calls
 * SSL_get_peer_certificate, which OpenSSL 3 only has as a macro for
 * SSL_get1_peer_certificate, so the call jumps to address 0. This library's
 * SONAME is "libssl.so" and it depends on libssl.so.3. An executable that
 * has it as DT_NEEDED already has an object with that SONAME loaded when
 * civetweb calls dlopen("libssl.so"), and the dynamic loader returns it
 * instead of searching the disk. dlsym on that handle looks in this object
 * first and then in its dependencies, so every other SSL_* symbol comes from
 * the real libssl.so.3.
 */
#include <openssl/ssl.h>

/* The symbol must have OpenSSL's name: it is the one civetweb looks up. */
#undef SSL_get_peer_certificate
X509 *SSL_get_peer_certificate(const SSL *s);

/* Same ownership as OpenSSL 1.1's function, which returned a new reference:
 * civetweb X509_free()s the result. */
X509 *SSL_get_peer_certificate(const SSL *s)
{
	return SSL_get1_peer_certificate(s);
}
