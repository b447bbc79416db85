/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of the HSM's CPU affinity for loopback peers: which sources count as this host, and
 * the choice (follow the incoming CPU when busy alongside others, unpin when lone, never for other
 * hosts, never outside the thread's own set); then the real system calls on this thread.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "hsm/affinity.h"

static void v4(uint8_t src[OHSM_CONNTAB_SRC_LEN], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    memset(src, 0, OHSM_CONNTAB_SRC_LEN);
    src[10] = 0xff;
    src[11] = 0xff;
    src[12] = a;
    src[13] = b;
    src[14] = c;
    src[15] = d;
}

static void test_affinity_loopback_sources(void **state)
{
    (void)state;
    uint8_t s[OHSM_CONNTAB_SRC_LEN];
    v4(s, 127, 0, 0, 1);
    assert_true(ohsm_affinity_loopback(s));
    v4(s, 127, 9, 8, 7);
    assert_true(ohsm_affinity_loopback(s));
    v4(s, 10, 0, 0, 1);
    assert_false(ohsm_affinity_loopback(s));
    v4(s, 128, 0, 0, 1);
    assert_false(ohsm_affinity_loopback(s));
    memset(s, 0, sizeof(s));
    s[15] = 1; /* ::1 */
    assert_true(ohsm_affinity_loopback(s));
    s[15] = 2; /* ::2 */
    assert_false(ohsm_affinity_loopback(s));
    memset(s, 0, sizeof(s));
    s[0] = 0xfe; /* fe80::1, a link-local address: another host */
    s[1] = 0x80;
    s[15] = 1;
    assert_false(ohsm_affinity_loopback(s));
    memset(s, 0, sizeof(s)); /* an unknown family's all-zero source */
    assert_false(ohsm_affinity_loopback(s));
    v4(s, 127, 0, 0, 1);
    s[9] = 1; /* not the mapped prefix */
    assert_false(ohsm_affinity_loopback(s));
}

static struct ohsm_affinity on_cpus(bool enabled, int pinned, int n)
{
    struct ohsm_affinity a;
    memset(&a, 0, sizeof(a));
    a.enabled = enabled;
    a.pinned = pinned;
    a.ncpu = n;
    CPU_ZERO(&a.allowed);
    for (int i = 0; i < n; i++) {
        CPU_SET((size_t)i, &a.allowed);
    }
    return a;
}

static void test_affinity_choice(void **state)
{
    (void)state;
    struct ohsm_affinity a = on_cpus(true, -1, 2);
    assert_int_equal(ohsm_affinity_choice(&a, false, false, 1), 1); /* busy: follow */
    assert_int_equal(ohsm_affinity_choice(&a, false, false, 0), 0);
    assert_int_equal(ohsm_affinity_choice(&a, true, false, 1), -1);  /* lone: unpinned */
    assert_int_equal(ohsm_affinity_choice(&a, false, false, -1), -1); /* unknown: no change */
    assert_int_equal(ohsm_affinity_choice(&a, false, false, 2), -1);  /* not allowed: no change */
    assert_int_equal(ohsm_affinity_choice(&a, false, false, CPU_SETSIZE), -1);
    a.pinned = 1;
    assert_int_equal(ohsm_affinity_choice(&a, false, false, 5), 1); /* stays where it is */
    assert_int_equal(ohsm_affinity_choice(&a, false, false, 0), 0); /* the client moved */
    assert_int_equal(ohsm_affinity_choice(&a, true, false, 0), -1);
    assert_int_equal(ohsm_affinity_choice(&a, false, true, 0), -1); /* crowded: unpinned */
    struct ohsm_affinity off = on_cpus(false, -1, 2); /* another host */
    assert_int_equal(ohsm_affinity_choice(&off, false, false, 1), -1);
    assert_int_equal(ohsm_affinity_choice(&off, true, false, 1), -1);
}

/* Crowded: more requests in work than CPUs + 1 on a moving average, so a burst does not unpin and a
 * steady crowd does; it clears again as the crowd goes. */
static void test_affinity_crowded(void **state)
{
    (void)state;
    struct ohsm_affinity a = on_cpus(true, -1, 2);
    for (int i = 0; i < 100; i++) {
        assert_false(ohsm_affinity_crowded(&a, 3)); /* CPUs + 1, steadily: never */
    }
    for (int i = 0; i < 100; i++) {
        assert_false(ohsm_affinity_crowded(&a, 2)); /* as many as CPUs */
    }
    assert_false(ohsm_affinity_crowded(&a, 8)); /* then one burst */
    bool c = false;
    for (int i = 0; i < 100 && !c; i++) {
        c = ohsm_affinity_crowded(&a, 8);
    }
    assert_true(c);
    for (int i = 0; i < 100 && c; i++) {
        c = ohsm_affinity_crowded(&a, 1);
    }
    assert_false(c);
    assert_false(ohsm_affinity_crowded(&a, -5)); /* nonsense counts as none */
    for (int i = 0; i < 200; i++) {
        assert_true(ohsm_affinity_crowded(&a, 1 << 30) || i == 0); /* clamped: no overflow */
    }
    assert_true(a.load <= 1024u * 256u);
}

/* init: enabled only for a loopback source and more than one allowed CPU. */
static void test_affinity_init(void **state)
{
    (void)state;
    uint8_t s[OHSM_CONNTAB_SRC_LEN];
    cpu_set_t mine;
    assert_int_equal(pthread_getaffinity_np(pthread_self(), sizeof(mine), &mine), 0);
    struct ohsm_affinity a;
    v4(s, 192, 0, 2, 1);
    ohsm_affinity_init(&a, s);
    assert_false(a.enabled);
    assert_int_equal(a.pinned, -1);
    v4(s, 127, 0, 0, 1);
    ohsm_affinity_init(&a, s);
    assert_int_equal(a.enabled, CPU_COUNT(&mine) > 1);
    assert_int_equal(a.pinned, -1);
    assert_true(CPU_EQUAL(&a.allowed, &mine));
}

/* A connected loopback TCP pair: *srv is the accepted end, which has received one byte. */
static void tcp_pair(int *cli, int *srv)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 1), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    *cli = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*cli >= 0);
    assert_int_equal(connect(*cli, (struct sockaddr *)&sa, sizeof(sa)), 0);
    *srv = accept(lfd, NULL, NULL);
    assert_true(*srv >= 0);
    close(lfd);
    char b = 'x';
    assert_int_equal(send(*cli, &b, 1, 0), 1);
    assert_int_equal(recv(*srv, &b, 1, 0), 1);
}

/* follow pins this thread to the CPU the connection's packets came in on, busy, and gives back
 * the original set, lone; a socket that cannot tell changes nothing. */
static void test_affinity_follow_real(void **state)
{
    (void)state;
    cpu_set_t mine;
    assert_int_equal(pthread_getaffinity_np(pthread_self(), sizeof(mine), &mine), 0);
    if (CPU_COUNT(&mine) < 2) {
        skip(); /* one CPU: nothing to choose */
    }
    uint8_t s[OHSM_CONNTAB_SRC_LEN];
    v4(s, 127, 0, 0, 1);
    struct ohsm_affinity a;
    ohsm_affinity_init(&a, s);
    assert_true(a.enabled);

    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int cpu = -1;
    socklen_t l = sizeof(cpu);
    if (getsockopt(sv[0], SOL_SOCKET, SO_INCOMING_CPU, &cpu, &l) != 0 || cpu < 0) {
        ohsm_affinity_follow(&a, sv[0], false, 1);
        assert_int_equal(a.pinned, -1);
    }
    close(sv[0]);
    close(sv[1]);

    int cli = -1, srv = -1;
    tcp_pair(&cli, &srv);
    l = sizeof(cpu);
    assert_int_equal(getsockopt(srv, SOL_SOCKET, SO_INCOMING_CPU, &cpu, &l), 0);
    assert_true(cpu >= 0);
    ohsm_affinity_follow(&a, srv, false, 1);
    assert_int_equal(a.pinned, cpu);
    cpu_set_t now;
    assert_int_equal(pthread_getaffinity_np(pthread_self(), sizeof(now), &now), 0);
    assert_int_equal(CPU_COUNT(&now), 1);
    assert_true(CPU_ISSET((size_t)cpu, &now));

    ohsm_affinity_follow(&a, srv, true, 1);
    assert_int_equal(a.pinned, -1);
    assert_int_equal(pthread_getaffinity_np(pthread_self(), sizeof(now), &now), 0);
    assert_true(CPU_EQUAL(&now, &mine));

    /* Another host's connection is never pinned, whatever its incoming CPU. */
    v4(s, 192, 0, 2, 1);
    ohsm_affinity_init(&a, s);
    ohsm_affinity_follow(&a, srv, false, 1);
    assert_int_equal(a.pinned, -1);
    assert_int_equal(pthread_getaffinity_np(pthread_self(), sizeof(now), &now), 0);
    assert_true(CPU_EQUAL(&now, &mine));
    close(cli);
    close(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_affinity_loopback_sources),
        cmocka_unit_test(test_affinity_choice),
        cmocka_unit_test(test_affinity_crowded),
        cmocka_unit_test(test_affinity_init),
        cmocka_unit_test(test_affinity_follow_real),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
