/* SPDX-License-Identifier: Apache-2.0
 *
 * Argument parsing for the key and crypto commands of openhsm-cli (see keyarg.h). Pure: no I/O.
 * Every value is user input; parsers accept the whole string or nothing, and messages quote only
 * the names a user typed (attribute values may be secrets such as an id, so they are not echoed).
 */
#include "cli/keyarg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cli/grammar.h"
#include "core/hex.h"
#include "openhsm/token.h"

void ohsm_cli_keyref(uint64_t h, char buf[OHSM_CLI_KEYREF_LEN])
{
    /* 18 characters and a NUL always fit. */
    (void)ohsm_cli_fmt(buf, OHSM_CLI_KEYREF_LEN, "0x%016llx", (unsigned long long)h);
}

bool ohsm_cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    int base = 10;
    const char *p = s;
    char *end = NULL;

    if (s == NULL) {
        return false;
    }
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    /* strtoull accepts blanks and signs; a number here is digits only. */
    if (*p == '\0') {
        return false;
    }
    for (const char *q = p; *q != '\0'; q++) {
        bool dec = *q >= '0' && *q <= '9';
        bool hex = (*q >= 'a' && *q <= 'f') || (*q >= 'A' && *q <= 'F');
        if (!dec && !(base == 16 && hex)) {
            return false;
        }
    }
    errno = 0;
    unsigned long long v = strtoull(p, &end, base);
    if (errno != 0 || end == NULL || *end != '\0' || v < min || v > max) {
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

__attribute__((format(printf, 4, 5))) static ohsm_rv fail(ohsm_rv rv, char *err, size_t cap,
                                                          const char *fmt, ...)
{
    va_list ap;
    char tmp[512];
    va_start(ap, fmt);
    int r = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    (void)ohsm_cli_fmt(err, cap, "%s", r < 0 ? ohsm_rv_str(rv) : tmp);
    return rv;
}

static bool seen_id(const uint32_t *ids, size_t nids, uint32_t id)
{
    for (size_t i = 0; i < nids; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

/* Issue 11: the CLI prints ec-point as the uncompressed X9.62 point ("0x04" + x + y, the guide's
 * key generate-asymmetric-pair ec); records keep CKA_EC_POINT's DER OCTET STRING. A point of
 * one of our curves' sizes (secp224r1 57, P-256/secp256k1 65, P-384 97, P-521 133 bytes; none of
 * them the length of a wrapped point) is wrapped; anything else goes through as given. */
static ohsm_rv ec_point_put(struct ohsm_tmpl_buf *b, const char *value)
{
    uint8_t v[3 + 133];
    size_t n = 0;

    if (!ohsm_cli_hex_decode(value, v + 3, sizeof(v) - 3, &n) || n == 0 || v[3] != 0x04 ||
        (n != 57 && n != 65 && n != 97 && n != 133)) {
        return ohsm_tmpl_put_text(b, "ec-point", value);
    }
    size_t hdr = n < 128 ? 2 : 3;
    uint8_t *p = v + 3 - hdr;
    p[0] = 0x04;
    if (hdr == 2) {
        p[1] = (uint8_t)n;
    } else {
        p[1] = 0x81;
        p[2] = (uint8_t)n;
    }
    ohsm_tmpl_put_bytes(b, OHSM_A_EC_POINT, p, hdr + n);
    return OHSM_OK;
}

ohsm_rv ohsm_cli_attr_put(struct ohsm_tmpl_buf *b, enum ohsm_cli_attr_use use, const char *name,
                          const char *value, uint32_t *ids, size_t *nids, char *err, size_t cap)
{
    const struct ohsm_attr_def *d = ohsm_attr_by_cli(name);
    ohsm_rv rv = OHSM_OK;

    if (d == NULL) {
        return fail(OHSM_ATTRIBUTE_TYPE_INVALID, err, cap, "Unknown key attribute '%s'", name);
    }
    if (use == OHSM_CLI_ATTR_CREATE && !d->at_create) {
        return fail(OHSM_ATTRIBUTE_READ_ONLY, err, cap,
                    "Key attribute '%s' cannot be given when a key is created", name);
    }
    if (use == OHSM_CLI_ATTR_SET && !d->settable) {
        return fail(OHSM_ATTRIBUTE_READ_ONLY, err, cap, "Key attribute '%s' cannot be changed",
                    name);
    }
    if (seen_id(ids, *nids, d->id)) {
        return fail(OHSM_TEMPLATE_INCONSISTENT, err, cap, "Key attribute '%s' given more than once",
                    name);
    }
    if (*nids >= OHSM_TMPL_MAX) {
        return fail(OHSM_DATA_LEN_RANGE, err, cap, "Too many key attributes (at most %d)",
                    OHSM_TMPL_MAX);
    }
    if (value[0] == '\0') {
        return fail(OHSM_ATTRIBUTE_VALUE_INVALID, err, cap, "Key attribute '%s' needs a value",
                    name);
    }
    /* One text parser for every front end (names for key-type, class and curve; hex for byte
     * values; true/false): the core's. An ec-point as the CLI prints it (the X9.62 point) is
     * wrapped in the DER OCTET STRING the records compare. */
    rv = d->id == OHSM_A_EC_POINT ? ec_point_put(b, value) : ohsm_tmpl_put_text(b, name, value);
    if (rv != OHSM_OK) {
        return fail(rv, err, cap, "Invalid value for key attribute '%s': %s", name,
                    ohsm_rv_str(rv));
    }
    if (b->overflow) {
        return fail(OHSM_DATA_LEN_RANGE, err, cap, "Key attributes too long");
    }
    ids[(*nids)++] = d->id;
    return OHSM_OK;
}

ohsm_rv ohsm_cli_quorum_put(struct ohsm_tmpl_buf *b, const char *manage, const char *use,
                            uint32_t *ids, size_t *nids, char *err, size_t cap)
{
    static const char *const opt[] = {"--manage-key-quorum-value", "--use-key-quorum-value"};
    static const uint32_t id[] = {OHSM_A_QUORUM_MANAGE, OHSM_A_QUORUM_USE};
    const char *given[] = {manage, use};
    uint64_t v[2] = {0, 0};

    /* Check both before appending either, so a refusal leaves b as it was. */
    for (size_t i = 0; i < 2; i++) {
        if (given[i] == NULL) {
            continue;
        }
        if (!ohsm_cli_parse_u64(given[i], 0, OHSM_QUORUM_MAX, &v[i])) {
            return fail(OHSM_ARGUMENTS_BAD, err, cap, "%s must be a number from 0 to %d", opt[i],
                        OHSM_QUORUM_MAX);
        }
        if (seen_id(ids, *nids, id[i])) {
            return fail(OHSM_TEMPLATE_INCONSISTENT, err, cap,
                        "%s and the same attribute in the key attributes cannot both be given",
                        opt[i]);
        }
    }
    size_t want = (size_t)(given[0] != NULL) + (size_t)(given[1] != NULL);
    if (*nids + want > OHSM_TMPL_MAX) {
        return fail(OHSM_DATA_LEN_RANGE, err, cap, "Too many key attributes (at most %d)",
                    OHSM_TMPL_MAX);
    }
    for (size_t i = 0; i < 2; i++) {
        if (given[i] != NULL) {
            ohsm_tmpl_put_u32(b, id[i], (uint32_t)v[i]);
            ids[(*nids)++] = id[i];
        }
    }
    if (b->overflow) {
        return fail(OHSM_DATA_LEN_RANGE, err, cap, "Key attributes too long");
    }
    return OHSM_OK;
}

/* Splits "NAME=VALUE" at the first '=' into name (copied, cap bytes) and *value (borrowed). */
static bool split_term(const char *t, char *name, size_t cap, const char **value)
{
    const char *eq = strchr(t, '=');
    if (eq == NULL || eq == t || (size_t)(eq - t) >= cap) {
        return false;
    }
    memcpy(name, t, (size_t)(eq - t));
    name[eq - t] = '\0';
    *value = eq + 1;
    return true;
}

ohsm_rv ohsm_cli_attrs_parse(const char *what, enum ohsm_cli_attr_use use, const char *const *terms,
                             size_t n, struct ohsm_tmpl_buf *b, uint32_t *ids, size_t *nids,
                             char *err, size_t cap)
{
    for (size_t i = 0; i < n; i++) {
        char name[64];
        const char *value;
        if (!split_term(terms[i], name, sizeof(name), &value)) {
            return fail(OHSM_ARGUMENTS_BAD, err, cap,
                        "Invalid %s term: expected KEY_ATTRIBUTE_NAME=KEY_ATTRIBUTE_VALUE", what);
        }
        OHSM_TRY(ohsm_cli_attr_put(b, use, name, value, ids, nids, err, cap));
    }
    return OHSM_OK;
}

ohsm_rv ohsm_cli_filter_parse(const char *what, const char *const *terms, size_t n,
                              struct ohsm_cli_filter *f, char *err, size_t cap)
{
    static const char ref[] = "key-reference=";
    static const char attr[] = "attr.";
    uint32_t ids[OHSM_TMPL_MAX];
    size_t nids = 0;

    memset(f, 0, sizeof(*f));
    ohsm_tmpl_init(&f->tmpl);
    if (n == 0) {
        return fail(OHSM_ARGUMENTS_BAD, err, cap, "%s needs at least one term", what);
    }
    for (size_t i = 0; i < n; i++) {
        const char *t = terms[i];
        if (strncmp(t, ref, sizeof(ref) - 1) == 0) {
            if (f->by_ref) {
                return fail(OHSM_ARGUMENTS_BAD, err, cap, "%s has more than one key-reference",
                            what);
            }
            if (!ohsm_cli_parse_u64(t + sizeof(ref) - 1, 1, UINT64_MAX, &f->handle)) {
                return fail(OHSM_ARGUMENTS_BAD, err, cap,
                            "Invalid key-reference in %s: expected a number such as 0x1f or 31",
                            what);
            }
            f->by_ref = true;
            continue;
        }
        if (strncmp(t, attr, sizeof(attr) - 1) != 0) {
            return fail(OHSM_ARGUMENTS_BAD, err, cap,
                        "Invalid %s term: expected key-reference=0x... or "
                        "attr.KEY_ATTRIBUTE_NAME=KEY_ATTRIBUTE_VALUE",
                        what);
        }
        char name[64];
        const char *value;
        if (!split_term(t + sizeof(attr) - 1, name, sizeof(name), &value)) {
            return fail(OHSM_ARGUMENTS_BAD, err, cap,
                        "Invalid %s term: expected attr.KEY_ATTRIBUTE_NAME=KEY_ATTRIBUTE_VALUE",
                        what);
        }
        OHSM_TRY(
            ohsm_cli_attr_put(&f->tmpl, OHSM_CLI_ATTR_FILTER, name, value, ids, &nids, err, cap));
        f->nterms++;
    }
    return OHSM_OK;
}

bool ohsm_cli_key_type_class(const char *s, uint32_t *cls, uint32_t *ktype)
{
    static const struct {
        const char *name;
        uint32_t cls, ktype;
    } map[] = {
        {"aes", OHSM_CLASS_SECRET, OHSM_KT_AES},
        {"des3", OHSM_CLASS_SECRET, OHSM_KT_DES3},
        {"generic-secret", OHSM_CLASS_SECRET, OHSM_KT_GENERIC_SECRET},
        {"rsa-private", OHSM_CLASS_PRIVATE, OHSM_KT_RSA},
        {"ec-private", OHSM_CLASS_PRIVATE, OHSM_KT_EC},
        {"rsa-public", OHSM_CLASS_PUBLIC, OHSM_KT_RSA},
        {"ec-public", OHSM_CLASS_PUBLIC, OHSM_KT_EC},
    };
    for (size_t i = 0; s != NULL && i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(s, map[i].name) == 0) {
            *cls = map[i].cls;
            *ktype = map[i].ktype;
            return true;
        }
    }
    return false;
}

uint32_t ohsm_cli_mgf(const char *s)
{
    static const char prefix[] = "mgf1-";
    if (s == NULL || strncmp(s, prefix, sizeof(prefix) - 1) != 0) {
        return OHSM_H_NONE;
    }
    int h = ohsm_hash_from_name(s + sizeof(prefix) - 1);
    return h > 0 ? (uint32_t)h : OHSM_H_NONE;
}

uint32_t ohsm_cli_mech(enum ohsm_cli_mech_family fam, const char *word)
{
    static const struct {
        enum ohsm_cli_mech_family fam;
        const char *word;
        uint32_t mech;
    } map[] = {
        {OHSM_CLI_MF_WRAP, "aes-gcm", OHSM_M_AES_GCM},
        {OHSM_CLI_MF_WRAP, "aes-no-pad", OHSM_M_AES_KW},
        {OHSM_CLI_MF_WRAP, "aes-pkcs5-pad", OHSM_M_AES_KW_PKCS5},
        {OHSM_CLI_MF_WRAP, "aes-zero-pad", OHSM_M_AES_KW_ZERO},
        {OHSM_CLI_MF_WRAP, "aes-kwp", OHSM_M_AES_KWP},
        {OHSM_CLI_MF_WRAP, "cloudhsm-aes-gcm", OHSM_M_AES_GCM},
        {OHSM_CLI_MF_WRAP, "rsa-aes", OHSM_M_RSA_AES_KW},
        {OHSM_CLI_MF_WRAP, "rsa-oaep", OHSM_M_RSA_OAEP},
        {OHSM_CLI_MF_WRAP, "rsa-pkcs", OHSM_M_RSA_PKCS},
        {OHSM_CLI_MF_SIGN, "rsa-pkcs", OHSM_M_RSA_PKCS},
        {OHSM_CLI_MF_SIGN, "rsa-pkcs-pss", OHSM_M_RSA_PSS},
        {OHSM_CLI_MF_SIGN, "ecdsa", OHSM_M_ECDSA},
        {OHSM_CLI_MF_SIGN, "hmac", OHSM_M_HMAC},
        {OHSM_CLI_MF_CIPHER, "aes-gcm", OHSM_M_AES_GCM},
        {OHSM_CLI_MF_CIPHER, "aes-cbc", OHSM_M_AES_CBC_PAD},
        {OHSM_CLI_MF_CIPHER, "aes-ctr", OHSM_M_AES_CTR},
        {OHSM_CLI_MF_CIPHER, "aes-ecb", OHSM_M_AES_ECB},
        {OHSM_CLI_MF_CIPHER, "rsa-oaep", OHSM_M_RSA_OAEP},
    };
    for (size_t i = 0; word != NULL && i < sizeof(map) / sizeof(map[0]); i++) {
        if (map[i].fam == fam && strcmp(map[i].word, word) == 0) {
            return map[i].mech;
        }
    }
    return OHSM_M_NONE;
}

bool ohsm_cli_hex_decode(const char *s, uint8_t *out, size_t cap, size_t *len)
{
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
    }
    size_t n = strlen(s);
    if (n % 2 != 0 || n / 2 > cap) {
        return false;
    }
    for (size_t i = 0; i < n / 2; i++) {
        int hi = ohsm_hex_digit(s[2 * i]);
        int lo = ohsm_hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            OPENSSL_cleanse(out, i);
            return false;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *len = n / 2;
    return true;
}

bool ohsm_cli_hex_encode(const uint8_t *in, size_t len, bool prefix, char *out, size_t cap)
{
    static const char digits[] = "0123456789abcdef";
    size_t need = 2 * len + 1 + (prefix ? 2 : 0);
    size_t o = 0;
    if (len > (SIZE_MAX - 3) / 2 || cap < need) {
        if (cap > 0) {
            out[0] = '\0';
        }
        return false;
    }
    if (prefix) {
        out[o++] = '0';
        out[o++] = 'x';
    }
    for (size_t i = 0; i < len; i++) {
        out[o++] = digits[in[i] >> 4];
        out[o++] = digits[in[i] & 0x0f];
    }
    out[o] = '\0';
    return true;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

bool ohsm_cli_b64_decode(const char *s, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = strlen(s);
    size_t o = 0;
    if (n % 4 != 0) {
        return false;
    }
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        size_t pad = 0;
        bool last = i + 4 == n;
        for (size_t k = 0; k < 4; k++) {
            char c = s[i + k];
            /* '=' only at the end: "xx==" or "xxx=". */
            if (c == '=' && last && k >= 2 && (k == 3 || s[i + 3] == '=')) {
                v[k] = 0;
                pad++;
                continue;
            }
            v[k] = b64val(c);
            if (v[k] < 0 || pad > 0) {
                goto bad;
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        size_t take = 3 - pad;
        if (cap - o < take) {
            goto bad;
        }
        /* Padding bits must be zero (canonical encoding). */
        if ((pad == 1 && (w & 0xff) != 0) || (pad == 2 && (w & 0xffff) != 0)) {
            goto bad;
        }
        uint8_t tri[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
        memcpy(out + o, tri, take);
        OPENSSL_cleanse(tri, sizeof(tri));
        o += take;
    }
    *len = o;
    return true;
bad:
    OPENSSL_cleanse(out, o);
    return false;
}

char *ohsm_cli_b64_encode(const uint8_t *in, size_t len)
{
    /* EVP_EncodeBlock counts in int; no CLI input comes near this. */
    if (len > (size_t)INT32_MAX / 2) {
        return NULL;
    }
    size_t need = (len + 2) / 3 * 4 + 1;
    char *out = malloc(need);
    if (out == NULL) {
        return NULL;
    }
    /* EVP_EncodeBlock writes no newlines and NUL-terminates. */
    (void)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return out;
}
