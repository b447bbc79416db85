/* SPDX-License-Identifier: Apache-2.0
 *
 * Which request makes which audit record (issue 16), called by the dispatcher around each
 * request. Management commands are recorded, successful or not (a failed login with its reason);
 * reads (find, get attributes, list users, HSM info, sync status, quorum lists) and cryptographic
 * use of keys (encrypt, sign, random) are not, as in CloudHSM. The user named in a record is the
 * one the command is about: who logs in or out, who is created, deleted or changed (the acting
 * user is the one of the session's login record). Key records carry the key's handle, and for a
 * new pair the public key's too. Nothing from a request's secret fields reaches a record.
 */
#include <string.h>

#include "hsm/auditlog.h"
#include "hsm/handlers.h"
#include "openhsm/rd.h"

/* The opcode a request makes, or -1 for requests that are not recorded. */
static int op_of(const Ohsm__Request *q)
{
    switch (q->op_case) {
    case OHSM__REQUEST__OP_LOGIN:
    case OHSM__REQUEST__OP_MFA_BEGIN:
    case OHSM__REQUEST__OP_MFA_FINISH:
        return OHSM_AUDIT_LOGIN;
    case OHSM__REQUEST__OP_LOGOUT:
        return OHSM_AUDIT_LOGOUT;
    case OHSM__REQUEST__OP_CREATE_USER:
        return OHSM_AUDIT_CREATE_USER; /* CO and AU: see user_op */
    case OHSM__REQUEST__OP_DELETE_USER:
        return OHSM_AUDIT_DELETE_USER;
    case OHSM__REQUEST__OP_CHANGE_PASSWORD:
        return OHSM_AUDIT_CHANGE_PSWD;
    case OHSM__REQUEST__OP_MFA_REG_BEGIN:
    case OHSM__REQUEST__OP_MFA_REG_FINISH:
        return OHSM_AUDIT_CHANGE_MFA;
    case OHSM__REQUEST__OP_QUORUM_SET:
        return OHSM_AUDIT_SET_M_VALUE;
    case OHSM__REQUEST__OP_QUORUM_GEN:
        return OHSM_AUDIT_GET_TOKEN;
    case OHSM__REQUEST__OP_QUORUM_DELETE:
        return OHSM_AUDIT_DELETE_TOKEN;
    case OHSM__REQUEST__OP_QUORUM_REGISTER:
        return OHSM_AUDIT_REGISTER_QUORUM_KEY;
    case OHSM__REQUEST__OP_KEY_GEN:
        return OHSM_AUDIT_GENERATE_KEY; /* pairs: see key_details */
    case OHSM__REQUEST__OP_KEY_IMPORT:
        return OHSM_AUDIT_CREATE_OBJECT;
    case OHSM__REQUEST__OP_KEY_DELETE:
        return OHSM_AUDIT_TOMBSTONE_OBJECT; /* session objects: see key_details */
    case OHSM__REQUEST__OP_KEY_SET_ATTR:
        return OHSM_AUDIT_MODIFY_OBJECT;
    case OHSM__REQUEST__OP_KEY_SHARE:
        return OHSM_AUDIT_SHARE_OBJECT;
    case OHSM__REQUEST__OP_WRAP:
    case OHSM__REQUEST__OP_KEY_EXPORT:
        return OHSM_AUDIT_WRAP_KEY;
    case OHSM__REQUEST__OP_UNWRAP:
        return OHSM_AUDIT_UNWRAP_KEY;
    case OHSM__REQUEST__OP_DERIVE:
        return OHSM_AUDIT_DERIVE_KEY;
    case OHSM__REQUEST__OP_MASKED_EXTRACT:
        return OHSM_AUDIT_EXTRACT_MASKED_OBJECT;
    case OHSM__REQUEST__OP_MASKED_INSERT:
        return OHSM_AUDIT_INSERT_MASKED_OBJECT;
    case OHSM__REQUEST__OP_USER_EXTRACT:
        return OHSM_AUDIT_EXTRACT_USER;
    case OHSM__REQUEST__OP_USER_INSERT:
        return OHSM_AUDIT_INSERT_USER;
    default:
        return -1;
    }
}

bool ohsm_hsm_audit_needed(const Ohsm__Request *q)
{
    return op_of(q) >= 0;
}

void ohsm_hsm_audit_before(const struct ohsm_session *s, const Ohsm__Request *q,
                           struct ohsm_audit_pre *pre)
{
    memset(pre, 0, sizeof(*pre));
    pre->logged_in = s->logged_in;
    pre->type = s->type;
    memcpy(pre->user, s->user, sizeof(pre->user));
    if (q->op_case == OHSM__REQUEST__OP_MFA_FINISH) {
        memcpy(pre->user, s->mfa.user, sizeof(pre->user)); /* who step 1 was for */
    }
    pre->user[sizeof(pre->user) - 1] = '\0';
}

/* The user named in a request (wire type converted; OHSM_UT_NONE when not valid). */
static void named(uint32_t wire_type, const char *name, struct ohsm_audit_rec *rec)
{
    enum ohsm_utype t = OHSM_UT_NONE;
    if (ohsm_hsm_wire_type(wire_type, &t) != OHSM_OK) {
        t = OHSM_UT_NONE;
    }
    rec->user_type = t;
    rec->user = name;
}

/* A record's handle and token attribute, read straight from its attribute list (records come
 * from this HSM's own handlers; still bounds-checked), without a full decode: this runs for every
 * session key made and destroyed. */
static void rec_peek(const ProtobufCBinaryData *b, uint64_t *handle, bool *token)
{
    struct ohsm_rd r;
    ohsm_rd_init(&r, b->data, b->len);
    while (r.off < r.len) {
        uint32_t id = 0, len = 0;
        const uint8_t *v = NULL;
        if (ohsm_rd_u32(&r, &id) != OHSM_OK || ohsm_rd_u32(&r, &len) != OHSM_OK ||
            ohsm_rd_bytes(&r, len, &v) != OHSM_OK) {
            return;
        }
        if (id == OHSM_A_HANDLE && len == 8) {
            uint64_t h = 0;
            for (size_t i = 0; i < 8; i++) {
                h = h << 8 | v[i];
            }
            *handle = h;
        } else if (id == OHSM_A_TOKEN && len == 1) {
            *token = v[0] != 0;
        }
    }
}

/* Handles (and token-ness) of the records a key reply carries. */
static void reply_keys(const struct ohsm_reply *r, struct ohsm_audit_rec *rec, bool *token)
{
    for (size_t i = 0; i < r->key.n_records && i < 2; i++) {
        bool t = false;
        rec_peek(&r->key.records[i], i == 0 ? &rec->key : &rec->pub_key, &t);
        if (i == 0) {
            *token = t;
        }
    }
}

/* Fills the key details; false when the request makes no record this time. */
static bool key_details(const Ohsm__Request *q, const struct ohsm_reply *r, ohsm_rv rv,
                        struct ohsm_audit_rec *rec, bool *durable)
{
    bool token = true;
    if (rv == OHSM_OK && r->resp.body_case == OHSM__RESPONSE__BODY_KEY) {
        reply_keys(r, rec, &token);
    }
    switch (q->op_case) {
    case OHSM__REQUEST__OP_KEY_GEN:
        if (rec->pub_key != 0) {
            rec->op = OHSM_AUDIT_GENERATE_KEY_PAIR;
        }
        break;
    case OHSM__REQUEST__OP_KEY_DELETE:
        rec->key = q->key_delete->handle;
        if (rv == OHSM_OK && !token) {
            rec->op = OHSM_AUDIT_DESTROY_OBJECT;
        }
        break;
    case OHSM__REQUEST__OP_KEY_SET_ATTR:
        rec->key = q->key_set_attr->handle;
        break;
    case OHSM__REQUEST__OP_KEY_SHARE:
        rec->key = q->key_share->handle;
        break;
    case OHSM__REQUEST__OP_WRAP:
        rec->key = q->wrap->payload;
        break;
    case OHSM__REQUEST__OP_KEY_EXPORT:
        rec->key = q->key_export->handle;
        break;
    case OHSM__REQUEST__OP_MASKED_EXTRACT:
        rec->key = q->masked_extract->handle;
        break;
    default:
        break; /* creations: the reply's handles */
    }
    /* A change to a session object dies with a crash anyway; a failure changed nothing. */
    *durable = rv == OHSM_OK && token;
    return true;
}

/* Fills the user details; false when the request makes no record this time. */
static bool user_details(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__Request *q,
                         ohsm_rv rv, const struct ohsm_audit_pre *pre, struct ohsm_audit_rec *rec,
                         bool *durable)
{
    (void)h;
    *durable = true;
    switch (q->op_case) {
    case OHSM__REQUEST__OP_LOGIN:
        named(q->login->user_type, q->login->username, rec);
        if (rv == OHSM_OK) {
            rec->user = s->user;
            rec->user_type = s->type;
        }
        return true;
    case OHSM__REQUEST__OP_MFA_BEGIN:
        /* Step 1 of an MFA login: recorded when it fails (the login's end is step 2). */
        named(q->mfa_begin->user_type, q->mfa_begin->username, rec);
        return rv != OHSM_OK;
    case OHSM__REQUEST__OP_MFA_FINISH:
        rec->user = rv == OHSM_OK ? s->user : pre->user;
        rec->user_type = rv == OHSM_OK ? s->type : OHSM_UT_NONE;
        return true;
    case OHSM__REQUEST__OP_LOGOUT:
        *durable = false; /* the session's state only */
        rec->user = pre->user;
        rec->user_type = pre->type;
        return pre->logged_in;
    case OHSM__REQUEST__OP_CREATE_USER:
        named(q->create_user->user_type, q->create_user->username, rec);
        rec->op = rec->user_type == OHSM_UT_CO   ? OHSM_AUDIT_CREATE_CO
                  : rec->user_type == OHSM_UT_AU ? OHSM_AUDIT_CREATE_APPLIANCE_USER
                                                 : OHSM_AUDIT_CREATE_USER;
        return true;
    case OHSM__REQUEST__OP_DELETE_USER:
        named(q->delete_user->user_type, q->delete_user->username, rec);
        return true;
    case OHSM__REQUEST__OP_CHANGE_PASSWORD:
        named(q->change_password->user_type, q->change_password->username, rec);
        return true;
    case OHSM__REQUEST__OP_MFA_REG_BEGIN:
        named(q->mfa_reg_begin->user_type, q->mfa_reg_begin->username, rec);
        return rv != OHSM_OK; /* step 2 records the change */
    case OHSM__REQUEST__OP_MFA_REG_FINISH:
        named(q->mfa_reg_finish->user_type, q->mfa_reg_finish->username, rec);
        return true;
    case OHSM__REQUEST__OP_USER_EXTRACT:
        *durable = false; /* a read */
        rec->user = q->user_extract->username;
        rec->user_type = OHSM_UT_NONE;
        return true;
    default:
        /* Quorum commands, user records received: the session's user. */
        rec->user = pre->user;
        rec->user_type = pre->type;
        *durable = q->op_case != OHSM__REQUEST__OP_QUORUM_GEN &&
                   q->op_case != OHSM__REQUEST__OP_QUORUM_DELETE;
        return true;
    }
}

ohsm_rv ohsm_hsm_audit_after(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__Request *q,
                             const struct ohsm_reply *r, ohsm_rv rv,
                             const struct ohsm_audit_pre *pre)
{
    int op = op_of(q);
    if (h->audit == NULL || op < 0) {
        return rv;
    }
    struct ohsm_audit_rec rec = {
        .op = (enum ohsm_audit_op)op, .session = s->serial, .response = rv};
    bool durable = true;
    const struct ohsm_audit_opdef *d = ohsm_audit_opdef(rec.op);
    bool record = d->log_type == OHSM_AUDIT_KEY_DETAILS
                      ? key_details(q, r, rv, &rec, &durable)
                      : user_details(h, s, q, rv, pre, &rec, &durable);
    if (!record) {
        return rv;
    }
    if (ohsm_auditlog_append(h->audit, &rec, durable) != OHSM_OK) {
        /* The change may have been made, but it is not in the log: never acknowledge it. */
        return OHSM_DEVICE_ERROR;
    }
    /* A new token key leaves with its answer as masked objects, for the client to put into the
     * other HSMs: CloudHSM records that extraction (CN_EXTRACT_MASKED_OBJECT_USER) too. */
    bool creation = q->op_case != OHSM__REQUEST__OP_KEY_DELETE &&
                    (q->op_case != OHSM__REQUEST__OP_MASKED_INSERT || q->masked_insert->as_new);
    uint64_t handles[2] = {rec.key, rec.pub_key};
    for (size_t i = 0;
         creation && rv == OHSM_OK && d->log_type == OHSM_AUDIT_KEY_DETAILS &&
         r->resp.body_case == OHSM__RESPONSE__BODY_KEY && i < r->key.n_masked && i < 2;
         i++) {
        if (r->key.masked[i].len == 0 || handles[i] == 0) {
            continue;
        }
        struct ohsm_audit_rec x = {.op = OHSM_AUDIT_EXTRACT_MASKED_OBJECT,
                                   .session = s->serial,
                                   .response = OHSM_OK,
                                   .key = handles[i]};
        if (ohsm_auditlog_append(h->audit, &x, durable) != OHSM_OK) {
            return OHSM_DEVICE_ERROR;
        }
    }
    return rv;
}

void ohsm_hsm_audit_session_end(struct ohsm_hsm *h, const struct ohsm_session *s)
{
    if (h->audit == NULL || !s->logged_in) {
        return;
    }
    struct ohsm_audit_rec rec = {.op = OHSM_AUDIT_APP_FINALIZE,
                                 .session = s->serial,
                                 .response = OHSM_OK,
                                 .user = s->user,
                                 .user_type = s->type};
    ohsm_rv rv = ohsm_auditlog_append(h->audit, &rec, false);
    (void)rv; /* a failed write breaks the log: later commands are refused */
}
