/* SPDX-License-Identifier: Apache-2.0
 * Message validation: what the decoders accept and refuse, and round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire/wire.h"

static size_t pack_req(const Ohsm__Request *q, uint8_t *buf, size_t cap)
{
    size_t n = ohsm__request__get_packed_size(q);
    assert_true(n <= cap);
    return ohsm__request__pack(q, buf);
}

/* A login request round-trips with its fields intact. */
static void test_wire_login_roundtrip(void **state)
{
    (void)state;
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__LoginReq l = OHSM__LOGIN_REQ__INIT;
    Ohsm__Request *d = NULL;
    uint8_t buf[256];
    l.user_type = 3;
    l.username = "alice";
    l.password.data = (uint8_t *)"secret1";
    l.password.len = 7;
    q.id = 9;
    q.op_case = OHSM__REQUEST__OP_LOGIN;
    q.login = &l;
    size_t n = pack_req(&q, buf, sizeof(buf));
    assert_int_equal(ohsm_wire_req_decode(buf, n, &d), OHSM_OK);
    assert_int_equal(d->id, 9);
    assert_string_equal(d->login->username, "alice");
    assert_int_equal(d->login->password.len, 7);
    ohsm_wire_req_free(d);
}

/* Requests with id 0, no operation, or over-long names/passwords are refused. */
static void test_wire_request_refusals(void **state)
{
    (void)state;
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__LoginReq l = OHSM__LOGIN_REQ__INIT;
    Ohsm__Request *d = NULL;
    uint8_t buf[512];
    char longname[80];
    uint8_t longpw[65];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    memset(longpw, 'p', sizeof(longpw));

    q.id = 1; /* no op */
    size_t n = pack_req(&q, buf, sizeof(buf));
    assert_int_equal(ohsm_wire_req_decode(buf, n, &d), OHSM_PROTOCOL);

    l.username = "alice";
    q.op_case = OHSM__REQUEST__OP_LOGIN;
    q.login = &l;
    q.id = 0;
    n = pack_req(&q, buf, sizeof(buf));
    assert_int_equal(ohsm_wire_req_decode(buf, n, &d), OHSM_PROTOCOL);

    q.id = 2;
    l.username = longname;
    n = pack_req(&q, buf, sizeof(buf));
    assert_int_equal(ohsm_wire_req_decode(buf, n, &d), OHSM_PROTOCOL);

    l.username = "alice";
    l.password.data = longpw;
    l.password.len = sizeof(longpw);
    n = pack_req(&q, buf, sizeof(buf));
    assert_int_equal(ohsm_wire_req_decode(buf, n, &d), OHSM_PROTOCOL);

    l.password.len = 64;
    n = pack_req(&q, buf, sizeof(buf));
    assert_int_equal(ohsm_wire_req_decode(buf, n, &d), OHSM_OK);
    ohsm_wire_req_free(d);
}

/* Garbage and truncated encodings do not decode. */
static void test_wire_garbage(void **state)
{
    (void)state;
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    Ohsm__Request *d = NULL;
    Ohsm__Response *r = NULL;
    assert_int_equal(ohsm_wire_req_decode(junk, sizeof(junk), &d), OHSM_PROTOCOL);
    assert_int_equal(ohsm_wire_resp_decode(junk, sizeof(junk), &r), OHSM_PROTOCOL);
    /* field 11 (login), length 10, but only 2 bytes follow */
    const uint8_t trunc[] = {0x08, 0x01, 0x5a, 0x0a, 0x12, 0x01};
    assert_int_equal(ohsm_wire_req_decode(trunc, sizeof(trunc), &d), OHSM_PROTOCOL);
}

/* A response listing users decodes; one with an over-long username is refused. */
static void test_wire_response_users(void **state)
{
    (void)state;
    Ohsm__Response r = OHSM__RESPONSE__INIT;
    Ohsm__ListUsersResp lu = OHSM__LIST_USERS_RESP__INIT;
    Ohsm__User u = OHSM__USER__INIT;
    Ohsm__User *us[1] = {&u};
    Ohsm__Response *d = NULL;
    uint8_t buf[512];
    char longname[100];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    u.id = 1;
    u.username = "admin";
    lu.n_users = 1;
    lu.users = us;
    r.id = 5;
    r.body_case = OHSM__RESPONSE__BODY_USERS;
    r.users = &lu;
    size_t n = ohsm__response__pack(&r, buf);
    assert_int_equal(ohsm_wire_resp_decode(buf, n, &d), OHSM_OK);
    assert_string_equal(d->users->users[0]->username, "admin");
    ohsm__response__free_unpacked(d, NULL);
    u.username = longname;
    n = ohsm__response__pack(&r, buf);
    assert_int_equal(ohsm_wire_resp_decode(buf, n, &d), OHSM_PROTOCOL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_garbage),
        cmocka_unit_test(test_wire_request_refusals),
        cmocka_unit_test(test_wire_login_roundtrip),
        cmocka_unit_test(test_wire_response_users),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
