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

#include <stddef.h>
#include <sys/types.h>

#include <openssl/types.h>
#include <openssl/x509.h> /* X509_REQ */

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

/* ---- issue 12: the HSM identity certificates and InitializeCluster's checks ----
 *
 * CloudHSM's first HSM of a cluster makes the cluster key (RSA-2048, shared by all the cluster's
 * HSMs) and its CSR; DescribeClusters shows, until the cluster is initialized, the CSR and the
 * HSM's identity certificates (UG verify-hsm-identity). Here:
 *
 *   openhsm manufacturer root  --signs-->  ManufacturerHardwareCertificate  (HSM hardware key)
 *   openhsm hardware root      --signs-->  AwsHardwareCertificate           (same hardware key)
 *   HSM hardware key           --signs-->  HsmCertificate                   (cluster key)
 *   cluster key                --signs-->  ClusterCsr (subject as CloudHSM's, below)
 *
 * so the guide's procedure works:
 *   cat openhsm_Hardware_Root.crt AwsHardwareCertificate.crt > aws_chain.crt
 *   openssl verify -CAfile aws_chain.crt HsmCertificate.crt          (and the same with the
 *   manufacturer root and ManufacturerHardwareCertificate), then compare the public keys of
 *   HsmCertificate and ClusterCsr.
 * Roots and the hardware key: EC P-256, SHA-256 signatures. The two roots are made once per data
 * directory (ohsm_pki_roots_open); their keys belong in DIR/private (0600 files in the 0700
 * directory), their certificates where users can fetch them (suggested: DIR/pki/, 0644), as
 * AWS_CloudHSM_Root-G1.crt and the manufacturer's root are public downloads. The hardware key
 * is used once (to sign HsmCertificate) and dropped, like a device key that never leaves it. */
#define OHSM_PKI_ROOT_DAYS 7305                       /* 20 years */
#define OHSM_PKI_MFR_ROOT "openhsm_Manufacturer_Root" /* <name>.key / <name>.crt */
#define OHSM_PKI_HW_ROOT "openhsm_Hardware_Root"
/* The Cert shape's bound in botocore's cloudhsmv2 model (1.43: 20000; older models: 5000). */
#define OHSM_PKI_CERT_MAX 20000

struct ohsm_pki_roots {
    EVP_PKEY *mfr_key;
    X509 *mfr; /* CN=openhsm manufacturer root */
    EVP_PKEY *hw_key;
    X509 *hw; /* CN=openhsm hardware root */
};

/* Loads the two roots: keys from key_dir/<name>.key (must be owned by the effective user, mode
 * 0600, not symlinks), certificates from cert_dir/<name>.crt. A missing key is made (new 0600
 * file, O_EXCL|O_NOFOLLOW) and its certificate (re)issued; a certificate that is missing, does
 * not parse or is not the key's self-signed certificate is reissued and replaced atomically
 * (0644). Both directories must exist. Crash-safe: a key is written before its certificate, and a
 * certificate without its key is replaced. Errors: OHSM_ACCESS_DENIED (a key file of the wrong
 * owner, type or mode), OHSM_IO (errno set), OHSM_DATA_INVALID (a key that does not parse),
 * OHSM_DEVICE_ERROR, OHSM_ARGUMENTS_BAD, OHSM_BUFFER_TOO_SMALL. */
OHSM_NODISCARD ohsm_rv ohsm_pki_roots_open(const char *key_dir, const char *cert_dir,
                                           struct ohsm_pki_roots *out);
void ohsm_pki_roots_clear(struct ohsm_pki_roots *r); /* frees and zeroes; NULL ok */

struct ohsm_pki_identity {
    EVP_PKEY *cluster_key; /* RSA-2048, private: the cluster's TLS key once initialized */
    X509_REQ *csr;         /* ClusterCsr */
    X509 *hsm_cert;        /* HsmCertificate: the cluster key, issued by the hardware key */
    X509 *aws_hw_cert;     /* AwsHardwareCertificate: the hardware key, issued by hw root */
    X509 *mfr_hw_cert;     /* ManufacturerHardwareCertificate: the hardware key, by mfr root */
};

/* Makes a cluster's first HSM identity: a new RSA-2048 cluster key; the CSR (PKCS#10 v1,
 * SHA-256, subject C=US, ST=CA, O=Cavium, OU=N3FIPS, L=SanJose,
 * CN=HSM:<hsm_id>:PARTN:<partition>, for FIPS mode, no attributes); a new hardware key with its
 * two certificates (v3, CA:TRUE pathlen:0, keyCertSign; subject O=openhsm, OU=HSM hardware,
 * CN=<hsm_id>) and HsmCertificate (v3, subject as the CSR's, CA:FALSE), all valid from now for
 * OHSM_PKI_CA_DAYS. roots borrowed (keys needed). out: release with ohsm_pki_identity_clear.
 * Errors: OHSM_ARGUMENTS_BAD (hsm_id 1..32 printable characters), OHSM_DEVICE_ERROR. */
OHSM_NODISCARD ohsm_rv ohsm_pki_hsm_identity(const struct ohsm_pki_roots *roots, const char *hsm_id,
                                             unsigned partition, struct ohsm_pki_identity *out);
void ohsm_pki_identity_clear(struct ohsm_pki_identity *id); /* frees and zeroes; NULL ok */

/* PEM text of a certificate / CSR: *out malloc'd, NUL-terminated (caller frees). Errors:
 * OHSM_HOST_MEMORY, OHSM_DEVICE_ERROR, OHSM_ARGUMENTS_BAD. */
OHSM_NODISCARD ohsm_rv ohsm_pki_cert_pem(X509 *x, char **out);
OHSM_NODISCARD ohsm_rv ohsm_pki_csr_pem(X509_REQ *r, char **out);

/* InitializeCluster's checks of SignedCert (signed_pem) and TrustAnchor (anchor_pem) against the
 * cluster's CSR (csr_pem), in this order, the first failure refusing with its reason in why (cap
 * bytes, may be NULL), naming the field:
 *   each is 1..OHSM_PKI_CERT_MAX characters and parses as a PEM certificate (the CSR as a PEM
 *   request); TrustAnchor is self-signed (issuer = subject and its signature verifies with its own
 *   key); when it has X509v3 extensions they parse, basicConstraints is present with CA:TRUE and
 *   a keyUsage, if present, allows keyCertSign (the guide: "extension values must not conflict");
 *   its key is RSA 2048 or 4096 (the guide's sizes) or EC P-256 or P-384; TrustAnchor and
 *   SignedCert are within their validity period (not expired, not yet valid); SignedCert's public
 *   key is the CSR's; SignedCert verifies against TrustAnchor alone (no intermediates, purpose
 *   any, current time). A v1 certificate without extensions (what `openssl x509 -req` makes) is
 *   accepted. Errors: OHSM_DATA_INVALID (refused), OHSM_ARGUMENTS_BAD, OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_pki_check_init(const char *csr_pem, const char *signed_pem,
                                           const char *anchor_pem, char *why, size_t cap);

#endif
