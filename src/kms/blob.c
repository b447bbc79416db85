/* SPDX-License-Identifier: Apache-2.0
 *
 * KMS ciphertext blob format and the canonical encryption context (blob.h). Parses untrusted
 * bytes: every length is checked before use.
 */
#include "kms/blob.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "core/hex.h"

ohsm_rv ohsm_kms_uuid_parse(const char *s, uint8_t out[16])
{
    size_t j = 0;

    if (s == NULL || strlen(s) != 36) {
        return OHSM_ARGUMENTS_BAD;
    }
    for (size_t i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') {
                return OHSM_ARGUMENTS_BAD;
            }
            i++;
            continue;
        }
        int hi = ohsm_hex_digit(s[i]);
        int lo = ohsm_hex_digit(s[i + 1]);
        if (hi < 0 || lo < 0 || j >= 16) {
            return OHSM_ARGUMENTS_BAD;
        }
        out[j++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return j == 16 ? OHSM_OK : OHSM_ARGUMENTS_BAD;
}

void ohsm_kms_uuid_format(const uint8_t in[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[o++] = '-';
        }
        out[o++] = hex[in[i] >> 4];
        out[o++] = hex[in[i] & 15];
    }
    out[o] = '\0';
}

ohsm_rv ohsm_kms_uuid_new(char out[37])
{
    uint8_t b[16];

    if (RAND_bytes(b, sizeof(b)) != 1) {
        return OHSM_DEVICE_ERROR;
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* RFC 4122 §4.4: version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10 */
    ohsm_kms_uuid_format(b, out);
    return OHSM_OK;
}

ohsm_rv ohsm_kms_blob_header(const char *key_id, uint32_t version, uint8_t hdr[OHSM_KMS_BLOB_HDR])
{
    hdr[0] = OHSM_KMS_BLOB_FORMAT;
    hdr[1] = OHSM_KMS_BLOB_VERSION;
    OHSM_TRY(ohsm_kms_uuid_parse(key_id, hdr + 2));
    hdr[18] = (uint8_t)(version >> 24);
    hdr[19] = (uint8_t)(version >> 16);
    hdr[20] = (uint8_t)(version >> 8);
    hdr[21] = (uint8_t)version;
    return OHSM_OK;
}

ohsm_rv ohsm_kms_blob_parse(const uint8_t *in, size_t len, struct ohsm_kms_blob *out)
{
    if (in == NULL || out == NULL || len < OHSM_KMS_BLOB_OVERHEAD + 1 ||
        len - OHSM_KMS_BLOB_OVERHEAD > OHSM_KMS_PLAINTEXT_MAX || in[0] != OHSM_KMS_BLOB_FORMAT ||
        in[1] != OHSM_KMS_BLOB_VERSION) {
        return OHSM_ENCRYPTED_DATA_INVALID;
    }
    ohsm_kms_uuid_format(in + 2, out->key_id);
    out->version =
        (uint32_t)in[18] << 24 | (uint32_t)in[19] << 16 | (uint32_t)in[20] << 8 | (uint32_t)in[21];
    if (out->version == 0) {
        return OHSM_ENCRYPTED_DATA_INVALID;
    }
    out->hdr = in;
    out->iv = in + OHSM_KMS_BLOB_HDR;
    out->ct = in + OHSM_KMS_BLOB_HDR + OHSM_KMS_BLOB_IV;
    out->ct_len = len - OHSM_KMS_BLOB_HDR - OHSM_KMS_BLOB_IV;
    return OHSM_OK;
}

struct pair {
    const char *k;
    size_t klen;
    const char *v;
    size_t vlen;
};

static int pair_cmp(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->k, y->k, n);

    if (c != 0) {
        return c;
    }
    return x->klen < y->klen ? -1 : x->klen > y->klen ? 1 : 0;
}

static void put_u32(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

ohsm_rv ohsm_kms_context_encode(json_t *ctx, uint8_t **out, size_t *out_len)
{
    struct pair *pairs = NULL;
    size_t n = 0, total = 4, off = 0;
    const char *k;
    json_t *v;
    uint8_t *buf = NULL;
    ohsm_rv rv = OHSM_OK;

    *out = NULL;
    *out_len = 0;
    if (ctx == NULL || json_is_null(ctx)) {
        return OHSM_OK;
    }
    OHSM_ENSURE(json_is_object(ctx), OHSM_ARGUMENTS_BAD);
    if (json_object_size(ctx) == 0) {
        return OHSM_OK;
    }
    pairs = calloc(json_object_size(ctx), sizeof(*pairs));
    OHSM_ENSURE(pairs != NULL, OHSM_HOST_MEMORY);
    json_object_foreach(ctx, k, v)
    {
        if (!json_is_string(v)) {
            rv = OHSM_ARGUMENTS_BAD;
            goto out;
        }
        pairs[n].k = k;
        pairs[n].klen = strlen(k);
        pairs[n].v = json_string_value(v);
        pairs[n].vlen = json_string_length(v);
        total += 8 + pairs[n].klen + pairs[n].vlen;
        n++;
    }
    qsort(pairs, n, sizeof(*pairs), pair_cmp);
    buf = malloc(total);
    if (buf == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    put_u32(buf, n);
    off = 4;
    for (size_t i = 0; i < n; i++) {
        put_u32(buf + off, pairs[i].klen);
        memcpy(buf + off + 4, pairs[i].k, pairs[i].klen);
        off += 4 + pairs[i].klen;
        put_u32(buf + off, pairs[i].vlen);
        memcpy(buf + off + 4, pairs[i].v, pairs[i].vlen);
        off += 4 + pairs[i].vlen;
    }
    *out = buf;
    *out_len = total;
    buf = NULL;
out:
    free(buf);
    free(pairs);
    return rv;
}
