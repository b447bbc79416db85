/* SPDX-License-Identifier: Apache-2.0
 * HSM supervision: the restart backoff as a pure function, then the start-up failure paths with
 * stand-in HSM executables (shell scripts): one that exits, one that never listens and ignores
 * SIGTERM, and a port already taken. The happy path runs against the real openhsm-hsm in
 * tests/e2e/test_openhsmd.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cloud/files.h"
#include "cloud/supervise.h"

/* The first restart, and any restart after a stable run, waits the minimum (0.5 s). */
static void test_sup_backoff_resets(void **state)
{
    (void)state;
    assert_int_equal(ohsm_sup_backoff_ms(0, 0), 500);
    assert_int_equal(ohsm_sup_backoff_ms(0, UINT64_MAX), 500);
    assert_int_equal(ohsm_sup_backoff_ms(5000, OHSM_SUP_STABLE_MS), 500);
    assert_int_equal(ohsm_sup_backoff_ms(4000, UINT64_MAX), 500);
}

/* Quick deaths double the delay: 0.5, 1, 2, 4, then 5 s and never more, even from huge values. */
static void test_sup_backoff_doubles_to_cap(void **state)
{
    (void)state;
    uint32_t d = 0;
    const uint32_t want[] = {500, 1000, 2000, 4000, 5000, 5000, 5000};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        d = ohsm_sup_backoff_ms(d, 100);
        assert_int_equal(d, want[i]);
    }
    assert_int_equal(ohsm_sup_backoff_ms(3000, OHSM_SUP_STABLE_MS - 1), 5000); /* not yet stable */
    assert_int_equal(ohsm_sup_backoff_ms(UINT32_MAX, 0), 5000);
    assert_int_equal(ohsm_sup_backoff_ms(1, 0), 500); /* below the floor: back to the minimum */
}

struct fixture {
    char dir[64];
    char script[128];
    char *out_buf, *err_buf;
    size_t out_len, err_len;
    FILE *out, *err;
    struct ohsm_sup *sup;
};

static uint16_t free_port(void)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A temp dir holding the stand-in HSM script, and a supervisor writing into memory streams. */
static void setup(struct fixture *f, const char *script_body, uint32_t ready_ms, uint32_t stop_ms)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/ohsm-sup-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->script, sizeof(f->script), "%s/fake-hsm", f->dir);
    assert_int_equal(ohsm_files_write_new(f->script, script_body, strlen(script_body), 0700),
                     OHSM_OK);
    f->out = open_memstream(&f->out_buf, &f->out_len);
    f->err = open_memstream(&f->err_buf, &f->err_len);
    struct ohsm_sup_cfg cfg = {f->script, 0, ready_ms, stop_ms, f->out, f->err};
    assert_int_equal(ohsm_sup_new(&cfg, &f->sup), OHSM_OK);
}

static void add(struct fixture *f, const char *id, uint16_t port)
{
    struct ohsm_sup_hsm h = {id, "cluster-aaaaaaaaaaa", f->dir, f->dir, port, 5, 0};
    assert_int_equal(ohsm_sup_add(f->sup, &h), OHSM_OK);
}

static void teardown(struct fixture *f)
{
    ohsm_sup_free(f->sup);
    fclose(f->out);
    fclose(f->err);
    free(f->out_buf);
    free(f->err_buf);
    assert_int_equal(ohsm_files_remove_tree(f->dir), OHSM_OK);
}

/* Bad arguments to the API are refused before anything is blocked or spawned. */
static void test_sup_api_edges(void **state)
{
    (void)state;
    struct ohsm_sup *s = NULL;
    struct ohsm_sup_cfg cfg = {NULL, 0, 0, 0, stdout, stderr};
    assert_int_equal(ohsm_sup_new(&cfg, &s), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_sup_new(NULL, &s), OHSM_ARGUMENTS_BAD);
    cfg.hsm_bin = "/bin/true";
    assert_int_equal(ohsm_sup_new(&cfg, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_sup_new(&cfg, &s), OHSM_OK);
    struct ohsm_sup_hsm h = {"hsm-aaaaaaaaaaa", "cluster-aaaaaaaaaaa", "/tmp", "/tmp", 0, 5, 0};
    assert_int_equal(ohsm_sup_add(s, &h), OHSM_ARGUMENTS_BAD); /* port 0 */
    assert_int_equal(ohsm_sup_add(s, NULL), OHSM_ARGUMENTS_BAD);
    ohsm_sup_free(s);
    ohsm_sup_free(NULL);
}

/* An HSM that exits at once fails the start: its id, exit status and log tail are reported,
 * the log holds the exact command line of the spec, and stop leaves no pid file behind. */
static void test_sup_start_reports_exit(void **state)
{
    (void)state;
    struct fixture f;
    bool stop_asked = true;
    char path[256], log[2048];
    setup(&f, "#!/bin/sh\necho \"fake hsm $*\"\nexit 3\n", 5000, 2000);
    add(&f, "hsm-aaaaaaaaaaa", free_port());
    assert_int_equal(ohsm_sup_start(f.sup, &stop_asked), OHSM_DEVICE_ERROR);
    assert_false(stop_asked);
    snprintf(path, sizeof(path), "%s/hsm.pid", f.dir);
    assert_int_equal(access(path, F_OK), 0);
    ohsm_sup_stop(f.sup);
    assert_int_equal(access(path, F_OK), -1);
    fflush(f.err);
    assert_non_null(strstr(f.err_buf, "hsm-aaaaaaaaaaa exited (status 3)"));
    assert_non_null(strstr(f.err_buf, "| fake hsm --db"));
    snprintf(path, sizeof(path), "%s/hsm.log", f.dir);
    assert_int_equal(ohsm_files_tail(path, log, sizeof(log)), OHSM_OK);
    char want[1024];
    snprintf(want, sizeof(want),
             "fake hsm --db %s/hsm.db --cert %s/hsm.crt --key %s/hsm.key --listen 127.0.0.1:",
             f.dir, f.dir, f.dir);
    assert_non_null(strstr(log, want));
    snprintf(want, sizeof(want),
             " --hsm-id hsm-aaaaaaaaaaa --cluster-id cluster-aaaaaaaaaaa --lockout-attempts 5 "
             "--au-password-file %s/app_user.secret --masking-key %s/masking.key --slot 0\n",
             f.dir, f.dir);
    assert_non_null(strstr(log, want));
    assert_null(strstr(log, "--max-sessions"));
    teardown(&f);
}

/* An HSM that never listens times out the start; one that ignores SIGTERM is SIGKILLed by stop
 * after stop_ms, and its process is gone afterwards. */
static void test_sup_start_timeout_and_kill(void **state)
{
    (void)state;
    struct fixture f;
    bool stop_asked = true;
    char path[256], text[32];
    setup(&f, "#!/bin/sh\ntrap '' TERM\necho waiting\nwhile :; do sleep 0.1; done\n", 700, 300);
    add(&f, "hsm-bbbbbbbbbbb", free_port());
    assert_int_equal(ohsm_sup_start(f.sup, &stop_asked), OHSM_TIMEOUT);
    snprintf(path, sizeof(path), "%s/hsm.pid", f.dir);
    FILE *pf = fopen(path, "r");
    assert_non_null(pf);
    assert_non_null(fgets(text, sizeof(text), pf));
    fclose(pf);
    pid_t pid = (pid_t)strtol(text, NULL, 10);
    assert_true(pid > 0);
    assert_int_equal(kill(pid, 0), 0);
    ohsm_sup_stop(f.sup);
    assert_int_equal(kill(pid, 0), -1); /* reaped: no such process */
    fflush(f.err);
    assert_non_null(strstr(f.err_buf, "hsm-bbbbbbbbbbb did not accept connections"));
    assert_non_null(strstr(f.err_buf, "| waiting"));
    assert_non_null(strstr(f.err_buf, "hsm-bbbbbbbbbbb did not stop, killing it"));
    teardown(&f);
}

/* A port another process listens on is reported before anything is spawned. */
static void test_sup_port_in_use(void **state)
{
    (void)state;
    struct fixture f;
    bool stop_asked = false;
    char path[256];
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    setup(&f, "#!/bin/sh\nexit 0\n", 1000, 1000);
    add(&f, "hsm-ccccccccccc", ntohs(a.sin_port));
    assert_int_equal(ohsm_sup_start(f.sup, &stop_asked), OHSM_IO);
    fflush(f.err);
    assert_non_null(strstr(f.err_buf, "in use by another process"));
    snprintf(path, sizeof(path), "%s/hsm.log", f.dir);
    assert_int_equal(access(path, F_OK), -1); /* never spawned */
    close(fd);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sup_backoff_resets),
        cmocka_unit_test(test_sup_backoff_doubles_to_cap),
        cmocka_unit_test(test_sup_api_edges),
        cmocka_unit_test(test_sup_port_in_use),
        cmocka_unit_test(test_sup_start_reports_exit),
        cmocka_unit_test(test_sup_start_timeout_and_kill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
