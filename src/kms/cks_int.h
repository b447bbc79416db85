/* SPDX-License-Identifier: Apache-2.0
 *
 * Pieces of the CloudHSM key stores' connections (cks_conn.c) that unit tests check directly.
 */
#ifndef OHSM_KMS_CKS_INT_H
#define OHSM_KMS_CKS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "kms/cks.h"
#include "openhsm/client.h"

#define OHSM_KMS_CKS_POOL 4 /* clients per live connection, each logged in as kmsuser */

/* A live connection of one store (cks_conn.c): its pool of clients over the cluster's
 * configuration. */

struct conn {
    struct conn *next;
    char id[OHSM_KMS_CKS_ID_MAX];
    char region[32];
    char cluster_id[OHSM_KMS_CLUSTER_ID_MAX];
    char hsms[OHSM_KMS_CV_HSMS][32]; /* the HSM ids the configuration lists */
    size_t n_hsms;
    struct ohsm_cfg *cfg;
    struct ohsm_client *pool[OHSM_KMS_CKS_POOL];
    atomic_uint rr;
    char pw[OHSM_KMS_CKS_PW_MAX + 1]; /* kmsuser's, for a pool rebuilt when the HSMs change */
};

struct ohsm_kms_cksm {
    struct ohsm_kms *k;
    pthread_rwlock_t rw; /* conns */
    struct conn *conns;
    pthread_mutex_t mu; /* the worker's flags */
    pthread_cond_t cond;
    pthread_t worker;
    bool running;
    bool stopping;
    bool kicked;
};

/* A lost connection (the HSM did not answer). */
bool ohsm_kms_cks_transport(ohsm_rv rv);
/* Logs pool client cl in as kmsuser. At least one HSM must accept and none may refuse for any
 * reason but an unreachable HSM (the client logs in there when it comes back). Returns OHSM_OK,
 * the first refusal's rv (OHSM_PIN_INCORRECT, OHSM_SESSION_COUNT, ...) or OHSM_NOT_CONNECTED;
 * *code gets the ConnectionErrorCode it means. */
OHSM_NODISCARD ohsm_rv ohsm_kms_cks_login(struct ohsm_client *cl, const char *pw, uint32_t *code);


/* The ConnectionErrorCode of a refused kmsuser login from the per-HSM results res[0..n) and the
 * call's rv: the first refusal that is not a lost connection decides (wrong password ->
 * INVALID_CREDENTIALS, locked -> USER_LOCKED_OUT, no such user or not a crypto user ->
 * USER_NOT_FOUND, 2FA -> INVALID_CREDENTIALS, else INTERNAL_ERROR); only lost connections ->
 * NETWORK_ERRORS. */
uint32_t ohsm_kms_cks_login_code(const struct ohsm_result *res, size_t n, ohsm_rv rv);

#endif
