/* SPDX-License-Identifier: Apache-2.0
 *
 * SigV4 (see sigv4.h). The canonical request follows the AWS General Reference and botocore's
 * SigV4Auth (what the aws CLI and boto3 send): the URI path percent-encoded once more (non-S3
 * services double-encode), the query string decoded then re-encoded with RFC 3986 unreserved
 * characters kept and pairs sorted by name then value, each signed header's values (all
 * occurrences, comma-joined) trimmed with inner whitespace runs collapsed to one space.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "http/form.h"
#include "http/sigv4.h"

/* ---- a bounded string builder ---- */

struct sb {
    char *p;
    size_t len;
    size_t cap;
    bool failed;
    bool nomem;
};

static void sb_put(struct sb *s, const char *d, size_t n)
{
    if (s->failed) {
        return;
    }
    if (OHSM_SIGV4_MAX_CREQ - s->len <= n) {
        s->failed = true;
        return;
    }
    if (s->cap - s->len <= n) {
        size_t want = s->cap == 0 ? 512 : s->cap;
        while (want - s->len <= n) {
            want *= 2;
        }
        char *np = realloc(s->p, want);
        if (np == NULL) {
            s->failed = s->nomem = true;
            return;
        }
        s->p = np;
        s->cap = want;
    }
    memcpy(s->p + s->len, d, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static void sb_str(struct sb *s, const char *d)
{
    sb_put(s, d, strlen(d));
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static void sb_uri_encode(struct sb *s, const char *d, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)d; *p != '\0'; p++) {
        if (unreserved(*p) || (keep_slash && *p == '/')) {
            sb_put(s, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            sb_put(s, e, 3);
        }
    }
}

/* ---- Authorization header ---- */

static bool all_of(const char *s, size_t n, const char *extra, bool upper_ok)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  (upper_ok && c >= 'A' && c <= 'Z') || (c != '\0' && strchr(extra, c) != NULL);
        if (!ok) {
            return false;
        }
    }
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

static ohsm_rv parse_credential(const char *v, size_t n, struct ohsm_sigv4_auth *a, char *msg,
                                size_t cap)
{
    const char *part[5];
    size_t plen[5];
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || v[i] == '/') {
            if (k == 5) {
                k = 6;
                break;
            }
            part[k] = v + start;
            plen[k] = i - start;
            k++;
            start = i + 1;
        }
    }
    if (k != 5) {
        snprintf(msg, cap,
                 "Credential should have 5 parts separated by '/': "
                 "AKID/YYYYMMDD/region/service/aws4_request");
        return OHSM_ARGUMENTS_BAD;
    }
    if (plen[0] < 1 || plen[0] >= sizeof(a->akid) || !all_of(part[0], plen[0], "_", true)) {
        snprintf(msg, cap, "malformed access key id in Credential");
        return OHSM_ARGUMENTS_BAD;
    }
    if (plen[1] != 8 || !all_of(part[1], 8, "", false) || strspn(part[1], "0123456789") < 8) {
        snprintf(msg, cap, "malformed date in Credential (YYYYMMDD)");
        return OHSM_ARGUMENTS_BAD;
    }
    if (plen[2] < 1 || plen[2] >= sizeof(a->region) || !all_of(part[2], plen[2], "-", false)) {
        snprintf(msg, cap, "malformed region in Credential");
        return OHSM_ARGUMENTS_BAD;
    }
    if (plen[3] < 1 || plen[3] >= sizeof(a->service) || !all_of(part[3], plen[3], "-", false)) {
        snprintf(msg, cap, "malformed service in Credential");
        return OHSM_ARGUMENTS_BAD;
    }
    if (plen[4] != 12 || memcmp(part[4], "aws4_request", 12) != 0) {
        snprintf(msg, cap, "Credential should be scoped with a valid terminator: 'aws4_request'");
        return OHSM_ARGUMENTS_BAD;
    }
    memcpy(a->akid, part[0], plen[0]);
    a->akid[plen[0]] = '\0';
    memcpy(a->date, part[1], 8);
    a->date[8] = '\0';
    memcpy(a->region, part[2], plen[2]);
    a->region[plen[2]] = '\0';
    memcpy(a->service, part[3], plen[3]);
    a->service[plen[3]] = '\0';
    return OHSM_OK;
}

static ohsm_rv parse_signed_headers(const char *v, size_t n, struct ohsm_sigv4_auth *a, char *msg,
                                    size_t cap)
{
    size_t start = 0, count = 0;
    const char *prev = NULL;
    size_t prev_len = 0;
    if (n == 0 || n >= sizeof(a->signed_headers)) {
        snprintf(msg, cap, "SignedHeaders is empty or too long");
        return OHSM_ARGUMENTS_BAD;
    }
    for (size_t i = 0; i <= n; i++) {
        if (i < n && v[i] != ';') {
            continue;
        }
        size_t len = i - start;
        const char *name = v + start;
        if (len == 0 || len > OHSM_SIGV4_MAX_NAME || !all_of(name, len, "-", false)) {
            snprintf(msg, cap, "malformed header name in SignedHeaders (lowercase, ';'-separated)");
            return OHSM_ARGUMENTS_BAD;
        }
        if (++count > OHSM_SIGV4_MAX_SIGNED) {
            snprintf(msg, cap, "more than %d SignedHeaders", OHSM_SIGV4_MAX_SIGNED);
            return OHSM_ARGUMENTS_BAD;
        }
        if (prev != NULL) {
            size_t m = prev_len < len ? prev_len : len;
            int c = memcmp(prev, name, m);
            if (c > 0 || (c == 0 && prev_len >= len)) {
                snprintf(msg, cap, "SignedHeaders must be sorted and without repeats");
                return OHSM_ARGUMENTS_BAD;
            }
        }
        prev = name;
        prev_len = len;
        start = i + 1;
    }
    memcpy(a->signed_headers, v, n);
    a->signed_headers[n] = '\0';
    a->n_signed = count;
    return OHSM_OK;
}

ohsm_rv ohsm_sigv4_parse_auth(const char *hdr, struct ohsm_sigv4_auth *a, char *msg, size_t cap)
{
    static const char algo[] = "AWS4-HMAC-SHA256";
    OHSM_ENSURE(hdr != NULL && a != NULL && msg != NULL && cap > 0, OHSM_ARGUMENTS_BAD);
    memset(a, 0, sizeof(*a));
    msg[0] = '\0';
    size_t n = strnlen(hdr, OHSM_SIGV4_MAX_AUTH + 1);
    if (n > OHSM_SIGV4_MAX_AUTH) {
        snprintf(msg, cap, "Authorization header too long");
        return OHSM_ARGUMENTS_BAD;
    }
    if (n <= sizeof(algo) || memcmp(hdr, algo, sizeof(algo) - 1) != 0 ||
        hdr[sizeof(algo) - 1] != ' ') {
        snprintf(msg, cap, "Unsupported Authorization Type (only AWS4-HMAC-SHA256)");
        return OHSM_ARGUMENTS_BAD;
    }
    bool have_cred = false, have_sh = false, have_sig = false;
    size_t i = sizeof(algo) - 1;
    while (i < n) {
        while (i < n && hdr[i] == ' ') {
            i++;
        }
        size_t b = i;
        while (i < n && hdr[i] != ',') {
            i++;
        }
        size_t e = i;
        while (e > b && hdr[e - 1] == ' ') {
            e--;
        }
        if (i < n) {
            i++; /* the comma */
            if (i == n) {
                snprintf(msg, cap, "trailing ',' in the Authorization header");
                return OHSM_ARGUMENTS_BAD;
            }
        }
        const char *eq = memchr(hdr + b, '=', e - b);
        if (eq == NULL) {
            snprintf(msg, cap, "Authorization header components must be Key=Value");
            return OHSM_ARGUMENTS_BAD;
        }
        size_t klen = (size_t)(eq - (hdr + b));
        const char *v = eq + 1;
        size_t vlen = (size_t)(hdr + e - v);
        bool *seen = NULL;
        ohsm_rv rv = OHSM_OK;
        if (klen == 10 && memcmp(hdr + b, "Credential", 10) == 0) {
            seen = &have_cred;
            if (!*seen) {
                rv = parse_credential(v, vlen, a, msg, cap);
            }
        } else if (klen == 13 && memcmp(hdr + b, "SignedHeaders", 13) == 0) {
            seen = &have_sh;
            if (!*seen) {
                rv = parse_signed_headers(v, vlen, a, msg, cap);
            }
        } else if (klen == 9 && memcmp(hdr + b, "Signature", 9) == 0) {
            seen = &have_sig;
            if (!*seen) {
                if (vlen != 64) {
                    snprintf(msg, cap, "Signature must be 64 lowercase hex digits");
                    return OHSM_ARGUMENTS_BAD;
                }
                for (size_t k = 0; k < 32; k++) {
                    int hi = hexval(v[2 * k]), lo = hexval(v[2 * k + 1]);
                    if (hi < 0 || lo < 0) {
                        snprintf(msg, cap, "Signature must be 64 lowercase hex digits");
                        return OHSM_ARGUMENTS_BAD;
                    }
                    a->sig[k] = (uint8_t)(hi << 4 | lo);
                }
            }
        } else {
            snprintf(msg, cap, "unknown component in the Authorization header");
            return OHSM_ARGUMENTS_BAD;
        }
        if (*seen) {
            snprintf(msg, cap, "a component is repeated in the Authorization header");
            return OHSM_ARGUMENTS_BAD;
        }
        if (rv != OHSM_OK) {
            return rv;
        }
        *seen = true;
    }
    if (!have_cred || !have_sh || !have_sig) {
        snprintf(msg, cap,
                 "Authorization header requires 'Credential', 'SignedHeaders' and "
                 "'Signature' parameters");
        return OHSM_ARGUMENTS_BAD;
    }
    return OHSM_OK;
}

/* ---- dates ---- */

static bool digits(const char *s, size_t n, int *v)
{
    int r = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        r = r * 10 + (s[i] - '0');
    }
    *v = r;
    return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

ohsm_rv ohsm_sigv4_parse_date(const char *s, int64_t *epoch)
{
    int y, mo, d, h, mi, se;
    OHSM_ENSURE(s != NULL && epoch != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(strlen(s) == 16 && s[8] == 'T' && s[15] == 'Z', OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(digits(s, 4, &y) && digits(s + 4, 2, &mo) && digits(s + 6, 2, &d) &&
                    digits(s + 9, 2, &h) && digits(s + 11, 2, &mi) && digits(s + 13, 2, &se),
                OHSM_ARGUMENTS_BAD);
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    OHSM_ENSURE(y >= 1970 && mo >= 1 && mo <= 12 && d >= 1 && d <= mdays[mo - 1] && h <= 23 &&
                    mi <= 59 && se <= 60,
                OHSM_ARGUMENTS_BAD);
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    OHSM_ENSURE(!(mo == 2 && d == 29 && !leap), OHSM_ARGUMENTS_BAD);
    *epoch = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    return OHSM_OK;
}

void ohsm_sigv4_format_date(int64_t epoch, char out[17])
{
    struct tm tm;
    time_t t = (time_t)epoch;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16) {
        snprintf(out, 17, "00000000T000000Z");
    }
}

void ohsm_sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    for (size_t i = 0; i < sizeof(md); i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

/* ---- canonical request ---- */

struct qpair {
    char *name; /* encoded */
    char *value;
};

static int qpair_cmp(const void *x, const void *y)
{
    const struct qpair *a = x, *b = y;
    int c = strcmp(a->name, b->name);
    return c != 0 ? c : strcmp(a->value, b->value);
}

static char *encode_dup(const char *s)
{
    struct sb b = {0};
    sb_str(&b, ""); /* an empty string still gets a buffer */
    sb_uri_encode(&b, s, false);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static ohsm_rv canonical_query(struct sb *s, const char *query, char *msg, size_t cap)
{
    struct ohsm_form *f = NULL;
    struct qpair *pairs = NULL;
    size_t n = 0;
    ohsm_rv rv;
    if (query == NULL || query[0] == '\0') {
        return OHSM_OK;
    }
    rv = ohsm_form_parse(query, strlen(query), OHSM_FORM_ALLOW_DUP, &f, msg, cap);
    if (rv != OHSM_OK) {
        return rv;
    }
    size_t count = ohsm_form_count(f);
    pairs = calloc(count > 0 ? count : 1, sizeof(*pairs));
    if (pairs == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    for (n = 0; n < count; n++) {
        pairs[n].name = encode_dup(ohsm_form_name(f, n));
        pairs[n].value = encode_dup(ohsm_form_value(f, n));
        if (pairs[n].name == NULL || pairs[n].value == NULL) {
            n++;
            rv = OHSM_HOST_MEMORY;
            goto out;
        }
    }
    qsort(pairs, count, sizeof(*pairs), qpair_cmp);
    for (size_t i = 0; i < count; i++) {
        if (i > 0) {
            sb_str(s, "&");
        }
        sb_str(s, pairs[i].name);
        sb_str(s, "=");
        sb_str(s, pairs[i].value);
    }
out:
    for (size_t i = 0; pairs != NULL && i < n; i++) {
        free(pairs[i].name);
        free(pairs[i].value);
    }
    free(pairs);
    ohsm_form_free(f);
    return rv;
}

/* Appends value trimmed, with runs of whitespace collapsed to one space. */
static void sb_header_value(struct sb *s, const char *v)
{
    bool pending_space = false, any = false;
    for (const char *p = v; *p != '\0'; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == '\v' || *p == '\f') {
            pending_space = any;
            continue;
        }
        if (pending_space) {
            sb_put(s, " ", 1);
            pending_space = false;
        }
        sb_put(s, p, 1);
        any = true;
    }
}

ohsm_rv ohsm_sigv4_canonical_request(const struct ohsm_sigv4_req *r,
                                     const struct ohsm_sigv4_auth *a, char **out, char *msg,
                                     size_t cap)
{
    struct sb s = {0};
    ohsm_rv rv;
    OHSM_ENSURE(r != NULL && a != NULL && out != NULL && msg != NULL && cap > 0 &&
                    r->method != NULL && r->path != NULL && r->payload_hash != NULL,
                OHSM_ARGUMENTS_BAD);
    msg[0] = '\0';
    sb_str(&s, r->method);
    sb_str(&s, "\n");
    sb_uri_encode(&s, r->path, true);
    sb_str(&s, "\n");
    rv = canonical_query(&s, r->query, msg, cap);
    if (rv != OHSM_OK) {
        goto out;
    }
    sb_str(&s, "\n");
    const char *name = a->signed_headers;
    while (*name != '\0') {
        size_t len = strcspn(name, ";");
        bool found = false;
        sb_put(&s, name, len);
        sb_str(&s, ":");
        for (size_t i = 0; i < r->n_hdrs; i++) {
            if (strlen(r->hdrs[i].name) == len && strncasecmp(r->hdrs[i].name, name, len) == 0) {
                if (found) {
                    sb_str(&s, ",");
                }
                sb_header_value(&s, r->hdrs[i].value);
                found = true;
            }
        }
        if (!found) {
            snprintf(msg, cap, "signed header '%.*s' is not in the request", (int)len, name);
            rv = OHSM_ARGUMENTS_BAD;
            goto out;
        }
        sb_str(&s, "\n");
        name += len;
        if (*name == ';') {
            name++;
        }
    }
    sb_str(&s, "\n");
    sb_str(&s, a->signed_headers);
    sb_str(&s, "\n");
    sb_str(&s, r->payload_hash);
    if (s.failed) {
        rv = s.nomem ? OHSM_HOST_MEMORY : OHSM_DATA_LEN_RANGE;
        snprintf(msg, cap, "request too large to sign");
        goto out;
    }
    *out = s.p;
    s.p = NULL;
    rv = OHSM_OK;
out:
    free(s.p);
    return rv;
}

ohsm_rv ohsm_sigv4_string_to_sign(const char *amz_date, const struct ohsm_sigv4_auth *a,
                                  const char *creq, char *out, size_t cap)
{
    char h[65];
    OHSM_ENSURE(amz_date != NULL && a != NULL && creq != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    ohsm_sigv4_sha256_hex(creq, strlen(creq), h);
    int n = snprintf(out, cap, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, a->date,
                     a->region, a->service, h);
    OHSM_ENSURE(n >= 0 && (size_t)n < cap, OHSM_BUFFER_TOO_SMALL);
    return OHSM_OK;
}

static bool hmac(const uint8_t *key, size_t klen, const char *msg, uint8_t out[32])
{
    unsigned int olen = 0;
    return HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out,
                &olen) != NULL &&
           olen == 32;
}

ohsm_rv ohsm_sigv4_sign(const uint8_t *secret, size_t secret_len, const struct ohsm_sigv4_auth *a,
                        const char *sts, uint8_t out[32])
{
    uint8_t k0[4 + 128];
    uint8_t k[32];
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    OHSM_ENSURE(secret != NULL && a != NULL && sts != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(secret_len <= 128, OHSM_ARGUMENTS_BAD);
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, secret_len);
    if (hmac(k0, 4 + secret_len, a->date, k) && hmac(k, 32, a->region, k) &&
        hmac(k, 32, a->service, k) && hmac(k, 32, "aws4_request", k) && hmac(k, 32, sts, out)) {
        rv = OHSM_OK;
    }
    OPENSSL_cleanse(k0, sizeof(k0));
    OPENSSL_cleanse(k, sizeof(k));
    return rv;
}

ohsm_rv ohsm_sigv4_verify(const struct ohsm_sigv4_req *r, const struct ohsm_sigv4_auth *a,
                          const struct ohsm_secret *secret, char *msg, size_t cap)
{
    char *creq = NULL;
    char sts[256];
    uint8_t want[32];
    ohsm_rv rv;
    OHSM_ENSURE(secret != NULL && r != NULL && r->amz_date != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_sigv4_canonical_request(r, a, &creq, msg, cap));
    rv = ohsm_sigv4_string_to_sign(r->amz_date, a, creq, sts, sizeof(sts));
    if (rv == OHSM_OK) {
        rv = ohsm_sigv4_sign(ohsm_secret_data(secret), ohsm_secret_len(secret), a, sts, want);
    }
    if (rv == OHSM_OK && CRYPTO_memcmp(want, a->sig, sizeof(want)) != 0) {
        rv = OHSM_SIGNATURE_INVALID;
    }
    OPENSSL_cleanse(want, sizeof(want));
    free(creq);
    return rv;
}
