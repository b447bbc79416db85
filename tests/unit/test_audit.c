/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of the audit records (src/core/audit.c) and the HSM's audit log file
 * (src/hsm/auditlog.c): the line format and its JSON, the chain over boots, every kind of
 * tampering named at the right line, a torn last line cut at reopen, many threads appending at
 * once without a gap, and a failed write breaking the log for good (fail closed).
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/audit.h"
#include "hsm/auditlog.h"

#define HSM "hsm-abcdefghijk"

/* Appends n records (alternating kinds) of boot reboot to buf, chained from *last. */
static size_t make_log(char *buf, size_t cap, uint32_t reboot, size_t n,
                       uint8_t last[OHSM_AUDIT_HASH_LEN])
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        struct ohsm_audit_rec r = {.reboot = reboot,
                                   .seq = i,
                                   .time_us = 1700000000000000u + i,
                                   .op = i % 2 ? OHSM_AUDIT_GENERATE_KEY : OHSM_AUDIT_LOGIN,
                                   .session = 7,
                                   .response = i == 2 ? OHSM_PIN_INCORRECT : OHSM_OK,
                                   .user = "alice",
                                   .user_type = OHSM_UT_CU,
                                   .key = 32 + i};
        size_t len = 0;
        uint8_t next[OHSM_AUDIT_HASH_LEN];
        assert_int_equal(ohsm_audit_format(&r, last, buf + at, cap - at, &len, next), OHSM_OK);
        memcpy(last, next, OHSM_AUDIT_HASH_LEN);
        at += len;
    }
    buf[at] = '\0';
    return at;
}

static void test_audit_format_is_cloudhsm_json(void **state)
{
    (void)state;
    uint8_t prev[OHSM_AUDIT_HASH_LEN];
    char line[OHSM_AUDIT_LINE_MAX];
    size_t n = 0;
    uint8_t next[OHSM_AUDIT_HASH_LEN];
    ohsm_audit_genesis(HSM, prev);
    /* A hostile user name (a failed login names whatever the caller sent). */
    struct ohsm_audit_rec r = {.reboot = 3,
                               .seq = 0,
                               .time_us = 42,
                               .op = OHSM_AUDIT_LOGIN,
                               .session = 9,
                               .response = OHSM_PIN_INCORRECT,
                               .user = "x\"}\n,\\\x01\xff",
                               .user_type = OHSM_UT_CU};
    assert_int_equal(ohsm_audit_format(&r, prev, line, sizeof(line), &n, next), OHSM_OK);
    assert_true(n > 0 && line[n - 1] == '\n');
    assert_null(memchr(line, '\n', n - 1)); /* one line, whatever the name */
    json_error_t err;
    json_t *j = json_loadb(line, n, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "opcode")), "CN_LOGIN");
    assert_int_equal(json_integer_value(json_object_get(j, "opcode_id")), 0xd);
    assert_int_equal(json_integer_value(json_object_get(j, "log_type")), 2);
    assert_string_equal(json_string_value(json_object_get(j, "user_type")), "CN_CRYPTO_USER");
    assert_int_equal(json_integer_value(json_object_get(j, "user_type_id")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "response")), OHSM_PIN_INCORRECT);
    assert_true(
        strncmp(json_string_value(json_object_get(j, "response_text")), "HSM Error: ", 11) == 0);
    assert_non_null(json_object_get(j, "user"));
    assert_null(json_object_get(j, "key")); /* user details only */
    json_decref(j);

    struct ohsm_audit_rec k = {.op = OHSM_AUDIT_GENERATE_KEY_PAIR, .key = 5, .pub_key = 6};
    assert_int_equal(ohsm_audit_format(&k, prev, line, sizeof(line), &n, next), OHSM_OK);
    j = json_loadb(line, n, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "response_text")),
                        "HSM Return: SUCCESS");
    assert_int_equal(json_integer_value(json_object_get(j, "key")), 5);
    assert_int_equal(json_integer_value(json_object_get(j, "pub_key")), 6);
    assert_null(json_object_get(j, "user"));
    json_decref(j);

    /* Bad input changes nothing and says so. */
    struct ohsm_audit_rec bad = {.op = OHSM_AUDIT_OP_COUNT};
    assert_int_equal(ohsm_audit_format(&bad, prev, line, sizeof(line), &n, next),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_audit_format(&k, prev, line, 40, &n, next), OHSM_BUFFER_TOO_SMALL);
    /* Every opcode has a CloudHSM-style name. */
    for (int op = 0; op < OHSM_AUDIT_OP_COUNT; op++) {
        const struct ohsm_audit_opdef *d = ohsm_audit_opdef((enum ohsm_audit_op)op);
        assert_non_null(d);
        assert_true(strncmp(d->name, "CN_", 3) == 0);
    }
    assert_null(ohsm_audit_opdef(OHSM_AUDIT_OP_COUNT));
}

static void test_audit_verify_chain_and_boots(void **state)
{
    (void)state;
    static char buf[64 * OHSM_AUDIT_LINE_MAX];
    uint8_t last[OHSM_AUDIT_HASH_LEN];
    struct ohsm_audit_verdict v;
    ohsm_audit_genesis(HSM, last);
    size_t n = make_log(buf, sizeof(buf), 0, 5, last);
    n += make_log(buf + n, sizeof(buf) - n, 1, 3, last); /* the next boot: seq from 0 again */
    assert_int_equal(ohsm_audit_verify(buf, n, HSM, &v), OHSM_OK);
    assert_true(v.ok);
    assert_int_equal(v.records, 8);
    assert_int_equal(v.last_reboot, 1);
    assert_int_equal(v.last_seq, 2);
    assert_memory_equal(v.last, last, OHSM_AUDIT_HASH_LEN);
    /* Another HSM's chain: broken at the first line. */
    assert_int_equal(ohsm_audit_verify(buf, n, "hsm-zzzzzzzzzzz", &v), OHSM_OK);
    assert_false(v.ok);
    assert_int_equal(v.line, 1);
    /* Empty: fine. */
    assert_int_equal(ohsm_audit_verify(buf, 0, HSM, &v), OHSM_OK);
    assert_true(v.ok);
    assert_false(v.any);
}

/* The lines of buf (n bytes) as an array of pointers into a copy; *count of them. */
static char **split(const char *buf, size_t n, size_t *count)
{
    char *copy = malloc(n + 1);
    char **lines = calloc(n + 1, sizeof(*lines));
    assert_non_null(copy);
    assert_non_null(lines);
    memcpy(copy, buf, n + 1);
    *count = 0;
    for (char *p = copy; *p != '\0';) {
        char *nl = strchr(p, '\n');
        lines[(*count)++] = p;
        *nl = '\0';
        p = nl + 1;
    }
    return lines;
}

static size_t join(char *out, char **lines, const size_t *order, size_t k)
{
    size_t at = 0;
    for (size_t i = 0; i < k; i++) {
        at += (size_t)sprintf(out + at, "%s\n", lines[order[i]]);
    }
    return at;
}

static void test_audit_verify_names_tampering(void **state)
{
    (void)state;
    static char buf[16 * OHSM_AUDIT_LINE_MAX], out[16 * OHSM_AUDIT_LINE_MAX];
    uint8_t last[OHSM_AUDIT_HASH_LEN];
    struct ohsm_audit_verdict v;
    ohsm_audit_genesis(HSM, last);
    size_t n = make_log(buf, sizeof(buf), 4, 6, last);
    size_t count = 0;
    char **lines = split(buf, n, &count);
    assert_int_equal(count, 6);

    /* Removed: record 2 missing, the break named at seq 3 where 2 was due. */
    size_t removed[] = {0, 1, 3, 4, 5};
    size_t m = join(out, lines, removed, 5);
    assert_int_equal(ohsm_audit_verify(out, m, HSM, &v), OHSM_OK);
    assert_false(v.ok);
    assert_int_equal(v.line, 3);
    assert_true(v.have_position && v.want_known);
    assert_int_equal(v.seq, 3);
    assert_int_equal(v.want_seq, 2);
    assert_int_equal(v.reboot, 4);
    assert_int_equal(v.records, 2);

    /* Moved: 0 2 1 3 .. */
    size_t moved[] = {0, 2, 1, 3, 4, 5};
    m = join(out, lines, moved, 6);
    assert_int_equal(ohsm_audit_verify(out, m, HSM, &v), OHSM_OK);
    assert_false(v.ok);
    assert_int_equal(v.line, 2);
    assert_int_equal(v.seq, 2);

    /* Edited: one character of record 4's user name. */
    size_t all[] = {0, 1, 2, 3, 4, 5};
    m = join(out, lines, all, 6);
    char *at = strstr(out, "\"seq\":4,");
    assert_non_null(at);
    at = strstr(at, "alice");
    assert_non_null(at);
    *at = 'A';
    assert_int_equal(ohsm_audit_verify(out, m, HSM, &v), OHSM_OK);
    assert_false(v.ok);
    assert_int_equal(v.line, 5);
    assert_int_equal(v.seq, 4);
    assert_true(strstr(v.reason, "changed") != NULL);

    /* Inserted: a copy of record 1 again after itself. */
    size_t twice[] = {0, 1, 1, 2, 3, 4, 5};
    m = join(out, lines, twice, 7);
    assert_int_equal(ohsm_audit_verify(out, m, HSM, &v), OHSM_OK);
    assert_false(v.ok);
    assert_int_equal(v.line, 3);

    /* Torn: the last line without its end. */
    m = join(out, lines, all, 6);
    assert_int_equal(ohsm_audit_verify(out, m - 10, HSM, &v), OHSM_OK);
    assert_false(v.ok);
    assert_true(v.torn);
    assert_int_equal(v.line, 6);
    assert_int_equal(v.records, 5);

    /* Garbage. */
    assert_int_equal(ohsm_audit_verify("{\"reboot\":1}\n", 13, HSM, &v), OHSM_OK);
    assert_false(v.ok);
    assert_int_equal(v.line, 1);
    assert_false(v.torn);

    free(lines[0]);
    free(lines);
}

/* ---- the file ---- */

static char dir[] = "/tmp/ohsm-audit-XXXXXX";

static char *tmp_path(const char *name)
{
    static char path[256];
    if (dir[sizeof(dir) - 2] == 'X') {
        assert_non_null(mkdtemp(dir));
    }
    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    (void)unlink(path);
    return path;
}

static size_t read_all(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n;
}

static void append_n(struct ohsm_auditlog *a, size_t n, bool durable)
{
    for (size_t i = 0; i < n; i++) {
        struct ohsm_audit_rec r = {
            .op = OHSM_AUDIT_CREATE_USER, .user = "bob", .user_type = OHSM_UT_CU};
        assert_int_equal(ohsm_auditlog_append(a, &r, durable), OHSM_OK);
        assert_int_equal(r.seq, i);
    }
}

static void test_auditlog_file_boots_and_torn_tail(void **state)
{
    (void)state;
    static char buf[64 * OHSM_AUDIT_LINE_MAX];
    struct ohsm_audit_verdict v;
    char *p = tmp_path("boots.audit");
    char path[256];
    (void)snprintf(path, sizeof(path), "%s", p);
    struct ohsm_auditlog *a = NULL;
    assert_int_equal(ohsm_auditlog_open(path, HSM, 0, &a), OHSM_OK);
    append_n(a, 3, true);
    ohsm_auditlog_free(a);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* The next boot chains on, numbering from 0. */
    assert_int_equal(ohsm_auditlog_open(path, HSM, 1, &a), OHSM_OK);
    append_n(a, 2, false);
    ohsm_auditlog_free(a);
    size_t n = read_all(path, buf, sizeof(buf));
    assert_int_equal(ohsm_audit_verify(buf, n, HSM, &v), OHSM_OK);
    assert_true(v.ok);
    assert_int_equal(v.records, 5);
    assert_int_equal(v.last_reboot, 1);
    assert_int_equal(v.last_seq, 1);

    /* A crash in the middle of a write: the torn line is cut at the next start. */
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    fputs("{\"reboot\":1,\"seq\":2,\"time_us\":", f);
    fclose(f);
    assert_int_equal(ohsm_auditlog_open(path, HSM, 2, &a), OHSM_OK);
    append_n(a, 1, true);
    ohsm_auditlog_free(a);
    n = read_all(path, buf, sizeof(buf));
    assert_int_equal(ohsm_audit_verify(buf, n, HSM, &v), OHSM_OK);
    assert_true(v.ok);
    assert_int_equal(v.records, 6);
    assert_int_equal(v.last_reboot, 2);

    /* A tampered log: the break stays where it is, and new records chain to the end. */
    char *edit = strstr(buf, "\"seq\":1,");
    assert_non_null(edit);
    edit = strstr(edit, "bob");
    *edit = 'B';
    f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(buf, 1, n, f);
    fclose(f);
    assert_int_equal(ohsm_auditlog_open(path, HSM, 3, &a), OHSM_OK);
    append_n(a, 1, true);
    ohsm_auditlog_free(a);
    n = read_all(path, buf, sizeof(buf));
    assert_int_equal(ohsm_audit_verify(buf, n, HSM, &v), OHSM_OK);
    assert_false(v.ok);
    assert_int_equal(v.line, 2);
    assert_int_equal(v.seq, 1);
    /* The new record itself chains to the (tampered) last line before it. */
    char *lastline = buf + n - 1;
    while (lastline > buf && lastline[-1] != '\n') {
        lastline--;
    }
    char *prevline = lastline - 1;
    while (prevline > buf && prevline[-1] != '\n') {
        prevline--;
    }
    assert_int_equal(ohsm_audit_verify(prevline, (size_t)(buf + n - prevline), HSM, &v), OHSM_OK);
    assert_int_equal(v.line, 1); /* not the genesis: it chains to what came before it */
    unlink(path);
}

struct appender {
    struct ohsm_auditlog *a;
    size_t n;
};

static void *appender_main(void *arg)
{
    struct appender *ap = arg;
    for (size_t i = 0; i < ap->n; i++) {
        struct ohsm_audit_rec r = {.op = OHSM_AUDIT_GENERATE_KEY, .key = i + 1};
        if (ohsm_auditlog_append(ap->a, &r, i % 3 == 0) != OHSM_OK) {
            return (void *)1;
        }
    }
    return NULL;
}

static void test_auditlog_threads_no_gap(void **state)
{
    (void)state;
    enum { THREADS = 8, EACH = 150 };
    static char buf[THREADS * EACH * 300];
    struct ohsm_audit_verdict v;
    char path[256];
    (void)snprintf(path, sizeof(path), "%s", tmp_path("threads.audit"));
    struct ohsm_auditlog *a = NULL;
    assert_int_equal(ohsm_auditlog_open(path, HSM, 7, &a), OHSM_OK);
    pthread_t t[THREADS];
    struct appender ap = {a, EACH};
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, appender_main, &ap), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        void *ret = NULL;
        assert_int_equal(pthread_join(t[i], &ret), 0);
        assert_null(ret);
    }
    ohsm_auditlog_free(a);
    size_t n = read_all(path, buf, sizeof(buf));
    assert_int_equal(ohsm_audit_verify(buf, n, HSM, &v), OHSM_OK);
    assert_true(v.ok);
    assert_int_equal(v.records, THREADS * EACH);
    assert_int_equal(v.last_seq, THREADS * EACH - 1);
    unlink(path);
}

static void test_auditlog_failed_write_fails_closed(void **state)
{
    (void)state;
    char path[256];
    (void)snprintf(path, sizeof(path), "%s", tmp_path("full.audit"));
    struct ohsm_auditlog *a = NULL;
    assert_int_equal(ohsm_auditlog_open(path, HSM, 0, &a), OHSM_OK);
    assert_false(ohsm_auditlog_broken(a));
    /* A disk that fills up: writes past 2 KiB fail (EFBIG, SIGXFSZ ignored). */
    struct rlimit old, lim = {2048, 2048};
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim.rlim_max = old.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    ohsm_rv rv = OHSM_OK;
    size_t ok = 0;
    for (int i = 0; i < 50 && rv == OHSM_OK; i++) {
        struct ohsm_audit_rec r = {
            .op = OHSM_AUDIT_DELETE_USER, .user = "carol", .user_type = OHSM_UT_CU};
        rv = ohsm_auditlog_append(a, &r, true);
        ok += rv == OHSM_OK;
    }
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    (void)signal(SIGXFSZ, prev);
    assert_int_equal(rv, OHSM_IO);
    assert_true(ohsm_auditlog_broken(a));
    /* The disk has room again, but the log stays broken: nothing more is appended. */
    struct ohsm_audit_rec r = {.op = OHSM_AUDIT_LOGIN, .user = "carol", .user_type = OHSM_UT_CU};
    assert_int_equal(ohsm_auditlog_append(a, &r, true), OHSM_IO);
    ohsm_auditlog_free(a);
    assert_true(ok > 0);
    unlink(path);
}

static size_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (size_t)st.st_size;
}

/* Records that need not be durable wait in memory, in order, until a durable one, the flusher
 * (after FLUSH_MS) or the stop writes them. */
static void test_auditlog_buffered_records_keep_order(void **state)
{
    (void)state;
    static char buf[16 * OHSM_AUDIT_LINE_MAX];
    struct ohsm_audit_verdict v;
    char path[256];
    (void)snprintf(path, sizeof(path), "%s", tmp_path("buffered.audit"));
    struct ohsm_auditlog *a = NULL;
    assert_int_equal(ohsm_auditlog_open(path, HSM, 0, &a), OHSM_OK);
    struct ohsm_audit_rec gen = {.op = OHSM_AUDIT_GENERATE_KEY, .key = 64};
    assert_int_equal(ohsm_auditlog_append(a, &gen, false), OHSM_OK);
    assert_int_equal(file_size(path), 0); /* waiting in memory */
    ohsm_auditlog_flush_due(a);
    assert_int_equal(file_size(path), 0); /* not due yet */
    struct ohsm_audit_rec del = {.op = OHSM_AUDIT_DESTROY_OBJECT, .key = 64};
    assert_int_equal(ohsm_auditlog_append(a, &del, false), OHSM_OK);
    struct ohsm_audit_rec user = {
        .op = OHSM_AUDIT_CREATE_USER, .user = "dave", .user_type = OHSM_UT_CU};
    assert_int_equal(ohsm_auditlog_append(a, &user, true), OHSM_OK); /* writes all three */
    size_t n = read_all(path, buf, sizeof(buf));
    assert_int_equal(ohsm_audit_verify(buf, n, HSM, &v), OHSM_OK);
    assert_true(v.ok);
    assert_int_equal(v.records, 3);
    assert_true(strstr(buf, "CN_GENERATE_KEY") < strstr(buf, "CN_DESTROY_OBJECT"));
    assert_true(strstr(buf, "CN_DESTROY_OBJECT") < strstr(buf, "CN_CREATE_USER"));

    assert_int_equal(ohsm_auditlog_append(a, &gen, false), OHSM_OK);
    assert_int_equal(file_size(path), n);
    usleep(150 * 1000);
    ohsm_auditlog_flush_due(a); /* the flusher: due now */
    assert_true(file_size(path) > n);
    assert_int_equal(ohsm_auditlog_append(a, &del, false), OHSM_OK);
    ohsm_auditlog_free(a); /* the stop writes the rest */
    n = read_all(path, buf, sizeof(buf));
    assert_int_equal(ohsm_audit_verify(buf, n, HSM, &v), OHSM_OK);
    assert_true(v.ok);
    assert_int_equal(v.records, 5);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audit_format_is_cloudhsm_json),
        cmocka_unit_test(test_audit_verify_chain_and_boots),
        cmocka_unit_test(test_audit_verify_names_tampering),
        cmocka_unit_test(test_auditlog_file_boots_and_torn_tail),
        cmocka_unit_test(test_auditlog_threads_no_gap),
        cmocka_unit_test(test_auditlog_failed_write_fails_closed),
        cmocka_unit_test(test_auditlog_buffered_records_keep_order),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (dir[sizeof(dir) - 2] != 'X') {
        (void)rmdir(dir);
    }
    return failed;
}
