/* SPDX-License-Identifier: Apache-2.0
 *
 * Fuzz target for what an HSM and the CLI parse from users in the quorum and MFA flows
 * (src/core/token.c): approval data (records of every HSM, decoded and searched), and public
 * keys given as PEM (converted to DER, then checked again as the HSM does).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "openhsm/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ohsm_approval_rec r;
    uint8_t enc[OHSM_APPROVAL_REC_LEN];

    /* Any record that decodes re-encodes to the same bytes. */
    if (size >= OHSM_APPROVAL_REC_LEN &&
        ohsm_approval_rec_decode(data, OHSM_APPROVAL_REC_LEN, &r) == OHSM_OK) {
        if (ohsm_approval_rec_encode(&r, enc) != OHSM_OK ||
            memcmp(enc, data, OHSM_APPROVAL_REC_LEN) != 0) {
            abort();
        }
    }
    (void)ohsm_approval_find(data, size, "hsm-a", &r);
    (void)ohsm_approval_find(data, size, "hsm-0123456789a", &r);

    /* PEM -> DER: what comes out must pass the HSM's own check. */
    char *pem = malloc(size + 1);
    if (pem == NULL) {
        return 0;
    }
    memcpy(pem, data, size);
    pem[size] = '\0';
    uint8_t *der = NULL;
    size_t der_len = 0;
    if (ohsm_token_pubkey_from_pem(pem, size, &der, &der_len) == OHSM_OK) {
        if (ohsm_token_pubkey_check(der, der_len) != OHSM_OK) {
            abort();
        }
        free(der);
    }
    free(pem);
    (void)ohsm_token_pubkey_check(data, size);
    return 0;
}
