/* SPDX-License-Identifier: Apache-2.0
 *
 * Multi-part encryption over one-shot HSM calls (contract in stream.h). Chained modes keep the
 * next IV or counter block and at most one block of input here (CBC_PAD decryption: up to one
 * whole block, held until Final); each Update copies its whole blocks, a chunk at a time, into a
 * scratch buffer (so an application that encrypts in place is safe) and runs one HSM call per
 * chunk. Buffered modes (GCM, RSA) collect the input and run once at Final. The application's
 * sizes and pointers are untrusted: lengths are checked before anything is copied, additions
 * cannot overflow (inputs are bounded by P11_STREAM_MAX per chunk or in total). Scratch buffers,
 * held blocks and buffered data are wiped on every path.
 */
#include "stream.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define CHUNK P11_STREAM_MAX /* bytes per HSM call: well under the 1 MiB frame */
#define GCM_IV_LEN 12

enum kind {
    K_ECB = 1, /* whole blocks, no IV */
    K_CBC,     /* whole blocks, IV = the last ciphertext block */
    K_CBC_PAD, /* K_CBC, PKCS#7 padding added / stripped at Final */
    K_CTR,     /* whole blocks, counter advanced; the partial block at Final */
    K_BUFFER,  /* everything at Final (GCM, RSA) */
};

struct p11_stream {
    struct p11_mech m; /* the caller's, with prm.aad / prm.label pointing at the copies below */
    bool enc;
    bool over; /* an error or Final ended the operation */
    enum kind kind;
    uint32_t hsm_mech; /* chained modes: the unpadded mode each HSM call runs */
    size_t block;
    uint8_t iv[16];   /* chained modes: the IV / counter block of the next call */
    uint8_t part[16]; /* input held back */
    size_t part_len;
    uint64_t ctr_used; /* K_CTR: counter blocks used so far */
    uint8_t *buf;      /* K_BUFFER: the input so far */
    size_t buf_len;
    size_t buf_cap;
    uint8_t *aad; /* copies of the borrowed parameter data */
    uint8_t *label;
};

static uint32_t unpadded(uint32_t mech)
{
    switch (mech) {
    case OHSM_M_AES_CBC_PAD:
        return OHSM_M_AES_CBC;
    case OHSM_M_DES3_CBC_PAD:
        return OHSM_M_DES3_CBC;
    default:
        return mech;
    }
}

static enum kind kind_of(uint32_t mech)
{
    switch (mech) {
    case OHSM_M_AES_ECB:
    case OHSM_M_DES3_ECB:
        return K_ECB;
    case OHSM_M_AES_CBC:
    case OHSM_M_DES3_CBC:
        return K_CBC;
    case OHSM_M_AES_CBC_PAD:
    case OHSM_M_DES3_CBC_PAD:
        return K_CBC_PAD;
    case OHSM_M_AES_CTR:
        return K_CTR;
    default:
        return K_BUFFER;
    }
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n);
    if (d != NULL) {
        memcpy(d, p, n);
    }
    return d;
}

CK_RV p11_stream_new(const struct p11_mech *m, bool enc, struct p11_stream **out)
{
    if (m == NULL || out == NULL || m->op != (enc ? P11_OP_ENCRYPT : P11_OP_DECRYPT)) {
        return CKR_ARGUMENTS_BAD;
    }
    *out = NULL;
    struct p11_stream *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return CKR_HOST_MEMORY;
    }
    s->m = *m;
    p11_mech_rebind(&s->m);
    s->enc = enc;
    s->kind = kind_of(m->prm.mech);
    s->hsm_mech = unpadded(m->prm.mech);
    s->block = s->kind == K_BUFFER ? 0 : m->block;
    if (s->kind != K_BUFFER &&
        (s->block == 0 || s->block > sizeof(s->part) || m->iv_len > sizeof(s->iv) ||
         (s->kind != K_ECB && m->iv_len != s->block))) {
        free(s);
        return CKR_ARGUMENTS_BAD;
    }
    memcpy(s->iv, m->iv, m->iv_len);
    if (m->prm.aad_len > 0) {
        s->aad = dup_bytes(m->prm.aad, m->prm.aad_len);
        s->m.prm.aad = s->aad;
    }
    if (m->prm.label_len > 0) {
        s->label = dup_bytes(m->prm.label, m->prm.label_len);
        s->m.prm.label = s->label;
    }
    if ((m->prm.aad_len > 0 && s->aad == NULL) || (m->prm.label_len > 0 && s->label == NULL)) {
        p11_stream_free(s);
        return CKR_HOST_MEMORY;
    }
    *out = s;
    return CKR_OK;
}

void p11_stream_free(struct p11_stream *s)
{
    if (s == NULL) {
        return;
    }
    if (s->buf != NULL) {
        OPENSSL_cleanse(s->buf, s->buf_cap);
        free(s->buf);
    }
    free(s->aad);
    free(s->label);
    OPENSSL_cleanse(s, sizeof(*s));
    free(s);
}

/* ---- counter blocks ---- */

/* cb + n within the low bits of the 128-bit big-endian counter block (PKCS#11 v2.40 §2.14.6:
 * ulCounterBits is the size of the counter part; it wraps without touching the nonce part). The
 * low bits of a sum depend only on the low bits of its terms, so this adds n to the whole block
 * and keeps the result's low bits. */
static void ctr_add(uint8_t cb[16], uint64_t n, CK_ULONG bits)
{
    uint8_t t[16];
    unsigned carry = 0;
    for (int i = 15; i >= 0; i--) {
        unsigned v = cb[i] + (unsigned)(n & 0xffu) + carry;
        t[i] = (uint8_t)v;
        carry = v >> 8;
        n >>= 8;
    }
    for (int i = 15; i >= 0 && bits > 0; i--) {
        unsigned take = bits >= 8 ? 8u : (unsigned)bits;
        uint8_t mask = (uint8_t)((1u << take) - 1u);
        cb[i] = (uint8_t)((cb[i] & (uint8_t)~mask) | (t[i] & mask));
        bits -= take;
    }
}

/* Blocks left before the counter wraps (every call stops there: the HSM's CTR carries into the
 * nonce part, PKCS#11's does not). SIZE_MAX when that is more than any call runs. */
static size_t ctr_room(const uint8_t cb[16], CK_ULONG bits)
{
    if (bits >= 64) {
        return SIZE_MAX;
    }
    uint64_t c = 0;
    for (int i = 8; i < 16; i++) {
        c = c << 8 | cb[i];
    }
    uint64_t lim = (uint64_t)1 << bits;
    uint64_t room = lim - (c & (lim - 1));
    return room > SIZE_MAX ? SIZE_MAX : (size_t)room;
}

/* Would n more blocks bring the counter back to its first value? Then a keystream block would
 * repeat under the key, and the plaintexts' XOR would show: refused, as NSS refuses it. Counters
 * of 64 bits and more never get there. */
static bool ctr_fits(const struct p11_stream *s, uint64_t n)
{
    if (s->m.ctr_bits >= 64) {
        return true;
    }
    uint64_t lim = (uint64_t)1 << s->m.ctr_bits;
    return s->ctr_used <= lim && n <= lim - s->ctr_used;
}

/* ---- chained modes ---- */

/* The input as an Update sees it: the held-back bytes, then the new part. Bytes are taken in
 * order; a look-ahead of up to one block moves into carry early, so that an application that
 * encrypts in place (out == in) cannot overwrite input before it is read: the output of a chunk
 * ends at most one block past where the unread input starts. */
struct vin {
    uint8_t carry[16];
    size_t carry_len;
    const uint8_t *in;
    size_t len;
    size_t off; /* in's bytes taken (into carry or out) */
};

static void vin_take(struct vin *v, size_t n, uint8_t *dst)
{
    size_t k = n < v->carry_len ? n : v->carry_len;
    memcpy(dst, v->carry, k);
    memmove(v->carry, v->carry + k, v->carry_len - k);
    v->carry_len -= k;
    if (n > k) {
        memcpy(dst + k, v->in + v->off, n - k);
        v->off += n - k;
    }
}

static void vin_look_ahead(struct vin *v, size_t want)
{
    if (v->carry_len < want) {
        size_t k = want - v->carry_len < v->len - v->off ? want - v->carry_len : v->len - v->off;
        if (k > 0) {
            memcpy(v->carry + v->carry_len, v->in + v->off, k);
            v->carry_len += k;
            v->off += k;
        }
    }
}

/* n bytes at offset pos of the input an Update would see (the held bytes, then in). */
static void virt_read(const struct p11_stream *s, const uint8_t *in, size_t pos, size_t n,
                      uint8_t *dst)
{
    for (size_t i = 0; i < n; i++, pos++) {
        dst[i] = pos < s->part_len ? s->part[pos] : in[pos - s->part_len];
    }
}

/* Whole blocks an Update with total bytes of input (held + new) sends now. CBC_PAD decryption
 * keeps its last whole block for Final, where the padding is. */
static size_t blocks_now(const struct p11_stream *s, size_t total)
{
    if (s->kind == K_CBC_PAD && !s->enc) {
        return total == 0 ? 0 : (total - 1) / s->block;
    }
    return total / s->block;
}

/* One HSM call on n bytes (whole blocks, or CTR's last partial block) of scratch, writing to out;
 * then the next IV. */
static CK_RV run_chunk(struct p11_stream *s, p11_crypt_fn fn, void *ctx, const uint8_t *scratch,
                       size_t n, uint8_t *out, size_t cap)
{
    struct ohsm_mech_params prm = s->m.prm;
    uint8_t next[16];
    uint8_t iv_out[16];
    size_t iv_len = 0;
    size_t got = 0;

    prm.mech = s->hsm_mech;
    prm.iv = s->kind == K_ECB ? NULL : s->iv;
    prm.iv_len = s->kind == K_ECB ? 0 : s->block;
    if (s->kind != K_CTR && !s->enc && n >= s->block) {
        memcpy(next, scratch + n - s->block, s->block); /* CBC decryption: the input's last */
    }
    CK_RV rv = fn(ctx, s->enc, &prm, scratch, n, out, cap, &got, iv_out, &iv_len);
    if (rv == CKR_OK && got != n) {
        rv = CKR_DEVICE_ERROR; /* these modes give exactly as much as they take */
    }
    if (rv != CKR_OK) {
        return rv == CKR_BUFFER_TOO_SMALL ? CKR_DEVICE_ERROR : rv; /* sizes were checked */
    }
    if (s->kind == K_CTR) {
        ctr_add(s->iv, (n + s->block - 1) / s->block, s->m.ctr_bits);
        s->ctr_used += (n + s->block - 1) / s->block;
    } else if (s->kind != K_ECB && n >= s->block) {
        memcpy(s->iv, s->enc ? out + n - s->block : next, s->block);
    }
    return CKR_OK;
}

static CK_RV chained_update(struct p11_stream *s, p11_crypt_fn fn, void *ctx, const uint8_t *in,
                            size_t len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    size_t total = s->part_len + len;
    size_t nb = blocks_now(s, total);
    size_t need = nb * s->block;
    uint8_t rest[16];
    uint8_t *scratch = NULL;
    size_t done = 0;
    CK_RV rv = CKR_OK;

    if (s->kind == K_CTR && !ctr_fits(s, (total + s->block - 1) / s->block)) {
        return s->enc ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
    }
    if (out == NULL) {
        *out_len = need;
        return CKR_OK;
    }
    if (*out_len < need) {
        *out_len = need;
        return CKR_BUFFER_TOO_SMALL;
    }
    if (need > 0) {
        scratch = malloc(need < CHUNK ? need : CHUNK);
        if (scratch == NULL) {
            return CKR_HOST_MEMORY;
        }
    }
    struct vin v = {.carry_len = s->part_len, .in = in, .len = len};
    memcpy(v.carry, s->part, s->part_len);
    while (done < need) {
        size_t blocks = (need - done < CHUNK ? need - done : CHUNK) / s->block;
        if (s->kind == K_CTR) {
            size_t room = ctr_room(s->iv, s->m.ctr_bits);
            blocks = blocks < room ? blocks : room;
        }
        size_t n = blocks * s->block;
        vin_take(&v, n, scratch);
        vin_look_ahead(&v, s->block);
        rv = run_chunk(s, fn, ctx, scratch, n, out + done, n);
        OPENSSL_cleanse(scratch, n);
        if (rv != CKR_OK) {
            goto out;
        }
        done += n;
    }
    /* What is left (less than a block, or CBC_PAD decryption's last block) is held. */
    vin_take(&v, total - need, rest);
    memcpy(s->part, rest, total - need);
    s->part_len = total - need;
    *out_len = need;
out:
    OPENSSL_cleanse(&v, sizeof(v));
    OPENSSL_cleanse(rest, sizeof(rest));
    free(scratch);
    return rv;
}

/* PKCS#7 padding of the last block (RFC 5652 §6.3), checked without branching on its bytes. */
static bool pad_ok(const uint8_t *b, size_t block, size_t *pad)
{
    size_t p = b[block - 1];
    unsigned bad = (unsigned)(p == 0) | (unsigned)(p > block);
    for (size_t i = 0; i < block; i++) {
        unsigned in_pad = (unsigned)(i >= block - (p > block ? 0 : p));
        bad |= in_pad & (unsigned)(b[i] != p);
    }
    *pad = p;
    return bad == 0;
}

static CK_RV chained_final(struct p11_stream *s, p11_crypt_fn fn, void *ctx, CK_BYTE_PTR out,
                           CK_ULONG_PTR out_len)
{
    uint8_t b[16];
    size_t need = 0;
    size_t pad = 0;
    CK_RV rv;

    switch (s->kind) {
    case K_ECB:
    case K_CBC:
        if (s->part_len != 0) {
            return s->enc ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
        }
        *out_len = 0;
        return CKR_OK;
    case K_CTR:
        need = s->part_len;
        break;
    default: /* K_CBC_PAD */
        if (!s->enc && s->part_len != s->block) {
            return CKR_ENCRYPTED_DATA_LEN_RANGE;
        }
        need = s->enc ? s->block : s->block - 1; /* decryption: at most, until unpadded */
        break;
    }
    if (out == NULL) {
        *out_len = need;
        return CKR_OK;
    }
    if (need == 0) {
        *out_len = 0;
        return CKR_OK;
    }
    if (s->kind == K_CTR || s->enc) {
        if (*out_len < need) {
            *out_len = need;
            return CKR_BUFFER_TOO_SMALL;
        }
        memcpy(b, s->part, s->part_len);
        if (s->kind == K_CBC_PAD) {
            memset(b + s->part_len, (int)(s->block - s->part_len), s->block - s->part_len);
        }
        rv = run_chunk(s, fn, ctx, b, need, out, need);
        *out_len = rv == CKR_OK ? need : *out_len;
        OPENSSL_cleanse(b, sizeof(b));
        return rv;
    }
    /* CBC_PAD decryption: the held block, decrypted here first, so a buffer of exactly the
     * plaintext's size is enough and a too-small one changes nothing. */
    uint8_t iv[16];
    memcpy(iv, s->iv, sizeof(iv));
    rv = run_chunk(s, fn, ctx, s->part, s->block, b, sizeof(b));
    memcpy(s->iv, iv, sizeof(iv)); /* a retry after CKR_BUFFER_TOO_SMALL starts from here */
    if (rv == CKR_OK && !pad_ok(b, s->block, &pad)) {
        rv = CKR_ENCRYPTED_DATA_INVALID;
    }
    if (rv == CKR_OK && *out_len < s->block - pad) {
        *out_len = s->block - pad;
        rv = CKR_BUFFER_TOO_SMALL;
    } else if (rv == CKR_OK) {
        memcpy(out, b, s->block - pad);
        *out_len = s->block - pad;
    }
    OPENSSL_cleanse(b, sizeof(b));
    return rv;
}

/* ---- buffered modes ---- */

static CK_RV buffer_update(struct p11_stream *s, const uint8_t *in, size_t len, CK_BYTE_PTR out,
                           CK_ULONG_PTR out_len)
{
    if (out == NULL || len == 0) {
        *out_len = 0; /* nothing comes out before Final; a size query takes nothing in */
        return CKR_OK;
    }
    if (len > P11_STREAM_MAX - s->buf_len) {
        return s->enc ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
    }
    if (s->buf_len + len > s->buf_cap) {
        /* Grown by copy, not realloc: the old buffer is wiped before it is freed. */
        size_t cap = s->buf_cap == 0 ? 4096 : s->buf_cap;
        while (cap < s->buf_len + len) {
            cap *= 2;
        }
        cap = cap < P11_STREAM_MAX ? cap : P11_STREAM_MAX;
        uint8_t *nb = malloc(cap);
        if (nb == NULL) {
            return CKR_HOST_MEMORY;
        }
        if (s->buf != NULL) {
            memcpy(nb, s->buf, s->buf_len);
            OPENSSL_cleanse(s->buf, s->buf_cap);
            free(s->buf);
        }
        s->buf = nb;
        s->buf_cap = cap;
    }
    memcpy(s->buf + s->buf_len, in, len);
    s->buf_len += len;
    *out_len = 0;
    return CKR_OK;
}

static CK_RV buffer_final(struct p11_stream *s, p11_crypt_fn fn, void *ctx, CK_BYTE_PTR out,
                          CK_ULONG_PTR out_len)
{
    bool gcm = s->m.prm.mech == OHSM_M_AES_GCM;
    size_t tag = (s->m.prm.tag_bits == 0 ? 128 : s->m.prm.tag_bits) / 8;
    uint8_t iv_out[16];
    size_t iv_len = 0;
    size_t need = 0;
    size_t got = 0;
    CK_RV rv;

    if (gcm && !s->enc && s->buf_len < tag) {
        return CKR_ENCRYPTED_DATA_LEN_RANGE;
    }
    if (gcm) {
        need = s->enc ? s->buf_len + tag : s->buf_len - tag;
        if (out == NULL || *out_len < need) {
            rv = out == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
            *out_len = need;
            return rv;
        }
    } else if (out == NULL) {
        /* The size depends on the key (RSA): the HSM's side says. A buffer given is tried at
         * once (one HSM call, not a size query first): too small is the HSM's answer. */
        rv = fn(ctx, s->enc, &s->m.prm, s->buf, s->buf_len, NULL, 0, &need, iv_out, &iv_len);
        if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL) {
            return rv;
        }
        *out_len = need;
        return CKR_OK;
    }
    rv = fn(ctx, s->enc, &s->m.prm, s->buf, s->buf_len, out, *out_len, &got, iv_out, &iv_len);
    if (rv == CKR_OK && gcm && s->enc) {
        if (iv_len != GCM_IV_LEN || s->m.gcm_iv_out == NULL) {
            rv = CKR_DEVICE_ERROR;
        } else {
            memcpy(s->m.gcm_iv_out, iv_out, GCM_IV_LEN);
        }
    }
    if (rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL) {
        *out_len = got;
    }
    return rv;
}

/* ---- entry points ---- */

CK_RV p11_stream_update(struct p11_stream *s, p11_crypt_fn fn, void *ctx, const uint8_t *in,
                        size_t len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    if (s == NULL || fn == NULL || out_len == NULL || (in == NULL && len > 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    if (s->over) {
        return CKR_OPERATION_NOT_INITIALIZED;
    }
    CK_RV rv = s->kind == K_BUFFER ? buffer_update(s, in, len, out, out_len)
                                   : chained_update(s, fn, ctx, in, len, out, out_len);
    if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL) {
        s->over = true;
    }
    return rv;
}

CK_RV p11_stream_final(struct p11_stream *s, p11_crypt_fn fn, void *ctx, CK_BYTE_PTR out,
                       CK_ULONG_PTR out_len)
{
    if (s == NULL || fn == NULL || out_len == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if (s->over) {
        return CKR_OPERATION_NOT_INITIALIZED;
    }
    CK_RV rv = s->kind == K_BUFFER ? buffer_final(s, fn, ctx, out, out_len)
                                   : chained_final(s, fn, ctx, out, out_len);
    if (rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && out == NULL)) {
        return rv; /* the length rules: the call may be repeated */
    }
    s->over = true;
    return rv;
}

/* ---- single-part ---- */

/* The output of len more bytes as the last part of a chained operation (Update then Final): exact,
 * except CBC_PAD decryption's, which is an upper bound until the padding is seen. */
static CK_RV chained_total(const struct p11_stream *s, size_t len, size_t *need)
{
    size_t total = s->part_len + len;
    size_t upd = blocks_now(s, total) * s->block;
    size_t rem = total - upd;
    CK_RV bad = s->enc ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;

    switch (s->kind) {
    case K_ECB:
    case K_CBC:
        *need = upd;
        return rem == 0 ? CKR_OK : bad;
    case K_CTR:
        *need = total;
        return ctr_fits(s, (total + s->block - 1) / s->block) ? CKR_OK : bad;
    default: /* K_CBC_PAD */
        if (s->enc) {
            *need = upd + s->block;
            return CKR_OK;
        }
        *need = upd + s->block - 1;
        return rem == s->block ? CKR_OK : bad;
    }
}

/* CBC_PAD decryption's exact output when len more bytes are the last part: the blocks before the
 * last, and what the last holds once its padding is off. One HSM call on that block alone, with
 * its IV (the block before it); nothing is written for the application, nothing changes here. */
static CK_RV cbc_pad_exact(const struct p11_stream *s, p11_crypt_fn fn, void *ctx,
                           const uint8_t *in, size_t len, size_t *need)
{
    size_t bl = s->block;
    size_t total = s->part_len + len; /* whole blocks, at least one: chained_total checked */
    struct ohsm_mech_params prm = s->m.prm;
    uint8_t two[32]; /* the IV, then the last block */
    uint8_t b[16];
    uint8_t iv_out[16];
    size_t iv_len = 0;
    size_t got = 0;
    size_t pad = 0;

    if (total >= 2 * bl) {
        virt_read(s, in, total - 2 * bl, 2 * bl, two);
    } else {
        memcpy(two, s->iv, bl);
        virt_read(s, in, total - bl, bl, two + bl);
    }
    prm.mech = s->hsm_mech;
    prm.iv = two;
    prm.iv_len = bl;
    CK_RV rv = fn(ctx, false, &prm, two + bl, bl, b, bl, &got, iv_out, &iv_len);
    if (rv == CKR_OK && got != bl) {
        rv = CKR_DEVICE_ERROR;
    }
    if (rv == CKR_OK && !pad_ok(b, bl, &pad)) {
        rv = CKR_ENCRYPTED_DATA_INVALID;
    }
    if (rv == CKR_OK) {
        *need = total - pad;
    }
    OPENSSL_cleanse(b, sizeof(b));
    OPENSSL_cleanse(two, sizeof(two));
    return rv;
}

static CK_RV oneshot(struct p11_stream *s, p11_crypt_fn fn, void *ctx, const uint8_t *in,
                     size_t len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    static uint8_t none[1]; /* an output for parts that give none: buffered Updates */
    size_t saved_len = s->buf_len;
    size_t need = 0;
    CK_ULONG u = 0;
    CK_ULONG f = 0;
    CK_RV rv;

    if (s->kind != K_BUFFER) {
        /* The size first, so that nothing is written (the input may be the output: in place)
         * unless all of it fits. */
        rv = chained_total(s, len, &need);
        if (rv == CKR_OK && out != NULL && *out_len < need && s->kind == K_CBC_PAD && !s->enc) {
            rv = cbc_pad_exact(s, fn, ctx, in, len, &need); /* the bound was too much */
        }
        if (rv != CKR_OK || out == NULL || *out_len < need) {
            rv = rv != CKR_OK ? rv : out == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
            *out_len = rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL ? need : *out_len;
            return rv;
        }
        u = *out_len;
        rv = chained_update(s, fn, ctx, in, len, out, &u);
        if (rv == CKR_OK) {
            f = *out_len - u;
            rv = chained_final(s, fn, ctx, out + u, &f);
        }
        if (rv == CKR_OK) {
            *out_len = u + f;
        }
        /* It all fit: too small now would be the HSM's fault, and the input may be gone. */
        return rv == CKR_BUFFER_TOO_SMALL ? CKR_DEVICE_ERROR : rv;
    }
    /* Buffered: the data goes in, Final runs (or sizes); a size query or a buffer too small
     * takes the data out again. */
    rv = buffer_update(s, in, len, none, &u);
    if (rv != CKR_OK) {
        return rv;
    }
    f = out == NULL ? 0 : *out_len;
    rv = buffer_final(s, fn, ctx, out, &f);
    if (out == NULL || rv == CKR_BUFFER_TOO_SMALL) {
        OPENSSL_cleanse(s->buf + saved_len, s->buf_len - saved_len);
        s->buf_len = saved_len;
    }
    if (rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL) {
        *out_len = f;
    }
    return rv;
}

CK_RV p11_stream_oneshot(struct p11_stream *s, p11_crypt_fn fn, void *ctx, const uint8_t *in,
                         size_t len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    if (s == NULL || fn == NULL || out_len == NULL || (in == NULL && len > 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    if (s->over) {
        return CKR_OPERATION_NOT_INITIALIZED;
    }
    CK_RV rv = oneshot(s, fn, ctx, in, len, out, out_len);
    if (rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && out == NULL)) {
        return rv;
    }
    s->over = true;
    return rv;
}
