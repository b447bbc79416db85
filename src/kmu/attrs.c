/* SPDX-License-Identifier: Apache-2.0
 *
 * Key attributes for openhsm-kmu (see attrs.h): the getAttribute file, listAttributes, the
 * creation templates and the wrapped-key file format. The record printed is the HSM's answer and
 * the wrapped-key file is untrusted input: values are bounded by the record's own limits, text is
 * printed only when every byte is printable, and the file parser uses struct ohsm_rd (checked
 * reads, sticky failure, no trailing bytes).
 */
#include "kmu/attrs.h"

#include <stdlib.h>
#include <string.h>

#include "openhsm/rd.h"

/* The attributes of the guide's getAttribute -a 512 files, in their order (issue 11). Every key
 * has the first 17: getAttribute's AES example (attr cnt 17) and genSymKey's 3DES example.
 * RSA keys add modulus, size and exponent, then the six newer ones of genRSAKeyPair's example
 * (attr cnt 26, the newest page); EC keys add their point (OBJ_ATTR_MODULUS) and size
 * (OBJ_ATTR_MODULUS_BITS), as genECCKeyPair's example (attr cnt 19). */
static const uint32_t order_common[] = {
    OHSM_A_CLASS,     OHSM_A_KEY_TYPE,  OHSM_A_TOKEN,       OHSM_A_PRIVATE, OHSM_A_ENCRYPT,
    OHSM_A_DECRYPT,   OHSM_A_WRAP,      OHSM_A_UNWRAP,      OHSM_A_SIGN,    OHSM_A_VERIFY,
    OHSM_A_LOCAL,     OHSM_A_SENSITIVE, OHSM_A_EXTRACTABLE, OHSM_A_LABEL,   OHSM_A_ID,
    OHSM_A_VALUE_LEN, OHSM_A_KCV,
};
static const uint32_t order_rsa[] = {
    OHSM_A_MODULUS, OHSM_A_MODULUS_BITS,      OHSM_A_PUBLIC_EXPONENT,
    OHSM_A_TRUSTED, OHSM_A_WRAP_WITH_TRUSTED, OHSM_A_DESTROYABLE,
    OHSM_A_DERIVE,  OHSM_A_ALWAYS_SENSITIVE,  OHSM_A_NEVER_EXTRACTABLE,
};
static const uint32_t order_ec[] = {OHSM_A_MODULUS, OHSM_A_MODULUS_BITS};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* listAttributes: the guide page's list, in its order (local before modulus). */
static const uint32_t list_order[] = {
    OHSM_A_CLASS,       OHSM_A_TOKEN,        OHSM_A_PRIVATE,         OHSM_A_LABEL,
    OHSM_A_KEY_TYPE,    OHSM_A_ENCRYPT,      OHSM_A_DECRYPT,         OHSM_A_WRAP,
    OHSM_A_UNWRAP,      OHSM_A_SIGN,         OHSM_A_VERIFY,          OHSM_A_LOCAL,
    OHSM_A_MODULUS,     OHSM_A_MODULUS_BITS, OHSM_A_PUBLIC_EXPONENT, OHSM_A_VALUE_LEN,
    OHSM_A_EXTRACTABLE, OHSM_A_KCV,
};

/* The RSA modulus: "0x" and the hex digits, broken into lines of 80 characters (genRSAKeyPair's
 * example). */
#define MODULUS_LINE 80

/* Longest attribute value: a 4096-bit modulus is 512 bytes; the SPKI-sized buffer covers every
 * derived value. */
#define VAL_MAX (OHSM_SPKI_MAX + 16)

static bool printable(const uint8_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i] < 0x20 || v[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

static int hex(FILE *f, const uint8_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (fprintf(f, "%02x", v[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

static uint32_t be32(const uint8_t *v)
{
    return (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
}

/* "0x" + hex of v, broken every MODULUS_LINE characters (the prefix counts). */
static int hex_wrapped(FILE *f, const uint8_t *v, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t col = 2;

    if (fputs("0x", f) < 0) {
        return -1;
    }
    for (size_t i = 0; i < 2 * n; i++) {
        if (col == MODULUS_LINE) {
            if (fputc('\n', f) < 0) {
                return -1;
            }
            col = 0;
        }
        uint8_t b = v[i / 2];
        if (fputc(digits[i % 2 == 0 ? b >> 4 : b & 0xf], f) < 0) {
            return -1;
        }
        col++;
    }
    return fputc('\n', f) < 0 ? -1 : 0;
}

/* The field size in bits of an EC key's curve: what the KMU shows as its OBJ_ATTR_MODULUS_BITS. */
static uint32_t curve_bits(uint32_t curve)
{
    switch (curve) {
    case OHSM_CURVE_P224:
        return 224;
    case OHSM_CURVE_P256:
    case OHSM_CURVE_SECP256K1:
        return 256;
    case OHSM_CURVE_P384:
        return 384;
    case OHSM_CURVE_P521:
        return 521;
    default:
        return 0;
    }
}

/* The value of attribute id of o as key_mgmt_util shows it. An EC key's OBJ_ATTR_MODULUS is its
 * public point (X9.62, without CKA_EC_POINT's OCTET STRING header) and OBJ_ATTR_MODULUS_BITS its
 * curve's size, as genECCKeyPair's example lists them. */
static ohsm_rv value(const struct ohsm_obj *o, uint32_t id, uint8_t *v, size_t cap, size_t *n)
{
    bool ec = o->ktype == OHSM_KT_EC;

    if (ec && id == OHSM_A_MODULUS) {
        OHSM_TRY(ohsm_obj_attr_get(o, OHSM_A_EC_POINT, v, cap, n));
        size_t hdr = *n > 2 && v[1] == 0x81 ? 3 : 2;
        OHSM_ENSURE(*n > hdr && v[0] == 0x04, OHSM_ATTRIBUTE_TYPE_INVALID);
        memmove(v, v + hdr, *n - hdr);
        *n -= hdr;
        return OHSM_OK;
    }
    if (ec && id == OHSM_A_MODULUS_BITS) {
        uint32_t bits = curve_bits(o->curve);
        OHSM_ENSURE(bits != 0 && cap >= 4, OHSM_ATTRIBUTE_TYPE_INVALID);
        v[0] = (uint8_t)(bits >> 24);
        v[1] = (uint8_t)(bits >> 16);
        v[2] = (uint8_t)(bits >> 8);
        v[3] = (uint8_t)bits;
        *n = 4;
        return OHSM_OK;
    }
    return ohsm_obj_attr_get(o, id, v, cap, n);
}

/* One attribute: its name line and its value line(s). `all` picks the 512 dump's short forms
 * (0x04 for class, type and booleans); a single attribute's file has 8 digits (0x00000015). */
static ohsm_rv one(FILE *f, const struct ohsm_obj *o, const struct ohsm_attr_def *d, bool all,
                   size_t *value_len)
{
    uint8_t v[VAL_MAX];
    size_t n = 0;
    int w = 0;

    if (d->kmu == NULL || value(o, d->id, v, sizeof(v), &n) != OHSM_OK) {
        return OHSM_ATTRIBUTE_TYPE_INVALID;
    }
    *value_len = n;
    if (fprintf(f, "%s\n", d->kmu) < 0) {
        return OHSM_IO;
    }
    switch (d->kind) {
    case OHSM_AK_BOOL:
        w = fprintf(f, all ? "0x%02x\n" : "0x%08x\n", n == 1 ? v[0] : 0u);
        break;
    case OHSM_AK_U32: {
        uint32_t x = n == 4 ? be32(v) : 0;
        bool small = all && (d->id == OHSM_A_CLASS || d->id == OHSM_A_KEY_TYPE);
        w = fprintf(f, small ? "0x%02x\n" : "0x%08x\n", (unsigned)x);
        break;
    }
    case OHSM_AK_U64: {
        uint64_t x = 0;
        for (size_t i = 0; i < n && i < 8; i++) {
            x = x << 8 | v[i];
        }
        w = fprintf(f, "0x%016llx\n", (unsigned long long)x);
        break;
    }
    case OHSM_AK_STR:
    case OHSM_AK_BYTES:
        if (n > 0 && (d->id == OHSM_A_LABEL || d->id == OHSM_A_ID) && printable(v, n)) {
            w = fprintf(f, "%.*s\n", (int)n, (const char *)v);
        } else if (n == 0) {
            w = fprintf(f, "\n");
        } else if (d->id == OHSM_A_MODULUS && o->ktype == OHSM_KT_RSA) {
            w = hex_wrapped(f, v, n);
        } else {
            /* Check value, exponent, non-text label or id: 0x and hex. An EC point: bare hex on
             * one line, as genECCKeyPair's example. */
            bool prefix = d->id != OHSM_A_MODULUS;
            if ((prefix && fprintf(f, "0x") < 0) || hex(f, v, n) < 0) {
                return OHSM_IO;
            }
            w = fprintf(f, "\n");
        }
        break;
    }
    return w < 0 ? OHSM_IO : OHSM_OK;
}

/* The "size" of getAttribute's console line, modelled on the guide's examples: the 17 common
 * attributes are one fixed record of 444 bytes (the AES and 3DES examples print 444 for labels and
 * ids of different lengths), and every further attribute adds an 8-byte header and its value
 * (RSA-2048 public, exponent 0x010005, 20 attributes: 444 + 264 + 12 + 11 = 731; EC P-256 private,
 * 19 attributes: 444 + 73 + 12 = 529). */
#define COMMON_RECORD 444u
#define ATTR_HEADER 8u

/* Writes the attributes of ids that o has; counts them. With `sized`, adds each one's header and
 * value length to *size. */
static ohsm_rv some(FILE *f, const struct ohsm_obj *o, const uint32_t *ids, size_t nids,
                    bool sized, size_t *count, size_t *size)
{
    for (size_t i = 0; i < nids; i++) {
        const struct ohsm_attr_def *d = ohsm_attr_by_id(ids[i]);
        size_t n = 0;
        if (d == NULL) {
            continue;
        }
        ohsm_rv rv = one(f, o, d, true, &n);
        if (rv == OHSM_IO) {
            return rv;
        }
        if (rv == OHSM_OK) {
            *count += 1;
            *size += sized ? ATTR_HEADER + n : 0;
        }
    }
    return OHSM_OK;
}

ohsm_rv ohsm_kmu_attr_write(FILE *f, const struct ohsm_obj *o, uint32_t id, size_t *count,
                            size_t *size)
{
    *count = 0;
    *size = 0;
    if (id != OHSM_KMU_ATTR_ALL) {
        const struct ohsm_attr_def *d = ohsm_attr_by_id(id);
        size_t n = 0;
        if (d == NULL) {
            return OHSM_ATTRIBUTE_TYPE_INVALID;
        }
        ohsm_rv rv = one(f, o, d, false, &n);
        *count = rv == OHSM_OK ? 1 : 0;
        *size = rv == OHSM_OK ? ATTR_HEADER + n : 0;
        return rv;
    }
    /* The guide's -a 512 files begin with an empty line (getAttribute's, genSymKey's and
     * genECCKeyPair's examples). */
    if (fputc('\n', f) < 0) {
        return OHSM_IO;
    }
    OHSM_TRY(some(f, o, order_common, COUNT(order_common), false, count, size));
    *size = *count > 0 ? COMMON_RECORD : 0;
    if (o->ktype == OHSM_KT_RSA) {
        OHSM_TRY(some(f, o, order_rsa, COUNT(order_rsa), true, count, size));
    } else if (o->ktype == OHSM_KT_EC) {
        OHSM_TRY(some(f, o, order_ec, COUNT(order_ec), true, count, size));
    }
    return *count > 0 ? OHSM_OK : OHSM_ATTRIBUTE_TYPE_INVALID;
}

void ohsm_kmu_attr_list(FILE *f)
{
    (void)fprintf(f, "Following are the possible attribute values for getAttributes:\n\n");
    for (size_t i = 0; i < COUNT(list_order); i++) {
        const struct ohsm_attr_def *d = ohsm_attr_by_id(list_order[i]);
        if (d != NULL && d->kmu != NULL) {
            (void)fprintf(f, "      %-32s= %u\n", d->kmu, (unsigned)d->id);
        }
    }
}

/* Label, id, token and extractable: what every key the KMU makes carries. */
static void common(struct ohsm_tmpl_buf *b, const struct ohsm_kmu_keyopts *o, bool extractable)
{
    ohsm_tmpl_put_bytes(b, OHSM_A_LABEL, o->label, strlen(o->label));
    if (o->id != NULL && o->id_len > 0) {
        ohsm_tmpl_put_bytes(b, OHSM_A_ID, o->id, o->id_len);
    }
    ohsm_tmpl_put_bool(b, OHSM_A_TOKEN, o->token);
    ohsm_tmpl_put_bool(b, OHSM_A_EXTRACTABLE, extractable);
}

/* The usage flags, all given explicitly so the key does not depend on another tool's defaults. */
static void uses(struct ohsm_tmpl_buf *b, bool enc, bool dec, bool wrap, bool unwrap, bool sign,
                 bool verify)
{
    ohsm_tmpl_put_bool(b, OHSM_A_ENCRYPT, enc);
    ohsm_tmpl_put_bool(b, OHSM_A_DECRYPT, dec);
    ohsm_tmpl_put_bool(b, OHSM_A_WRAP, wrap);
    ohsm_tmpl_put_bool(b, OHSM_A_UNWRAP, unwrap);
    ohsm_tmpl_put_bool(b, OHSM_A_SIGN, sign);
    ohsm_tmpl_put_bool(b, OHSM_A_VERIFY, verify);
}

void ohsm_kmu_tmpl_secret(struct ohsm_tmpl_buf *b, uint32_t ktype, const struct ohsm_kmu_keyopts *o)
{
    bool aes = ktype == OHSM_KT_AES, des3 = ktype == OHSM_KT_DES3, hmac = !aes && !des3;
    ohsm_tmpl_init(b);
    common(b, o, o->extractable);
    /* Guide (getAttribute, genSymKey): KMU's AES keys encrypt, decrypt, wrap and unwrap and do
     * not sign; its 3DES keys encrypt and decrypt only; a generic secret is an HMAC key, so it
     * signs and verifies. */
    uses(b, !hmac, !hmac, aes, aes, hmac, hmac);
}

void ohsm_kmu_tmpl_private(struct ohsm_tmpl_buf *b, uint32_t ktype,
                           const struct ohsm_kmu_keyopts *o)
{
    bool rsa = ktype == OHSM_KT_RSA;
    ohsm_tmpl_init(b);
    common(b, o, o->extractable);
    /* Guide (genECCKeyPair): EC private keys sign only; RSA private keys also decrypt and unwrap
     * (the other half of an RSA wrapping pair). */
    uses(b, false, rsa, false, rsa, true, false);
}

void ohsm_kmu_tmpl_public(struct ohsm_tmpl_buf *b, uint32_t ktype, const struct ohsm_kmu_keyopts *o)
{
    bool rsa = ktype == OHSM_KT_RSA;
    ohsm_tmpl_init(b);
    /* Public keys are always extractable (guide, genRSAKeyPair -nex). */
    common(b, o, true);
    /* Guide (genRSAKeyPair): RSA public keys encrypt and verify; they also wrap, so a pair can
     * wrap with one half and unwrap with the other as wrapKey describes. */
    uses(b, rsa, false, rsa, false, false, true);
}

/* ---- wrapped key files ---- */

#define MAGIC_LEN 8

static bool put32(uint8_t **p, const uint8_t *end, uint32_t v)
{
    if (end - *p < 4) {
        return false;
    }
    (*p)[0] = (uint8_t)(v >> 24);
    (*p)[1] = (uint8_t)(v >> 16);
    (*p)[2] = (uint8_t)(v >> 8);
    (*p)[3] = (uint8_t)v;
    *p += 4;
    return true;
}

static bool putb(uint8_t **p, const uint8_t *end, const void *v, size_t n)
{
    if (n > UINT32_MAX || !put32(p, end, (uint32_t)n) || (size_t)(end - *p) < n) {
        return false;
    }
    if (n > 0) {
        memcpy(*p, v, n);
    }
    *p += n;
    return true;
}

ohsm_rv ohsm_kmu_wrapfile_encode(const struct ohsm_kmu_wrapfile *h, uint8_t **out, size_t *len)
{
    size_t label_len = strnlen(h->label, sizeof(h->label));
    size_t cap;
    uint8_t *buf, *p, *end;

    if (label_len > OHSM_LABEL_MAX || h->id_len > OHSM_OBJ_ID_MAX || h->wrapped_len > UINT32_MAX) {
        return OHSM_ARGUMENTS_BAD;
    }
    cap = MAGIC_LEN + 4 * 8 + label_len + h->id_len + h->wrapped_len;
    buf = malloc(cap);
    if (buf == NULL) {
        return OHSM_HOST_MEMORY;
    }
    p = buf;
    end = buf + cap;
    memcpy(p, OHSM_KMU_WRAP_MAGIC, MAGIC_LEN);
    p += MAGIC_LEN;
    if (!put32(&p, end, h->mech) || !put32(&p, end, h->hash) || !put32(&p, end, h->cls) ||
        !put32(&p, end, h->ktype) || !putb(&p, end, h->label, label_len) ||
        !putb(&p, end, h->id, h->id_len) || !put32(&p, end, h->tag_bits) ||
        !putb(&p, end, h->wrapped, h->wrapped_len) || p != end) {
        free(buf);
        return OHSM_ARGUMENTS_BAD; /* cannot happen: cap is exact */
    }
    *out = buf;
    *len = cap;
    return OHSM_OK;
}

bool ohsm_kmu_wrapfile_is(const uint8_t *buf, size_t len)
{
    return len >= MAGIC_LEN && memcmp(buf, OHSM_KMU_WRAP_MAGIC, MAGIC_LEN) == 0;
}

/* A length-prefixed field of at most max bytes. */
static const uint8_t *field(struct ohsm_rd *r, size_t max, size_t *n)
{
    uint32_t len = 0;
    const uint8_t *p = NULL;

    if (ohsm_rd_u32(r, &len) != OHSM_OK || len > max || ohsm_rd_bytes(r, len, &p) != OHSM_OK) {
        r->failed = true;
        return NULL;
    }
    *n = len;
    return p;
}

ohsm_rv ohsm_kmu_wrapfile_decode(const uint8_t *buf, size_t len, struct ohsm_kmu_wrapfile *h)
{
    struct ohsm_rd r;
    const uint8_t *magic = NULL, *label, *id, *wrapped;
    size_t label_len = 0, id_len = 0, wrapped_len = 0;

    memset(h, 0, sizeof(*h));
    ohsm_rd_init(&r, buf, len);
    if (ohsm_rd_bytes(&r, MAGIC_LEN, &magic) != OHSM_OK ||
        memcmp(magic, OHSM_KMU_WRAP_MAGIC, MAGIC_LEN) != 0) {
        return OHSM_DATA_INVALID;
    }
    if (ohsm_rd_u32(&r, &h->mech) != OHSM_OK || ohsm_rd_u32(&r, &h->hash) != OHSM_OK ||
        ohsm_rd_u32(&r, &h->cls) != OHSM_OK || ohsm_rd_u32(&r, &h->ktype) != OHSM_OK) {
        return OHSM_DATA_INVALID;
    }
    label = field(&r, OHSM_LABEL_MAX, &label_len);
    id = field(&r, OHSM_OBJ_ID_MAX, &id_len);
    if (ohsm_rd_u32(&r, &h->tag_bits) != OHSM_OK) {
        return OHSM_DATA_INVALID;
    }
    wrapped = field(&r, len, &wrapped_len);
    if (ohsm_rd_done(&r) != OHSM_OK || label == NULL || id == NULL || wrapped == NULL ||
        wrapped_len == 0 || !printable(label, label_len)) {
        memset(h, 0, sizeof(*h));
        return OHSM_DATA_INVALID;
    }
    memcpy(h->label, label, label_len);
    h->label[label_len] = '\0';
    if (id_len > 0) {
        memcpy(h->id, id, id_len);
    }
    h->id_len = id_len;
    h->wrapped = wrapped;
    h->wrapped_len = wrapped_len;
    return OHSM_OK;
}
