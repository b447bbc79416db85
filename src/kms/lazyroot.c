/* SPDX-License-Identifier: Apache-2.0
 *
 * The root key's HSM, started when KMS first needs it (lazyroot.h). openhsmd serves many runs that
 * never touch KMS (a CloudHSM-only test, a cluster used through the CLIs); for those the hidden
 * cluster is never made and costs nothing. The first seal or unseal opens it (ohsm_kms_root_open:
 * a second or two on a first start, well under that later) while other callers wait on the same
 * lock; a failed open is reported to that caller and tried again by the next one.
 */
#include "kms/lazyroot.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/root.h"

struct ohsm_kms_lazy_root {
    pthread_mutex_t lock;
    char *data_dir;
    struct ohsm_sup *sup;
    struct ohsm_kms_root *root; /* NULL until opened */
    struct ohsm_kms_sealer sealer;
    FILE *log;
};

/* The opened root's sealer, opening it first when needed. */
static ohsm_rv ready(struct ohsm_kms_lazy_root *l, struct ohsm_kms_sealer *out)
{
    char err[512];
    ohsm_rv rv = OHSM_OK;

    (void)pthread_mutex_lock(&l->lock);
    if (l->root == NULL) {
        struct ohsm_kms_root_cfg cfg = {l->data_dir, l->sup};
        rv = ohsm_kms_root_open(&cfg, &l->root, err, sizeof(err));
        if (rv != OHSM_OK) {
            if (l->log != NULL) {
                fprintf(l->log, "openhsmd: kms: the root key's HSM did not open: %s\n", err);
                fflush(l->log);
            }
            l->root = NULL;
        } else {
            ohsm_kms_root_sealer(l->root, &l->sealer);
        }
    }
    if (rv == OHSM_OK) {
        *out = l->sealer;
    }
    (void)pthread_mutex_unlock(&l->lock);
    return rv;
}

static ohsm_rv lazy_seal(void *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                         size_t in_len, uint8_t **out, size_t *out_len)
{
    struct ohsm_kms_sealer s;
    OHSM_TRY(ready(ctx, &s));
    return s.seal(s.ctx, aad, aad_len, in, in_len, out, out_len);
}

static ohsm_rv lazy_unseal(void *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                           size_t in_len, uint8_t *out, size_t cap, size_t *out_len)
{
    struct ohsm_kms_sealer s;
    OHSM_TRY(ready(ctx, &s));
    return s.unseal(s.ctx, aad, aad_len, in, in_len, out, cap, out_len);
}

ohsm_rv ohsm_kms_lazy_root_new(const char *data_dir, struct ohsm_sup *sup, FILE *log,
                               struct ohsm_kms_lazy_root **out)
{
    struct ohsm_kms_lazy_root *l;

    OHSM_ENSURE(data_dir != NULL && sup != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    l = calloc(1, sizeof(*l));
    OHSM_ENSURE(l != NULL, OHSM_HOST_MEMORY);
    l->data_dir = strdup(data_dir);
    if (l->data_dir == NULL) {
        free(l);
        return OHSM_HOST_MEMORY;
    }
    (void)pthread_mutex_init(&l->lock, NULL);
    l->sup = sup;
    l->log = log;
    *out = l;
    return OHSM_OK;
}

void ohsm_kms_lazy_root_sealer(struct ohsm_kms_lazy_root *l, struct ohsm_kms_sealer *out)
{
    out->seal = lazy_seal;
    out->unseal = lazy_unseal;
    out->ctx = l;
}

ohsm_rv ohsm_kms_lazy_root_open(struct ohsm_kms_lazy_root *l)
{
    struct ohsm_kms_sealer s;
    return ready(l, &s);
}

void ohsm_kms_lazy_root_free(struct ohsm_kms_lazy_root *l)
{
    if (l == NULL) {
        return;
    }
    ohsm_kms_root_close(l->root);
    (void)pthread_mutex_destroy(&l->lock);
    free(l->data_dir);
    free(l);
}
