/* SPDX-License-Identifier: Apache-2.0
 * DeriveReq (issue 15, key derivation) on the wire: it round-trips with every field intact, every
 * bound is enforced (one byte, name or entry over fails), and a request id of 0 is refused as for
 * every request. The pattern of test_wire.c, in a file of its own (that one is full). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "openhsm/mech.h"
#include "openhsm/obj.h"
#include "wire/wire.h"

static uint8_t zeros[OHSM_OBJ_ENC_MAX + 1];
static char longname[OHSM_WIRE_NAME_MAX + 2];

static ProtobufCBinaryData blob(size_t n)
{
    return (ProtobufCBinaryData){.len = n, .data = zeros};
}

static Ohsm__Request req(Ohsm__DeriveReq *d)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    q.id = 9;
    q.op_case = OHSM__REQUEST__OP_DERIVE;
    q.derive = d;
    return q;
}

/* Packs q and decodes it; on success *out (may be NULL) gets the decoded request. */
static ohsm_rv decode(const Ohsm__Request *q, Ohsm__Request **out)
{
    size_t n = ohsm__request__get_packed_size(q);
    uint8_t *buf = malloc(n + 1);
    Ohsm__Request *d = NULL;
    assert_non_null(buf);
    assert_int_equal(ohsm__request__pack(q, buf), n);
    ohsm_rv rv = ohsm_wire_req_decode(buf, n, &d);
    free(buf);
    if (rv == OHSM_OK) {
        assert_int_equal(d->op_case, OHSM__REQUEST__OP_DERIVE);
        assert_non_null(d->derive);
        if (out != NULL) {
            *out = d;
            return rv;
        }
        ohsm_wire_req_free(d);
    }
    return rv;
}

/* A derive request comes through with its fields as sent. */
static void test_wire_derive_roundtrip(void **state)
{
    (void)state;
    Ohsm__DeriveReq d = OHSM__DERIVE_REQ__INIT;
    uint8_t point[65], info[5] = {1, 2, 3, 4, 5},
                       tmpl[12] = {0, 0, 1, 0x61, 0, 0, 0, 4, 0, 0, 0, 32};
    char *share[] = {"bob", "carol"};
    memset(point, 0x04, sizeof(point));
    d.base_key = 0x1234567890ULL;
    d.mech = OHSM_M_ECDH;
    d.kdf_hash = OHSM_H_SHA256;
    d.peer_point = (ProtobufCBinaryData){.len = sizeof(point), .data = point};
    d.shared_info = (ProtobufCBinaryData){.len = sizeof(info), .data = info};
    d.cls = OHSM_CLASS_SECRET;
    d.ktype = OHSM_KT_AES;
    d.template_ = (ProtobufCBinaryData){.len = sizeof(tmpl), .data = tmpl};
    d.n_share = 2;
    d.share = share;
    Ohsm__Request q = req(&d);
    Ohsm__Request *got = NULL;
    assert_int_equal(decode(&q, &got), OHSM_OK);
    const Ohsm__DeriveReq *g = got->derive;
    assert_int_equal(g->base_key, 0x1234567890ULL);
    assert_int_equal(g->mech, OHSM_M_ECDH);
    assert_int_equal(g->kdf_hash, OHSM_H_SHA256);
    assert_int_equal(g->peer_point.len, sizeof(point));
    assert_memory_equal(g->peer_point.data, point, sizeof(point));
    assert_int_equal(g->shared_info.len, sizeof(info));
    assert_memory_equal(g->shared_info.data, info, sizeof(info));
    assert_int_equal(g->cls, OHSM_CLASS_SECRET);
    assert_int_equal(g->ktype, OHSM_KT_AES);
    assert_int_equal(g->template_.len, sizeof(tmpl));
    assert_memory_equal(g->template_.data, tmpl, sizeof(tmpl));
    assert_int_equal(g->n_share, 2);
    assert_string_equal(g->share[0], "bob");
    assert_string_equal(g->share[1], "carol");
    ohsm_wire_req_free(got);

    /* All defaults decodes too: what is missing is the HSM's to refuse, with a clear code. */
    Ohsm__DeriveReq empty = OHSM__DERIVE_REQ__INIT;
    q = req(&empty);
    assert_int_equal(decode(&q, NULL), OHSM_OK);
    /* Request ids start at 1. */
    q.id = 0;
    assert_int_equal(decode(&q, NULL), OHSM_PROTOCOL);
}

/* Each bound at its limit passes and one over is refused: the point, the shared info, the
 * template, the share count and each share name. */
static void test_wire_derive_bounds(void **state)
{
    (void)state;
    Ohsm__DeriveReq d = OHSM__DERIVE_REQ__INIT;
    char *shares[OHSM_SHARE_MAX + 1];
    for (size_t i = 0; i <= OHSM_SHARE_MAX; i++) {
        shares[i] = "bob";
    }
    d.peer_point = blob(OHSM_WIRE_POINT_MAX);
    d.shared_info = blob(OHSM_WIRE_SHARED_INFO_MAX);
    d.template_ = blob(OHSM_OBJ_ENC_MAX);
    d.n_share = OHSM_SHARE_MAX;
    d.share = shares;
    Ohsm__Request q = req(&d);
    assert_int_equal(decode(&q, NULL), OHSM_OK);

    d.peer_point = blob(OHSM_WIRE_POINT_MAX + 1);
    assert_int_equal(decode(&q, NULL), OHSM_PROTOCOL);
    d.peer_point = blob(OHSM_WIRE_POINT_MAX);
    d.shared_info = blob(OHSM_WIRE_SHARED_INFO_MAX + 1);
    assert_int_equal(decode(&q, NULL), OHSM_PROTOCOL);
    d.shared_info = blob(0);
    d.template_ = blob(OHSM_OBJ_ENC_MAX + 1);
    assert_int_equal(decode(&q, NULL), OHSM_PROTOCOL);
    d.template_ = blob(0);
    d.n_share = OHSM_SHARE_MAX + 1;
    assert_int_equal(decode(&q, NULL), OHSM_PROTOCOL);
    d.n_share = 2;
    shares[1] = longname;
    assert_int_equal(decode(&q, NULL), OHSM_PROTOCOL);
    shares[1] = "bob";
    assert_int_equal(decode(&q, NULL), OHSM_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_derive_roundtrip),
        cmocka_unit_test(test_wire_derive_bounds),
    };
    memset(longname, 'n', sizeof(longname) - 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
