/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-kmu's getCaviumPrivKey: a "fake PEM" file for a private key that stays in the HSM. The
 * encoder (format described in core/fakepem.h) is shared with openhsm-cli's key generate-file
 * --encoding reference-pem, so both tools write the same bytes.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/fakepem.h"
#include "kmu/kmu.h"

int ohsm_kmu_get_cavium_priv(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    uint64_t h = ohsm_kmu_get(p, "k")->num;
    const char *path = ohsm_kmu_get(p, "out")->text;
    struct ohsm_obj o;
    char *pem = NULL;
    size_t n = 0;
    int done = OHSM_KMU_FAILED;

    memset(&o, 0, sizeof(o));
    ohsm_rv rv = ohsm_client_key_get(k->client, h, &o);
    if (rv != OHSM_OK) {
        ohsm_kmu_returned(k, "getCaviumPrivKey", rv);
        return OHSM_KMU_FAILED;
    }
    if (o.cls != OHSM_CLASS_PRIVATE || (o.ktype != OHSM_KT_RSA && o.ktype != OHSM_KT_EC)) {
        return ohsm_kmu_error(
            k, "getCaviumPrivKey takes an RSA or EC private key: key %" PRIu64 " is not one", h);
    }
    if (o.spki_len > sizeof(o.spki) || ohsm_fake_pem(o.spki, o.spki_len, h, &pem, &n) != OHSM_OK) {
        (void)ohsm_kmu_error(k, "Cannot make the fake PEM of key %" PRIu64, h);
        goto out;
    }
    if (!ohsm_kmu_write_file(k, path, pem, n)) {
        goto out;
    }
    (void)fprintf(k->out, "\nPrivate Key Handle is written to %s in fake PEM format\n", path);
    ohsm_kmu_returned(k, "getCaviumPrivKey", OHSM_OK);
    done = OHSM_KMU_DONE;
out:
    free(pem);
    return done;
}
