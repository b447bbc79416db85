/* SPDX-License-Identifier: Apache-2.0
 * The HSM's session slots, through the dispatcher without sockets: only logins take one of
 * max_sessions, a login beyond it is refused with OHSM_SESSION_COUNT and counts no failure,
 * logout and the end of a session give the slot back (once), hsm_info reports logged-in sessions,
 * and racing logins never take more than max_sessions. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hsm/hsm.h"

#define SLOTS 4

static const uint8_t mkb[OHSM_MASKING_KEY_LEN] = {9};

struct fx {
    char dir[64];
    struct ohsm_hsm h;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char path[128];
    size_t skipped = 0;
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "%s", "/tmp/ohsm-slots-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(path, sizeof(path), "%s/hsm.db", f->dir);
    f->h.cost = (struct ohsm_pwhash_cost){4, 8, 1};
    f->h.max_sessions = SLOTS;
    pthread_mutex_init(&f->h.lock, NULL);
    struct ohsm_store_init in = {"cluster-t", "hsm-t",   5, (const uint8_t *)"appuserpw",
                                 9,           &f->h.cost};
    assert_int_equal(ohsm_store_open(path, &in, &f->h.store), OHSM_OK);
    assert_int_equal(ohsm_store_meta(f->h.store, &f->h.meta), OHSM_OK);
    assert_int_equal(ohsm_mask_key_new(mkb, &f->h.mk), OHSM_OK);
    assert_int_equal(ohsm_hsm_load(&f->h, &skipped), OHSM_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    ohsm_objtab_free(f->h.objs);
    ohsm_mask_key_free(f->h.mk);
    ohsm_store_close(f->h.store);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* One request: login (pw non-NULL, as the PRECO "admin"), logout, or hsm_info (*sessions). */
static ohsm_rv call(struct ohsm_hsm *h, struct ohsm_session *s, Ohsm__Request__OpCase op,
                    const char *pw, uint32_t *sessions)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__LoginReq m = OHSM__LOGIN_REQ__INIT;
    Ohsm__LogoutReq lo = OHSM__LOGOUT_REQ__INIT;
    Ohsm__HsmInfoReq hi = OHSM__HSM_INFO_REQ__INIT;
    struct ohsm_reply r;
    q.id = 1;
    q.op_case = op;
    if (op == OHSM__REQUEST__OP_LOGIN) {
        m.user_type = OHSM_UT_PRECO;
        m.username = "admin";
        m.password.data = (uint8_t *)pw;
        m.password.len = strlen(pw);
        q.login = &m;
    } else if (op == OHSM__REQUEST__OP_LOGOUT) {
        q.logout = &lo;
    } else {
        q.hsm_info = &hi;
    }
    ohsm_reply_init(&r, 1);
    ohsm_dispatch(h, s, &q, &r);
    if (sessions != NULL && r.resp.rv == OHSM_OK) {
        assert_int_equal(r.resp.body_case, OHSM__RESPONSE__BODY_INFO);
        *sessions = r.resp.info->sessions;
    }
    ohsm_reply_clear(&r);
    return (ohsm_rv)r.resp.rv;
}

static uint32_t info_sessions(struct ohsm_hsm *h)
{
    struct ohsm_session s;
    uint32_t n = 999;
    ohsm_session_init(h, &s);
    assert_int_equal(call(h, &s, OHSM__REQUEST__OP_HSM_INFO, NULL, &n), OHSM_OK);
    ohsm_session_end(h, &s);
    return n;
}

static uint32_t admin_failures(struct ohsm_hsm *h)
{
    struct ohsm_store_user u;
    assert_int_equal(ohsm_store_user_by_name(h->store, "admin", &u), OHSM_OK);
    return u.fail_count;
}

/* Connections without a login take nothing; the (SLOTS+1)th login is refused without counting a
 * failure; a logout frees a slot at once, and ending a session frees its slot once. */
static void test_session_slots_only_logins_count(void **state)
{
    struct fx *f = *state;
    struct ohsm_session s[SLOTS + 6];
    for (size_t i = 0; i < SLOTS + 6; i++) {
        ohsm_session_init(&f->h, &s[i]);
    }
    assert_int_equal(info_sessions(&f->h), 0);
    for (size_t i = 0; i < SLOTS; i++) {
        assert_int_equal(call(&f->h, &s[i], OHSM__REQUEST__OP_LOGIN, "password", NULL), OHSM_OK);
    }
    assert_int_equal(info_sessions(&f->h), SLOTS);
    assert_int_equal(call(&f->h, &s[SLOTS], OHSM__REQUEST__OP_LOGIN, "password", NULL),
                     OHSM_SESSION_COUNT);
    assert_false(s[SLOTS].logged_in);
    assert_int_equal(admin_failures(&f->h), 0);
    assert_int_equal(info_sessions(&f->h), SLOTS);
    /* a wrong password is still a wrong password */
    assert_int_equal(call(&f->h, &s[SLOTS], OHSM__REQUEST__OP_LOGIN, "wrongpass", NULL),
                     OHSM_PIN_INCORRECT);
    assert_int_equal(admin_failures(&f->h), 1);

    assert_int_equal(call(&f->h, &s[0], OHSM__REQUEST__OP_LOGOUT, NULL, NULL), OHSM_OK);
    assert_int_equal(info_sessions(&f->h), SLOTS - 1);
    /* a second logout frees nothing more */
    assert_int_equal(call(&f->h, &s[0], OHSM__REQUEST__OP_LOGOUT, NULL, NULL),
                     OHSM_USER_NOT_LOGGED_IN);
    assert_int_equal(info_sessions(&f->h), SLOTS - 1);
    assert_int_equal(call(&f->h, &s[SLOTS], OHSM__REQUEST__OP_LOGIN, "password", NULL), OHSM_OK);
    assert_int_equal(info_sessions(&f->h), SLOTS);

    /* ending sessions (logged in or not) frees exactly the logged-in ones */
    for (size_t i = 0; i < SLOTS + 6; i++) {
        ohsm_session_end(&f->h, &s[i]);
    }
    assert_int_equal(info_sessions(&f->h), 0);
    assert_int_equal(atomic_load(&f->h.sessions), 0);
}

struct racer {
    struct ohsm_hsm *h;
    struct ohsm_session s;
    pthread_barrier_t *go;
    ohsm_rv rv;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    (void)pthread_barrier_wait(r->go);
    r->rv = call(r->h, &r->s, OHSM__REQUEST__OP_LOGIN, "password", NULL);
    return NULL;
}

/* 16 logins at once for SLOTS slots: exactly SLOTS succeed, the others get OHSM_SESSION_COUNT. */
static void test_session_slots_racing_logins(void **state)
{
    struct fx *f = *state;
    enum { N = 16 };
    struct racer r[N];
    pthread_t t[N];
    pthread_barrier_t go;
    size_t ok = 0, full = 0;
    assert_int_equal(pthread_barrier_init(&go, NULL, N), 0);
    for (size_t i = 0; i < N; i++) {
        r[i].h = &f->h;
        r[i].go = &go;
        r[i].rv = OHSM_DEVICE_ERROR;
        ohsm_session_init(&f->h, &r[i].s);
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        ok += r[i].rv == OHSM_OK;
        full += r[i].rv == OHSM_SESSION_COUNT;
    }
    assert_int_equal(ok, SLOTS);
    assert_int_equal(full, N - SLOTS);
    assert_int_equal(info_sessions(&f->h), SLOTS);
    assert_int_equal(admin_failures(&f->h), 0);
    for (size_t i = 0; i < N; i++) {
        ohsm_session_end(&f->h, &r[i].s);
    }
    assert_int_equal(info_sessions(&f->h), 0);
    pthread_barrier_destroy(&go);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_session_slots_only_logins_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_slots_racing_logins, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
