/* SPDX-License-Identifier: Apache-2.0
 * The KMS audit trail (src/kms/trail.c) and `openhsmd events` (src/kms/events.c): the shape of a
 * recorded line member by member, the chain and each way of tampering with it, reopening, a torn
 * tail, group commit under 8 threads (every append once, far fewer fdatasyncs than appends), a
 * failed write refusing what follows, and the events command's filters and errors. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kms/trail.h"
#include "kms/trail_test.h"

#define ARN1 "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
#define ARN2 "arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"
#define T0 1796583600000LL /* 2026-12-06T19:00:00Z */

struct fixture {
    char dir[64];
    char kmsdir[96];
    char path[128];
    char wal[128];
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    (void)snprintf(fx->dir, sizeof(fx->dir), "%s", "/tmp/ohsm-trail-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->kmsdir, sizeof(fx->kmsdir), "%s/kms", fx->dir);
    assert_int_equal(mkdir(fx->kmsdir, 0700), 0);
    snprintf(fx->path, sizeof(fx->path), "%s/trail.jsonl", fx->kmsdir);
    snprintf(fx->wal, sizeof(fx->wal), "%s/trail.wal", fx->kmsdir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    unlink(fx->path);
    unlink(fx->wal);
    rmdir(fx->kmsdir);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static struct ohsm_kms_event api_event(const char *name, const char *arn, int64_t t_ms,
                                       const char *request_id)
{
    struct ohsm_kms_event e = {
        .name = name,
        .time_ms = t_ms,
        .region = "us-east-1",
        .account = "111122223333",
        .access_key_id = "AKIAIOSFODNN7EXAMPLE",
        .request_id = request_id,
        .source_ip = "127.0.0.1",
        .user_agent = "aws-cli/2.9.19",
        .key_arn = arn,
        .read_only = false,
    };
    return e;
}

static void record_one(struct ohsm_kms_trail *t, const char *name, const char *arn, int64_t t_ms,
                       const char *rid)
{
    struct ohsm_kms_event e = api_event(name, arn, t_ms, rid);
    assert_int_equal(ohsm_kms_trail_record(t, &e), OHSM_OK);
}

/* Reads the file's lines (without newlines); *n gets their count. Caller frees with free_lines. */
static char **read_lines(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char **lines = NULL;
    size_t cap = 0;
    char *buf = NULL;
    size_t bcap = 0;
    ssize_t len;
    *n = 0;
    while ((len = getline(&buf, &bcap, f)) > 0) {
        if (*n == cap) {
            cap = cap == 0 ? 16 : 2 * cap;
            lines = realloc(lines, cap * sizeof(*lines));
            assert_non_null(lines);
        }
        if (buf[len - 1] == '\n') {
            buf[len - 1] = '\0';
        }
        lines[(*n)++] = strdup(buf);
    }
    free(buf);
    fclose(f);
    return lines;
}

static void free_lines(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(lines[i]);
    }
    free(lines);
}

/* Writes lines[order[0]], lines[order[1]], ... each with a newline. */
static void write_lines(const char *path, char **lines, const size_t *order, size_t n)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s\n", lines[order[i]]);
    }
    fclose(f);
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* The top-level member names of obj, in order, equal want (NULL-terminated). */
static void assert_members(json_t *obj, const char *const *want)
{
    const char *key;
    json_t *v;
    size_t i = 0;
    json_object_foreach(obj, key, v)
    {
        assert_non_null(want[i]);
        assert_string_equal(key, want[i]);
        i++;
    }
    assert_null(want[i]);
}

static json_t *only_line(const char *path)
{
    size_t n = 0;
    char **lines = read_lines(path, &n);
    assert_int_equal(n, 1);
    json_error_t err;
    json_t *o = json_loads(lines[0], JSON_REJECT_DUPLICATES, &err);
    assert_non_null(o);
    free_lines(lines, n);
    return o;
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    assert_non_null(s);
    return s;
}

static void assert_uuid4(const char *s)
{
    assert_int_equal(strlen(s), 36);
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            assert_int_equal(s[i], '-');
        } else {
            assert_non_null(strchr("0123456789abcdef", s[i]));
        }
    }
    assert_int_equal(s[14], '4');
    assert_non_null(strchr("89ab", s[19]));
}

/* An API call's line has every CloudTrail member, in AWS's order, with the values given. */
static void test_kms_trail_shape_api(void **state)
{
    struct fixture *fx = *state;
    struct ohsm_kms_trail *t = NULL;
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    struct ohsm_kms_event e = api_event("Encrypt", ARN1, T0 + 999, "req-1");
    e.request = json_pack("{s:s,s:s}", "keyId", ARN1, "encryptionAlgorithm", "SYMMETRIC_DEFAULT");
    e.additional = json_pack("{s:s}", "keyMaterialId", "ab12");
    e.read_only = true;
    assert_int_equal(ohsm_kms_trail_record(t, &e), OHSM_OK);
    json_decref(e.request);
    json_decref(e.additional);
    ohsm_kms_trail_close(t);

    json_t *o = only_line(fx->path);
    static const char *const members[] = {"eventVersion",
                                          "userIdentity",
                                          "eventTime",
                                          "eventSource",
                                          "eventName",
                                          "awsRegion",
                                          "sourceIPAddress",
                                          "userAgent",
                                          "requestParameters",
                                          "responseElements",
                                          "additionalEventData",
                                          "requestID",
                                          "eventID",
                                          "readOnly",
                                          "resources",
                                          "eventType",
                                          "managementEvent",
                                          "recipientAccountId",
                                          "eventCategory",
                                          "openhsmChain",
                                          NULL};
    assert_members(o, members);
    assert_string_equal(str(o, "eventVersion"), "1.08");
    json_t *u = json_object_get(o, "userIdentity");
    static const char *const umembers[] = {"type",      "principalId", "arn",
                                           "accountId", "accessKeyId", NULL};
    assert_members(u, umembers);
    assert_string_equal(str(u, "type"), "IAMUser");
    assert_string_equal(str(u, "principalId"), "AKIAIOSFODNN7EXAMPLE");
    assert_string_equal(str(u, "arn"), "arn:aws:iam::111122223333:user/AKIAIOSFODNN7EXAMPLE");
    assert_string_equal(str(u, "accountId"), "111122223333");
    assert_string_equal(str(u, "accessKeyId"), "AKIAIOSFODNN7EXAMPLE");
    assert_string_equal(str(o, "eventTime"), "2026-12-06T19:00:00Z");
    assert_string_equal(str(o, "eventSource"), "kms.amazonaws.com");
    assert_string_equal(str(o, "eventName"), "Encrypt");
    assert_string_equal(str(o, "awsRegion"), "us-east-1");
    assert_string_equal(str(o, "sourceIPAddress"), "127.0.0.1");
    assert_string_equal(str(o, "userAgent"), "aws-cli/2.9.19");
    json_t *req = json_object_get(o, "requestParameters");
    assert_string_equal(str(req, "keyId"), ARN1);
    assert_string_equal(str(req, "encryptionAlgorithm"), "SYMMETRIC_DEFAULT");
    assert_true(json_is_null(json_object_get(o, "responseElements")));
    assert_string_equal(str(json_object_get(o, "additionalEventData"), "keyMaterialId"), "ab12");
    assert_string_equal(str(o, "requestID"), "req-1");
    assert_uuid4(str(o, "eventID"));
    assert_true(json_is_true(json_object_get(o, "readOnly")));
    json_t *res = json_object_get(o, "resources");
    assert_int_equal(json_array_size(res), 1);
    static const char *const rmembers[] = {"accountId", "type", "ARN", NULL};
    assert_members(json_array_get(res, 0), rmembers);
    assert_string_equal(str(json_array_get(res, 0), "accountId"), "111122223333");
    assert_string_equal(str(json_array_get(res, 0), "type"), "AWS::KMS::Key");
    assert_string_equal(str(json_array_get(res, 0), "ARN"), ARN1);
    assert_string_equal(str(o, "eventType"), "AwsApiCall");
    assert_true(json_is_true(json_object_get(o, "managementEvent")));
    assert_string_equal(str(o, "recipientAccountId"), "111122223333");
    assert_string_equal(str(o, "eventCategory"), "Management");
    assert_int_equal(strlen(str(o, "openhsmChain")), 64);
    json_decref(o);
}

/* A service event: AWSService identity, the service as source and agent, no requestID. */
static void test_kms_trail_shape_service(void **state)
{
    struct fixture *fx = *state;
    struct ohsm_kms_trail *t = NULL;
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    struct ohsm_kms_event e = {.name = "DeleteKey",
                               .time_ms = T0,
                               .region = "us-east-1",
                               .account = "111122223333",
                               .key_arn = ARN1,
                               .service_event = true};
    e.response = json_pack("{s:s}", "keyId", ARN1);
    assert_int_equal(ohsm_kms_trail_record(t, &e), OHSM_OK);
    json_decref(e.response);
    ohsm_kms_trail_close(t);

    json_t *o = only_line(fx->path);
    static const char *const members[] = {"eventVersion",
                                          "userIdentity",
                                          "eventTime",
                                          "eventSource",
                                          "eventName",
                                          "awsRegion",
                                          "sourceIPAddress",
                                          "userAgent",
                                          "requestParameters",
                                          "responseElements",
                                          "eventID",
                                          "readOnly",
                                          "resources",
                                          "eventType",
                                          "managementEvent",
                                          "recipientAccountId",
                                          "eventCategory",
                                          "openhsmChain",
                                          NULL};
    assert_members(o, members);
    json_t *u = json_object_get(o, "userIdentity");
    static const char *const umembers[] = {"type", "accountId", "invokedBy", NULL};
    assert_members(u, umembers);
    assert_string_equal(str(u, "type"), "AWSService");
    assert_string_equal(str(u, "invokedBy"), "kms.amazonaws.com");
    assert_string_equal(str(o, "sourceIPAddress"), "kms.amazonaws.com");
    assert_string_equal(str(o, "userAgent"), "kms.amazonaws.com");
    assert_true(json_is_null(json_object_get(o, "requestParameters")));
    assert_string_equal(str(json_object_get(o, "responseElements"), "keyId"), ARN1);
    assert_true(json_is_false(json_object_get(o, "readOnly")));
    assert_string_equal(str(o, "eventType"), "AwsServiceEvent");
    json_decref(o);
}

/* A failed call: errorCode and errorMessage after userAgent; no key, no resources. */
static void test_kms_trail_shape_error(void **state)
{
    struct fixture *fx = *state;
    struct ohsm_kms_trail *t = NULL;
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    struct ohsm_kms_event e = api_event("DescribeKey", NULL, T0, "req-9");
    e.access_key_id = "";
    e.user_agent = NULL;
    e.error_code = "NotFoundException";
    e.error_message = "Key 'alias/none' does not exist";
    assert_int_equal(ohsm_kms_trail_record(t, &e), OHSM_OK);
    ohsm_kms_trail_close(t);

    json_t *o = only_line(fx->path);
    static const char *const members[] = {
        "eventVersion",    "userIdentity",      "eventTime",
        "eventSource",     "eventName",         "awsRegion",
        "sourceIPAddress", "userAgent",         "errorCode",
        "errorMessage",    "requestParameters", "responseElements",
        "requestID",       "eventID",           "readOnly",
        "eventType",       "managementEvent",   "recipientAccountId",
        "eventCategory",   "openhsmChain",      NULL};
    assert_members(o, members);
    assert_string_equal(str(o, "errorCode"), "NotFoundException");
    assert_string_equal(str(o, "errorMessage"), "Key 'alias/none' does not exist");
    assert_string_equal(str(o, "userAgent"), "");
    assert_string_equal(str(json_object_get(o, "userIdentity"), "accessKeyId"), "");
    assert_string_equal(str(json_object_get(o, "userIdentity"), "principalId"), "anonymous");
    json_decref(o);
}

/* Bad events are refused with OHSM_ARGUMENTS_BAD and write nothing; the file is created 0600. */
static void test_kms_trail_bad_input(void **state)
{
    struct fixture *fx = *state;
    struct ohsm_kms_trail *t = NULL;
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    struct stat st;
    assert_int_equal(stat(fx->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    struct ohsm_kms_event e = api_event(NULL, ARN1, T0, "r");
    assert_int_equal(ohsm_kms_trail_record(t, &e), OHSM_ARGUMENTS_BAD);
    e = api_event("", ARN1, T0, "r");
    assert_int_equal(ohsm_kms_trail_record(t, &e), OHSM_ARGUMENTS_BAD);
    e = api_event("Encrypt", ARN1, T0, "r");
    e.account = NULL;
    assert_int_equal(ohsm_kms_trail_record(t, &e), OHSM_ARGUMENTS_BAD);
    e = api_event("Encrypt", ARN1, T0, "r\xc3(");
    assert_int_equal(ohsm_kms_trail_record(t, &e), OHSM_ARGUMENTS_BAD);
    e = api_event("Encrypt", ARN1, T0, "r");
    e.user_agent = "\xed\xa0\x80"; /* a UTF-16 surrogate encoded as UTF-8 */
    assert_int_equal(ohsm_kms_trail_record(t, &e), OHSM_ARGUMENTS_BAD);
    e = api_event("Encrypt", ARN1, T0, "r");
    e.request = json_array();
    assert_int_equal(ohsm_kms_trail_record(t, &e), OHSM_ARGUMENTS_BAD);
    json_decref(e.request);
    assert_int_equal(ohsm_kms_trail_record(NULL, &e), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_trail_record(t, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(file_size(fx->path), 0);
    /* Still usable afterwards. */
    record_one(t, "Encrypt", ARN1, T0, "ok");
    ohsm_kms_trail_close(t);
    size_t n = 0;
    assert_int_equal(ohsm_kms_trail_verify(fx->path, &n, NULL, NULL, 0), OHSM_OK);
    assert_int_equal(n, 1);
    ohsm_kms_trail_close(NULL);
}

static void make_trail(const char *path, size_t n)
{
    struct ohsm_kms_trail *t = NULL;
    assert_int_equal(ohsm_kms_trail_open(path, &t), OHSM_OK);
    for (size_t i = 0; i < n; i++) {
        char rid[32];
        snprintf(rid, sizeof(rid), "req-%zu", i + 1);
        record_one(t, i % 2 == 0 ? "Encrypt" : "Decrypt", i % 3 == 0 ? ARN1 : ARN2,
                   T0 + (int64_t)i * 60000, rid);
    }
    ohsm_kms_trail_close(t);
}

/* Rewrites the trail with the lines in order and checks that verify stops at want_bad. */
static void assert_broken(const char *path, char **lines, const size_t *order, size_t n,
                          size_t want_bad)
{
    size_t good = 99;
    size_t bad = 0;
    char why[256];
    write_lines(path, lines, order, n);
    assert_int_equal(ohsm_kms_trail_verify(path, &good, &bad, why, sizeof(why)), OHSM_DATA_INVALID);
    assert_int_equal(bad, want_bad);
    assert_int_equal(good, want_bad - 1);
    char head[32];
    snprintf(head, sizeof(head), "line %zu: ", want_bad);
    assert_int_equal(strncmp(why, head, strlen(head)), 0);
}

/* An intact chain verifies; a removed, edited, swapped or inserted line is found at its place. */
static void test_kms_trail_verify_tamper(void **state)
{
    struct fixture *fx = *state;
    make_trail(fx->path, 6);
    size_t n = 0;
    size_t bad = 7;
    char why[256] = "x";
    assert_int_equal(ohsm_kms_trail_verify(fx->path, &n, &bad, why, sizeof(why)), OHSM_OK);
    assert_int_equal(n, 6);
    assert_int_equal(bad, 0);
    assert_string_equal(why, "");

    size_t cnt = 0;
    char **lines = read_lines(fx->path, &cnt);
    assert_int_equal(cnt, 6);
    static const size_t removed[] = {0, 1, 3, 4, 5}; /* line 3 gone */
    assert_broken(fx->path, lines, removed, 5, 3);
    static const size_t swapped[] = {0, 2, 1, 3, 4, 5}; /* lines 2 and 3 swapped */
    assert_broken(fx->path, lines, swapped, 6, 2);
    static const size_t inserted[] = {0, 1, 2, 4, 3, 4, 5}; /* a copy of line 5 after line 3 */
    assert_broken(fx->path, lines, inserted, 7, 4);
    static const size_t first_gone[] = {1, 2, 3, 4, 5}; /* the first line removed */
    assert_broken(fx->path, lines, first_gone, 5, 1);
    static const size_t all[] = {0, 1, 2, 3, 4, 5};
    /* One byte edited in line 2's eventName. */
    char *p = strstr(lines[1], "\"Decrypt\"");
    assert_non_null(p);
    p[1] = 'd';
    assert_broken(fx->path, lines, all, 6, 2);
    p[1] = 'D';
    /* Line 4's chain value edited. */
    char *c = strstr(lines[3], "\"openhsmChain\":\"");
    assert_non_null(c);
    char saved = c[16];
    c[16] = saved == '0' ? '1' : '0';
    assert_broken(fx->path, lines, all, 6, 4);
    c[16] = saved;
    /* A line that is not ours inserted after line 5. */
    char *junk_lines[7];
    memcpy(junk_lines, lines, 6 * sizeof(char *));
    junk_lines[6] = "{\"eventName\":\"Encrypt\"}";
    static const size_t junk[] = {0, 1, 2, 3, 4, 6, 5};
    assert_broken(fx->path, junk_lines, junk, 7, 6);
    /* Restored: verifies again. A torn tail is reported as the line after the good ones. */
    write_lines(fx->path, lines, all, 6);
    assert_int_equal(ohsm_kms_trail_verify(fx->path, &n, &bad, why, sizeof(why)), OHSM_OK);
    FILE *f = fopen(fx->path, "a");
    fputs("{\"eventVersion\":\"1.0", f);
    fclose(f);
    assert_int_equal(ohsm_kms_trail_verify(fx->path, &n, &bad, why, sizeof(why)),
                     OHSM_DATA_INVALID);
    assert_int_equal(bad, 7);
    assert_int_equal(n, 6);
    free_lines(lines, cnt);
    /* A missing file is an I/O error, an empty one a good trail of 0 events. */
    assert_int_equal(ohsm_kms_trail_verify("/nonexistent/trail.jsonl", &n, &bad, why, 8), OHSM_IO);
    f = fopen(fx->path, "w");
    fclose(f);
    assert_int_equal(ohsm_kms_trail_verify(fx->path, &n, &bad, why, sizeof(why)), OHSM_OK);
    assert_int_equal(n, 0);
}

/* Reopening continues the chain from the last line. */
static void test_kms_trail_reopen_continues(void **state)
{
    struct fixture *fx = *state;
    make_trail(fx->path, 3);
    make_trail(fx->path, 2);
    size_t n = 0;
    assert_int_equal(ohsm_kms_trail_verify(fx->path, &n, NULL, NULL, 0), OHSM_OK);
    assert_int_equal(n, 5);
}

/* A torn last line (a crash mid-write) is cut away on open; the chain goes on after it. */
static void test_kms_trail_torn_tail(void **state)
{
    struct fixture *fx = *state;
    make_trail(fx->path, 3);
    off_t good = file_size(fx->path);
    FILE *f = fopen(fx->path, "a");
    fputs("{\"eventVersion\":\"1.08\",\"userIdentity\":{\"ty", f);
    fclose(f);
    assert_true(file_size(fx->path) > good);
    struct ohsm_kms_trail *t = NULL;
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    assert_int_equal(file_size(fx->path), good);
    record_one(t, "Sign", ARN1, T0, "after-tear");
    ohsm_kms_trail_close(t);
    size_t n = 0;
    assert_int_equal(ohsm_kms_trail_verify(fx->path, &n, NULL, NULL, 0), OHSM_OK);
    assert_int_equal(n, 4);
    /* A file that is only a torn line becomes empty. */
    f = fopen(fx->path, "w");
    fputs("{\"even", f);
    fclose(f);
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    assert_int_equal(file_size(fx->path), 0);
    ohsm_kms_trail_close(t);
}

/* A last complete line that is not a trail line refuses to open (and changes nothing). */
static void test_kms_trail_open_bad_tail(void **state)
{
    struct fixture *fx = *state;
    make_trail(fx->path, 2);
    FILE *f = fopen(fx->path, "a");
    fputs("{\"eventName\":\"Encrypt\"}\n", f);
    fclose(f);
    off_t size = file_size(fx->path);
    struct ohsm_kms_trail *t = (struct ohsm_kms_trail *)1;
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_DATA_INVALID);
    assert_null(t);
    assert_int_equal(file_size(fx->path), size);
    assert_int_equal(ohsm_kms_trail_open("/nonexistent/dir/trail.jsonl", &t), OHSM_IO);
}

#define THREADS 8
#define PER_THREAD 500

struct worker {
    struct ohsm_kms_trail *t;
    int id;
    int ok;
    int io_after_ok; /* an OK after an OHSM_IO (must stay 0) */
    int count;
};

static void *append_many(void *arg)
{
    struct worker *w = arg;
    bool failed = false;
    for (int i = 0; i < w->count; i++) {
        char rid[32];
        snprintf(rid, sizeof(rid), "t%d-%d", w->id, i);
        struct ohsm_kms_event e = api_event("Encrypt", ARN1, T0, rid);
        ohsm_rv rv = ohsm_kms_trail_record(w->t, &e);
        if (rv == OHSM_OK) {
            w->ok++;
            w->io_after_ok += failed ? 1 : 0;
        } else if (rv == OHSM_IO) {
            failed = true;
        }
    }
    return NULL;
}

/* Counts, for each (thread, i), how often requestID "t<thread>-<i>" appears in the trail. */
static void count_ids(const char *path, int seen[THREADS][PER_THREAD])
{
    size_t n = 0;
    char **lines = read_lines(path, &n);
    memset(seen, 0, sizeof(int) * THREADS * PER_THREAD);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_loads(lines[i], 0, NULL);
        assert_non_null(o);
        int th = -1;
        int k = -1;
        assert_int_equal(sscanf(str(o, "requestID"), "t%d-%d", &th, &k), 2);
        assert_true(th >= 0 && th < THREADS && k >= 0 && k < PER_THREAD);
        seen[th][k]++;
        json_decref(o);
    }
    free_lines(lines, n);
}

/* 8 threads x 500 appends: each line once, the chain verifies, far fewer syncs than appends. */
static void test_kms_trail_concurrent(void **state)
{
    struct fixture *fx = *state;
    struct ohsm_kms_trail *t = NULL;
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.t = t, .id = i, .count = PER_THREAD};
        assert_int_equal(pthread_create(&th[i], NULL, append_many, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].ok, PER_THREAD);
    }
    uint64_t syncs = ohsm_kms_trail_test_syncs(t);
    ohsm_kms_trail_close(t);
    static int seen[THREADS][PER_THREAD];
    count_ids(fx->path, seen);
    for (int i = 0; i < THREADS; i++) {
        for (int k = 0; k < PER_THREAD; k++) {
            assert_int_equal(seen[i][k], 1);
        }
    }
    size_t n = 0;
    assert_int_equal(ohsm_kms_trail_verify(fx->path, &n, NULL, NULL, 0), OHSM_OK);
    assert_int_equal(n, THREADS * PER_THREAD);
    print_message("  %d appends, %llu fdatasync calls\n", THREADS * PER_THREAD,
                  (unsigned long long)syncs);
    assert_true(syncs >= 1 && syncs * 2 <= THREADS * PER_THREAD);
}

/* A failed write fails its batch with OHSM_IO and every later append; what was acknowledged
 * before stays on disk and verifies. */
static void test_kms_trail_write_failure(void **state)
{
    struct fixture *fx = *state;
    struct ohsm_kms_trail *t = NULL;
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    record_one(t, "Encrypt", ARN1, T0, "t0-0");
    off_t size = file_size(fx->path);
    ohsm_kms_trail_test_fail_next(t);
    struct ohsm_kms_event e = api_event("Encrypt", ARN1, T0, "t0-1");
    assert_int_equal(ohsm_kms_trail_record(t, &e), OHSM_IO);
    e.request_id = "t0-2";
    assert_int_equal(ohsm_kms_trail_record(t, &e), OHSM_IO);
    assert_int_equal(file_size(fx->path), size);
    ohsm_kms_trail_close(t);

    /* Under concurrency: arm the failure while 8 threads append. */
    assert_int_equal(unlink(fx->path), 0); /* the trail and its log are one: both go */
    assert_int_equal(unlink(fx->wal), 0);
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.t = t, .id = i, .count = 200};
        assert_int_equal(pthread_create(&th[i], NULL, append_many, &w[i]), 0);
    }
    /* 1600 appends in batches of at most 8 make at least 200 syncs: wait for the 5th (<= 10 s). */
    for (int i = 0; i < 10000 && ohsm_kms_trail_test_syncs(t) < 5; i++) {
        usleep(1000);
    }
    ohsm_kms_trail_test_fail_next(t);
    int acked = 0;
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].io_after_ok, 0);
        acked += w[i].ok;
    }
    assert_true(acked < THREADS * 200);
    assert_int_equal(ohsm_kms_trail_record(t, &e), OHSM_IO);
    ohsm_kms_trail_close(t);
    static int seen[THREADS][PER_THREAD];
    count_ids(fx->path, seen);
    int on_disk = 0;
    for (int i = 0; i < THREADS; i++) {
        for (int k = 0; k < 200; k++) {
            assert_true(seen[i][k] <= 1);
            on_disk += seen[i][k];
            /* Every acknowledged append of thread i is among its first w[i].ok. */
            assert_int_equal(seen[i][k], k < w[i].ok ? 1 : 0);
        }
    }
    assert_int_equal(on_disk, acked);
    size_t n = 0;
    assert_int_equal(ohsm_kms_trail_verify(fx->path, &n, NULL, NULL, 0), OHSM_OK);
    assert_int_equal(n, (size_t)acked);
}

/* ---- openhsmd events ------------------------------------------------------------------------ */

static char out_buf[65536];

/* Runs `openhsmd events ARGS...` with stdout captured into out_buf; returns the exit status. */
static int run_events(int argc, const char **args)
{
    char *argv[16];
    argv[0] = "openhsmd";
    argv[1] = "events";
    for (int i = 0; i < argc; i++) {
        argv[2 + i] = (char *)args[i];
    }
    char tmpl[] = "/tmp/ohsm-events-out-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    unlink(tmpl);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDOUT_FILENO) >= 0);
    int rc = ohsm_kms_events_main(argc + 2, argv);
    fflush(stdout);
    assert_true(dup2(saved, STDOUT_FILENO) >= 0);
    close(saved);
    ssize_t n = pread(fd, out_buf, sizeof(out_buf) - 1, 0);
    assert_true(n >= 0);
    out_buf[n] = '\0';
    close(fd);
    return rc;
}

/* The requestIDs of the printed events, space-separated. */
static const char *printed_ids(void)
{
    static char ids[4096];
    ids[0] = '\0';
    char *save = NULL;
    static char copy[65536];
    strcpy(copy, out_buf);
    for (char *l = strtok_r(copy, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(l, 0, NULL);
        assert_non_null(o);
        if (ids[0] != '\0') {
            strcat(ids, " ");
        }
        strcat(ids, str(o, "requestID"));
        json_decref(o);
    }
    return ids;
}

/* Filters are AND-ed; --key takes a key id or an ARN; --since ISO 8601 or Unix seconds. */
static void test_kms_trail_events_filters(void **state)
{
    struct fixture *fx = *state;
    /* req-1..6: Encrypt/Decrypt alternating, ARN1 for 1 and 4, one minute apart from T0. */
    make_trail(fx->path, 6);
    const char *d = fx->dir;
    const char *a1[] = {"--data-dir", d};
    assert_int_equal(run_events(2, a1), 0);
    assert_string_equal(printed_ids(), "req-1 req-2 req-3 req-4 req-5 req-6");
    const char *a2[] = {"--data-dir", d, "--name", "Decrypt"};
    assert_int_equal(run_events(4, a2), 0);
    assert_string_equal(printed_ids(), "req-2 req-4 req-6");
    const char *a3[] = {"--data-dir", d, "--key", "1234abcd-12ab-34cd-56ef-1234567890ab"};
    assert_int_equal(run_events(4, a3), 0);
    assert_string_equal(printed_ids(), "req-1 req-4");
    const char *a4[] = {"--key", ARN2, "--data-dir", d};
    assert_int_equal(run_events(4, a4), 0);
    assert_string_equal(printed_ids(), "req-2 req-3 req-5 req-6");
    const char *a5[] = {"--data-dir", d, "--since", "2026-12-06T19:03:00Z"};
    assert_int_equal(run_events(4, a5), 0);
    assert_string_equal(printed_ids(), "req-4 req-5 req-6");
    const char *a6[] = {"--data-dir", d,         "--since", "1796583780",
                        "--name",     "Decrypt", "--key",   ARN2};
    assert_int_equal(run_events(8, a6), 0);
    assert_string_equal(printed_ids(), "req-6");
    const char *a7[] = {"--data-dir", d, "--since", "2026-12-07"};
    assert_int_equal(run_events(4, a7), 0);
    assert_string_equal(out_buf, "");
    const char *a8[] = {"--data-dir", d, "--key", "arn:aws:kms:us-east-1:111122223333:key/x"};
    assert_int_equal(run_events(4, a8), 0);
    assert_string_equal(out_buf, "");
    /* The lines are printed as stored (chain included). */
    const char *a9[] = {"--data-dir", d, "--name", "Encrypt", "--since", "2026-12-06T19:04"};
    assert_int_equal(run_events(6, a9), 0);
    size_t n = 0;
    char **lines = read_lines(fx->path, &n);
    char want[8192];
    snprintf(want, sizeof(want), "%s\n", lines[4]);
    assert_string_equal(out_buf, want);
    free_lines(lines, n);
}

/* --verify reports the count or the first break; bad arguments exit 2 and print nothing. */
static void test_kms_trail_events_verify_and_errors(void **state)
{
    struct fixture *fx = *state;
    const char *d = fx->dir;
    const char *v[] = {"--data-dir", d, "--verify"};
    assert_int_equal(run_events(3, v), 1); /* no trail yet */
    assert_string_equal(out_buf, "");
    make_trail(fx->path, 4);
    assert_int_equal(run_events(3, v), 0);
    assert_string_equal(out_buf, "trail ok: 4 events\n");
    size_t n = 0;
    char **lines = read_lines(fx->path, &n);
    static const size_t removed[] = {0, 2, 3};
    write_lines(fx->path, lines, removed, 3);
    free_lines(lines, n);
    assert_int_equal(run_events(3, v), 1);
    assert_int_equal(strncmp(out_buf, "trail broken at line 2: chain mismatch", 38), 0);

    static const char *const bad[][4] = {
        {"--since", "yesterday", NULL},
        {"--since", "2026-13-01", NULL},
        {"--since", "2026-02-30T00:00:00Z", NULL},
        {"--since", "2026-12-06T25:00:00Z", NULL},
        {"--since", "1796583600x", NULL},
        {"--frobnicate", NULL},
        {"--name", NULL},
        {"--name", "", NULL},
        {"--name", "A", "--name"},
        {"--verify", "--name", "Encrypt", NULL},
        {"extra", NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *args[6] = {"--data-dir", d};
        int argc = 2;
        for (size_t k = 0; k < 4 && bad[i][k] != NULL; k++) {
            args[argc++] = bad[i][k];
        }
        if (i == 8) {
            args[argc++] = "B";
        }
        assert_int_equal(run_events(argc, args), 2);
        assert_string_equal(out_buf, "");
    }
    const char *h[] = {"--help"};
    assert_int_equal(run_events(1, h), 0);
    assert_non_null(strstr(out_buf, "usage: openhsmd events"));
    assert_non_null(strstr(out_buf, "--since TIME"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kms_trail_shape_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_trail_shape_service, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_trail_shape_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_trail_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_trail_verify_tamper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_trail_reopen_continues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_trail_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_trail_open_bad_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_trail_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_trail_write_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_trail_events_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_trail_events_verify_and_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
