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

static bool req_valid(const Ohsm__Request *q)
{
    /* Request ids start at 1, so that every response (which echoes the id) is non-empty. */
    if (q->id == 0) {
        return false;
    }
    switch (q->op_case) {
    case OHSM__REQUEST__OP_HELLO:
        return q->hello != NULL;
    case OHSM__REQUEST__OP_LOGIN:
        return q->login != NULL && str_ok(q->login->username, OHSM_WIRE_NAME_MAX) &&
               bytes_ok(&q->login->password, OHSM_WIRE_SECRET_MAX);
    case OHSM__REQUEST__OP_LOGOUT:
        return q->logout != NULL;
    case OHSM__REQUEST__OP_LIST_USERS:
        return q->list_users != NULL;
    case OHSM__REQUEST__OP_CREATE_USER:
        return q->create_user != NULL && str_ok(q->create_user->username, OHSM_WIRE_NAME_MAX) &&
               bytes_ok(&q->create_user->password, OHSM_WIRE_SECRET_MAX);
    case OHSM__REQUEST__OP_DELETE_USER:
        return q->delete_user != NULL && str_ok(q->delete_user->username, OHSM_WIRE_NAME_MAX);
    case OHSM__REQUEST__OP_CHANGE_PASSWORD:
        return q->change_password != NULL &&
               str_ok(q->change_password->username, OHSM_WIRE_NAME_MAX) &&
               bytes_ok(&q->change_password->password, OHSM_WIRE_SECRET_MAX);
    case OHSM__REQUEST__OP_HSM_INFO:
        return q->hsm_info != NULL;
    default:
        return false;
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
    if (req->op_case == OHSM__REQUEST__OP_LOGIN && req->login != NULL) {
        wipe_bytes(&req->login->password);
    } else if (req->op_case == OHSM__REQUEST__OP_CREATE_USER && req->create_user != NULL) {
        wipe_bytes(&req->create_user->password);
    } else if (req->op_case == OHSM__REQUEST__OP_CHANGE_PASSWORD &&
               req->change_password != NULL) {
        wipe_bytes(&req->change_password->password);
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
        if (r->users == NULL || r->users->n_users > 4096) {
            return false;
        }
        for (size_t i = 0; i < r->users->n_users; i++) {
            if (!user_valid(r->users->users[i])) {
                return false;
            }
        }
        return true;
    case OHSM__RESPONSE__BODY_USER:
        return r->user != NULL;
    case OHSM__RESPONSE__BODY_INFO:
        return r->info != NULL && str_ok(r->info->hsm_id, INFO_STR_MAX) &&
               str_ok(r->info->cluster_id, INFO_STR_MAX) && str_ok(r->info->serial, INFO_STR_MAX) &&
               str_ok(r->info->model, INFO_STR_MAX) && str_ok(r->info->vendor, INFO_STR_MAX) &&
               str_ok(r->info->firmware, INFO_STR_MAX);
    default:
        return false;
    }
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
