/*
 * pki.h - the control plane's own certificate authority and TLS server cert.
 *
 * The only module that uses OpenSSL. cp_pki_init() makes a fresh tls_dir
 * (mode 0700) holding ca.pem, ca.key, server.pem (cert then key, the one file
 * the HTTPS server loads) and server.key; keys and
 * server.pem are 0600. All keys are ECDSA P-256. Clients pin ca.pem.
 */
#ifndef FAIRLEAD_CP_PKI_H
#define FAIRLEAD_CP_PKI_H

#include "fairlead/err.h"

/* File names inside tls_dir. */
#define CP_PKI_CA_CERT	  "ca.pem"
#define CP_PKI_CA_KEY	  "ca.key"
#define CP_PKI_SERVER_PEM "server.pem"
#define CP_PKI_SERVER_KEY "server.key"

/*
 * Creates tls_dir if needed and writes a new CA (10 years) and a server cert
 * (825 days, SAN localhost, 127.0.0.1, ::1 and the host name) signed by it.
 * Both are valid from a day before now (notBefore), so that clients whose
 * clock is up to a day behind accept them.
 * Every file is written atomically; ca.pem is written last, so its presence
 * means a complete set. Returns FL_EEXISTS if ca.pem already exists.
 */
int cp_pki_init(const char *tls_dir, struct fl_err *err);

/*
 * Checks that server.pem chains to ca.pem, is valid now for TLS server use
 * and carries the matching private key. Returns FL_ENOTFOUND for a missing
 * file, FL_EGONE for an expired (or not yet valid) cert, FL_ERROR otherwise.
 */
int cp_pki_check(const char *tls_dir, struct fl_err *err);

#endif
