/* SPDX-License-Identifier: Apache-2.0
 *
 * The connections of the CloudHSM key stores (cks.h). First cut: the manager's shape, so the
 * operations can be built against it; the worker comes next.
 */
#include <stdlib.h>
#include <string.h>

#include "kms/kms_int.h"

struct ohsm_kms_cksm {
    struct ohsm_kms *k;
};

ohsm_rv ohsm_kms_cksm_new(struct ohsm_kms *k, struct ohsm_kms_cksm **out)
{
    struct ohsm_kms_cksm *m = calloc(1, sizeof(*m));
    OHSM_ENSURE(m != NULL, OHSM_HOST_MEMORY);
    m->k = k;
    *out = m;
    return OHSM_OK;
}

ohsm_rv ohsm_kms_cksm_start(struct ohsm_kms_cksm *m)
{
    (void)m;
    return OHSM_OK;
}

void ohsm_kms_cksm_free(struct ohsm_kms_cksm *m)
{
    free(m);
}

ohsm_rv ohsm_kms_cksm_connect(struct ohsm_kms *k, const struct ohsm_kms_cks *s)
{
    (void)k;
    (void)s;
    return OHSM_DEVICE_ERROR; /* not yet */
}

ohsm_rv ohsm_kms_cksm_disconnect(struct ohsm_kms *k, const struct ohsm_kms_cks *s)
{
    (void)k;
    (void)s;
    return OHSM_DEVICE_ERROR; /* not yet */
}

size_t ohsm_kms_cks_key_count(struct ohsm_kms *k, const char *id)
{
    struct ohsm_kms_key *keys = NULL;
    size_t n = 0, count = 0;

    /* every region: a store id is unique across them; out of memory counts as "has keys" */
    if (ohsm_kms_tab_list(k, NULL, &keys, &n) != OHSM_OK) {
        return SIZE_MAX;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(keys[i].custom_key_store_id, id) == 0) {
            count++;
        }
        ohsm_kms_key_clear(&keys[i]);
    }
    free(keys);
    return count;
}
