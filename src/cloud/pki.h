/* SPDX-License-Identifier: Apache-2.0
 *
 * The local PKI of a cluster: an EC P-256 CA (the cluster's trust anchor, customerCA.crt, as the
 * CloudHSM docs name it) and one EC P-256 TLS server certificate per HSM signed by it, valid for
 * 127.0.0.1 and localhost. Private keys are written PEM (PKCS#8) to new 0600 files only.
 * Thread-safe (no state); objects returned are the caller's to free with the OpenSSL _free
 * function.
 */
#ifndef OHSM_CLOUD_PKI_H
#define OHSM_CLOUD_PKI_H

#include <sys/types.h>

#include <openssl/types.h>

#include "openhsm/rv.h"

#define OHSM_PKI_CA_DAYS 3652 /* 10 years */
#define OHSM_PKI_HSM_DAYS 730 /* 2 years */

/* A fresh EC P-256 key. Caller frees (EVP_PKEY_free). Errors: OHSM_DEVICE_ERROR. */
OHSM_NODISCARD ohsm_rv ohsm_pki_keygen(EVP_PKEY **out);

/* Self-signed X.509v3 CA certificate for key (borrowed): subject and issuer
 * CN=openhsm local CA for <cluster_id>; basicConstraints critical CA:TRUE; keyUsage critical
 * keyCertSign, cRLSign; subjectKeyIdentifier; valid from now for OHSM_PKI_CA_DAYS; SHA-256.
 * Caller frees (X509_free). Errors: OHSM_ARGUMENTS_BAD, OHSM_DEVICE_ERROR. */
OHSM_NODISCARD ohsm_rv ohsm_pki_ca_cert(EVP_PKEY *key, const char *cluster_id, X509 **out);

/* HSM server certificate for hsm_key's public half, issued by ca/ca_key (borrowed): subject
 * CN=<hsm_id>; SAN IP:127.0.0.1, DNS:localhost; basicConstraints critical CA:FALSE; keyUsage
 * critical digitalSignature; extendedKeyUsage serverAuth; subject and authority key identifiers;
 * valid from now for OHSM_PKI_HSM_DAYS. Caller frees. Errors: as ohsm_pki_ca_cert. */
OHSM_NODISCARD ohsm_rv ohsm_pki_hsm_cert(EVP_PKEY *hsm_key, const char *hsm_id, X509 *ca,
                                         EVP_PKEY *ca_key, X509 **out);

/* Writes key (borrowed) as an unencrypted PKCS#8 PEM to a new file of mode 0600 created with
 * O_EXCL|O_NOFOLLOW; the PEM text is held in OpenSSL's secure memory and cleansed.
 * Errors: OHSM_IO (errno set), OHSM_DEVICE_ERROR, OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_pki_write_key(const char *path, EVP_PKEY *key);

/* Writes cert (borrowed) as PEM to a new file of the given mode. Errors: as write_key. */
OHSM_NODISCARD ohsm_rv ohsm_pki_write_cert(const char *path, X509 *cert, mode_t mode);

#endif
