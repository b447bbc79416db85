/* SPDX-License-Identifier: Apache-2.0
 *
 * Fault injection, beyond AWS (X-Amz-Target: OpenHsmAdmin.*, and `openhsmd ctl`): StopHsm stops
 * an HSM's process and keeps it stopped (the supervisor does not restart it) until StartHsm;
 * PauseHsm freezes it with SIGSTOP (its port still accepts connections, nothing answers: a hung
 * HSM) until ResumeHsm. Input {"HsmId": "hsm-..."}; output {"HsmId", "State"} with the HSM's
 * control-plane state after the worker has seen the change.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cloud/cloud.h"
#include "cloud/cp_int.h"
#include "cloud/ids.h"
#include "http/http.h"

#define INVALID "ValidationException"
#define NOT_FOUND "ResourceNotFoundException"

enum act { STOP, START, PAUSE, RESUME };

/* The live HSM named by the request, copied into *out. */
static int find_hsm(struct ohsm_cloud *c, json_t *in, struct ohsm_meta_hsm *out,
                    struct ohsm_aws_err *err)
{
    struct ohsm_meta_hsm *hs = NULL;
    size_t n = 0;
    int found = -1;
    const char *id = json_string_value(json_object_get(in, "HsmId"));

    if (id == NULL || !ohsm_ids_valid(OHSM_IDS_HSM_PREFIX, id)) {
        ohsm_aws_errf(err, 400, INVALID, "HsmId must be an HSM id (hsm-...).");
        return -1;
    }
    (void)pthread_mutex_lock(&c->lock);
    if (ohsm_meta_hsm_list(c->meta, NULL, &hs, &n) == OHSM_OK) {
        for (size_t i = 0; i < n && found < 0; i++) {
            if (strcmp(hs[i].id, id) == 0 &&
                (hs[i].state == OHSM_HS_ACTIVE || hs[i].state == OHSM_HS_DEGRADED)) {
                *out = hs[i];
                found = 0;
            }
        }
    }
    (void)pthread_mutex_unlock(&c->lock);
    free(hs);
    if (found != 0) {
        ohsm_aws_errf(err, 400, NOT_FOUND, "No running or stopped HSM %s.", id);
    }
    return found;
}

static json_t *act(struct ohsm_cloud *c, json_t *in, enum act a, struct ohsm_aws_err *err)
{
    struct ohsm_meta_hsm h;
    ohsm_rv rv = OHSM_OK;

    if (find_hsm(c, in, &h, err) != 0) {
        return NULL;
    }
    switch (a) {
    case STOP:
        rv = ohsm_sup_hold(c->sup, h.id);
        break;
    case START:
        rv = ohsm_sup_launch(c->sup, h.id);
        break;
    case PAUSE:
        rv = ohsm_sup_pause(c->sup, h.id);
        break;
    case RESUME:
        rv = ohsm_sup_resume(c->sup, h.id);
        break;
    }
    if (rv == OHSM_DEVICE_ERROR && (a == PAUSE || a == RESUME)) {
        ohsm_aws_errf(err, 400, "ConflictException", "HSM %s is not running.", h.id);
        return NULL;
    }
    if (rv != OHSM_OK) {
        ohsm_aws_errf(err, 500, "InternalFailure", "HSM %s: %s", h.id, ohsm_rv_str(rv));
        return NULL;
    }
    ohsm_cloud_reconcile(c); /* the state follows the process now, not a second later */
    (void)pthread_mutex_lock(&c->lock);
    struct ohsm_meta_hsm *hs = NULL;
    size_t n = 0;
    const char *state = "UNKNOWN";
    if (ohsm_meta_hsm_list(c->meta, h.cluster_id, &hs, &n) == OHSM_OK) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(hs[i].id, h.id) == 0) {
                state = ohsm_meta_hstate_name(hs[i].state);
            }
        }
    }
    json_t *out = json_pack("{s:s, s:s}", "HsmId", h.id, "State", state);
    (void)pthread_mutex_unlock(&c->lock);
    free(hs);
    return out;
}

#define OP(name, a)                                                                               \
    static json_t *name(void *ctx, const struct ohsm_http_call *call, json_t *in,                \
                        struct ohsm_aws_err *err)                                                 \
    {                                                                                             \
        (void)call;                                                                               \
        return act(ctx, in, a, err);                                                              \
    }
OP(stop_hsm, STOP)
OP(start_hsm, START)
OP(pause_hsm, PAUSE)
OP(resume_hsm, RESUME)

static const struct ohsm_json_op ops[] = {
    {"StopHsm", stop_hsm},
    {"StartHsm", start_hsm},
    {"PauseHsm", pause_hsm},
    {"ResumeHsm", resume_hsm},
};

const struct ohsm_json_service *ohsm_admin_service(struct ohsm_cloud *c)
{
    static struct ohsm_json_service svc = {
        .target_prefix = "OpenHsmAdmin",
        .signing_name = NULL,
        .invalid_request_type = INVALID,
        .unknown_op_type = "UnknownOperationException",
        .ops = ops,
        .n_ops = sizeof(ops) / sizeof(ops[0]),
        .validate = NULL,
    };
    svc.ctx = c;
    return &svc;
}
