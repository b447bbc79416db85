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

/* The order of the guide's getAttribute -a 512 files; attributes the table has beyond these
 * follow in the table's order. */
static const uint32_t guide_order[] = {
    OHSM_A_CLASS,       OHSM_A_KEY_TYPE, OHSM_A_TOKEN,        OHSM_A_PRIVATE,
    OHSM_A_ENCRYPT,     OHSM_A_DECRYPT,  OHSM_A_WRAP,         OHSM_A_UNWRAP,
    OHSM_A_SIGN,        OHSM_A_VERIFY,   OHSM_A_LOCAL,        OHSM_A_SENSITIVE,
    OHSM_A_EXTRACTABLE, OHSM_A_LABEL,    OHSM_A_ID,           OHSM_A_VALUE_LEN,
    OHSM_A_KCV,         OHSM_A_MODULUS,  OHSM_A_MODULUS_BITS, OHSM_A_PUBLIC_EXPONENT,
};
#define NGUIDE (sizeof(guide_order) / sizeof(guide_order[0]))

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

/* One attribute: its name line and its value line. `all` picks the 512 dump's short forms. */
static ohsm_rv one(FILE *f, const struct ohsm_obj *o, const struct ohsm_attr_def *d, bool all)
{
    uint8_t v[VAL_MAX];
    size_t n = 0;
    int w = 0;

    if (d->kmu == NULL || ohsm_obj_attr_get(o, d->id, v, sizeof(v), &n) != OHSM_OK) {
        return OHSM_ATTRIBUTE_TYPE_INVALID;
    }
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
        } else {
            /* Short values read as numbers (check value, exponent); long ones as the guide's
             * bare hex (modulus, EC point). */
            bool prefix = n <= 8 || d->id == OHSM_A_LABEL || d->id == OHSM_A_ID;
            if ((prefix && fprintf(f, "0x") < 0) || hex(f, v, n) < 0) {
                return OHSM_IO;
            }
            w = fprintf(f, "\n");
        }
        break;
    }
    return w < 0 ? OHSM_IO : OHSM_OK;
}

static bool seen_in_guide(uint32_t id)
{
    for (size_t i = 0; i < NGUIDE; i++) {
        if (guide_order[i] == id) {
            return true;
        }
    }
    return false;
}

ohsm_rv ohsm_kmu_attr_write(FILE *f, const struct ohsm_obj *o, uint32_t id, size_t *count)
{
    size_t n = 0;
    const struct ohsm_attr_def *tab = ohsm_attr_table(&n);

    *count = 0;
    if (id != OHSM_KMU_ATTR_ALL) {
        const struct ohsm_attr_def *d = ohsm_attr_by_id(id);
        if (d == NULL) {
            return OHSM_ATTRIBUTE_TYPE_INVALID;
        }
        ohsm_rv rv = one(f, o, d, false);
        *count = rv == OHSM_OK ? 1 : 0;
        return rv;
    }
    for (size_t i = 0; i < NGUIDE; i++) {
        const struct ohsm_attr_def *d = ohsm_attr_by_id(guide_order[i]);
        if (d == NULL) {
            continue;
        }
        ohsm_rv rv = one(f, o, d, true);
        if (rv == OHSM_IO) {
            return rv;
        }
        *count += rv == OHSM_OK ? 1 : 0;
    }
    for (size_t i = 0; tab != NULL && i < n; i++) {
        if (seen_in_guide(tab[i].id)) {
            continue;
        }
        ohsm_rv rv = one(f, o, &tab[i], true);
        if (rv == OHSM_IO) {
            return rv;
        }
        *count += rv == OHSM_OK ? 1 : 0;
    }
    return *count > 0 ? OHSM_OK : OHSM_ATTRIBUTE_TYPE_INVALID;
}

static int by_id(const void *a, const void *b)
{
    uint32_t x = (*(const struct ohsm_attr_def *const *)a)->id;
    uint32_t y = (*(const struct ohsm_attr_def *const *)b)->id;
    return x < y ? -1 : x > y;
}

void ohsm_kmu_attr_list(FILE *f)
{
    size_t n = 0, k = 0;
    const struct ohsm_attr_def *tab = ohsm_attr_table(&n);
    const struct ohsm_attr_def *sorted[OHSM_TMPL_MAX];

    for (size_t i = 0; tab != NULL && i < n && k < OHSM_TMPL_MAX; i++) {
        if (tab[i].kmu != NULL) {
            sorted[k++] = &tab[i];
        }
    }
    /* By constant, as the guide lists them. */
    qsort(sorted, k, sizeof(sorted[0]), by_id);
    (void)fprintf(f, "Following are the possible attribute values for getAttribute:\n\n");
    for (size_t i = 0; i < k; i++) {
        (void)fprintf(f, "      %-32s= %u\n", sorted[i]->kmu, (unsigned)sorted[i]->id);
    }
    (void)fprintf(f, "\n      %-32s= %u\n", "(all attributes)", OHSM_KMU_ATTR_ALL);
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
    bool aes = ktype == OHSM_KT_AES;
    ohsm_tmpl_init(b);
    common(b, o, o->extractable);
    /* Guide (getAttribute, genSymKey): KMU's AES keys encrypt, decrypt, wrap and unwrap and do
     * not sign; a generic secret is an HMAC key, so it signs and verifies. */
    uses(b, aes, aes, aes, aes, !aes, !aes);
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
