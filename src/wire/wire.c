/* SPDX-License-Identifier: Apache-2.0
 *
 * Frame I/O over OpenSSL and validation of decoded messages. Input from the peer is untrusted:
 * lengths are checked before allocation, and protobuf-c's own decoder is followed by our checks on
 * the oneof case and every string and bytes field.
 */
#include "wire/wire.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "openhsm/frame.h"
#include "openhsm/mask.h"
#include "openhsm/obj.h"

static ohsm_rv io_error(SSL *ssl, int ret)
{
    int e = SSL_get_error(ssl, ret);
    ERR_clear_error();
    if (e == SSL_ERROR_ZERO_RETURN) {
        return OHSM_IO;
    }
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
        (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))) {
        return OHSM_TIMEOUT;
    }
    if (e == SSL_ERROR_SSL) {
        return OHSM_TLS;
    }
    return OHSM_IO;
}

static ohsm_rv read_all(SSL *ssl, uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t got = 0;
        int ret = SSL_read_ex(ssl, p, n, &got);
        if (ret != 1) {
            return io_error(ssl, ret);
        }
        p += got;
        n -= got;
    }
    return OHSM_OK;
}

ohsm_rv ohsm_wire_read(SSL *ssl, uint8_t **buf, size_t *len)
{
    uint8_t hdr[OHSM_FRAME_HDR];
    uint32_t n = 0;
    uint8_t *p = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(ssl != NULL && buf != NULL && len != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(read_all(ssl, hdr, sizeof(hdr)));
    OHSM_TRY(ohsm_frame_hdr_parse(hdr, sizeof(hdr), &n));
    p = malloc(n);
    OHSM_ENSURE(p != NULL, OHSM_HOST_MEMORY);
    rv = read_all(ssl, p, n);
    if (rv != OHSM_OK) {
        OPENSSL_clear_free(p, n);
        return rv;
    }
    *buf = p;
    *len = n;
    return OHSM_OK;
}

ohsm_rv ohsm_wire_write(SSL *ssl, const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *p = NULL;
    size_t written = 0;
    ohsm_rv rv;
    int ret;

    OHSM_ENSURE(n <= OHSM_FRAME_MAX, OHSM_DATA_LEN_RANGE);
    /* An all-default message packs to 0 bytes and frames are never empty. Requests always carry
     * an op; responses echo a non-zero request id or carry a non-zero rv. */
    OHSM_ENSURE(n > 0, OHSM_ARGUMENTS_BAD);
    p = malloc(OHSM_FRAME_HDR + n);
    OHSM_ENSURE(p != NULL, OHSM_HOST_MEMORY);
    rv = ohsm_frame_hdr_write(n, p);
    if (rv != OHSM_OK) {
        goto out;
    }
    (void)protobuf_c_message_pack(msg, p + OHSM_FRAME_HDR);
    ret = SSL_write_ex(ssl, p, OHSM_FRAME_HDR + n, &written);
    rv = ret == 1 ? OHSM_OK : io_error(ssl, ret);
out:
    /* The frame may carry a password. */
    OPENSSL_clear_free(p, OHSM_FRAME_HDR + n);
    return rv;
}

static bool str_ok(const char *s, size_t max)
{
    return s != NULL && strnlen(s, max + 1) <= max;
}

static bool bytes_ok(const ProtobufCBinaryData *b, size_t max)
{
    return b->len <= max && (b->len == 0 || b->data != NULL);
}

/* A digest field: absent, or exactly OHSM_WIRE_DIGEST_LEN bytes. */
static bool digest_ok(const ProtobufCBinaryData *b)
{
    return bytes_ok(b, OHSM_WIRE_DIGEST_LEN) && (b->len == 0 || b->len == OHSM_WIRE_DIGEST_LEN);
}

static bool names_ok(size_t n, char *const *names, size_t max_count)
{
    if (n > max_count || (n > 0 && names == NULL)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!str_ok(names[i], OHSM_WIRE_NAME_MAX)) {
            return false;
        }
    }
    return true;
}

static bool blobs_ok(size_t n, const ProtobufCBinaryData *b, size_t max_count, size_t max_len)
{
    if (n > max_count || (n > 0 && b == NULL)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!bytes_ok(&b[i], max_len)) {
            return false;
        }
    }
    return true;
}

static bool approval_ok(const Ohsm__Approval *a);

static bool mech_ok(const Ohsm__Mech *m)
{
    return m != NULL && bytes_ok(&m->iv, OHSM_WIRE_IV_MAX) &&
           bytes_ok(&m->aad, OHSM_WIRE_AAD_MAX) && bytes_ok(&m->label, OHSM_WIRE_LABEL_MAX);
}

static bool key_gen_ok(const Ohsm__KeyGenReq *g)
{
    return g != NULL && bytes_ok(&g->template_, OHSM_OBJ_ENC_MAX) &&
           bytes_ok(&g->pub_template, OHSM_OBJ_ENC_MAX) &&
           names_ok(g->n_share, g->share, OHSM_SHARE_MAX);
}

static bool key_import_ok(const Ohsm__KeyImportReq *k)
{
    return k != NULL && bytes_ok(&k->material, OHSM_WIRE_MATERIAL_MAX) &&
           bytes_ok(&k->template_, OHSM_OBJ_ENC_MAX) &&
           names_ok(k->n_share, k->share, OHSM_SHARE_MAX);
}

static bool unwrap_ok(const Ohsm__UnwrapReq *u)
{
    return u != NULL && mech_ok(u->mech) && bytes_ok(&u->wrapped, OHSM_WIRE_WRAPPED_MAX) &&
           bytes_ok(&u->template_, OHSM_OBJ_ENC_MAX) &&
           names_ok(u->n_share, u->share, OHSM_SHARE_MAX) && approval_ok(u->approval);
}

static bool derive_ok(const Ohsm__DeriveReq *d)
{
    return d != NULL && bytes_ok(&d->peer_point, OHSM_WIRE_POINT_MAX) &&
           bytes_ok(&d->shared_info, OHSM_WIRE_SHARED_INFO_MAX) &&
           bytes_ok(&d->template_, OHSM_OBJ_ENC_MAX) &&
           names_ok(d->n_share, d->share, OHSM_SHARE_MAX);
}

static bool crypto_ok(const Ohsm__CryptoReq *c)
{
    /* proto3 enums are open: an unknown op arrives as its number. */
    return c != NULL && c->op >= OHSM__CRYPTO_OP__ENCRYPT && c->op <= OHSM__CRYPTO_OP__DIGEST &&
           mech_ok(c->mech) && bytes_ok(&c->data, OHSM_WIRE_DATA_MAX) &&
           bytes_ok(&c->signature, OHSM_WIRE_DATA_MAX) && approval_ok(c->approval);
}

/* An optional Approval (absent: none given). */
static bool approval_ok(const Ohsm__Approval *a)
{
    if (a == NULL) {
        return true;
    }
    if (!bytes_ok(&a->data, OHSM_WIRE_APPROVAL_MAX) || a->n_sigs > OHSM_APPROVAL_SIGS_MAX ||
        (a->n_sigs > 0 && a->sigs == NULL)) {
        return false;
    }
    for (size_t i = 0; i < a->n_sigs; i++) {
        if (a->sigs[i] == NULL || !str_ok(a->sigs[i]->username, OHSM_USERNAME_MAX) ||
            !bytes_ok(&a->sigs[i]->signature, OHSM_TOKEN_SIG_MAX)) {
            return false;
        }
    }
    return true;
}

static bool mfa_reg_finish_ok(const Ohsm__MfaRegFinishReq *m)
{
    return m != NULL && str_ok(m->username, OHSM_USERNAME_MAX) &&
           bytes_ok(&m->password, OHSM_WIRE_SECRET_MAX) &&
           bytes_ok(&m->public_key, OHSM_TOKEN_PUBKEY_MAX) &&
           bytes_ok(&m->signature, OHSM_TOKEN_SIG_MAX) && approval_ok(m->approval);
}

static bool quorum_register_ok(const Ohsm__QuorumRegisterReq *r)
{
    return r != NULL && bytes_ok(&r->approval_data, OHSM_WIRE_APPROVAL_MAX) &&
           bytes_ok(&r->signature, OHSM_TOKEN_SIG_MAX) &&
           bytes_ok(&r->public_key, OHSM_TOKEN_PUBKEY_MAX);
}

/* MFA and quorum (issue 5). Services and values are the HSM's to check (clear errors there). */
static bool req_token_valid(const Ohsm__Request *q)
{
    switch (q->op_case) {
    case OHSM__REQUEST__OP_MFA_BEGIN:
        return q->mfa_begin != NULL && str_ok(q->mfa_begin->username, OHSM_USERNAME_MAX) &&
               bytes_ok(&q->mfa_begin->password, OHSM_WIRE_SECRET_MAX);
    case OHSM__REQUEST__OP_MFA_FINISH:
        return q->mfa_finish != NULL && bytes_ok(&q->mfa_finish->signature, OHSM_TOKEN_SIG_MAX);
    case OHSM__REQUEST__OP_MFA_REG_BEGIN:
        return q->mfa_reg_begin != NULL && str_ok(q->mfa_reg_begin->username, OHSM_USERNAME_MAX);
    case OHSM__REQUEST__OP_MFA_REG_FINISH:
        return mfa_reg_finish_ok(q->mfa_reg_finish);
    case OHSM__REQUEST__OP_QUORUM_GEN:
        return q->quorum_gen != NULL;
    case OHSM__REQUEST__OP_QUORUM_LIST:
        return q->quorum_list != NULL;
    case OHSM__REQUEST__OP_QUORUM_VALUES:
        return q->quorum_values != NULL;
    case OHSM__REQUEST__OP_QUORUM_SET:
        return q->quorum_set != NULL && approval_ok(q->quorum_set->approval);
    case OHSM__REQUEST__OP_QUORUM_DELETE:
        return q->quorum_delete != NULL &&
               bytes_ok(&q->quorum_delete->approval_data, OHSM_WIRE_APPROVAL_MAX);
    case OHSM__REQUEST__OP_QUORUM_REGISTER:
        return quorum_register_ok(q->quorum_register);
    default:
        return false;
    }
}

/* The user-management operations of issue 3 (with issue 5's approvals). */
static bool req_user_valid(const Ohsm__Request *q)
{
    switch (q->op_case) {
    case OHSM__REQUEST__OP_HELLO:
        return q->hello != NULL;
    case OHSM__REQUEST__OP_LOGIN:
        return q->login != NULL && str_ok(q->login->username, OHSM_WIRE_NAME_MAX) &&
               bytes_ok(&q->login->password, OHSM_WIRE_SECRET_MAX) &&
               (q->login->group.len == 0 ||
                (q->login->group.len == OHSM_WIRE_GROUP_LEN && q->login->group.data != NULL));
    case OHSM__REQUEST__OP_LOGOUT:
        return q->logout != NULL;
    case OHSM__REQUEST__OP_LIST_USERS:
        return q->list_users != NULL;
    case OHSM__REQUEST__OP_CREATE_USER:
        return q->create_user != NULL && str_ok(q->create_user->username, OHSM_WIRE_NAME_MAX) &&
               bytes_ok(&q->create_user->password, OHSM_WIRE_SECRET_MAX) &&
               approval_ok(q->create_user->approval);
    case OHSM__REQUEST__OP_DELETE_USER:
        return q->delete_user != NULL && str_ok(q->delete_user->username, OHSM_WIRE_NAME_MAX) &&
               approval_ok(q->delete_user->approval);
    case OHSM__REQUEST__OP_CHANGE_PASSWORD:
        return q->change_password != NULL &&
               str_ok(q->change_password->username, OHSM_WIRE_NAME_MAX) &&
               bytes_ok(&q->change_password->password, OHSM_WIRE_SECRET_MAX) &&
               approval_ok(q->change_password->approval);
    case OHSM__REQUEST__OP_HSM_INFO:
        return q->hsm_info != NULL;
    case OHSM__REQUEST__OP_USER_EXTRACT:
        return q->user_extract != NULL &&
               (q->user_extract->user_id != 0 ||
                str_ok(q->user_extract->username, OHSM_WIRE_NAME_MAX));
    case OHSM__REQUEST__OP_USER_INSERT:
        return q->user_insert != NULL && bytes_ok(&q->user_insert->masked, OHSM_MASK_MAX);
    default:
        return req_token_valid(q);
    }
}

static bool req_valid(const Ohsm__Request *q)
{
    /* Request ids start at 1, so that every response (which echoes the id) is non-empty. */
    if (q->id == 0) {
        return false;
    }
    switch (q->op_case) {
    case OHSM__REQUEST__OP_KEY_GEN:
        return key_gen_ok(q->key_gen);
    case OHSM__REQUEST__OP_KEY_IMPORT:
        return key_import_ok(q->key_import);
    case OHSM__REQUEST__OP_KEY_DELETE:
        return q->key_delete != NULL;
    case OHSM__REQUEST__OP_KEY_FIND:
        return q->key_find != NULL && bytes_ok(&q->key_find->template_, OHSM_OBJ_ENC_MAX);
    case OHSM__REQUEST__OP_KEY_GET:
        return q->key_get != NULL;
    case OHSM__REQUEST__OP_KEY_SET_ATTR:
        return q->key_set_attr != NULL && bytes_ok(&q->key_set_attr->template_, OHSM_OBJ_ENC_MAX) &&
               approval_ok(q->key_set_attr->approval);
    case OHSM__REQUEST__OP_KEY_SHARE:
        return q->key_share != NULL && str_ok(q->key_share->username, OHSM_WIRE_NAME_MAX) &&
               approval_ok(q->key_share->approval);
    case OHSM__REQUEST__OP_WRAP:
        return q->wrap != NULL && mech_ok(q->wrap->mech) &&
               approval_ok(q->wrap->payload_approval) && approval_ok(q->wrap->wrapping_approval);
    case OHSM__REQUEST__OP_UNWRAP:
        return unwrap_ok(q->unwrap);
    case OHSM__REQUEST__OP_DERIVE:
        return derive_ok(q->derive);
    case OHSM__REQUEST__OP_CRYPTO:
        return crypto_ok(q->crypto);
    case OHSM__REQUEST__OP_RANDOM: /* the length is the HSM's to check */
        return q->random != NULL;
    case OHSM__REQUEST__OP_MASKED_EXTRACT:
        return q->masked_extract != NULL;
    case OHSM__REQUEST__OP_MASKED_INSERT:
        return q->masked_insert != NULL && bytes_ok(&q->masked_insert->masked, OHSM_MASK_MAX);
    case OHSM__REQUEST__OP_SYNC_STATUS:
        return q->sync_status != NULL;
    case OHSM__REQUEST__OP_KEY_EXPORT:
        return q->key_export != NULL;
    default:
        return req_user_valid(q);
    }
}

static void wipe_bytes(ProtobufCBinaryData *b)
{
    if (b->data != NULL && b->len > 0) {
        OPENSSL_cleanse(b->data, b->len);
    }
}

void ohsm_wire_req_free(Ohsm__Request *req)
{
    if (req == NULL) {
        return;
    }
    switch (req->op_case) {
    case OHSM__REQUEST__OP_LOGIN:
        if (req->login != NULL) {
            wipe_bytes(&req->login->password);
            wipe_bytes(&req->login->group);
        }
        break;
    case OHSM__REQUEST__OP_CREATE_USER:
        if (req->create_user != NULL) {
            wipe_bytes(&req->create_user->password);
        }
        break;
    case OHSM__REQUEST__OP_CHANGE_PASSWORD:
        if (req->change_password != NULL) {
            wipe_bytes(&req->change_password->password);
        }
        break;
    case OHSM__REQUEST__OP_MFA_BEGIN:
        if (req->mfa_begin != NULL) {
            wipe_bytes(&req->mfa_begin->password);
        }
        break;
    case OHSM__REQUEST__OP_MFA_REG_FINISH:
        if (req->mfa_reg_finish != NULL) {
            wipe_bytes(&req->mfa_reg_finish->password);
        }
        break;
    case OHSM__REQUEST__OP_KEY_IMPORT:
        if (req->key_import != NULL) {
            wipe_bytes(&req->key_import->material);
        }
        break;
    case OHSM__REQUEST__OP_CRYPTO:
        /* plaintext to encrypt, or a message to sign */
        if (req->crypto != NULL) {
            wipe_bytes(&req->crypto->data);
        }
        break;
    case OHSM__REQUEST__OP_UNWRAP:
        /* not secret (it is wrapped), but cheap to wipe */
        if (req->unwrap != NULL) {
            wipe_bytes(&req->unwrap->wrapped);
        }
        break;
    default:
        break;
    }
    ohsm__request__free_unpacked(req, NULL);
}

ohsm_rv ohsm_wire_req_decode(const uint8_t *p, size_t n, Ohsm__Request **out)
{
    OHSM_ENSURE(out != NULL && (p != NULL || n == 0), OHSM_ARGUMENTS_BAD);
    Ohsm__Request *q = ohsm__request__unpack(NULL, n, p);
    OHSM_ENSURE(q != NULL, OHSM_PROTOCOL);
    if (!req_valid(q)) {
        ohsm_wire_req_free(q);
        return OHSM_PROTOCOL;
    }
    *out = q;
    return OHSM_OK;
}

#define INFO_STR_MAX 64

static bool user_valid(const Ohsm__User *u)
{
    return u != NULL && str_ok(u->username, OHSM_WIRE_NAME_MAX);
}

static bool users_ok(const Ohsm__ListUsersResp *l)
{
    if (l == NULL || l->n_users > 4096 || (l->n_users > 0 && l->users == NULL)) {
        return false;
    }
    for (size_t i = 0; i < l->n_users; i++) {
        if (!user_valid(l->users[i])) {
            return false;
        }
    }
    return true;
}

/* One key (or key pair): records, and their masked objects (none for session objects). */
static bool key_resp_ok(const Ohsm__KeyResp *k)
{
    return k != NULL && blobs_ok(k->n_records, k->records, 2, OHSM_OBJ_ENC_MAX) &&
           k->n_masked <= k->n_records && blobs_ok(k->n_masked, k->masked, 2, OHSM_MASK_MAX);
}

static bool sync_ok(const Ohsm__SyncStatusResp *s)
{
    if (s == NULL || !digest_ok(&s->objects_digest) || !digest_ok(&s->users_digest) ||
        s->n_objects > OHSM_WIRE_SYNC_MAX || s->n_users > OHSM_WIRE_SYNC_MAX ||
        (s->n_objects > 0 && s->objects == NULL) || (s->n_users > 0 && s->users == NULL)) {
        return false;
    }
    for (size_t i = 0; i < s->n_objects; i++) {
        if (s->objects[i] == NULL || !digest_ok(&s->objects[i]->digest)) {
            return false;
        }
    }
    for (size_t i = 0; i < s->n_users; i++) {
        if (s->users[i] == NULL || !str_ok(s->users[i]->username, OHSM_WIRE_NAME_MAX) ||
            !digest_ok(&s->users[i]->digest)) {
            return false;
        }
    }
    return true;
}

static bool qtokens_ok(const Ohsm__QuorumListResp *l)
{
    if (l == NULL || l->n_tokens > OHSM_WIRE_QTOKENS_MAX ||
        (l->n_tokens > 0 && l->tokens == NULL)) {
        return false;
    }
    for (size_t i = 0; i < l->n_tokens; i++) {
        if (l->tokens[i] == NULL || !str_ok(l->tokens[i]->username, OHSM_USERNAME_MAX)) {
            return false;
        }
    }
    return true;
}

static bool resp_valid(const Ohsm__Response *r)
{
    switch (r->body_case) {
    case OHSM__RESPONSE__BODY__NOT_SET:
        return true;
    case OHSM__RESPONSE__BODY_HELLO:
        return r->hello != NULL && str_ok(r->hello->hsm_id, INFO_STR_MAX) &&
               str_ok(r->hello->cluster_id, INFO_STR_MAX);
    case OHSM__RESPONSE__BODY_LOGIN:
        return r->login != NULL && str_ok(r->login->username, OHSM_WIRE_NAME_MAX);
    case OHSM__RESPONSE__BODY_USERS:
        return users_ok(r->users);
    case OHSM__RESPONSE__BODY_USER:
        return r->user != NULL;
    case OHSM__RESPONSE__BODY_INFO:
        return r->info != NULL && str_ok(r->info->hsm_id, INFO_STR_MAX) &&
               str_ok(r->info->cluster_id, INFO_STR_MAX) && str_ok(r->info->serial, INFO_STR_MAX) &&
               str_ok(r->info->model, INFO_STR_MAX) && str_ok(r->info->vendor, INFO_STR_MAX) &&
               str_ok(r->info->firmware, INFO_STR_MAX);
    case OHSM__RESPONSE__BODY_KEY:
        return key_resp_ok(r->key);
    case OHSM__RESPONSE__BODY_FOUND:
        return r->found != NULL && blobs_ok(r->found->n_records, r->found->records,
                                            OHSM_WIRE_FIND_MAX, OHSM_OBJ_ENC_MAX);
    case OHSM__RESPONSE__BODY_DATA:
        return r->data != NULL && bytes_ok(&r->data->data, OHSM_WIRE_DATA_RESP_MAX) &&
               bytes_ok(&r->data->iv, OHSM_WIRE_IV_MAX);
    case OHSM__RESPONSE__BODY_MASKED:
        return r->masked != NULL && bytes_ok(&r->masked->masked, OHSM_MASK_MAX);
    case OHSM__RESPONSE__BODY_SYNC:
        return sync_ok(r->sync);
    case OHSM__RESPONSE__BODY_TOKEN:
        return r->token != NULL && bytes_ok(&r->token->token, OHSM_WIRE_TOKEN_MAX);
    case OHSM__RESPONSE__BODY_QTOKENS:
        return qtokens_ok(r->qtokens);
    case OHSM__RESPONSE__BODY_QVALUES:
        return r->qvalues != NULL;
    default:
        return false;
    }
}

void ohsm_wire_resp_free(Ohsm__Response *r)
{
    if (r == NULL) {
        return;
    }
    if (r->body_case == OHSM__RESPONSE__BODY_DATA && r->data != NULL) {
        wipe_bytes(&r->data->data);
    }
    ohsm__response__free_unpacked(r, NULL);
}

ohsm_rv ohsm_wire_resp_decode(const uint8_t *p, size_t n, Ohsm__Response **out)
{
    OHSM_ENSURE(out != NULL && (p != NULL || n == 0), OHSM_ARGUMENTS_BAD);
    Ohsm__Response *r = ohsm__response__unpack(NULL, n, p);
    OHSM_ENSURE(r != NULL, OHSM_PROTOCOL);
    if (!resp_valid(r)) {
        ohsm__response__free_unpacked(r, NULL);
        return OHSM_PROTOCOL;
    }
    *out = r;
    return OHSM_OK;
}
