/* SPDX-License-Identifier: Apache-2.0
 *
 * Random identifiers and passwords. An id character takes the low 5 bits of a random byte, which
 * is uniform over the 32 base32 symbols because 256 is a multiple of 32; a password character
 * rejects bytes >= 248 (the largest multiple of 62 below 256) so each of the 62 symbols is equally
 * likely. Random bytes that chose a password are cleansed.
 */
#include "cloud/ids.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

/* RFC 4648 §6, lower-cased (AWS resource ids use lower case). */
static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

ohsm_rv ohsm_ids_make(const char *prefix, char *out, size_t cap)
{
    uint8_t r[OHSM_IDS_RAND_CHARS];

    OHSM_ENSURE(prefix != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    size_t plen = strlen(prefix);
    OHSM_ENSURE(cap > plen && cap - plen > OHSM_IDS_RAND_CHARS, OHSM_BUFFER_TOO_SMALL);
    OHSM_ENSURE(RAND_bytes(r, (int)sizeof(r)) == 1, OHSM_DEVICE_ERROR);
    memcpy(out, prefix, plen);
    for (size_t i = 0; i < sizeof(r); i++) {
        out[plen + i] = b32[r[i] & 31u];
    }
    out[plen + sizeof(r)] = '\0';
    return OHSM_OK;
}

bool ohsm_ids_valid(const char *prefix, const char *s)
{
    if (prefix == NULL || s == NULL) {
        return false;
    }
    size_t plen = strlen(prefix);
    if (strncmp(s, prefix, plen) != 0 || strlen(s + plen) != OHSM_IDS_RAND_CHARS) {
        return false;
    }
    for (size_t i = plen; s[i] != '\0'; i++) {
        bool ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '2' && s[i] <= '7');
        if (!ok) {
            return false;
        }
    }
    return true;
}

ohsm_rv ohsm_ids_password(char *out, size_t cap)
{
    ohsm_rv rv = OHSM_OK;
    uint8_t r[64];
    size_t n = 0;

    OHSM_ENSURE(out != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(cap > OHSM_IDS_PASSWORD_LEN, OHSM_BUFFER_TOO_SMALL);
    /* Only 8 of the 256 byte values are rejected, so one round of 64 bytes almost always
     * suffices; the loop draws again when it does not. */
    while (n < OHSM_IDS_PASSWORD_LEN) {
        if (RAND_bytes(r, (int)sizeof(r)) != 1) {
            rv = OHSM_DEVICE_ERROR;
            goto out;
        }
        for (size_t i = 0; i < sizeof(r) && n < OHSM_IDS_PASSWORD_LEN; i++) {
            if (r[i] < 248) {
                out[n++] = alnum[r[i] % 62u];
            }
        }
    }
    out[n] = '\0';
out:
    OPENSSL_cleanse(r, sizeof(r));
    if (rv != OHSM_OK) {
        OPENSSL_cleanse(out, cap);
    }
    return rv;
}
