/* SPDX-License-Identifier: Apache-2.0
 *
 * Key objects as CloudHSM and PKCS#11 see them: a class, a key type, a label and id, an owner and
 * the crypto users it is shared with, the boolean attributes CloudHSM uses, and the public part of
 * asymmetric keys. Pure data and rules (src/core/obj.c): no I/O, no key material.
 *
 * Attribute ids are CloudHSM's OBJ_ATTR_* numbers, which equal PKCS#11 CKA_* values except the
 * key check value (371). Ids with the top bit set are ours (owner, shares, handle, version, public
 * key DER); they travel in records but no user sets them.
 *
 * Encoding (records and templates alike): a sequence of attributes, each u32 id, u32 length and
 * that many value bytes, all big-endian; booleans are one byte 0/1, numbers u32 (u64 for handle
 * and version), strings raw bytes without NUL. Decoders are bounds-checked and fuzzed.
 */
#ifndef OHSM_OBJ_H
#define OHSM_OBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openhsm/rv.h"
#include "openhsm/user.h"

/* Object classes (CKO_* / OBJ_ATTR_CLASS values). */
enum ohsm_class {
    OHSM_CLASS_PUBLIC = 2,
    OHSM_CLASS_PRIVATE = 3,
    OHSM_CLASS_SECRET = 4,
};

/* Key types (CKK_* / OBJ_ATTR_KEY_TYPE values). */
enum ohsm_ktype {
    OHSM_KT_RSA = 0,
    OHSM_KT_EC = 3,
    OHSM_KT_GENERIC_SECRET = 16,
    OHSM_KT_DES3 = 21, /* CKK_DES3: triple-length (24-byte) Triple DES keys */
    OHSM_KT_AES = 31,
};

/* Elliptic curves. Values are ours and stable. */
enum ohsm_curve {
    OHSM_CURVE_NONE = 0,
    OHSM_CURVE_P256 = 1,      /* secp256r1, prime256v1 */
    OHSM_CURVE_P384 = 2,      /* secp384r1 */
    OHSM_CURVE_P521 = 3,      /* secp521r1 */
    OHSM_CURVE_SECP256K1 = 4, /* secp256k1 */
    OHSM_CURVE_P224 = 5,      /* secp224r1 */
};

/* Attribute ids. */
enum ohsm_attr {
    OHSM_A_CLASS = 0,
    OHSM_A_TOKEN = 1,
    OHSM_A_PRIVATE = 2,
    OHSM_A_LABEL = 3,
    OHSM_A_TRUSTED = 0x86,
    OHSM_A_KEY_TYPE = 0x100,
    OHSM_A_ID = 0x102,
    OHSM_A_SENSITIVE = 0x103,
    OHSM_A_ENCRYPT = 0x104,
    OHSM_A_DECRYPT = 0x105,
    OHSM_A_WRAP = 0x106,
    OHSM_A_UNWRAP = 0x107,
    OHSM_A_SIGN = 0x108,
    OHSM_A_VERIFY = 0x10A,
    OHSM_A_DERIVE = 0x10C,
    OHSM_A_MODULUS = 0x120,         /* derived from the public key; read only */
    OHSM_A_MODULUS_BITS = 0x121,
    OHSM_A_PUBLIC_EXPONENT = 0x122, /* derived; read only */
    OHSM_A_VALUE_LEN = 0x161,       /* key-length-bytes */
    OHSM_A_EXTRACTABLE = 0x162,
    OHSM_A_LOCAL = 0x163,
    OHSM_A_NEVER_EXTRACTABLE = 0x164,
    OHSM_A_ALWAYS_SENSITIVE = 0x165,
    OHSM_A_MODIFIABLE = 0x170,
    OHSM_A_DESTROYABLE = 0x172,
    OHSM_A_KCV = 0x173,             /* 3-byte key check value (CloudHSM's 371) */
    OHSM_A_EC_PARAMS = 0x180,       /* derived: DER OID of the curve; read only */
    OHSM_A_EC_POINT = 0x181,        /* derived: DER OCTET STRING of the X9.62 point; read only */
    OHSM_A_WRAP_WITH_TRUSTED = 0x210,
};

/* Ours: in records, never in user templates (defines: beyond the range of an enum). */
#define OHSM_A_HANDLE 0x80000001u  /* u64 */
#define OHSM_A_OWNER 0x80000002u   /* username */
#define OHSM_A_SHARED 0x80000003u  /* username; repeated, once per crypto user shared with */
#define OHSM_A_SPKI 0x80000004u    /* DER SubjectPublicKeyInfo of RSA/EC keys (both halves) */
#define OHSM_A_VERSION 0x80000005u /* u64, bumped by every change; sync compares it */
#define OHSM_A_CURVE 0x80000006u   /* u32 enum ohsm_curve */
/* Issue 5: key quorum values (u32 0..OHSM_QUORUM_MAX; 0 and 1 mean no quorum). User-visible (the
 * CLI's manage-key-quorum-value / use-key-quorum-value), given at creation only; a value above 1
 * may not exceed the users associated with the key (owner + shares). manage: key-management
 * service (wrap, unwrap, share, unshare, set-attribute); use: key-usage service (sign). */
#define OHSM_A_QUORUM_MANAGE 0x80000007u
#define OHSM_A_QUORUM_USE 0x80000008u
/* Issue 10: owner and shares by user id (one id per user on every HSM, never reused), so a new
 * user of a deleted user's name inherits nothing. Records made before carry names only. */
#define OHSM_A_OWNER_ID 0x80000009u   /* u32 */
#define OHSM_A_SHARED_IDS 0x8000000Au /* u32 per share, in the order of the OHSM_A_SHARED names */
/* Issue 15: the key's role class (u32 enum ohsm_role_class), against the wrap/decrypt and
 * encrypt/unwrap attacks of Tookan (Bortolozzo et al., CCS 2010). Given at creation only, never
 * changed, not shown by the CLI or key_mgmt_util; libopenhsm-pkcs11.so gives it to every key it
 * makes. 0 in records made without it (every key of the CLI, KMU and CMU). */
#define OHSM_A_ROLE_CLASS 0x8000000Bu

/* What a key with a role class may ever do (ohsm_obj_apply_template, ohsm_obj_set_check). A key
 * is data or wrapping for its whole life, whatever attribute changes follow, on every HSM. */
enum ohsm_role_class {
    OHSM_ROLE_NONE = 0,     /* no rule: encrypt, decrypt, wrap, unwrap as the flags say */
    OHSM_ROLE_DATA = 1,     /* may encrypt/decrypt, never wrap/unwrap */
    OHSM_ROLE_WRAPPING = 2, /* may wrap/unwrap, never encrypt/decrypt */
};

/* Boolean attributes as bits of struct ohsm_obj.flags. */
enum ohsm_flag {
    OHSM_F_TOKEN = 1u << 0,
    OHSM_F_PRIVATE = 1u << 1,
    OHSM_F_SENSITIVE = 1u << 2,
    OHSM_F_EXTRACTABLE = 1u << 3,
    OHSM_F_ENCRYPT = 1u << 4,
    OHSM_F_DECRYPT = 1u << 5,
    OHSM_F_WRAP = 1u << 6,
    OHSM_F_UNWRAP = 1u << 7,
    OHSM_F_SIGN = 1u << 8,
    OHSM_F_VERIFY = 1u << 9,
    OHSM_F_DERIVE = 1u << 10,
    OHSM_F_TRUSTED = 1u << 11,
    OHSM_F_WRAP_WITH_TRUSTED = 1u << 12,
    OHSM_F_MODIFIABLE = 1u << 13,
    OHSM_F_DESTROYABLE = 1u << 14,
    OHSM_F_LOCAL = 1u << 15,
    OHSM_F_ALWAYS_SENSITIVE = 1u << 16,
    OHSM_F_NEVER_EXTRACTABLE = 1u << 17,
};

#define OHSM_LABEL_MAX 127
#define OHSM_OBJ_ID_MAX 128
#define OHSM_SHARE_MAX 31
#define OHSM_SPKI_MAX 1100
/* An encoded record is never longer than this. */
#define OHSM_OBJ_ENC_MAX 8192
/* Attributes in one template. */
#define OHSM_TMPL_MAX 48

/* Handles are cluster-wide: handle = seq << 5 | slot, where slot (0..31) is the creating HSM's
 * place in the cluster and seq counts up from 1 on that HSM. */
#define OHSM_HANDLE_SLOT_BITS 5
#define OHSM_SLOT_MAX 31

struct ohsm_obj {
    uint64_t handle;
    uint64_t version;
    uint32_t cls;   /* enum ohsm_class */
    uint32_t ktype; /* enum ohsm_ktype */
    uint32_t flags; /* enum ohsm_flag bits */
    char owner[OHSM_USERNAME_MAX + 1];
    uint32_t nshared;
    char shared[OHSM_SHARE_MAX][OHSM_USERNAME_MAX + 1];
    uint32_t owner_id;                  /* 0: a record of before issue 10 (names decide) */
    uint32_t shared_id[OHSM_SHARE_MAX]; /* parallel to shared[] when owner_id != 0 */
    char label[OHSM_LABEL_MAX + 1];
    uint8_t id[OHSM_OBJ_ID_MAX];
    uint32_t id_len;
    uint32_t value_len;    /* secret keys: bytes; RSA/EC: ohsm_obj_set_key_len (older records:
                            * RSA modulus bytes, EC 0) */
    uint32_t modulus_bits; /* RSA */
    uint32_t curve;        /* EC: enum ohsm_curve */
    uint8_t kcv[3];
    bool has_kcv;
    uint32_t spki_len;
    uint8_t spki[OHSM_SPKI_MAX];
    uint32_t quorum_manage; /* OHSM_A_QUORUM_MANAGE (issue 5) */
    uint32_t quorum_use;    /* OHSM_A_QUORUM_USE */
    uint32_t role_class;    /* OHSM_A_ROLE_CLASS: enum ohsm_role_class (issue 15) */
};

/* ---- the attribute table: names for front ends, kinds and rules for the HSM ---- */

enum ohsm_attr_kind { OHSM_AK_BOOL, OHSM_AK_U32, OHSM_AK_U64, OHSM_AK_STR, OHSM_AK_BYTES };

struct ohsm_attr_def {
    uint32_t id;
    const char *cli;  /* CloudHSM CLI name, e.g. "wrap-with-trusted" */
    const char *kmu;  /* key_mgmt_util / CMU name, e.g. "OBJ_ATTR_WRAP_WITH_TRUSTED" */
    enum ohsm_attr_kind kind;
    uint32_t flag;    /* enum ohsm_flag bit for booleans, else 0 */
    bool at_create;   /* a user template may give it when creating a key */
    bool settable;    /* set-attribute may change it later (subject to ohsm_obj_set_check) */
};

/* Every user-visible attribute, in the CloudHSM CLI's print order; *n gets the count.
 * `cli` or `kmu` is NULL when that tool has no name for the attribute: `curve` (OHSM_A_CURVE, our
 * id, but user-visible: templates and filters may use it) has no key_mgmt_util name, and
 * `OBJ_ATTR_EC_PARAMS` (CKA_EC_PARAMS, for PKCS#11; last in the table) is not printed by the CLI.
 * The role class (OHSM_A_ROLE_CLASS) has neither name: only PKCS#11 gives it.
 * Front ends skip rows whose name is NULL. */
OHSM_API const struct ohsm_attr_def *ohsm_attr_table(size_t *n);
OHSM_API const struct ohsm_attr_def *ohsm_attr_by_id(uint32_t id);
OHSM_API const struct ohsm_attr_def *ohsm_attr_by_cli(const char *name);
OHSM_API const struct ohsm_attr_def *ohsm_attr_by_kmu(const char *name);
/* CLI names of enum values: "aes", "des3", "generic-secret", "rsa", "ec"; "secret-key",
 * "public-key", "private-key"; "secp256r1" ... NULL when unknown. And back (NULL-safe; -1 when unknown). */
OHSM_API const char *ohsm_ktype_name(uint32_t ktype);
OHSM_API const char *ohsm_class_name(uint32_t cls);
OHSM_API const char *ohsm_curve_name(uint32_t curve);
OHSM_API int ohsm_ktype_from_name(const char *name);
OHSM_API int ohsm_class_from_name(const char *name);
OHSM_API int ohsm_curve_from_name(const char *name); /* also "prime256v1" */

/* ---- templates: a bounded list of attributes, borrowed from an encoded buffer ---- */

struct ohsm_tmpl_attr {
    uint32_t id;
    uint32_t len;
    const uint8_t *val; /* borrowed */
};
struct ohsm_tmpl {
    size_t n;
    struct ohsm_tmpl_attr a[OHSM_TMPL_MAX];
};

/* Parses an encoded template (untrusted). Each attribute must be known and of its kind's size,
 * ids unique, no trailing bytes. Errors: OHSM_TEMPLATE_INCONSISTENT (duplicates),
 * OHSM_ATTRIBUTE_TYPE_INVALID, OHSM_ATTRIBUTE_VALUE_INVALID, OHSM_DATA_LEN_RANGE (too many),
 * OHSM_PROTOCOL (truncated or trailing bytes). out borrows from p. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_tmpl_parse(const uint8_t *p, size_t n, struct ohsm_tmpl *out);

/* Template builder for clients: appends one attribute to buf (len in/out, capacity cap). */
struct ohsm_tmpl_buf {
    uint8_t buf[OHSM_OBJ_ENC_MAX];
    size_t len;
    bool overflow; /* sticky: a put did not fit */
};
OHSM_API void ohsm_tmpl_init(struct ohsm_tmpl_buf *b);
OHSM_API void ohsm_tmpl_put_bool(struct ohsm_tmpl_buf *b, uint32_t id, bool v);
OHSM_API void ohsm_tmpl_put_u32(struct ohsm_tmpl_buf *b, uint32_t id, uint32_t v);
OHSM_API void ohsm_tmpl_put_bytes(struct ohsm_tmpl_buf *b, uint32_t id, const void *v, size_t len);
/* Parses a CLI-style "name=value" (CLI attribute names; booleans true/false/1/0, label/id text,
 * id also 0x-hex) and appends it. Also: class, key-type and curve by name; numbers in decimal;
 * check-value, modulus, ec-point as hex (0x optional); public-exponent in decimal or 0x-hex.
 * Errors: OHSM_ATTRIBUTE_TYPE_INVALID, OHSM_ATTRIBUTE_VALUE_INVALID (nothing appended),
 * OHSM_DATA_LEN_RANGE (the buffer is full). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_tmpl_put_text(struct ohsm_tmpl_buf *b, const char *name,
                                                   const char *value);

/* ---- records ---- */

/* Sets o to the defaults for a new key of this class and type (CloudHSM CLI defaults: token,
 * private, sensitive for secret/private, extractable, modifiable, destroyable, sign+verify for
 * AES/generic secret, everything else false; local as given). Owner, handle, sizes: caller. */
OHSM_API void ohsm_obj_defaults(struct ohsm_obj *o, uint32_t cls, uint32_t ktype, bool local);
/* Applies a creation template over the defaults. Refuses attributes not settable at creation and
 * values that contradict the object (class/type/size given but different).
 * Keeps always-sensitive / never-extractable consistent. Call it after class, type, sizes, curve
 * and (when known) the SPKI are set: those are what the template is checked against.
 * Role class (issue 15): with OHSM_ROLE_DATA the resulting key may not have wrap or unwrap, with
 * OHSM_ROLE_WRAPPING not encrypt or decrypt (OHSM_TEMPLATE_INCONSISTENT); an unknown class is
 * OHSM_ATTRIBUTE_VALUE_INVALID.
 * Errors: OHSM_ATTRIBUTE_TYPE_INVALID, OHSM_ATTRIBUTE_VALUE_INVALID, OHSM_ATTRIBUTE_READ_ONLY (not
 * settable at creation, e.g. local, trusted), OHSM_TEMPLATE_INCONSISTENT (contradicts the object;
 * sensitive=true on a public key; a role outside the role class). On error o is unchanged. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_obj_apply_template(struct ohsm_obj *o,
                                                        const struct ohsm_tmpl *t);
/* Does o have every attribute of t with the same value? (find/filter). Derived attributes
 * (modulus, ec-point ...) compare too. */
OHSM_API bool ohsm_obj_match(const struct ohsm_obj *o, const struct ohsm_tmpl *t);

/* May a user of this type (is_owner: the session user owns o) change attribute a to this value?
 * Rules: o must be modifiable (except `trusted`, admin only, and the owner may always turn
 * modifiable true->false); one-way attributes (sensitive false->true, modifiable true->false,
 * wrap-with-trusted false->true, extractable never); read-only attributes never; admins only
 * `trusted`; CUs only as owner; a role outside the key's role class (issue 15) never turns on,
 * whatever the key's other attributes are now (OHSM_TEMPLATE_INCONSISTENT; turning one off is
 * fine); the role class itself never changes (OHSM_ATTRIBUTE_READ_ONLY).
 * Errors: OHSM_ATTRIBUTE_READ_ONLY, OHSM_ATTRIBUTE_TYPE_INVALID,
 * OHSM_ATTRIBUTE_VALUE_INVALID, OHSM_KEY_NOT_OWNER, OHSM_ACCESS_DENIED,
 * OHSM_TEMPLATE_INCONSISTENT. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_obj_set_check(const struct ohsm_obj *o,
                                                   const struct ohsm_tmpl_attr *a,
                                                   enum ohsm_utype t, bool is_owner);
/* Applies a checked attribute and bumps the version. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_obj_set_apply(struct ohsm_obj *o,
                                                   const struct ohsm_tmpl_attr *a);

/* Issue 5: are o's quorum values (manage, use) reachable by its users? A value above 1 may not
 * exceed the users associated with the key: the owner and the crypto users it is shared with.
 * Creation checks it after the shares are applied, unsharing before it takes effect.
 * Errors: OHSM_QUORUM_VALUE_INVALID. (Each value's range, 0..OHSM_QUORUM_MAX of token.h, is the
 * template's check: OHSM_ATTRIBUTE_VALUE_INVALID.) */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_obj_quorum_check(const struct ohsm_obj *o);

/* Access: the owner, or a crypto user it is shared with, may use a key; only the owner manages it
 * (delete, share, set attributes, wrap it out). */
OHSM_API bool ohsm_obj_is_owner(const struct ohsm_obj *o, const char *username);
/* Issue 10: the same by user: by id when the record has ids (a deleted user's name, given to a
 * new user, matches nothing), else by name. */
OHSM_API bool ohsm_obj_owned_by(const struct ohsm_obj *o, uint32_t uid, const char *username);
OHSM_API bool ohsm_obj_usable_by(const struct ohsm_obj *o, uint32_t uid, const char *username);
/* ohsm_obj_share for a user with an id (the id goes with the name when the record has ids). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_obj_share_user(struct ohsm_obj *o, uint32_t uid,
                                                    const char *username, bool share);
/* Drops user uid from the shares (by id, or by name in a record without ids); bumps the version
 * and returns true when it was there. A deleted user's shares go with it. */
OHSM_API bool ohsm_obj_forget_user(struct ohsm_obj *o, uint32_t uid, const char *username);
OHSM_API bool ohsm_obj_may_use(const struct ohsm_obj *o, const char *username);
/* Adds or removes a share (idempotent). Errors: OHSM_DATA_LEN_RANGE (OHSM_SHARE_MAX),
 * OHSM_ARGUMENTS_BAD (sharing with the owner), OHSM_USERNAME_INVALID. Bumps the version when it
 * changed something. Usernames compare case-insensitively; shares are stored lower-case, sorted. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_obj_share(struct ohsm_obj *o, const char *username,
                                               bool share);

/* What a key is used for; ohsm_obj_check_use says whether its class, type and flags allow it. */
enum ohsm_use {
    OHSM_USE_ENCRYPT,
    OHSM_USE_DECRYPT,
    OHSM_USE_SIGN,
    OHSM_USE_VERIFY,
    OHSM_USE_WRAP,
    OHSM_USE_UNWRAP,
    OHSM_USE_DERIVE,
};
/* Errors: OHSM_KEY_FUNCTION_NOT_PERMITTED (flag false, or a use outside the key's role class),
 * OHSM_KEY_TYPE_INCONSISTENT (e.g. signing with a public key, encrypting with an EC key). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_obj_check_use(const struct ohsm_obj *o, enum ohsm_use u);
/* May payload be wrapped by wrapping? payload extractable (OHSM_KEY_UNEXTRACTABLE), wrapping key
 * has wrap, and when payload has wrap-with-trusted the wrapping key must be trusted. A sensitive
 * payload with a role class (issue 15) only by a key of OHSM_ROLE_WRAPPING that is local
 * (generated in the HSM) or trusted (OHSM_KEY_FUNCTION_NOT_PERMITTED): never by a key without a
 * class, which may also decrypt, nor by a wrapping key whose value may be known outside. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_obj_check_wrap(const struct ohsm_obj *payload,
                                                    const struct ohsm_obj *wrapping);
/* Issue 15: may a key be unwrapped by `unwrapping` with creation template t? When unwrapping has
 * a role class, t must give the new key a role class (1 or 2) and may not make it non-sensitive:
 * what it unwraps may be a sensitive key with a class, whose copy must stay as protected.
 * Keys without a class unwrap as before. Errors: OHSM_TEMPLATE_INCONSISTENT, OHSM_ARGUMENTS_BAD. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_obj_check_unwrap(const struct ohsm_obj *unwrapping,
                                                      const struct ohsm_tmpl *t);

/* Full record (all attributes including ours) <-> bytes. Decoding is for untrusted input.
 * Encode errors: OHSM_BUFFER_TOO_SMALL. Decode errors: OHSM_PROTOCOL.
 * The encoding is canonical and the decoder accepts only canonical bytes (fixed order, every
 * attribute present except check-value and SPKI when absent and the quorum values and role class
 * when 0, shares sorted), so equal objects have equal encodings and sync digests over them agree.
 * Records made before issue 5 (no quorum values) decode with quorum_manage = quorum_use = 0, and
 * before issue 15 with role_class = 0. A record whose role class is unknown, or whose flags hold a
 * role outside its role class, is refused. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_obj_encode(const struct ohsm_obj *o, uint8_t *out,
                                                size_t cap, size_t *out_len);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_obj_decode(const uint8_t *p, size_t n, struct ohsm_obj *o);

/* Value of attribute id of o in the encoding's value form (derived attributes computed from
 * the SPKI). Errors: OHSM_ATTRIBUTE_TYPE_INVALID (o has no such attribute),
 * OHSM_BUFFER_TOO_SMALL. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_obj_attr_get(const struct ohsm_obj *o, uint32_t id,
                                                  uint8_t *out, size_t cap, size_t *out_len);

/* Issue 11: key-length-bytes (OBJ_ATTR_VALUE_LEN) of a new RSA or EC key as CloudHSM shows it,
 * set once its class, type and SPKI are known: a private key, the length of its PKCS#8 DER encoding
 * (private_der_len; the guides: RSA-2048 1217 or 1219, secp224r1 122, prime256v1 138); a public
 * key, the length of its raw public value (private_der_len unused): RSA modulus and exponent each
 * as long as the modulus (RSA-2048: 512, as every guide example shows), EC the X9.62 uncompressed
 * point (secp224r1: 57). The check value of RSA and EC keys is derived from the SPKI
 * (ohsm_obj_attr_get): the first 3 bytes of SHA-1 over the DER SubjectPublicKeyInfo.
 * Errors: OHSM_KEY_TYPE_INCONSISTENT (not an RSA/EC key), OHSM_ARGUMENTS_BAD,
 * OHSM_KEY_SIZE_RANGE, OHSM_DEVICE_ERROR (an EC record without a readable SPKI). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_obj_set_key_len(struct ohsm_obj *o, size_t private_der_len);

static inline uint64_t ohsm_handle_make(uint32_t slot, uint64_t seq)
{
    return seq << OHSM_HANDLE_SLOT_BITS | (slot & OHSM_SLOT_MAX);
}
static inline uint32_t ohsm_handle_slot(uint64_t h)
{
    return (uint32_t)(h & OHSM_SLOT_MAX);
}

#endif
