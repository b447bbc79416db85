/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-kmu's extractMaskedObject: a key's masked object (its record and material sealed under
 * the cluster's masking key, openable only inside this cluster) written to a file (0600). The
 * first HSM that answers gives it; a crypto user gets masked objects only of keys it owns or that
 * are shared with it (the HSM's rule: any other key looks absent, 0xa8). Output lines are the
 * guide page's. The HSM's answer is stored as it came: it is sealed, and only an HSM opens it.
 */
#include <stdlib.h>

#include "kmu/kmu.h"

int ohsm_kmu_extract_masked(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    uint64_t h = ohsm_kmu_get(p, "o")->num;
    const char *path = ohsm_kmu_get(p, "out")->text;
    uint8_t *blob = NULL;
    size_t len = 0;
    ohsm_rv rv = OHSM_NOT_CONNECTED;
    int done = OHSM_KMU_FAILED;

    /* A key answer (the key is absent, access denied) is the cluster's answer; only an HSM
     * that cannot be reached sends the request on to the next one. */
    for (size_t i = 0; i < k->n && (rv == OHSM_NOT_CONNECTED || rv == OHSM_TIMEOUT); i++) {
        rv = ohsm_client_masked_extract(k->client, i, h, &blob, &len);
    }
    if (rv == OHSM_OK) {
        if (!ohsm_kmu_write_file(k, path, blob, len)) {
            goto out;
        }
        (void)fprintf(k->out, "\nObject was masked and written to file \"%s\"\n", path);
    }
    ohsm_kmu_returned(k, "Cfm3ExtractMaskedObject", rv);
    done = rv == OHSM_OK ? OHSM_KMU_DONE : OHSM_KMU_FAILED;
out:
    free(blob);
    return done;
}
