/* SPDX-License-Identifier: Apache-2.0
 *
 * The HSM's request dispatcher: one request to its handler, nothing else. Handlers check the
 * permission table themselves (through state.c) and live by topic: users.c (login, users, HSM
 * info, quorum values), keys.c, crypto.c, masked.c, userrec.c (user records between HSMs) and
 * auth.c (MFA and quorum tokens).
 */
#include "hsm/auditlog.h"
#include "hsm/handlers.h"

static ohsm_rv dispatch_auth(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__Request *q,
                             struct ohsm_reply *r)
{
    switch (q->op_case) {
    case OHSM__REQUEST__OP_MFA_BEGIN:
        return ohsm_hsm_mfa_begin(h, s, q->mfa_begin, r);
    case OHSM__REQUEST__OP_MFA_FINISH:
        return ohsm_hsm_mfa_finish(h, s, q->mfa_finish, r);
    case OHSM__REQUEST__OP_MFA_REG_BEGIN:
        return ohsm_hsm_mfa_reg_begin(h, s, q->mfa_reg_begin, r);
    case OHSM__REQUEST__OP_MFA_REG_FINISH:
        return ohsm_hsm_mfa_reg_finish(h, s, q->mfa_reg_finish, r);
    case OHSM__REQUEST__OP_QUORUM_GEN:
        return ohsm_hsm_quorum_gen(h, s, q->quorum_gen, r);
    case OHSM__REQUEST__OP_QUORUM_LIST:
        return ohsm_hsm_quorum_list(h, s, r);
    case OHSM__REQUEST__OP_QUORUM_VALUES:
        return ohsm_hsm_quorum_values(h, r);
    case OHSM__REQUEST__OP_QUORUM_SET:
        return ohsm_hsm_quorum_set(h, s, q->quorum_set, r);
    case OHSM__REQUEST__OP_QUORUM_DELETE:
        return ohsm_hsm_quorum_delete(h, s, q->quorum_delete, r);
    case OHSM__REQUEST__OP_QUORUM_REGISTER:
        return ohsm_hsm_quorum_register(h, s, q->quorum_register, r);
    default:
        return OHSM_PROTOCOL;
    }
}

/* Request fields of the key and sync handlers, each NULL-checked by the wire decoder. */
static ohsm_rv dispatch_keys(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__Request *q,
                             struct ohsm_reply *r)
{
    switch (q->op_case) {
    case OHSM__REQUEST__OP_KEY_GEN:
        return ohsm_hsm_key_gen(h, s, q->key_gen, r);
    case OHSM__REQUEST__OP_KEY_IMPORT:
        return ohsm_hsm_key_import(h, s, q->key_import, r);
    case OHSM__REQUEST__OP_KEY_DELETE:
        return ohsm_hsm_key_delete(h, s, q->key_delete, r);
    case OHSM__REQUEST__OP_KEY_FIND:
        return ohsm_hsm_key_find(h, s, q->key_find, r);
    case OHSM__REQUEST__OP_KEY_GET:
        return ohsm_hsm_key_get(h, s, q->key_get, r);
    case OHSM__REQUEST__OP_KEY_SET_ATTR:
        return ohsm_hsm_key_set_attr(h, s, q->key_set_attr, r);
    case OHSM__REQUEST__OP_KEY_SHARE:
        return ohsm_hsm_key_share(h, s, q->key_share, r);
    case OHSM__REQUEST__OP_KEY_EXPORT:
        return ohsm_hsm_key_export(h, s, q->key_export, r);
    case OHSM__REQUEST__OP_WRAP:
        return ohsm_hsm_wrap(h, s, q->wrap, r);
    case OHSM__REQUEST__OP_UNWRAP:
        return ohsm_hsm_unwrap(h, s, q->unwrap, r);
    case OHSM__REQUEST__OP_DERIVE:
        return ohsm_hsm_derive(h, s, q->derive, r);
    case OHSM__REQUEST__OP_CRYPTO:
        return ohsm_hsm_crypto(h, s, q->crypto, r);
    case OHSM__REQUEST__OP_RANDOM:
        return ohsm_hsm_random(h, s, q->random, r);
    case OHSM__REQUEST__OP_MASKED_EXTRACT:
        return ohsm_hsm_masked_extract(h, s, q->masked_extract, r);
    case OHSM__REQUEST__OP_MASKED_INSERT:
        return ohsm_hsm_masked_insert(h, s, q->masked_insert, r);
    case OHSM__REQUEST__OP_SYNC_STATUS:
        return ohsm_hsm_sync_status(h, s, r);
    case OHSM__REQUEST__OP_USER_EXTRACT:
        return ohsm_hsm_user_extract(h, s, q->user_extract, r);
    case OHSM__REQUEST__OP_USER_INSERT:
        return ohsm_hsm_user_insert(h, s, q->user_insert, r);
    default:
        return dispatch_auth(h, s, q, r);
    }
}

void ohsm_dispatch(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__Request *q,
                   struct ohsm_reply *r)
{
    ohsm_rv rv;

    ohsm__hello_resp__init(&r->hello);
    ohsm__login_resp__init(&r->login);
    ohsm__list_users_resp__init(&r->users);
    ohsm__user_resp__init(&r->user);
    ohsm__hsm_info_resp__init(&r->info);
    ohsm__key_resp__init(&r->key);
    ohsm__key_find_resp__init(&r->found);
    ohsm__data_resp__init(&r->data);
    ohsm__masked_resp__init(&r->masked);
    ohsm__sync_status_resp__init(&r->sync);
    ohsm__token_resp__init(&r->token);
    ohsm__quorum_list_resp__init(&r->qtokens);
    ohsm__quorum_values_resp__init(&r->qvalues);
    struct ohsm_audit_pre pre;
    ohsm_hsm_audit_before(s, q, &pre);
    if (ohsm_auditlog_broken(h->audit) && ohsm_hsm_audit_needed(q)) {
        /* Fail closed: a command that needs a record does not run without one. */
        r->resp.body_case = OHSM__RESPONSE__BODY__NOT_SET;
        r->resp.rv = (uint32_t)OHSM_DEVICE_ERROR;
        return;
    }
    switch (q->op_case) {
    case OHSM__REQUEST__OP_HELLO:
        r->hello.version = 1;
        r->hello.hsm_id = h->meta.hsm_id;
        r->hello.cluster_id = h->meta.cluster_id;
        r->hello.slot = h->slot;
        r->resp.body_case = OHSM__RESPONSE__BODY_HELLO;
        r->resp.hello = &r->hello;
        rv = OHSM_OK;
        break;
    case OHSM__REQUEST__OP_LOGIN:
        rv = ohsm_hsm_login(h, s, q->login, r);
        break;
    case OHSM__REQUEST__OP_LOGOUT:
        rv = s->logged_in ? OHSM_OK : OHSM_USER_NOT_LOGGED_IN;
        ohsm_session_logout(h, s, false);
        break;
    case OHSM__REQUEST__OP_LIST_USERS:
        rv = ohsm_hsm_list_users(h, r);
        break;
    case OHSM__REQUEST__OP_CREATE_USER:
        rv = ohsm_hsm_create_user(h, s, q->create_user, r);
        break;
    case OHSM__REQUEST__OP_DELETE_USER:
        rv = ohsm_hsm_delete_user(h, s, q->delete_user, r);
        break;
    case OHSM__REQUEST__OP_CHANGE_PASSWORD:
        rv = ohsm_hsm_change_password(h, s, q->change_password, r);
        break;
    case OHSM__REQUEST__OP_HSM_INFO:
        rv = ohsm_hsm_info(h, r);
        break;
    default:
        rv = dispatch_keys(h, s, q, r);
        break;
    }
    rv = ohsm_hsm_audit_after(h, s, q, r, rv, &pre);
    if (rv != OHSM_OK) {
        r->resp.body_case = OHSM__RESPONSE__BODY__NOT_SET;
    }
    r->resp.rv = (uint32_t)rv;
}
