/* SPDX-License-Identifier: Apache-2.0
 *
 * The "fake PEM" (reference PEM) of a private key that stays in the HSM, shared by openhsm-kmu's
 * getCaviumPrivKey and openhsm-cli's `key generate-file --encoding reference-pem` (both guides
 * describe a PEM private key file that holds no private key material but refers to the key in
 * the HSM; neither gives its bytes). openhsm's format: a traditional PEM private key (PKCS#1
 * "RSA PRIVATE KEY" or SEC1 "EC PRIVATE KEY", what web servers are configured with) whose public
 * part is the key's real one (RSA modulus and exponent; EC curve and point), so a certificate
 * matches it, and whose private part is the key handle: RSA private exponent = handle with every
 * CRT value 1, EC private scalar = handle. A program that finds such a key hands the handle to the
 * HSM; used as a real key it fails (`openssl rsa -check` rejects it).
 */
#ifndef OHSM_CORE_FAKEPEM_H
#define OHSM_CORE_FAKEPEM_H

#include <stddef.h>
#include <stdint.h>

#include "openhsm/rv.h"

/* The fake PEM of the private key whose public key is spki (DER SubjectPublicKeyInfo, RSA or EC)
 * and whose handle is handle: NUL-terminated text in *pem (*len bytes without the NUL), which the
 * caller frees with free(). Errors: OHSM_DATA_INVALID (spki does not parse),
 * OHSM_KEY_TYPE_INCONSISTENT (neither RSA nor EC), OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_fake_pem(const uint8_t *spki, size_t spki_len, uint64_t handle,
                                     char **pem, size_t *len);

#endif
