/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for openhsm-cli's JSON shaping (src/cli/shape.c): the printed envelope (exact text),
 * CLI role names, the merged user list over several HSMs (locked anywhere, cluster coverage,
 * order, MFA and quorum keys), the merged quorum token list, hsm-info entries with and without
 * an answer, and fan-out failure messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cli/grammar.h"
#include "cli/shape.h"

static struct ohsm_user_info user(uint32_t id, enum ohsm_utype t, const char *name, bool locked,
                                  bool mfa)
{
    struct ohsm_user_info u;
    memset(&u, 0, sizeof(u));
    u.id = id;
    u.type = t;
    snprintf(u.username, sizeof(u.username), "%s", name);
    u.locked = locked;
    u.mfa = mfa;
    return u;
}

static const char *sget(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Success prints the envelope with 2-space indentation and keys in insertion order. */
static void test_cli_shape_envelope_ok(void **state)
{
    (void)state;
    struct ohsm_cli_out out = {0};
    json_t *d = json_object();
    json_object_set_new(d, "username", json_string("admin1"));
    json_object_set_new(d, "role", json_string("admin"));
    ohsm_cli_out_ok(&out, d);
    char *s = ohsm_cli_out_dump(&out);
    assert_string_equal(s, "{\n  \"error_code\": 0,\n  \"data\": {\n    \"username\": \"admin1\",\n"
                           "    \"role\": \"admin\"\n  }\n}");
    free(s);
    ohsm_cli_out_msg(&out, "Logout successful");
    s = ohsm_cli_out_dump(&out);
    assert_string_equal(s, "{\n  \"error_code\": 0,\n  \"data\": \"Logout successful\"\n}");
    free(s);
    ohsm_cli_out_clear(&out);
}

/* Errors carry error_code 1 and a message string; a NULL data becomes an out-of-memory error. */
static void test_cli_shape_envelope_err(void **state)
{
    (void)state;
    struct ohsm_cli_out out = {0};
    ohsm_cli_out_err(&out, "bad %d", 7);
    char *s = ohsm_cli_out_dump(&out);
    assert_string_equal(s, "{\n  \"error_code\": 1,\n  \"data\": \"bad 7\"\n}");
    free(s);
    ohsm_cli_out_ok(&out, NULL);
    assert_int_equal(out.error_code, 1);
    assert_string_equal(json_string_value(out.data), ohsm_rv_str(OHSM_HOST_MEMORY));
    ohsm_cli_out_clear(&out);
}

/* Bytes that are not UTF-8 (typed by a user) still give valid JSON. */
static void test_cli_shape_envelope_not_utf8(void **state)
{
    (void)state;
    struct ohsm_cli_out out = {0};
    ohsm_cli_out_err(&out, "unrecognized command '%s'", "\xff\xfe");
    assert_non_null(out.data);
    assert_string_equal(json_string_value(out.data), "unrecognized command '\?\?'");
    ohsm_cli_out_clear(&out);
}

/* Roles print as the CLI names them; the appliance user as internal(APPLIANCE_USER). */
static void test_cli_shape_roles(void **state)
{
    (void)state;
    assert_string_equal(ohsm_cli_role_name(OHSM_UT_CO), "admin");
    assert_string_equal(ohsm_cli_role_name(OHSM_UT_CU), "crypto-user");
    assert_string_equal(ohsm_cli_role_name(OHSM_UT_PRECO), "unactivated-admin");
    assert_string_equal(ohsm_cli_role_name(OHSM_UT_AU), "internal(APPLIANCE_USER)");
}

/* Users on every HSM have full coverage; others partial; locked on any HSM is locked. */
static void test_cli_shape_users_merge(void **state)
{
    (void)state;
    struct ohsm_user_info h0[] = {user(1, OHSM_UT_CO, "admin", false, false),
                                  user(2, OHSM_UT_AU, "app_user", false, false),
                                  user(3, OHSM_UT_CU, "alice", false, true)};
    struct ohsm_user_info h1[] = {user(1, OHSM_UT_CO, "admin", true, false),
                                  user(2, OHSM_UT_AU, "app_user", false, false),
                                  user(4, OHSM_UT_CU, "bob", false, false)};
    struct ohsm_cli_user_list l[] = {{true, h0, 3}, {true, h1, 3}};
    json_t *j = ohsm_cli_users_json(l, 2);
    assert_non_null(j);
    json_t *u = json_object_get(j, "users");
    assert_int_equal(json_array_size(u), 4);
    json_t *admin = json_array_get(u, 0);
    assert_string_equal(sget(admin, "username"), "admin");
    assert_string_equal(sget(admin, "role"), "admin");
    assert_string_equal(sget(admin, "locked"), "true");
    assert_string_equal(sget(admin, "cluster-coverage"), "full");
    assert_int_equal(json_array_size(json_object_get(admin, "mfa")), 0);
    json_t *au = json_array_get(u, 1);
    assert_string_equal(sget(au, "role"), "internal(APPLIANCE_USER)");
    assert_string_equal(sget(au, "locked"), "false");
    json_t *alice = json_array_get(u, 2);
    assert_string_equal(sget(alice, "username"), "alice");
    assert_string_equal(sget(alice, "cluster-coverage"), "partial");
    json_t *mfa = json_array_get(json_object_get(alice, "mfa"), 0);
    assert_string_equal(sget(mfa, "strategy"), "token-sign");
    assert_string_equal(sget(mfa, "status"), "enabled");
    assert_string_equal(sget(json_array_get(u, 3), "username"), "bob");
    /* Key order as the CloudHSM CLI prints it. */
    const char *keys[] = {"username", "role", "locked", "mfa", "quorum", "cluster-coverage"};
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(admin, key, v)
    {
        assert_true(k < 6);
        assert_string_equal(key, keys[k++]);
    }
    assert_int_equal(k, 6);
    json_decref(j);
}

/* "quorum" lists token-sign when any HSM holds the user's quorum key, [] otherwise; it is
 * independent of "mfa". */
static void test_cli_shape_users_quorum(void **state)
{
    (void)state;
    struct ohsm_user_info h0[] = {user(1, OHSM_UT_CO, "admin", false, false),
                                  user(2, OHSM_UT_CO, "admin2", false, true)};
    struct ohsm_user_info h1[] = {user(1, OHSM_UT_CO, "admin", false, false),
                                  user(2, OHSM_UT_CO, "admin2", false, false)};
    h1[0].mofn_pubkey = true; /* registered on HSM 1 only: still shown */
    struct ohsm_cli_user_list l[] = {{true, h0, 2}, {true, h1, 2}};
    json_t *j = ohsm_cli_users_json(l, 2);
    assert_non_null(j);
    json_t *u = json_object_get(j, "users");
    json_t *admin = json_array_get(u, 0);
    json_t *q = json_object_get(admin, "quorum");
    assert_true(json_is_array(q));
    assert_int_equal(json_array_size(q), 1);
    assert_string_equal(sget(json_array_get(q, 0), "strategy"), "token-sign");
    assert_string_equal(sget(json_array_get(q, 0), "status"), "enabled");
    assert_int_equal(json_array_size(json_object_get(admin, "mfa")), 0);
    json_t *admin2 = json_array_get(u, 1);
    assert_int_equal(json_array_size(json_object_get(admin2, "quorum")), 0);
    assert_int_equal(json_array_size(json_object_get(admin2, "mfa")), 1);
    char *text = json_dumps(admin2, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(text, "{\"username\":\"admin2\",\"role\":\"admin\",\"locked\":\"false\","
                              "\"mfa\":[{\"strategy\":\"token-sign\",\"status\":\"enabled\"}],"
                              "\"quorum\":[],\"cluster-coverage\":\"full\"}");
    free(text);
    json_decref(j);
}

static struct ohsm_qtoken_info qtok(const char *name, int svc, uint32_t req, uint32_t got,
                                    uint32_t timeout)
{
    struct ohsm_qtoken_info t;
    memset(&t, 0, sizeof(t));
    snprintf(t.username, sizeof(t.username), "%s", name);
    t.service = svc;
    t.approvals_required = req;
    t.approvals = got;
    t.timeout_seconds = timeout;
    return t;
}

static uint32_t boxed(json_t *o, const char *k)
{
    json_t *b = json_object_get(o, k);
    assert_true(json_is_object(b));
    assert_int_equal(json_object_size(b), 1);
    return (uint32_t)json_integer_value(json_object_get(b, "value"));
}

/* Tokens merge by user and service over HSMs: the smallest timeout and approval count, the
 * largest requirement; coverage full only when every HSM answered and has the token. */
static void test_cli_shape_qtokens_merge(void **state)
{
    (void)state;
    struct ohsm_qtoken_info h0[] = {qtok("admin", OHSM_QS_USER, 2, 1, 590),
                                    qtok("admin", OHSM_QS_QUORUM, 2, 0, 300)};
    struct ohsm_qtoken_info h1[] = {qtok("admin", OHSM_QS_USER, 2, 0, 597),
                                    qtok("bob", OHSM_QS_USER, 1, 0, 100)};
    struct ohsm_cli_qtoken_list l[] = {{true, h0, 2}, {true, h1, 2}};
    json_t *j = ohsm_cli_qtokens_json(l, 2);
    assert_non_null(j);
    json_t *t = json_object_get(j, "tokens");
    assert_int_equal(json_array_size(t), 3);
    json_t *a = json_array_get(t, 0);
    assert_string_equal(sget(a, "username"), "admin");
    assert_string_equal(sget(a, "service"), "user");
    assert_int_equal(boxed(a, "approvals-required"), 2);
    assert_int_equal(boxed(a, "number-of-approvals"), 0);
    assert_int_equal(boxed(a, "token-timeout-seconds"), 590);
    assert_string_equal(sget(a, "cluster-coverage"), "full");
    assert_null(json_object_get(a, "key-reference"));
    json_t *b = json_array_get(t, 1);
    assert_string_equal(sget(b, "service"), "quorum");
    assert_string_equal(sget(b, "cluster-coverage"), "partial");
    assert_int_equal(boxed(b, "token-timeout-seconds"), 300);
    json_t *c = json_array_get(t, 2);
    assert_string_equal(sget(c, "username"), "bob");
    assert_string_equal(sget(c, "cluster-coverage"), "partial");
    /* Key order as the guide prints it. */
    const char *keys[] = {"username",
                          "service",
                          "approvals-required",
                          "number-of-approvals",
                          "token-timeout-seconds",
                          "cluster-coverage"};
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(a, key, v)
    {
        assert_true(k < 6);
        assert_string_equal(key, keys[k++]);
    }
    assert_int_equal(k, 6);
    json_decref(j);
}

/* An HSM that did not answer makes every token partial; no tokens give an empty list. */
static void test_cli_shape_qtokens_unanswered(void **state)
{
    (void)state;
    struct ohsm_qtoken_info h0[] = {qtok("admin", OHSM_QS_REGISTRATION, 1, 0, 10)};
    struct ohsm_cli_qtoken_list l[] = {{true, h0, 1}, {false, NULL, 0}};
    json_t *j = ohsm_cli_qtokens_json(l, 2);
    json_t *a = json_array_get(json_object_get(j, "tokens"), 0);
    assert_string_equal(sget(a, "service"), "registration");
    assert_string_equal(sget(a, "cluster-coverage"), "partial");
    json_decref(j);
    struct ohsm_cli_qtoken_list e[] = {{true, NULL, 0}, {true, NULL, 0}};
    j = ohsm_cli_qtokens_json(e, 2);
    char *text = json_dumps(j, JSON_COMPACT);
    assert_string_equal(text, "{\"tokens\":[]}");
    free(text);
    json_decref(j);
}

/* When an HSM does not answer, every user is partial. */
static void test_cli_shape_users_unanswered(void **state)
{
    (void)state;
    struct ohsm_user_info h0[] = {user(1, OHSM_UT_PRECO, "admin", false, false)};
    struct ohsm_cli_user_list l[] = {{true, h0, 1}, {false, NULL, 0}};
    json_t *j = ohsm_cli_users_json(l, 2);
    json_t *admin = json_array_get(json_object_get(j, "users"), 0);
    assert_string_equal(sget(admin, "role"), "unactivated-admin");
    assert_string_equal(sget(admin, "cluster-coverage"), "partial");
    json_decref(j);
    /* No users at all: an empty list. */
    struct ohsm_cli_user_list e[] = {{true, NULL, 0}};
    j = ohsm_cli_users_json(e, 1);
    assert_int_equal(json_array_size(json_object_get(j, "users")), 0);
    json_decref(j);
}

/* An answering HSM shows its details; firmware version numbers only when the id parses. */
static void test_cli_shape_hsm_info(void **state)
{
    (void)state;
    struct ohsm_hsm_status st;
    struct ohsm_hsm_info info;
    memset(&st, 0, sizeof(st));
    memset(&info, 0, sizeof(info));
    snprintf(st.id, sizeof(st.id), "hsm-abcdefghijk");
    snprintf(st.host, sizeof(st.host), "127.0.0.1");
    st.port = 2225;
    snprintf(info.hsm_id, sizeof(info.hsm_id), "hsm-abcdefghijk");
    snprintf(info.cluster_id, sizeof(info.cluster_id), "cluster-xyz");
    snprintf(info.vendor, sizeof(info.vendor), "openhsm");
    snprintf(info.model, sizeof(info.model), "soft");
    snprintf(info.serial, sizeof(info.serial), "S1");
    snprintf(info.firmware, sizeof(info.firmware), "0.1.7");
    snprintf(info.firmware_id, sizeof(info.firmware_id), "openhsm-soft-FW-0.01-7");
    info.hardware_major = 0;
    info.hardware_minor = 1;
    info.firmware_major = 0;
    info.firmware_minor = 1;
    info.build_number = 7;
    info.activated = true;
    json_t *j = ohsm_cli_hsm_json(&st, "cluster-cfg", &info, OHSM_OK);
    assert_string_equal(sget(j, "hsm-id"), "hsm-abcdefghijk");
    assert_string_equal(sget(j, "cluster-id"), "cluster-xyz");
    assert_string_equal(sget(j, "eni-ip"), "127.0.0.1");
    assert_int_equal(json_integer_value(json_object_get(j, "port")), 2225);
    assert_string_equal(sget(j, "state"), "connected");
    assert_string_equal(sget(j, "serial-number"), "S1");
    assert_string_equal(sget(j, "firmware-version-major"), "0");
    assert_string_equal(sget(j, "firmware-version-minor"), "1");
    assert_string_equal(sget(j, "firmware-build-number"), "7");
    assert_string_equal(sget(j, "firmware-id"), "openhsm-soft-FW-0.01-7");
    assert_string_equal(sget(j, "hardware-version-major"), "0");
    assert_string_equal(sget(j, "hardware-version-minor"), "1");
    assert_string_equal(sget(j, "fips-state"),
                        "0 [non-FIPS mode with single factor authentication]");
    assert_true(json_is_true(json_object_get(j, "activated")));
    assert_null(json_object_get(j, "error"));
    json_decref(j);
    /* The guide's fields come first, in its order (the JSON keeps insertion order). */
    static const char *const order[] = {
        "vendor", "model", "serial-number", "hardware-version-major", "hardware-version-minor",
        "firmware-version-major", "firmware-version-minor", "firmware-build-number",
        "firmware-id", "fips-state", "hsm-id", "cluster-id", "eni-ip", "port", "state",
        "activated"};
    j = ohsm_cli_hsm_json(&st, "cluster-cfg", &info, OHSM_OK);
    void *it = json_object_iter(j);
    for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
        assert_non_null(it);
        assert_string_equal(json_object_iter_key(it), order[k]);
        it = json_object_iter_next(j, it);
    }
    assert_null(it);
    json_decref(j);
    j = ohsm_cli_hsm_json(&st, "cluster-cfg", NULL, OHSM_TIMEOUT);
    assert_string_equal(sget(j, "cluster-id"), "cluster-cfg");
    assert_string_equal(sget(j, "state"), "unreachable");
    assert_string_equal(sget(j, "error"), ohsm_rv_str(OHSM_TIMEOUT));
    assert_null(json_object_get(j, "vendor"));
    json_decref(j);
}

/* Fan-out messages: alike failures say why once; mixed ones name each failing HSM. */
static void test_cli_shape_fanout(void **state)
{
    (void)state;
    char buf[512];
    struct ohsm_cli_hsm_result r[] = {{"hsm-a", "127.0.0.1", 1000, OHSM_OK},
                                      {"hsm-b", "127.0.0.1", 1001, OHSM_NOT_CONNECTED}};
    ohsm_cli_fanout_msg(buf, sizeof(buf), "User created", "Creating the user", r, 2);
    assert_string_equal(buf, "User created on 1 of 2 HSMs; hsm-b (127.0.0.1:1001): Not connected "
                             "to the HSM");
    r[0].rv = OHSM_PIN_INCORRECT;
    r[1].rv = OHSM_PIN_INCORRECT;
    ohsm_cli_fanout_msg(buf, sizeof(buf), "Logged in", "Login", r, 2);
    assert_string_equal(buf, "Login failed: Invalid username or password");
    r[1].rv = OHSM_TIMEOUT;
    ohsm_cli_fanout_msg(buf, sizeof(buf), "Logged in", "Login", r, 2);
    assert_non_null(strstr(buf, "Login failed on all 2 HSMs; hsm-a (127.0.0.1:1000): Invalid "));
    assert_non_null(strstr(buf, "; hsm-b (127.0.0.1:1001): The HSM did not answer in time"));
    char small[24];
    ohsm_cli_fanout_msg(small, sizeof(small), "Logged in", "Login", r, 2);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_string_equal(small + sizeof(small) - 4, "...");
    /* A quorum refusal everywhere prints the CloudHSM CLI's message alone. */
    r[0].rv = OHSM_QUORUM_REQUIRED;
    r[1].rv = OHSM_QUORUM_REQUIRED;
    ohsm_cli_fanout_msg(buf, sizeof(buf), "User created", "Creating the user", r, 2);
    assert_string_equal(buf, "Quorum approval is required for this operation");
    r[1].rv = OHSM_NOT_CONNECTED;
    ohsm_cli_fanout_msg(buf, sizeof(buf), "User created", "Creating the user", r, 2);
    assert_non_null(strstr(buf, "Creating the user failed on all 2 HSMs; hsm-a"));
    r[0].rv = OHSM_TOKEN_INVALID;
    r[1].rv = OHSM_TOKEN_INVALID;
    ohsm_cli_fanout_msg(buf, sizeof(buf), "Logged in", "Login", r, 2);
    assert_string_equal(buf, "Login failed: Token signature is invalid");
    assert_true(ohsm_cli_rv_unreachable(OHSM_TIMEOUT));
    assert_false(ohsm_cli_rv_unreachable(OHSM_PIN_INCORRECT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_shape_envelope_ok),
        cmocka_unit_test(test_cli_shape_envelope_err),
        cmocka_unit_test(test_cli_shape_envelope_not_utf8),
        cmocka_unit_test(test_cli_shape_roles),
        cmocka_unit_test(test_cli_shape_users_merge),
        cmocka_unit_test(test_cli_shape_users_unanswered),
        cmocka_unit_test(test_cli_shape_users_quorum),
        cmocka_unit_test(test_cli_shape_qtokens_merge),
        cmocka_unit_test(test_cli_shape_qtokens_unanswered),
        cmocka_unit_test(test_cli_shape_hsm_info),
        cmocka_unit_test(test_cli_shape_fanout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
