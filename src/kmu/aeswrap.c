/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-kmu's aesWrapUnwrap: RFC 3394 AES key wrap (-m 1) or unwrap (-m 0) of a file's bytes
 * (under 4096) with an AES key that stays in the HSM. RFC 3394 is built from the AES block
 * function alone (§2.2.1: B = AES(K, A | R[i])), so the HSM computes each block with the key
 * (AES-ECB of one 16-byte block, 6n calls for n 64-bit blocks) and this host does the chaining
 * (kw.c);
 * the result is the standard wrap (`openssl enc -id-aes256-wrap` gives the same bytes). The
 * integrity check of an unwrap compares the recovered IV in constant time. The input file is
 * untrusted (size capped, length checked); buffers holding plaintext are wiped on every path.
 * Output lines are the guide page's; as the page says, a failed command leaves an empty output
 * file (a script that reads it finds nothing rather than an earlier run's result).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "kmu/kmu.h"
#include "kmu/kw.h"
#include "openhsm/mech.h"

#define KW_MAX 4095 /* "a file that contains less than 4 KB (4096 bytes)" */
#define KW_BLOCK OHSM_KMU_KW_BLOCK

static const uint8_t default_iv[KW_BLOCK] = {0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6};

/* The block function of kw.c: one AES block through the HSM with the -w key. */
struct hsm_key {
    struct ohsm_kmu *k;
    uint64_t w;
};

static ohsm_rv hsm_block(void *ctx, bool enc, const uint8_t in[16], uint8_t out[16])
{
    const struct hsm_key *hk = ctx;
    struct ohsm_mech_params m;
    uint8_t *res = NULL, iv[16];
    size_t res_len = 0, iv_len = 0;
    ohsm_rv rv;

    memset(&m, 0, sizeof(m));
    m.mech = OHSM_M_AES_ECB;
    rv = enc ? ohsm_client_encrypt(hk->k->client, hk->w, &m, in, 16, &res, &res_len, iv, &iv_len)
             : ohsm_client_decrypt(hk->k->client, hk->w, &m, in, 16, &res, &res_len);
    if (rv == OHSM_OK && res_len != 16) {
        rv = OHSM_PROTOCOL;
    }
    if (rv == OHSM_OK) {
        memcpy(out, res, 16);
    }
    ohsm_kmu_free_secret(res, res_len);
    return rv;
}

int ohsm_kmu_aes_wrap_unwrap(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    bool wrap = ohsm_kmu_get(p, "m")->num == 1;
    uint64_t w = ohsm_kmu_get(p, "w")->num;
    const char *path = ohsm_kmu_get(p, "f")->text;
    const struct ohsm_kmu_val *ivv = ohsm_kmu_get(p, "i"), *o = ohsm_kmu_get(p, "out");
    const char *out_path = o != NULL ? o->text : wrap ? "wrapped_key" : "unwrapped_key";
    const char *fn = wrap ? "Cfm3WrapHostKey" : "Cfm3UnWrapHostKey";
    uint8_t iv[KW_BLOCK], *in = NULL, *res = NULL;
    size_t iv_len = 0, in_len = 0, res_len = 0;
    int done = OHSM_KMU_FAILED;
    bool wrote = false; /* the output file was written (or its writing failed) */

    memcpy(iv, default_iv, sizeof(iv));
    if (ivv != NULL &&
        (!ohsm_kmu_hex_bytes(ivv->text, iv, sizeof(iv), &iv_len) || iv_len != KW_BLOCK)) {
        (void)ohsm_kmu_error(k, "Invalid IV for -i: 8 bytes in hex (0xA6A6A6A6A6A6A6A6)");
        goto out;
    }
    if (!ohsm_kmu_read_file(k, path, KW_MAX, &in, &in_len)) {
        goto out;
    }
    if (in_len % KW_BLOCK != 0 || in_len < (wrap ? 16u : 24u)) {
        (void)ohsm_kmu_error(k,
                             "File \"%s\" holds %zu bytes: AES key %s needs a multiple of 8 "
                             "bytes, at least %u",
                             path, in_len, wrap ? "wrap" : "unwrap", wrap ? 16u : 24u);
        goto out;
    }
    res_len = wrap ? in_len + KW_BLOCK : in_len - KW_BLOCK;
    res = malloc(res_len);
    if (res == NULL) {
        (void)ohsm_kmu_error(k, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        goto out;
    }
    if (ivv == NULL) {
        (void)fprintf(k->out, "\n\tWarning: IV (-i) is missing.\n"
                              "\t\t 0xA6A6A6A6A6A6A6A6 is considered as default IV\n");
    }
    struct hsm_key hk = {k, w};
    ohsm_rv rv = wrap ? ohsm_kmu_kw_wrap(hsm_block, &hk, iv, in, in_len, res)
                      : ohsm_kmu_kw_unwrap(hsm_block, &hk, iv, in, in_len, res);
    if (rv == OHSM_OK) {
        (void)fprintf(k->out, "result data:\n");
        for (size_t i = 0; i < res_len; i++) {
            (void)fprintf(k->out, "%02X%c", res[i], i % 8 == 7 || i + 1 == res_len ? '\n' : ' ');
        }
        wrote = true;
        if (!ohsm_kmu_write_file(k, out_path, res, res_len)) {
            goto out;
        }
        (void)fprintf(k->out, "\nresult written to file %s\n", out_path);
    }
    ohsm_kmu_returned(k, fn, rv);
    done = rv == OHSM_OK ? OHSM_KMU_DONE : OHSM_KMU_FAILED;
out:
    if (done != OHSM_KMU_DONE && !wrote) {
        (void)ohsm_kmu_write_file(k, out_path, "", 0);
    }
    ohsm_kmu_free_secret(res, res_len);
    ohsm_kmu_free_secret(in, in_len);
    return done;
}
