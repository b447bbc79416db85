/* SPDX-License-Identifier: Apache-2.0
 *
 * The mechanisms of libopenhsm-pkcs11.so: the list C_GetMechanismList gives, the facts
 * C_GetMechanismInfo gives, and the translation of an application's CK_MECHANISM (untrusted:
 * every parameter length and value is checked) into the HSM's struct ohsm_mech_params. Pure: no
 * I/O, no state; thread-safe. The table holds exactly what the HSM implements (src/core/mech*.c).
 *
 * Include this header (or ck.h) before any openhsm header: p11-kit's compatibility macros rename
 * identifiers such as iv_len, aad_len and tag_bits, and the openhsm structs must see the same
 * renaming in every file that uses them.
 */
#ifndef OHSM_P11_MECH_H
#define OHSM_P11_MECH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck.h"
#include "openhsm/mech.h"

/* PKCS#11 v2.40 §2.1.21 (pkcs11t.h): the parameters of CKM_RSA_AES_KEY_WRAP, which p11-kit's
 * header lacks. */
#ifndef CKM_RSA_AES_KEY_WRAP
#define CKM_RSA_AES_KEY_WRAP 0x00001054UL
#endif
typedef struct CK_RSA_AES_KEY_WRAP_PARAMS {
    CK_ULONG ulAESKeyBits;
    CK_RSA_PKCS_OAEP_PARAMS_PTR pOAEPParams;
} CK_RSA_AES_KEY_WRAP_PARAMS;

/* The HSM's ECDH mechanism (enum ohsm_mech OHSM_M_ECDH = 60, added to include/openhsm/mech.h by
 * the derive work of issue 15; the value travels on the wire and never changes). */

/* The buffering limit of the operations the HSM runs whole (see stream.h). */
#define P11_STREAM_MAX (256u * 1024u)

enum p11_op {
    P11_OP_ENCRYPT = 1,
    P11_OP_DECRYPT,
    P11_OP_SIGN,
    P11_OP_VERIFY,
    P11_OP_DIGEST,
    P11_OP_WRAP,
    P11_OP_UNWRAP,
    P11_OP_DERIVE,
    P11_OP_GENKEY,
    P11_OP_GENPAIR
};

/* Every mechanism the HSM implements, in C_GetMechanismList order; *n gets the count. The array
 * is static (never freed). */
const CK_MECHANISM_TYPE *p11_mech_list(CK_ULONG *n);

/* Truthful C_GetMechanismInfo: key sizes in the unit PKCS#11 uses for that mechanism (bits for
 * RSA and EC, bytes for AES, DES3, generic secret and HMAC), flags (CKF_HW, CKF_ENCRYPT, ...,
 * CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS for EC). Errors: CKR_MECHANISM_INVALID
 * (not listed), CKR_ARGUMENTS_BAD (out NULL). */
CK_RV p11_mech_info(CK_MECHANISM_TYPE t, CK_MECHANISM_INFO *out);

struct p11_ecdh {       /* CKM_ECDH1_DERIVE parameters */
    uint32_t kdf_hash;  /* enum ohsm_hash of the X9.63 KDF (CKD_SHA*_KDF); OHSM_H_NONE = CKD_NULL */
    const uint8_t *pub; /* the peer's public point, X9.62 uncompressed, raw (a DER OCTET STRING
                         * wrapper, which some tools send, is removed); borrowed */
    size_t pub_len;
    const uint8_t *shared; /* KDF shared data (empty with CKD_NULL); borrowed */
    size_t shared_len;
};

struct p11_mech {
    CK_MECHANISM_TYPE type;
    enum p11_op op;
    /* For the HSM. prm.iv points at this struct's iv (see p11_mech_rebind); prm.aad and
     * prm.label borrow the application's CK_MECHANISM parameter, which PKCS#11 does not keep
     * alive after the *Init call: copy them (p11_stream_new does) before the call returns. */
    struct ohsm_mech_params prm;
    /* Sign/verify with a hashing mechanism (CKM_SHA256_RSA_PKCS, CKM_ECDSA_SHA256, the
     * CKM_SHAx_RSA_PKCS_PSS family): the library hashes the data itself (as CloudHSM's SDK 5
     * does: no size limit) and the HSM signs the digest (prm.prehashed true, prm.hash the hash).
     * 0 otherwise. */
    uint32_t local_hash;
    uint8_t iv[16]; /* a copy of the IV / CTR block the application gave */
    size_t iv_len;
    /* CKM_AES_GCM encryption (and wrapping): the application's pIv, which receives the HSM's
     * 12-byte IV (CloudHSM: pIv must point to a zeroed buffer of 12; anything else is
     * CKR_MECHANISM_PARAM_INVALID). Encryption: p11_stream_final writes it; wrapping: the HSM's
     * blob is IV || ciphertext || tag, and the caller copies the IV. NULL otherwise. */
    CK_BYTE_PTR gcm_iv_out;
    size_t block; /* multi-part: cipher block (16 AES incl. CTR, 8 DES3), 0 buffered/one-shot */
    CK_ULONG ctr_bits; /* CKM_AES_CTR counter bits (1..128) */
    /* The mechanism allows Update/Final for op. Encryption: p11_stream; sign/verify with
     * local_hash: the library hashes the parts; HMAC (the HSM holds the key): the caller buffers
     * the parts up to P11_STREAM_MAX and sends them whole at Final. */
    bool multipart;
    CK_KEY_TYPE gen_ktype; /* GENKEY/GENPAIR: the key type it makes (CKK_AES, CKK_RSA, ...) */
    struct p11_ecdh ecdh;  /* DERIVE */
};

/* Checks that mechanism m does op with a key of type key_type (CK_UNAVAILABLE_INFORMATION: no
 * key, e.g. digest, generate) and fills out. For GENKEY/GENPAIR a key_type other than
 * CK_UNAVAILABLE_INFORMATION is the template's CKA_KEY_TYPE and must be the type the mechanism
 * makes (a digest makes none): CKR_TEMPLATE_INCONSISTENT otherwise. Errors: CKR_MECHANISM_INVALID
 * (unknown, or not for op), CKR_MECHANISM_PARAM_INVALID (parameter of the wrong size/shape/value:
 * IV length, GCM tag bits 96..128 step 8 as the HSM takes, OAEP hash/MGF and source, PSS hash and
 * salt, CTR counter bits 1..128, ECDH KDF, data and point, a parameter given to a mechanism that
 * takes none), CKR_KEY_TYPE_INCONSISTENT (key type not for this mechanism), CKR_ARGUMENTS_BAD (m or
 * out NULL). On error *out is zeroed. */
CK_RV p11_mech_parse(const CK_MECHANISM *m, enum p11_op op, CK_KEY_TYPE key_type,
                     struct p11_mech *out);

/* After a struct p11_mech is copied by value: points the copy's prm.iv at the copy's own iv. */
void p11_mech_rebind(struct p11_mech *m);

#endif
