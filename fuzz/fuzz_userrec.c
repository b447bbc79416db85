/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target for user records as they travel between HSMs (src/hsm/userrec.c, issue 10).
 * The input is parsed as a record; then sealed under a fixed masking key (with a password record
 * for a live user, nothing for a tombstone) and opened again with ohsm_hsm_user_open, which must
 * succeed exactly when the parse did, with the same fields; and the input is opened as a sealed
 * record itself (the path an attacker on the wire takes), which must fail cleanly.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hsm/handlers.h"
#include "openhsm/mask.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fixed key: bytes 0, 1, ... 31. */
static struct ohsm_mask_key *fixed_key(void)
{
    static struct ohsm_mask_key *k;
    uint8_t mk[OHSM_MASKING_KEY_LEN];
    if (k == NULL) {
        for (size_t i = 0; i < sizeof(mk); i++) {
            mk[i] = (uint8_t)i;
        }
        if (ohsm_mask_key_new(mk, &k) != OHSM_OK) {
            abort();
        }
    }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t pwrec[OHSM_PWHASH_LEN] = {1, 14, 8, 1, 9};
    struct ohsm_mask_key *k = fixed_key();
    struct ohsm_user_rec a, b;
    struct ohsm_secret *pw = NULL;
    uint8_t *sealed = NULL;
    size_t n = 0;

    ohsm_rv parsed = ohsm_hsm_user_parse(data, size, &a);
    if (parsed == OHSM_OK && (a.id == 0 || a.version == 0 || a.name[0] == '\0')) {
        abort(); /* a record that parses names a user at a version */
    }
    bool dead = parsed == OHSM_OK && a.deleted;
    if (ohsm_mask_seal(k, OHSM_MASK_USER, data, size, dead ? NULL : pwrec,
                       dead ? 0 : sizeof(pwrec), &sealed, &n) == OHSM_OK) {
        ohsm_rv opened = ohsm_hsm_user_open(k, sealed, n, &b, &pw);
        if ((opened == OHSM_OK) != (parsed == OHSM_OK)) {
            abort();
        }
        if (opened == OHSM_OK &&
            (a.id != b.id || a.version != b.version || a.deleted != b.deleted ||
             a.type != b.type || strcmp(a.name, b.name) != 0 || a.mfa_len != b.mfa_len ||
             a.mofn_len != b.mofn_len ||
             ohsm_secret_len(pw) != (dead ? 0 : sizeof(pwrec)))) {
            abort();
        }
        ohsm_secret_free(pw);
        pw = NULL;
        free(sealed);
    }
    if (ohsm_hsm_user_open(k, data, size, &b, &pw) == OHSM_OK) {
        ohsm_secret_free(pw); /* only an input sealed under the fixed key opens */
    }
    return 0;
}
