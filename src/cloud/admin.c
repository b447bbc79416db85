/* SPDX-License-Identifier: Apache-2.0
 *
 * Fault injection, beyond AWS (X-Amz-Target: OpenHsmAdmin.*, and `openhsmd ctl`): StopHsm stops
 * an HSM's process and keeps it stopped (the supervisor does not restart it) until StartHsm;
 * PauseHsm freezes it with SIGSTOP (its port still accepts connections, nothing answers: a hung
 * HSM) until ResumeHsm. Input {"HsmId": "hsm-..."}; output {"HsmId", "State"} with the HSM's
 * control-plane state after the worker has seen the change.
 *
 * Two aids for rehearsals that AWS does not offer: CreateBackup {"ClusterId"} takes a backup of
 * a running HSM of the cluster now ({"BackupId"}); AdvanceClock {"Seconds"} moves the cloud's
 * clock forward (1 s .. 10 years at a time), so retention, the 7-day window of deleted backups
 * and daily backups can be seen without waiting days ({"Now": Unix seconds}).
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

static json_t *create_backup(void *ctx, const struct ohsm_http_call *call, json_t *in,
                             struct ohsm_aws_err *err)
{
    struct ohsm_cloud *c = ctx;
    struct ohsm_meta_cluster cl;
    char run[OHSM_IDS_MAX], bid[OHSM_IDS_MAX];
    const char *cid = json_string_value(json_object_get(in, "ClusterId"));
    (void)pthread_mutex_lock(&c->pass); /* no pass may see this backup half made */
    (void)pthread_mutex_lock(&c->lock);
    bool found = cid != NULL && ohsm_cp_find_cluster(c, call->region, cid, &cl) == OHSM_OK &&
                 cl.state != OHSM_CS_DELETED;
    run[0] = '\0';
    if (found) {
        ohsm_cp_running_hsm(c, cid, NULL, run);
    }
    (void)pthread_mutex_unlock(&c->lock);
    json_t *out = NULL;
    if (!found) {
        ohsm_aws_errf(err, 400, NOT_FOUND, "Cluster %s not found.", cid != NULL ? cid : "");
    } else if (run[0] == '\0') {
        ohsm_aws_errf(err, 400, "ConflictException", "Cluster %s has no running HSM.", cid);
    } else if (ohsm_cp_backup_take(c, cid, run, bid) != OHSM_OK) {
        ohsm_aws_errf(err, 500, "InternalFailure", "The backup of %s failed.", run);
    } else {
        out = json_pack("{s:s}", "BackupId", bid);
    }
    (void)pthread_mutex_unlock(&c->pass);
    return out;
}

static json_t *advance_clock(void *ctx, const struct ohsm_http_call *call, json_t *in,
                             struct ohsm_aws_err *err)
{
    struct ohsm_cloud *c = ctx;
    json_t *s = json_object_get(in, "Seconds");
    (void)call;
    if (!json_is_integer(s) || json_integer_value(s) < 1 ||
        json_integer_value(s) > 10LL * 366 * 24 * 3600) {
        ohsm_aws_errf(err, 400, INVALID, "Seconds must be a whole number from 1 to 10 years.");
        return NULL;
    }
    (void)pthread_mutex_lock(&c->lock);
    c->clock_offset += (int64_t)json_integer_value(s);
    (void)pthread_mutex_unlock(&c->lock);
    ohsm_cloud_reconcile(c);
    if (c->on_clock != NULL) {
        c->on_clock(c->on_clock_ctx);
    }
    (void)pthread_mutex_lock(&c->lock);
    json_t *out = json_pack("{s:I}", "Now", (json_int_t)ohsm_cloud_now(c));
    (void)pthread_mutex_unlock(&c->lock);
    return out;
}

static const struct ohsm_json_op ops[] = {
    {"CreateBackup", create_backup},
    {"AdvanceClock", advance_clock},
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
