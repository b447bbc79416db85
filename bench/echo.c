/* SPDX-License-Identifier: Apache-2.0
 *
 * bench_echo: what loopback TCP alone allows many synchronous callers, as a ceiling for
 * bench/p11's 8-thread rows. No TLS, no HSM: a forked echo server (a thread per connection, as
 * openhsm-hsm serves them, echoing every read at once so pipelined messages come back in one
 * burst) and N caller threads, each sending a message and waiting for it to come back, for S
 * seconds.
 *
 *   bench_echo [--threads N] [--bytes B] [--seconds S] [--mux K]
 *
 * Without --mux each thread has a connection of its own (how libopenhsm-pkcs11 runs 8 threads:
 * a connection set per thread). With --mux K the threads share K connections, several messages
 * in flight on each: a thread writes its message under the connection's lock and sleeps; a reader
 * thread per connection reads the answers as they come and wakes their threads in order (the
 * multiplexing client, with an HSM thread serving many callers' requests per wake-up).
 *
 * Prints: RESULT mode=conns|mux threads=N conns=C bytes=B rate=R (messages per second).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
#define MAX_BYTES 65536
#define WARMUP_S 0.3

static void die(const char *msg)
{
    (void)fflush(stdout);
    (void)fprintf(stderr, "bench_echo: %s\n", msg);
    _exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool io_full(int fd, uint8_t *p, size_t n, bool wr)
{
    while (n > 0) {
        ssize_t k = wr ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return false;
        }
        p += k;
        n -= (size_t)k;
    }
    return true;
}

static void nodelay(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* ---- the server (a forked child) ---- */

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    uint8_t *buf = malloc(MAX_BYTES);
    for (;;) {
        ssize_t n = buf == NULL ? -1 : recv(fd, buf, MAX_BYTES, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0 || !io_full(fd, buf, (size_t)n, true)) {
            break;
        }
    }
    free(buf);
    close(fd);
    return NULL;
}

static void server(int lfd)
{
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the bench */
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR) {
                continue;
            }
            _exit(0);
        }
        nodelay(fd);
        pthread_t t;
        if (pthread_create(&t, NULL, serve, (void *)(intptr_t)fd) != 0) {
            _exit(1);
        }
        (void)pthread_detach(t);
    }
}

/* ---- the callers ---- */

static struct sockaddr_in g_addr;
static size_t g_bytes = 1024;
static atomic_bool g_counting, g_stop;

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&g_addr, sizeof(g_addr)) != 0) {
        die("cannot connect to the echo server");
    }
    nodelay(fd);
    return fd;
}

struct caller {
    pthread_t tid;
    size_t idx;
    uint64_t ops;
};

static void *own_conn(void *arg)
{
    struct caller *me = arg;
    uint8_t *m = calloc(1, g_bytes);
    int fd = dial();
    if (m == NULL) {
        die("out of memory");
    }
    while (!atomic_load(&g_stop)) {
        if (!io_full(fd, m, g_bytes, true) || !io_full(fd, m, g_bytes, false)) {
            die("the echo server went away");
        }
        if (atomic_load(&g_counting)) {
            me->ops++;
        }
    }
    close(fd);
    free(m);
    return NULL;
}

/* A message in flight on a shared connection: its thread sleeps until the reader says done. */
struct waiter {
    struct waiter *next;
    pthread_cond_t cv;
    bool done;
};

struct mux {
    int fd;
    pthread_mutex_t mu; /* the write side and the queue */
    struct waiter *head, *tail;
    pthread_t reader;
};

static struct mux g_mux[MAX_THREADS];
static size_t g_nmux;

static void *mux_reader(void *arg)
{
    struct mux *x = arg;
    uint8_t *buf = malloc(MAX_BYTES);
    size_t have = 0;
    if (buf == NULL) {
        die("out of memory");
    }
    for (;;) {
        ssize_t n = recv(x->fd, buf + have, MAX_BYTES - have, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break; /* closed at the end */
        }
        have += (size_t)n;
        pthread_mutex_lock(&x->mu);
        size_t used = 0;
        while (have - used >= g_bytes && x->head != NULL) {
            struct waiter *w = x->head;
            x->head = w->next;
            if (x->head == NULL) {
                x->tail = NULL;
            }
            w->done = true;
            pthread_cond_signal(&w->cv);
            used += g_bytes;
        }
        pthread_mutex_unlock(&x->mu);
        memmove(buf, buf + used, have - used);
        have -= used;
    }
    free(buf);
    return NULL;
}

static void *shared_conn(void *arg)
{
    struct caller *me = arg;
    struct mux *x = &g_mux[me->idx % g_nmux];
    uint8_t *m = calloc(1, g_bytes);
    struct waiter w;
    if (m == NULL || pthread_cond_init(&w.cv, NULL) != 0) {
        die("out of memory");
    }
    while (!atomic_load(&g_stop)) {
        w.next = NULL;
        w.done = false;
        pthread_mutex_lock(&x->mu);
        if (x->tail != NULL) {
            x->tail->next = &w;
        } else {
            x->head = &w;
        }
        x->tail = &w;
        if (!io_full(x->fd, m, g_bytes, true)) {
            die("the echo server went away");
        }
        while (!w.done) {
            pthread_cond_wait(&w.cv, &x->mu);
        }
        pthread_mutex_unlock(&x->mu);
        if (atomic_load(&g_counting)) {
            me->ops++;
        }
    }
    pthread_cond_destroy(&w.cv);
    free(m);
    return NULL;
}

static long arg_num(const char *v, long lo, long hi, const char *what)
{
    char *end = NULL;
    errno = 0;
    long n = v == NULL ? 0 : strtol(v, &end, 10);
    if (v == NULL || errno != 0 || end == v || *end != '\0' || n < lo || n > hi) {
        (void)fprintf(stderr, "bench_echo: %s must be %ld..%ld\n", what, lo, hi);
        exit(2);
    }
    return n;
}

int main(int argc, char **argv)
{
    size_t threads = 8, nmux = 0;
    double seconds = 3;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--threads") == 0) {
            threads = (size_t)arg_num(v, 1, MAX_THREADS, "--threads");
        } else if (strcmp(argv[i], "--bytes") == 0) {
            g_bytes = (size_t)arg_num(v, 1, MAX_BYTES / 2, "--bytes");
        } else if (strcmp(argv[i], "--seconds") == 0) {
            seconds = (double)arg_num(v, 1, 3600, "--seconds");
        } else if (strcmp(argv[i], "--mux") == 0) {
            nmux = (size_t)arg_num(v, 1, MAX_THREADS, "--mux");
        } else {
            (void)fprintf(stderr, "usage: bench_echo [--threads N] [--bytes B] [--seconds S] "
                                  "[--mux K]\n");
            return 2;
        }
        i++;
    }

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t al = sizeof(g_addr);
    memset(&g_addr, 0, sizeof(g_addr));
    g_addr.sin_family = AF_INET;
    g_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&g_addr, sizeof(g_addr)) != 0 ||
        listen(lfd, MAX_THREADS * 2) != 0 ||
        getsockname(lfd, (struct sockaddr *)&g_addr, &al) != 0) {
        die("cannot listen on 127.0.0.1");
    }
    (void)fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        die("fork failed");
    }
    if (pid == 0) {
        server(lfd);
    }
    close(lfd);

    g_nmux = nmux;
    for (size_t k = 0; k < nmux; k++) {
        g_mux[k].fd = dial();
        if (pthread_mutex_init(&g_mux[k].mu, NULL) != 0 ||
            pthread_create(&g_mux[k].reader, NULL, mux_reader, &g_mux[k]) != 0) {
            die("cannot start a reader");
        }
    }
    static struct caller c[MAX_THREADS];
    for (size_t i = 0; i < threads; i++) {
        c[i].idx = i;
        if (pthread_create(&c[i].tid, NULL, nmux > 0 ? shared_conn : own_conn, &c[i]) != 0) {
            die("pthread_create failed");
        }
    }
    struct timespec warm = {0, (long)(WARMUP_S * 1e9)};
    (void)nanosleep(&warm, NULL);
    atomic_store(&g_counting, true);
    double t0 = now_s();
    struct timespec run = {(time_t)seconds, 0};
    (void)nanosleep(&run, NULL);
    atomic_store(&g_counting, false);
    double elapsed = now_s() - t0;
    atomic_store(&g_stop, true);
    uint64_t ops = 0;
    for (size_t i = 0; i < threads; i++) {
        (void)pthread_join(c[i].tid, NULL);
        ops += c[i].ops;
    }
    for (size_t k = 0; k < nmux; k++) {
        (void)shutdown(g_mux[k].fd, SHUT_RDWR); /* the reader's recv ends */
        (void)pthread_join(g_mux[k].reader, NULL);
        close(g_mux[k].fd);
    }
    (void)kill(pid, SIGKILL);
    (void)waitpid(pid, NULL, 0);
    (void)printf("RESULT mode=%s threads=%zu conns=%zu bytes=%zu rate=%.1f\n",
                 nmux > 0 ? "mux" : "conns", threads, nmux > 0 ? nmux : threads, g_bytes,
                 elapsed > 0 ? (double)ops / elapsed : 0.0);
    return 0;
}
