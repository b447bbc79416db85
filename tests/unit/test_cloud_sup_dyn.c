/* SPDX-License-Identifier: Apache-2.0
 * The supervisor's calls from other threads (ohsm_sup_launch/hold/remove/pause/resume/status)
 * against fake HSMs: this test binary is also the fake openhsm-hsm (a second mode chosen by its
 * argv: the supervisor runs it with --listen and --hsm-id). By the id's prefix the fake listens
 * on its port ("hsm-live..."), exits at once with status 3 ("hsm-exit..."), or never listens
 * ("hsm-slow..."). Every fake ends itself after 60 s (alarm) and on its parent's death.
 * Properties: launch waits for the port, is idempotent, and leaves a failed HSM held; hold stops
 * an HSM promptly and the supervision loop does not restart it (while it does restart one that
 * was killed); pause/resume stop and continue the process (state T in /proc); remove forgets;
 * unknown ids are OHSM_ARGUMENTS_BAD. All of it with and without ohsm_sup_run's loop (openhsmd's
 * first start calls these before the loop runs). Every wait has a deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cloud/files.h"
#include "cloud/supervise.h"

#define READY_MS 4000u
#define STOP_MS 4000u
#define WAIT_MS 5000 /* bound of the test's own waits */

#define ID_LIVE "hsm-liveaaaaaaa"
#define ID_LIVE2 "hsm-livebbbbbbb"
#define ID_EXIT "hsm-exitaaaaaaa"
#define ID_SLOW "hsm-slowaaaaaaa"

/* ---- the fake HSM (second mode of this binary) ---- */

static const char *arg_after(int argc, char **argv, const char *name)
{
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return argv[i + 1];
        }
    }
    return NULL;
}

__attribute__((noreturn)) static void fake_hsm(const char *listen_at, const char *id)
{
    struct sockaddr_in a;
    int one = 1;
    char *end = NULL;
    const char *colon = strrchr(listen_at, ':');

    alarm(60); /* never outlives a stuck test run */
    if (strncmp(id, "hsm-exit", 8) == 0) {
        fprintf(stderr, "fake hsm %s: exiting at once\n", id);
        exit(3);
    }
    if (strncmp(id, "hsm-slow", 8) == 0) {
        for (;;) {
            pause(); /* until SIGTERM/SIGKILL/SIGALRM */
        }
    }
    unsigned long port = colon != NULL ? strtoul(colon + 1, &end, 10) : 0;
    if (port == 0 || port > 65535 || end == NULL || *end != '\0') {
        fprintf(stderr, "fake hsm: bad --listen %s\n", listen_at);
        exit(2);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0) {
        fprintf(stderr, "fake hsm: cannot listen on %s: %s\n", listen_at, strerror(errno));
        exit(2);
    }
    fprintf(stderr, "fake hsm %s: listening on %s\n", id, listen_at);
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c >= 0) {
            close(c);
        }
    }
}

/* ---- harness ---- */

struct fx {
    char dir[64];
    char hsm_dir[2][128];
    char errpath[128];
    FILE *err;
    struct ohsm_sup *sup;
    uint16_t port[2];
    pthread_t loop;
    bool loop_running;
};

static char self[4096];

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A port nobody listens on now (the kernel's pick for port 0). */
static uint16_t free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static bool port_accepts(uint16_t port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* The state letter of /proc/<pid>/stat ('S', 'R', 'T', 'Z', ...), or '?' when there is none. */
static char proc_state(long pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        return '?';
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    return p != NULL && p[1] == ' ' && p[2] != '\0' ? p[2] : '?';
}

/* Waits until pid's state is want (or, with want '!T', anything but stopped). */
static bool wait_state(long pid, const char *want)
{
    const int64_t deadline = now_ms() + WAIT_MS;
    for (;;) {
        char st = proc_state(pid);
        bool ok = want[0] == '!' ? st != want[1] && st != '?' : st == want[0];
        if (ok) {
            return true;
        }
        if (now_ms() >= deadline) {
            print_message("pid %ld: state %c, want %s\n", pid, st, want);
            return false;
        }
        sleep_ms(10);
    }
}

static struct ohsm_sup_status status(struct fx *f, const char *id)
{
    struct ohsm_sup_status st;
    memset(&st, 0x5a, sizeof(st));
    assert_int_equal(ohsm_sup_status(f->sup, id, &st), OHSM_OK);
    return st;
}

static void add(struct fx *f, const char *id, unsigned slot)
{
    struct ohsm_sup_hsm h = {
        .hsm_id = id,
        .cluster_id = "cluster-aaaaaaaaaaa",
        .hsm_dir = f->hsm_dir[slot],
        .cluster_dir = f->dir,
        .port = f->port[slot],
        .lockout = 5,
        .slot = slot,
    };
    assert_int_equal(ohsm_sup_add(f->sup, &h), OHSM_OK);
}

/* What the supervisor wrote to cfg->err so far. */
static char *err_text(struct fx *f)
{
    static char buf[8192];
    fflush(f->err);
    FILE *fp = fopen(f->errpath, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return buf;
}

static void *loop_main(void *arg)
{
    struct fx *f = arg;
    ohsm_rv rv = ohsm_sup_run(f->sup);
    return (void *)(intptr_t)rv;
}

/* Runs ohsm_sup_run on a second thread (it inherits the blocked signals of this one). */
static void start_loop(struct fx *f)
{
    assert_int_equal(pthread_create(&f->loop, NULL, loop_main, f), 0);
    f->loop_running = true;
}

/* Ends the loop as openhsmd's is ended: SIGTERM to the process (blocked in every thread, read
 * from the signalfd). */
static void stop_loop(struct fx *f)
{
    void *ret = NULL;
    if (!f->loop_running) {
        return;
    }
    assert_int_equal(kill(getpid(), SIGTERM), 0);
    assert_int_equal(pthread_join(f->loop, &ret), 0);
    f->loop_running = false;
    assert_int_equal((int)(intptr_t)ret, OHSM_OK);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return -1;
    }
    snprintf(f->dir, sizeof(f->dir), "/tmp/ohsm-supdyn-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        return -1;
    }
    for (unsigned i = 0; i < 2; i++) {
        snprintf(f->hsm_dir[i], sizeof(f->hsm_dir[i]), "%s/hsm%u", f->dir, i);
        if (mkdir(f->hsm_dir[i], 0700) != 0) {
            return -1;
        }
        f->port[i] = free_port();
    }
    if (f->port[0] == f->port[1]) {
        f->port[1] = free_port();
    }
    snprintf(f->errpath, sizeof(f->errpath), "%s/err.txt", f->dir);
    f->err = fopen(f->errpath, "we"); /* not inherited by the fakes */
    struct ohsm_sup_cfg cfg = {
        .hsm_bin = self, .ready_ms = READY_MS, .stop_ms = STOP_MS, .out = f->err, .err = f->err};
    if (f->err == NULL || ohsm_sup_new(&cfg, &f->sup) != OHSM_OK) {
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->loop_running) {
        (void)kill(getpid(), SIGTERM);
        (void)pthread_join(f->loop, NULL);
    }
    ohsm_sup_free(f->sup); /* stops whatever still runs */
    fclose(f->err);
    int r = ohsm_files_remove_tree(f->dir) == OHSM_OK ? 0 : -1;
    free(f);
    return r;
}

/* ---- tests ---- */

/* A registered HSM is not running until launched; launch returns once its port accepts, records
 * the pid in hsm.pid, and a second launch of a running HSM is OK and changes nothing. */
static void test_sup_dyn_launch(void **state)
{
    struct fx *f = *state;
    char path[256], text[64];
    add(f, ID_LIVE, 0);
    struct ohsm_sup_status st = status(f, ID_LIVE);
    assert_false(st.running);
    assert_false(st.held);
    assert_false(st.paused);
    assert_int_equal(st.restarts, 0);
    assert_false(port_accepts(f->port[0]));

    assert_int_equal(ohsm_sup_launch(f->sup, ID_LIVE), OHSM_OK);
    assert_true(port_accepts(f->port[0]));
    st = status(f, ID_LIVE);
    assert_true(st.running);
    assert_false(st.held);
    assert_true(st.pid > 0);
    assert_true(wait_state(st.pid, "!T"));
    snprintf(path, sizeof(path), "%s/hsm.pid", f->hsm_dir[0]);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(text, sizeof(text), fp));
    fclose(fp);
    assert_int_equal(strtol(text, NULL, 10), st.pid);

    long pid = st.pid;
    assert_int_equal(ohsm_sup_launch(f->sup, ID_LIVE), OHSM_OK);
    st = status(f, ID_LIVE);
    assert_true(st.running);
    assert_int_equal(st.pid, pid);
    /* A second HSM beside it. */
    add(f, ID_LIVE2, 1);
    assert_int_equal(ohsm_sup_launch(f->sup, ID_LIVE2), OHSM_OK);
    assert_true(port_accepts(f->port[1]));
    assert_int_equal(status(f, ID_LIVE).pid, pid);
}

static void *launch_main(void *arg)
{
    struct fx *f = arg;
    return (void *)(intptr_t)ohsm_sup_launch(f->sup, ID_LIVE);
}

/* An HSM launched from a thread that then ends (an HTTP connection's thread in openhsmd) keeps
 * running: PR_SET_PDEATHSIG follows the forking thread, so the supervisor must not fork on the
 * caller's. Without the loop nothing would reap or restart it, so a SIGTERM on the thread's exit
 * would leave it a zombie. Nothing is expected to happen, so this waits a fixed 300 ms. */
static void test_sup_dyn_launch_thread_exits(void **state)
{
    struct fx *f = *state;
    pthread_t t;
    void *ret = NULL;
    add(f, ID_LIVE, 0);
    assert_int_equal(pthread_create(&t, NULL, launch_main, f), 0);
    assert_int_equal(pthread_join(t, &ret), 0);
    assert_int_equal((int)(intptr_t)ret, OHSM_OK);
    long pid = status(f, ID_LIVE).pid;
    assert_true(pid > 0);
    sleep_ms(300);
    char st = proc_state(pid);
    assert_true(st != 'Z' && st != '?');
    assert_true(port_accepts(f->port[0]));
}

/* A program that exits at once: OHSM_DEVICE_ERROR, the HSM left held and not running, and the
 * failure reported with the tail of its log. */
static void test_sup_dyn_launch_exits(void **state)
{
    struct fx *f = *state;
    add(f, ID_EXIT, 0);
    assert_int_equal(ohsm_sup_launch(f->sup, ID_EXIT), OHSM_DEVICE_ERROR);
    struct ohsm_sup_status st = status(f, ID_EXIT);
    assert_false(st.running);
    assert_true(st.held);
    assert_int_equal(st.pid, -1);
    const char *e = err_text(f);
    assert_non_null(strstr(e, ID_EXIT " exited (status 3) while starting on 127.0.0.1:"));
    assert_non_null(strstr(e, "| fake hsm " ID_EXIT ": exiting at once"));
    /* Not running: nothing to pause or resume. */
    assert_int_equal(ohsm_sup_pause(f->sup, ID_EXIT), OHSM_DEVICE_ERROR);
    assert_int_equal(ohsm_sup_resume(f->sup, ID_EXIT), OHSM_DEVICE_ERROR);
}

/* A program that never listens: OHSM_TIMEOUT after ready_ms, the process gone (stopped, not
 * left behind) and the HSM held. */
static void test_sup_dyn_launch_timeout(void **state)
{
    struct fx *f = *state;
    add(f, ID_SLOW, 0);
    const int64_t t0 = now_ms();
    assert_int_equal(ohsm_sup_launch(f->sup, ID_SLOW), OHSM_TIMEOUT);
    assert_true(now_ms() - t0 >= READY_MS);
    struct ohsm_sup_status st = status(f, ID_SLOW);
    assert_false(st.running);
    assert_true(st.held);
    assert_non_null(strstr(err_text(f), ID_SLOW " did not accept connections"));
}

/* Without the loop: hold stops a running HSM within a fraction of stop_ms (it exits on SIGTERM;
 * SIGKILL is only for one that does not), its port closes, and it stays held; launch clears the
 * hold and starts it again. */
static void test_sup_dyn_hold_no_loop(void **state)
{
    struct fx *f = *state;
    add(f, ID_LIVE, 0);
    assert_int_equal(ohsm_sup_launch(f->sup, ID_LIVE), OHSM_OK);
    long pid = status(f, ID_LIVE).pid;
    const int64_t t0 = now_ms();
    assert_int_equal(ohsm_sup_hold(f->sup, ID_LIVE), OHSM_OK);
    assert_true(now_ms() - t0 < STOP_MS / 2);
    assert_null(strstr(err_text(f), "did not stop"));
    struct ohsm_sup_status st = status(f, ID_LIVE);
    assert_false(st.running);
    assert_true(st.held);
    assert_int_equal(proc_state(pid), '?'); /* reaped: no zombie left */
    assert_false(port_accepts(f->port[0]));
    assert_int_equal(ohsm_sup_hold(f->sup, ID_LIVE), OHSM_OK); /* held already: OK */
    assert_int_equal(ohsm_sup_launch(f->sup, ID_LIVE), OHSM_OK);
    st = status(f, ID_LIVE);
    assert_true(st.running);
    assert_false(st.held);
    assert_int_not_equal(st.pid, pid);
    assert_true(port_accepts(f->port[0]));
}

/* With the loop running: an HSM killed from outside is restarted (with a new pid, restarts 1),
 * while a held one stays down past the backoff, and comes back only through launch. */
static void test_sup_dyn_hold_with_loop(void **state)
{
    struct fx *f = *state;
    add(f, ID_LIVE, 0);
    add(f, ID_LIVE2, 1);
    start_loop(f);
    assert_int_equal(ohsm_sup_launch(f->sup, ID_LIVE), OHSM_OK);
    assert_int_equal(ohsm_sup_launch(f->sup, ID_LIVE2), OHSM_OK);

    long pid2 = status(f, ID_LIVE2).pid;
    assert_int_equal(kill((pid_t)pid2, SIGKILL), 0);
    int64_t deadline = now_ms() + OHSM_SUP_BACKOFF_MIN_MS + WAIT_MS;
    struct ohsm_sup_status st;
    for (;;) {
        st = status(f, ID_LIVE2);
        if (st.running && st.pid != pid2) {
            break;
        }
        assert_true(now_ms() < deadline);
        sleep_ms(20);
    }
    assert_int_equal(st.restarts, 1);
    assert_false(st.held);

    long pid = status(f, ID_LIVE).pid;
    const int64_t t0 = now_ms();
    assert_int_equal(ohsm_sup_hold(f->sup, ID_LIVE), OHSM_OK);
    assert_true(now_ms() - t0 < STOP_MS / 2);
    /* Twice the first backoff: a restart would have come by then. */
    deadline = now_ms() + 2 * OHSM_SUP_BACKOFF_MIN_MS + 500;
    while (now_ms() < deadline) {
        st = status(f, ID_LIVE);
        assert_false(st.running);
        assert_true(st.held);
        assert_int_equal(st.restarts, 0);
        sleep_ms(50);
    }
    assert_int_equal(proc_state(pid), '?');
    assert_false(port_accepts(f->port[0]));
    assert_int_equal(ohsm_sup_launch(f->sup, ID_LIVE), OHSM_OK);
    st = status(f, ID_LIVE);
    assert_true(st.running);
    assert_false(st.held);
    assert_int_equal(st.restarts, 0);
    stop_loop(f);
}

/* pause sends SIGSTOP (state T, status paused, the port still takes connections: a hung HSM),
 * resume SIGCONT; both are idempotent; hold of a paused HSM still stops it. */
static void test_sup_dyn_pause_resume(void **state)
{
    struct fx *f = *state;
    add(f, ID_LIVE, 0);
    assert_int_equal(ohsm_sup_launch(f->sup, ID_LIVE), OHSM_OK);
    long pid = status(f, ID_LIVE).pid;
    assert_int_equal(ohsm_sup_pause(f->sup, ID_LIVE), OHSM_OK);
    assert_true(wait_state(pid, "T"));
    struct ohsm_sup_status st = status(f, ID_LIVE);
    assert_true(st.running);
    assert_true(st.paused);
    assert_int_equal(st.pid, pid);
    assert_true(port_accepts(f->port[0])); /* the kernel still completes the handshake */
    assert_int_equal(ohsm_sup_pause(f->sup, ID_LIVE), OHSM_OK);
    assert_int_equal(ohsm_sup_resume(f->sup, ID_LIVE), OHSM_OK);
    assert_true(wait_state(pid, "!T"));
    st = status(f, ID_LIVE);
    assert_true(st.running);
    assert_false(st.paused);
    assert_int_equal(ohsm_sup_resume(f->sup, ID_LIVE), OHSM_OK);
    assert_true(wait_state(pid, "!T"));

    assert_int_equal(ohsm_sup_pause(f->sup, ID_LIVE), OHSM_OK);
    assert_true(wait_state(pid, "T"));
    const int64_t t0 = now_ms();
    assert_int_equal(ohsm_sup_hold(f->sup, ID_LIVE), OHSM_OK);
    assert_true(now_ms() - t0 < STOP_MS / 2);
    st = status(f, ID_LIVE);
    assert_false(st.running);
    assert_false(st.paused);
    assert_true(st.held);
    assert_int_equal(proc_state(pid), '?');
}

/* remove stops a running HSM and forgets it: status, launch, hold, pause and resume of it are
 * then OHSM_ARGUMENTS_BAD, and the id may be added again. */
static void test_sup_dyn_remove(void **state)
{
    struct fx *f = *state;
    add(f, ID_LIVE, 0);
    add(f, ID_LIVE2, 1);
    assert_int_equal(ohsm_sup_launch(f->sup, ID_LIVE), OHSM_OK);
    assert_int_equal(ohsm_sup_launch(f->sup, ID_LIVE2), OHSM_OK);
    long pid = status(f, ID_LIVE).pid;
    assert_int_equal(ohsm_sup_remove(f->sup, ID_LIVE), OHSM_OK);
    assert_int_equal(proc_state(pid), '?');
    assert_false(port_accepts(f->port[0]));
    struct ohsm_sup_status st;
    assert_int_equal(ohsm_sup_status(f->sup, ID_LIVE, &st), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_sup_launch(f->sup, ID_LIVE), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_sup_hold(f->sup, ID_LIVE), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_sup_pause(f->sup, ID_LIVE), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_sup_resume(f->sup, ID_LIVE), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_sup_remove(f->sup, ID_LIVE), OHSM_ARGUMENTS_BAD);
    /* The other HSM is untouched. */
    assert_true(status(f, ID_LIVE2).running);
    assert_true(port_accepts(f->port[1]));
    /* A removed HSM that was never started, and one added again. */
    add(f, ID_LIVE, 0);
    assert_false(status(f, ID_LIVE).running);
    assert_int_equal(ohsm_sup_remove(f->sup, ID_LIVE), OHSM_OK);
    assert_int_equal(ohsm_sup_status(f->sup, ID_LIVE, &st), OHSM_ARGUMENTS_BAD);
}

/* Unknown ids, NULLs and a duplicate registration are OHSM_ARGUMENTS_BAD and change nothing. */
static void test_sup_dyn_bad_args(void **state)
{
    struct fx *f = *state;
    struct ohsm_sup_status st;
    add(f, ID_LIVE, 0);
    static const char *const unknown[] = {"hsm-unknownunk", "", ID_LIVE "x", "hsm-live"};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        assert_int_equal(ohsm_sup_launch(f->sup, unknown[i]), OHSM_ARGUMENTS_BAD);
        assert_int_equal(ohsm_sup_hold(f->sup, unknown[i]), OHSM_ARGUMENTS_BAD);
        assert_int_equal(ohsm_sup_remove(f->sup, unknown[i]), OHSM_ARGUMENTS_BAD);
        assert_int_equal(ohsm_sup_pause(f->sup, unknown[i]), OHSM_ARGUMENTS_BAD);
        assert_int_equal(ohsm_sup_resume(f->sup, unknown[i]), OHSM_ARGUMENTS_BAD);
        assert_int_equal(ohsm_sup_status(f->sup, unknown[i], &st), OHSM_ARGUMENTS_BAD);
    }
    assert_int_equal(ohsm_sup_launch(NULL, ID_LIVE), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_sup_launch(f->sup, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_sup_hold(f->sup, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_sup_remove(f->sup, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_sup_pause(f->sup, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_sup_status(f->sup, ID_LIVE, NULL), OHSM_ARGUMENTS_BAD);
    struct ohsm_sup_hsm dup = {.hsm_id = ID_LIVE,
                               .cluster_id = "cluster-aaaaaaaaaaa",
                               .hsm_dir = f->hsm_dir[1],
                               .cluster_dir = f->dir,
                               .port = f->port[1],
                               .lockout = 5};
    assert_int_equal(ohsm_sup_add(f->sup, &dup), OHSM_ARGUMENTS_BAD);
    /* The first registration is intact: it launches on its own port. */
    assert_int_equal(ohsm_sup_launch(f->sup, ID_LIVE), OHSM_OK);
    assert_true(port_accepts(f->port[0]));
    assert_false(port_accepts(f->port[1]));
}

int main(int argc, char **argv)
{
    const char *listen_at = arg_after(argc, argv, "--listen");
    const char *id = arg_after(argc, argv, "--hsm-id");
    if (listen_at != NULL && id != NULL) {
        fake_hsm(listen_at, id);
    }
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0 || (size_t)n >= sizeof(self) - 1) {
        fprintf(stderr, "cannot find this program's path\n");
        return 1;
    }
    self[n] = '\0';
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sup_dyn_launch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sup_dyn_launch_thread_exits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sup_dyn_launch_exits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sup_dyn_launch_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sup_dyn_hold_no_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sup_dyn_hold_with_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sup_dyn_pause_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sup_dyn_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sup_dyn_bad_args, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
