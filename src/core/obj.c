/* SPDX-License-Identifier: Apache-2.0
 *
 * Key objects: the attribute table (CloudHSM CLI and key_mgmt_util names, kinds, when each may be
 * given), enum names, templates and the canonical record codec. The attribute rules, creation
 * defaults and derived attributes are in obj_rules.c. Trusts nothing it decodes: records and
 * templates arrive from the wire and from databases. Pure: no I/O, no key material.
 */
#include "openhsm/obj.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/obj_int.h"
#include "openhsm/rd.h"
#include "openhsm/token.h"
#include "core/hex.h"

#define Y true
#define N false
/* CloudHSM CLI print order. ec-params last: PKCS#11 needs it, the CLI does not print it. */
static const struct ohsm_attr_def table[] = {
    {OHSM_A_KEY_TYPE, "key-type", "OBJ_ATTR_KEY_TYPE", OHSM_AK_U32, 0, Y, N},
    {OHSM_A_LABEL, "label", "OBJ_ATTR_LABEL", OHSM_AK_STR, 0, Y, Y},
    {OHSM_A_ID, "id", "OBJ_ATTR_ID", OHSM_AK_BYTES, 0, Y, Y},
    {OHSM_A_KCV, "check-value", "OBJ_ATTR_KCV", OHSM_AK_BYTES, 0, N, N},
    {OHSM_A_CLASS, "class", "OBJ_ATTR_CLASS", OHSM_AK_U32, 0, Y, N},
    {OHSM_A_ENCRYPT, "encrypt", "OBJ_ATTR_ENCRYPT", OHSM_AK_BOOL, OHSM_F_ENCRYPT, Y, Y},
    {OHSM_A_DECRYPT, "decrypt", "OBJ_ATTR_DECRYPT", OHSM_AK_BOOL, OHSM_F_DECRYPT, Y, Y},
    {OHSM_A_TOKEN, "token", "OBJ_ATTR_TOKEN", OHSM_AK_BOOL, OHSM_F_TOKEN, Y, Y},
    {OHSM_A_ALWAYS_SENSITIVE, "always-sensitive", "OBJ_ATTR_ALWAYS_SENSITIVE", OHSM_AK_BOOL,
     OHSM_F_ALWAYS_SENSITIVE, N, N},
    {OHSM_A_DERIVE, "derive", "OBJ_ATTR_DERIVE", OHSM_AK_BOOL, OHSM_F_DERIVE, Y, Y},
    {OHSM_A_DESTROYABLE, "destroyable", "OBJ_ATTR_DESTROYABLE", OHSM_AK_BOOL, OHSM_F_DESTROYABLE, Y,
     Y},
    {OHSM_A_EXTRACTABLE, "extractable", "OBJ_ATTR_EXTRACTABLE", OHSM_AK_BOOL, OHSM_F_EXTRACTABLE, Y,
     N},
    {OHSM_A_LOCAL, "local", "OBJ_ATTR_LOCAL", OHSM_AK_BOOL, OHSM_F_LOCAL, N, N},
    {OHSM_A_MODIFIABLE, "modifiable", "OBJ_ATTR_MODIFIABLE", OHSM_AK_BOOL, OHSM_F_MODIFIABLE, Y, Y},
    {OHSM_A_NEVER_EXTRACTABLE, "never-extractable", "OBJ_ATTR_NEVER_EXTRACTABLE", OHSM_AK_BOOL,
     OHSM_F_NEVER_EXTRACTABLE, N, N},
    {OHSM_A_PRIVATE, "private", "OBJ_ATTR_PRIVATE", OHSM_AK_BOOL, OHSM_F_PRIVATE, Y, Y},
    {OHSM_A_SENSITIVE, "sensitive", "OBJ_ATTR_SENSITIVE", OHSM_AK_BOOL, OHSM_F_SENSITIVE, Y, Y},
    {OHSM_A_SIGN, "sign", "OBJ_ATTR_SIGN", OHSM_AK_BOOL, OHSM_F_SIGN, Y, Y},
    {OHSM_A_TRUSTED, "trusted", "OBJ_ATTR_TRUSTED", OHSM_AK_BOOL, OHSM_F_TRUSTED, N, Y},
    {OHSM_A_UNWRAP, "unwrap", "OBJ_ATTR_UNWRAP", OHSM_AK_BOOL, OHSM_F_UNWRAP, Y, Y},
    {OHSM_A_VERIFY, "verify", "OBJ_ATTR_VERIFY", OHSM_AK_BOOL, OHSM_F_VERIFY, Y, Y},
    {OHSM_A_WRAP, "wrap", "OBJ_ATTR_WRAP", OHSM_AK_BOOL, OHSM_F_WRAP, Y, Y},
    {OHSM_A_WRAP_WITH_TRUSTED, "wrap-with-trusted", "OBJ_ATTR_WRAP_WITH_TRUSTED", OHSM_AK_BOOL,
     OHSM_F_WRAP_WITH_TRUSTED, Y, Y},
    {OHSM_A_VALUE_LEN, "key-length-bytes", "OBJ_ATTR_VALUE_LEN", OHSM_AK_U32, 0, Y, N},
    /* RSA keys: exponent, modulus, size, as the CLI guide's key generate-asymmetric-pair rsa and
     * key list --verbose print them. */
    {OHSM_A_PUBLIC_EXPONENT, "public-exponent", "OBJ_ATTR_PUBLIC_EXPONENT", OHSM_AK_BYTES, 0, Y, N},
    {OHSM_A_MODULUS, "modulus", "OBJ_ATTR_MODULUS", OHSM_AK_BYTES, 0, N, N},
    {OHSM_A_MODULUS_BITS, "modulus-size-bits", "OBJ_ATTR_MODULUS_BITS", OHSM_AK_U32, 0, Y, N},
    {OHSM_A_EC_POINT, "ec-point", "OBJ_ATTR_EC_POINT", OHSM_AK_BYTES, 0, N, N},
    {OHSM_A_CURVE, "curve", NULL, OHSM_AK_U32, 0, Y, N},
    /* Issue 5: given at creation only; the CLI prints them apart, under key-quorum-values. */
    {OHSM_A_QUORUM_MANAGE, "manage-key-quorum-value", NULL, OHSM_AK_U32, 0, Y, N},
    {OHSM_A_QUORUM_USE, "use-key-quorum-value", NULL, OHSM_AK_U32, 0, Y, N},
    /* Issue 15: given at creation only (by libopenhsm-pkcs11.so); no tool shows it. */
    {OHSM_A_ROLE_CLASS, NULL, NULL, OHSM_AK_U32, 0, Y, N},
    {OHSM_A_EC_PARAMS, NULL, "OBJ_ATTR_EC_PARAMS", OHSM_AK_BYTES, 0, Y, N},
};
#undef Y
#undef N
#define NATTR (sizeof(table) / sizeof(table[0]))

const struct ohsm_attr_def *ohsm_attr_table(size_t *n)
{
    if (n != NULL) {
        *n = NATTR;
    }
    return table;
}

const struct ohsm_attr_def *ohsm_attr_by_id(uint32_t id)
{
    for (size_t i = 0; i < NATTR; i++) {
        if (table[i].id == id) {
            return &table[i];
        }
    }
    return NULL;
}

const struct ohsm_attr_def *ohsm_attr_by_cli(const char *name)
{
    for (size_t i = 0; name != NULL && i < NATTR; i++) {
        if (table[i].cli != NULL && strcmp(table[i].cli, name) == 0) {
            return &table[i];
        }
    }
    return NULL;
}

const struct ohsm_attr_def *ohsm_attr_by_kmu(const char *name)
{
    for (size_t i = 0; name != NULL && i < NATTR; i++) {
        if (table[i].kmu != NULL && strcasecmp(table[i].kmu, name) == 0) {
            return &table[i];
        }
    }
    return NULL;
}

/* ---- enum names ---- */

struct name {
    uint32_t v;
    const char *s;
};
static const struct name ktypes[] = {{OHSM_KT_AES, "aes"},
                                     {OHSM_KT_DES3, "des3"},
                                     {OHSM_KT_GENERIC_SECRET, "generic-secret"},
                                     {OHSM_KT_RSA, "rsa"},
                                     {OHSM_KT_EC, "ec"}};
static const struct name classes[] = {{OHSM_CLASS_SECRET, "secret-key"},
                                      {OHSM_CLASS_PUBLIC, "public-key"},
                                      {OHSM_CLASS_PRIVATE, "private-key"}};
static const struct name curves[] = {
    {OHSM_CURVE_P256, "secp256r1"}, {OHSM_CURVE_P384, "secp384r1"},
    {OHSM_CURVE_P521, "secp521r1"}, {OHSM_CURVE_SECP256K1, "secp256k1"},
    {OHSM_CURVE_P224, "secp224r1"}, {OHSM_CURVE_P256, "prime256v1"}};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const struct name *t, size_t n, uint32_t v)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i].v == v) {
            return t[i].s;
        }
    }
    return NULL;
}

static int value_of(const struct name *t, size_t n, const char *s)
{
    for (size_t i = 0; s != NULL && i < n; i++) {
        if (strcasecmp(t[i].s, s) == 0) {
            return (int)t[i].v;
        }
    }
    return -1;
}

const char *ohsm_ktype_name(uint32_t ktype)
{
    return name_of(ktypes, COUNT(ktypes), ktype);
}
const char *ohsm_class_name(uint32_t cls)
{
    return name_of(classes, COUNT(classes), cls);
}
const char *ohsm_curve_name(uint32_t curve)
{
    return name_of(curves, COUNT(curves), curve);
}
int ohsm_ktype_from_name(const char *name)
{
    return value_of(ktypes, COUNT(ktypes), name);
}
int ohsm_class_from_name(const char *name)
{
    return value_of(classes, COUNT(classes), name);
}
int ohsm_curve_from_name(const char *name)
{
    return value_of(curves, COUNT(curves), name);
}

static bool class_ok(uint32_t v)
{
    return ohsm_class_name(v) != NULL;
}
static bool ktype_ok(uint32_t v)
{
    return ohsm_ktype_name(v) != NULL;
}
static bool curve_ok(uint32_t v)
{
    return v >= OHSM_CURVE_P256 && v <= OHSM_CURVE_P224;
}
static bool is_quorum(uint32_t id)
{
    return id == OHSM_A_QUORUM_MANAGE || id == OHSM_A_QUORUM_USE;
}

/* ---- values: sizes and shapes ---- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}
void ohsm_obj_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
void ohsm_obj_put64(uint8_t *p, uint64_t v)
{
    ohsm_obj_put32(p, (uint32_t)(v >> 32));
    ohsm_obj_put32(p + 4, (uint32_t)v);
}

/* Largest value of a string/bytes attribute (a 4096-bit modulus is 512 bytes; a P-521 ec-point
 * is 137 bytes of DER). */
static size_t max_len(uint32_t id)
{
    switch (id) {
    case OHSM_A_LABEL:
        return OHSM_LABEL_MAX;
    case OHSM_A_ID:
        return OHSM_OBJ_ID_MAX;
    case OHSM_A_KCV:
        return 3;
    case OHSM_A_MODULUS:
        return 512;
    case OHSM_A_PUBLIC_EXPONENT:
        return 512;
    case OHSM_A_EC_POINT:
        return 256;
    case OHSM_A_EC_PARAMS:
        return 64;
    case OHSM_A_OWNER:
        return OHSM_USERNAME_MAX;
    case OHSM_A_SHARED:
        return OHSM_USERNAME_MAX;
    case OHSM_A_SHARED_IDS:
        return 4 * OHSM_SHARE_MAX;
    case OHSM_A_SPKI:
        return OHSM_SPKI_MAX;
    default:
        return 0;
    }
}

/* Does this value have the shape its attribute needs? Enum values must be known ones. */
bool ohsm_obj_value_ok(const struct ohsm_attr_def *d, uint32_t len, const uint8_t *v)
{
    switch (d->kind) {
    case OHSM_AK_BOOL:
        return len == 1 && v[0] <= 1;
    case OHSM_AK_U64:
        return len == 8;
    case OHSM_AK_U32:
        if (len != 4) {
            return false;
        }
        if (d->id == OHSM_A_CLASS) {
            return class_ok(be32(v));
        }
        if (d->id == OHSM_A_KEY_TYPE) {
            return ktype_ok(be32(v));
        }
        if (d->id == OHSM_A_CURVE) {
            return curve_ok(be32(v));
        }
        if (is_quorum(d->id)) {
            return be32(v) <= OHSM_QUORUM_MAX;
        }
        if (d->id == OHSM_A_ROLE_CLASS) {
            return be32(v) <= OHSM_ROLE_WRAPPING;
        }
        return true;
    case OHSM_AK_STR:
        return len <= max_len(d->id) && (len == 0 || memchr(v, 0, len) == NULL);
    case OHSM_AK_BYTES:
        if (d->id == OHSM_A_KCV) {
            return len == 3;
        }
        return len <= max_len(d->id) && (len > 0 || d->id == OHSM_A_ID);
    }
    return false;
}

/* ---- writer shared by templates and records ---- */

static void wr_put(uint8_t *buf, size_t cap, size_t *len, bool *ovf, uint32_t id, const void *v,
                   size_t n)
{
    if (*ovf || n > UINT32_MAX || cap - *len < 8 || cap - *len - 8 < n) {
        *ovf = true;
        return;
    }
    ohsm_obj_put32(buf + *len, id);
    ohsm_obj_put32(buf + *len + 4, (uint32_t)n);
    if (n > 0) {
        memcpy(buf + *len + 8, v, n);
    }
    *len += 8 + n;
}

/* ---- templates ---- */

/* Walks the framing only: how many attributes, and is every length within the buffer? */
static ohsm_rv tmpl_count(const uint8_t *p, size_t n, size_t *count)
{
    struct ohsm_rd r;
    size_t c = 0;
    ohsm_rd_init(&r, p, n);
    while (r.off < r.len) {
        uint32_t id = 0, len = 0;
        const uint8_t *v = NULL;
        OHSM_ENSURE(ohsm_rd_u32(&r, &id) == OHSM_OK && ohsm_rd_u32(&r, &len) == OHSM_OK &&
                        ohsm_rd_bytes(&r, len, &v) == OHSM_OK,
                    OHSM_PROTOCOL);
        c++;
    }
    OHSM_TRY(ohsm_rd_done(&r));
    *count = c;
    return OHSM_OK;
}

ohsm_rv ohsm_tmpl_parse(const uint8_t *p, size_t n, struct ohsm_tmpl *out)
{
    struct ohsm_rd r;
    struct ohsm_tmpl t;
    size_t count = 0;

    OHSM_ENSURE(out != NULL && (p != NULL || n == 0), OHSM_ARGUMENTS_BAD);
    OHSM_TRY(tmpl_count(p, n, &count));
    OHSM_ENSURE(count <= OHSM_TMPL_MAX, OHSM_DATA_LEN_RANGE);
    t.n = 0;
    ohsm_rd_init(&r, p, n);
    while (r.off < r.len) {
        uint32_t id = 0, len = 0;
        const uint8_t *v = NULL;
        OHSM_ENSURE(ohsm_rd_u32(&r, &id) == OHSM_OK && ohsm_rd_u32(&r, &len) == OHSM_OK &&
                        ohsm_rd_bytes(&r, len, &v) == OHSM_OK && t.n < OHSM_TMPL_MAX,
                    OHSM_PROTOCOL);
        const struct ohsm_attr_def *d = ohsm_attr_by_id(id);
        /* Our top-bit ids are record-only, except curve, which the CLI shows and filters on. */
        OHSM_ENSURE(d != NULL, OHSM_ATTRIBUTE_TYPE_INVALID);
        OHSM_ENSURE(ohsm_obj_value_ok(d, len, v), OHSM_ATTRIBUTE_VALUE_INVALID);
        for (size_t i = 0; i < t.n; i++) {
            OHSM_ENSURE(t.a[i].id != id, OHSM_TEMPLATE_INCONSISTENT);
        }
        t.a[t.n].id = id;
        t.a[t.n].len = len;
        t.a[t.n].val = v;
        t.n++;
    }
    *out = t;
    return OHSM_OK;
}

void ohsm_tmpl_init(struct ohsm_tmpl_buf *b)
{
    b->len = 0;
    b->overflow = false;
}

void ohsm_tmpl_put_bool(struct ohsm_tmpl_buf *b, uint32_t id, bool v)
{
    uint8_t x = v ? 1 : 0;
    wr_put(b->buf, sizeof(b->buf), &b->len, &b->overflow, id, &x, 1);
}

void ohsm_tmpl_put_u32(struct ohsm_tmpl_buf *b, uint32_t id, uint32_t v)
{
    uint8_t x[4];
    ohsm_obj_put32(x, v);
    wr_put(b->buf, sizeof(b->buf), &b->len, &b->overflow, id, x, 4);
}

void ohsm_tmpl_put_bytes(struct ohsm_tmpl_buf *b, uint32_t id, const void *v, size_t len)
{
    wr_put(b->buf, sizeof(b->buf), &b->len, &b->overflow, id, v, len);
}

/* Hex digits (an odd count gets a leading zero nibble) into out; false when not hex or too long. */
static bool unhex(const char *s, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = strlen(s);
    size_t odd = n % 2;
    if ((n + 1) / 2 > cap) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (ohsm_hex_digit(s[i]) < 0) {
            return false;
        }
    }
    for (size_t i = 0, j = 0; i < n; j++) {
        int hi = (j == 0 && odd) ? 0 : ohsm_hex_digit(s[i++]);
        int lo = ohsm_hex_digit(s[i++]);
        out[j] = (uint8_t)(hi << 4 | lo);
    }
    *len = (n + 1) / 2;
    return true;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *v)
{
    char *end = NULL;
    if (s[0] < '0' || s[0] > '9') {
        return false; /* strtoull would accept blanks and a sign */
    }
    unsigned long long x = strtoull(s, &end, 10);
    if (*end != '\0' || x > max) {
        return false;
    }
    *v = x;
    return true;
}

static bool has_hex_prefix(const char *s)
{
    return s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
}

ohsm_rv ohsm_tmpl_put_text(struct ohsm_tmpl_buf *b, const char *name, const char *value)
{
    uint8_t buf[512];
    size_t n = 0;
    uint64_t u = 0;
    int e = -1;

    OHSM_ENSURE(b != NULL, OHSM_ARGUMENTS_BAD);
    const struct ohsm_attr_def *d = ohsm_attr_by_cli(name);
    OHSM_ENSURE(d != NULL, OHSM_ATTRIBUTE_TYPE_INVALID);
    OHSM_ENSURE(value != NULL, OHSM_ATTRIBUTE_VALUE_INVALID);
    switch (d->kind) {
    case OHSM_AK_BOOL:
        if (strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0) {
            ohsm_tmpl_put_bool(b, d->id, true);
        } else if (strcasecmp(value, "false") == 0 || strcmp(value, "0") == 0) {
            ohsm_tmpl_put_bool(b, d->id, false);
        } else {
            return OHSM_ATTRIBUTE_VALUE_INVALID;
        }
        break;
    case OHSM_AK_U32:
        if (d->id == OHSM_A_CLASS) {
            e = ohsm_class_from_name(value);
        } else if (d->id == OHSM_A_KEY_TYPE) {
            e = ohsm_ktype_from_name(value);
        } else if (d->id == OHSM_A_CURVE) {
            e = ohsm_curve_from_name(value);
        } else if (parse_u64(value, INT32_MAX, &u)) {
            e = (int)u;
        }
        OHSM_ENSURE(e >= 0, OHSM_ATTRIBUTE_VALUE_INVALID);
        ohsm_obj_put32(buf, (uint32_t)e);
        OHSM_ENSURE(ohsm_obj_value_ok(d, 4, buf), OHSM_ATTRIBUTE_VALUE_INVALID); /* ranges */
        ohsm_tmpl_put_u32(b, d->id, (uint32_t)e);
        break;
    case OHSM_AK_STR:
        n = strlen(value);
        OHSM_ENSURE(n <= max_len(d->id), OHSM_ATTRIBUTE_VALUE_INVALID);
        ohsm_tmpl_put_bytes(b, d->id, value, n);
        break;
    case OHSM_AK_BYTES:
        if (has_hex_prefix(value)) {
            OHSM_ENSURE(unhex(value + 2, buf, max_len(d->id), &n), OHSM_ATTRIBUTE_VALUE_INVALID);
        } else if (d->id == OHSM_A_ID) {
            n = strlen(value);
            OHSM_ENSURE(n <= OHSM_OBJ_ID_MAX, OHSM_ATTRIBUTE_VALUE_INVALID);
            memcpy(buf, value, n);
        } else if (d->id == OHSM_A_PUBLIC_EXPONENT && parse_u64(value, UINT64_MAX, &u)) {
            /* A decimal exponent, as big-endian bytes without leading zeros (PKCS#11 §2.1.2). */
            for (n = 0; u >> (8 * n) != 0 && n < 8; n++) {
            }
            for (size_t i = 0; i < n; i++) {
                buf[i] = (uint8_t)(u >> (8 * (n - 1 - i)));
            }
        } else {
            OHSM_ENSURE(unhex(value, buf, max_len(d->id), &n), OHSM_ATTRIBUTE_VALUE_INVALID);
        }
        OHSM_ENSURE(ohsm_obj_value_ok(d, (uint32_t)n, buf), OHSM_ATTRIBUTE_VALUE_INVALID);
        ohsm_tmpl_put_bytes(b, d->id, buf, n);
        break;
    default:
        return OHSM_ATTRIBUTE_TYPE_INVALID;
    }
    return b->overflow ? OHSM_DATA_LEN_RANGE : OHSM_OK;
}

/* ---- records ---- */

bool ohsm_obj_has(const struct ohsm_obj *o, uint32_t f)
{
    return (o->flags & f) != 0;
}

static ohsm_rv encode_to(const struct ohsm_obj *o, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t n = 0;
    bool ovf = false;
    uint8_t v[8];

    ohsm_obj_put64(v, o->handle);
    wr_put(out, cap, &n, &ovf, OHSM_A_HANDLE, v, 8);
    ohsm_obj_put64(v, o->version);
    wr_put(out, cap, &n, &ovf, OHSM_A_VERSION, v, 8);
    ohsm_obj_put32(v, o->cls);
    wr_put(out, cap, &n, &ovf, OHSM_A_CLASS, v, 4);
    ohsm_obj_put32(v, o->ktype);
    wr_put(out, cap, &n, &ovf, OHSM_A_KEY_TYPE, v, 4);
    for (size_t i = 0; i < NATTR; i++) {
        if (table[i].kind == OHSM_AK_BOOL) {
            v[0] = ohsm_obj_has(o, table[i].flag) ? 1 : 0;
            wr_put(out, cap, &n, &ovf, table[i].id, v, 1);
        }
    }
    /* Usernames are case-insensitive and kept lower-case (user.h); a caller's "Alice" is "alice".
     */
    size_t on = strnlen(o->owner, OHSM_USERNAME_MAX);
    char owner[OHSM_USERNAME_MAX];
    for (size_t i = 0; i < on; i++) {
        char c = o->owner[i];
        owner[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    wr_put(out, cap, &n, &ovf, OHSM_A_OWNER, owner, on);
    /* Shares are kept sorted (ohsm_obj_share, decode), so equal sets encode equally. */
    for (uint32_t i = 0; i < o->nshared && i < OHSM_SHARE_MAX; i++) {
        wr_put(out, cap, &n, &ovf, OHSM_A_SHARED, o->shared[i],
               strnlen(o->shared[i], OHSM_USERNAME_MAX));
    }
    if (o->owner_id != 0) {
        uint8_t ids[4 * OHSM_SHARE_MAX];
        uint32_t ns = o->nshared <= OHSM_SHARE_MAX ? o->nshared : OHSM_SHARE_MAX;
        ohsm_obj_put32(v, o->owner_id);
        wr_put(out, cap, &n, &ovf, OHSM_A_OWNER_ID, v, 4);
        for (uint32_t i = 0; i < ns; i++) {
            ohsm_obj_put32(ids + 4 * i, o->shared_id[i]);
        }
        wr_put(out, cap, &n, &ovf, OHSM_A_SHARED_IDS, ids, 4 * ns);
    }
    wr_put(out, cap, &n, &ovf, OHSM_A_LABEL, o->label, strnlen(o->label, OHSM_LABEL_MAX));
    wr_put(out, cap, &n, &ovf, OHSM_A_ID, o->id, o->id_len <= OHSM_OBJ_ID_MAX ? o->id_len : 0);
    ohsm_obj_put32(v, o->value_len);
    wr_put(out, cap, &n, &ovf, OHSM_A_VALUE_LEN, v, 4);
    ohsm_obj_put32(v, o->modulus_bits);
    wr_put(out, cap, &n, &ovf, OHSM_A_MODULUS_BITS, v, 4);
    ohsm_obj_put32(v, o->curve);
    wr_put(out, cap, &n, &ovf, OHSM_A_CURVE, v, 4);
    if (o->has_kcv) {
        wr_put(out, cap, &n, &ovf, OHSM_A_KCV, o->kcv, 3);
    }
    if (o->spki_len > 0 && o->spki_len <= OHSM_SPKI_MAX) {
        wr_put(out, cap, &n, &ovf, OHSM_A_SPKI, o->spki, o->spki_len);
    }
    /* Issue 5's quorum values only when set: a record made before them (no such attributes)
     * decodes with 0 and re-encodes to the same bytes, so sync digests of old keys stay. */
    if (o->quorum_manage != 0) {
        ohsm_obj_put32(v, o->quorum_manage);
        wr_put(out, cap, &n, &ovf, OHSM_A_QUORUM_MANAGE, v, 4);
    }
    if (o->quorum_use != 0) {
        ohsm_obj_put32(v, o->quorum_use);
        wr_put(out, cap, &n, &ovf, OHSM_A_QUORUM_USE, v, 4);
    }
    /* Issue 15's role class likewise: keys made without one keep their bytes. */
    if (o->role_class != 0) {
        ohsm_obj_put32(v, o->role_class);
        wr_put(out, cap, &n, &ovf, OHSM_A_ROLE_CLASS, v, 4);
    }
    OHSM_ENSURE(!ovf, OHSM_BUFFER_TOO_SMALL);
    *out_len = n;
    return OHSM_OK;
}

ohsm_rv ohsm_obj_encode(const struct ohsm_obj *o, uint8_t *out, size_t cap, size_t *out_len)
{
    OHSM_ENSURE(o != NULL && out_len != NULL && (out != NULL || cap == 0), OHSM_ARGUMENTS_BAD);
    return encode_to(o, out, cap, out_len);
}

static int cmp_share(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* A username as records hold it: valid and already lower-case. */
static bool canon_name(const uint8_t *v, uint32_t len, char *out)
{
    char tmp[OHSM_USERNAME_MAX + 1];
    if (len == 0 || len > OHSM_USERNAME_MAX) {
        return false;
    }
    memcpy(tmp, v, len);
    tmp[len] = '\0';
    if (ohsm_username_canon(tmp, out, OHSM_USERNAME_MAX + 1) != OHSM_OK) {
        return false;
    }
    return strcmp(tmp, out) == 0;
}

/* Record-only ids and their kinds (the user-visible ones come from the table). */
static enum ohsm_attr_kind rec_kind(uint32_t id, bool *known)
{
    *known = true;
    switch (id) {
    case OHSM_A_HANDLE:
    case OHSM_A_VERSION:
        return OHSM_AK_U64;
    case OHSM_A_OWNER:
    case OHSM_A_SHARED:
        return OHSM_AK_STR;
    case OHSM_A_OWNER_ID:
        return OHSM_AK_U32;
    case OHSM_A_SPKI:
    case OHSM_A_SHARED_IDS:
        return OHSM_AK_BYTES;
    default:
        break;
    }
    const struct ohsm_attr_def *d = ohsm_attr_by_id(id);
    *known = d != NULL;
    return d != NULL ? d->kind : OHSM_AK_BYTES;
}

static ohsm_rv decode_attr(struct ohsm_obj *o, uint32_t id, uint32_t len, const uint8_t *v)
{
    bool known = false;
    enum ohsm_attr_kind k = rec_kind(id, &known);
    OHSM_ENSURE(known, OHSM_PROTOCOL);
    switch (k) {
    case OHSM_AK_BOOL:
        OHSM_ENSURE(len == 1 && v[0] <= 1, OHSM_PROTOCOL);
        break;
    case OHSM_AK_U32:
        OHSM_ENSURE(len == 4, OHSM_PROTOCOL);
        break;
    case OHSM_AK_U64:
        OHSM_ENSURE(len == 8, OHSM_PROTOCOL);
        break;
    default:
        OHSM_ENSURE(len <= max_len(id), OHSM_PROTOCOL);
        break;
    }
    if (k == OHSM_AK_BOOL) {
        const struct ohsm_attr_def *d = ohsm_attr_by_id(id);
        o->flags = v[0] ? (o->flags | d->flag) : (o->flags & ~d->flag);
        return OHSM_OK;
    }
    switch (id) {
    case OHSM_A_HANDLE:
        o->handle = be64(v);
        break;
    case OHSM_A_VERSION:
        o->version = be64(v);
        break;
    case OHSM_A_CLASS:
        o->cls = be32(v);
        break;
    case OHSM_A_KEY_TYPE:
        o->ktype = be32(v);
        break;
    case OHSM_A_VALUE_LEN:
        o->value_len = be32(v);
        break;
    case OHSM_A_MODULUS_BITS:
        o->modulus_bits = be32(v);
        break;
    case OHSM_A_CURVE:
        o->curve = be32(v);
        break;
    case OHSM_A_QUORUM_MANAGE:
    case OHSM_A_QUORUM_USE:
        OHSM_ENSURE(be32(v) <= OHSM_QUORUM_MAX, OHSM_PROTOCOL);
        *(id == OHSM_A_QUORUM_MANAGE ? &o->quorum_manage : &o->quorum_use) = be32(v);
        break;
    case OHSM_A_ROLE_CLASS:
        o->role_class = be32(v);
        OHSM_ENSURE(o->role_class >= OHSM_ROLE_DATA && o->role_class <= OHSM_ROLE_WRAPPING,
                    OHSM_PROTOCOL);
        break;
    case OHSM_A_OWNER:
        OHSM_ENSURE(len == 0 || canon_name(v, len, o->owner), OHSM_PROTOCOL);
        break;
    case OHSM_A_SHARED:
        OHSM_ENSURE(o->nshared < OHSM_SHARE_MAX, OHSM_PROTOCOL);
        OHSM_ENSURE(canon_name(v, len, o->shared[o->nshared]), OHSM_PROTOCOL);
        o->nshared++;
        break;
    case OHSM_A_OWNER_ID:
        o->owner_id = be32(v);
        OHSM_ENSURE(o->owner_id != 0, OHSM_PROTOCOL);
        break;
    case OHSM_A_SHARED_IDS:
        /* The names come first (encoding order); one id per name, none zero. */
        OHSM_ENSURE(len % 4 == 0 && len / 4 == o->nshared, OHSM_PROTOCOL);
        for (uint32_t i = 0; i < o->nshared; i++) {
            o->shared_id[i] = be32(v + 4 * i);
            OHSM_ENSURE(o->shared_id[i] != 0, OHSM_PROTOCOL);
        }
        break;
    case OHSM_A_LABEL:
        OHSM_ENSURE(len == 0 || memchr(v, 0, len) == NULL, OHSM_PROTOCOL);
        memcpy(o->label, v, len);
        o->label[len] = '\0';
        break;
    case OHSM_A_ID:
        memcpy(o->id, v, len);
        o->id_len = len;
        break;
    case OHSM_A_KCV:
        OHSM_ENSURE(len == 3, OHSM_PROTOCOL);
        memcpy(o->kcv, v, 3);
        o->has_kcv = true;
        break;
    case OHSM_A_SPKI:
        OHSM_ENSURE(len > 0, OHSM_PROTOCOL);
        memcpy(o->spki, v, len);
        o->spki_len = len;
        break;
    default:
        return OHSM_PROTOCOL; /* derived attributes are never stored */
    }
    return OHSM_OK;
}

/* Class, type and curve must be known and fit together. */
static bool shape_ok(const struct ohsm_obj *o)
{
    bool secret = o->ktype == OHSM_KT_AES || o->ktype == OHSM_KT_DES3 ||
                  o->ktype == OHSM_KT_GENERIC_SECRET;
    if (!class_ok(o->cls) || !ktype_ok(o->ktype)) {
        return false;
    }
    if (secret != (o->cls == OHSM_CLASS_SECRET)) {
        return false;
    }
    return o->ktype == OHSM_KT_EC ? curve_ok(o->curve) : o->curve == OHSM_CURVE_NONE;
}

ohsm_rv ohsm_obj_decode(const uint8_t *p, size_t n, struct ohsm_obj *out)
{
    ohsm_rv rv = OHSM_PROTOCOL;
    struct ohsm_rd r;
    struct ohsm_obj *o = NULL;
    uint8_t *re = NULL;
    size_t re_len = 0;
    uint32_t seen[64];
    size_t nseen = 0;

    OHSM_ENSURE(out != NULL && (p != NULL || n == 0), OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(n <= OHSM_OBJ_ENC_MAX, OHSM_PROTOCOL);
    o = calloc(1, sizeof(*o));
    re = malloc(OHSM_OBJ_ENC_MAX);
    if (o == NULL || re == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    ohsm_rd_init(&r, p, n);
    while (r.off < r.len) {
        uint32_t id = 0, len = 0;
        const uint8_t *v = NULL;
        if (ohsm_rd_u32(&r, &id) != OHSM_OK || ohsm_rd_u32(&r, &len) != OHSM_OK ||
            ohsm_rd_bytes(&r, len, &v) != OHSM_OK) {
            goto out;
        }
        if (id != OHSM_A_SHARED) {
            for (size_t i = 0; i < nseen; i++) {
                if (seen[i] == id) {
                    goto out;
                }
            }
            if (nseen == sizeof(seen) / sizeof(seen[0])) {
                goto out;
            }
            seen[nseen++] = id;
        }
        if (decode_attr(o, id, len, v) != OHSM_OK) {
            goto out;
        }
    }
    if (ohsm_rd_done(&r) != OHSM_OK || !shape_ok(o) || !ohsm_obj_roles_ok(o)) {
        goto out;
    }
    for (uint32_t i = 0; i < o->nshared; i++) {
        if (strcmp(o->shared[i], o->owner) == 0 ||
            (o->owner_id != 0 && o->shared_id[i] == o->owner_id)) {
            goto out;
        }
    }
    qsort(o->shared, o->nshared, sizeof(o->shared[0]), cmp_share);
    for (uint32_t i = 1; i < o->nshared; i++) {
        if (strcmp(o->shared[i - 1], o->shared[i]) == 0) {
            goto out;
        }
    }
    /* One object, one encoding: anything but the canonical bytes is refused, so sync digests
     * over records cannot differ for equal objects. */
    if (encode_to(o, re, OHSM_OBJ_ENC_MAX, &re_len) != OHSM_OK || re_len != n ||
        memcmp(re, p, n) != 0) {
        goto out;
    }
    *out = *o;
    rv = OHSM_OK;
out:
    free(o);
    free(re);
    return rv;
}
