/* SPDX-License-Identifier: Apache-2.0
 *
 * HSM process supervision. The loop waits on one signalfd (SIGCHLD, SIGINT, SIGTERM) with poll's
 * timeout set to the next scheduled restart, so an exit is noticed at once and a restart happens
 * on time without busy waiting. Between fork and execv the child calls only async-signal-safe
 * functions (POSIX.1-2017 §2.4.3): its argv and messages are built before fork. Inputs are the
 * operator's paths and ids from our metadata; the HSM's log is only ever copied to stderr.
 *
 * Who forks. PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the
 * process (prctl(2)). HSMs are started from the main thread, from the supervision loop and from
 * control-plane and KMS requests, which run on HTTP connection threads that come and go; a child
 * forked on one of those would get SIGTERM when its connection closed. So every fork happens on
 * one spawner thread that lives as long as the struct ohsm_sup: callers hand it the prepared child
 * (argv, descriptors) and wait for the pid.
 */
#include "cloud/supervise.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cloud/files.h"
#include "cloud/ids.h"

#define MAX_ARGS 24
#define PATHLEN 4096

struct hsm {
    char id[OHSM_IDS_MAX];
    uint16_t port;
    char *argv[MAX_ARGS]; /* owned strings, NULL-terminated */
    char *pidfile;
    char *logfile;
    pid_t pid;           /* -1: not running */
    int64_t started_ms;  /* monotonic time of the last spawn */
    uint32_t backoff_ms; /* delay used for the last restart; 0: none yet */
    int64_t restart_at;  /* monotonic ms of a scheduled restart; 0: none */
    bool ready;          /* its port accepted a connection during start */
    bool spawned;        /* started at least once (so hsm.pid is ours) */
    bool held;           /* stopped on purpose (stop-hsm, removal): not restarted */
    bool paused;         /* SIGSTOPped (pause-hsm) */
    bool launching;      /* ohsm_sup_launch is waiting for it: an exit is a failure */
    bool failed;         /* exited while launching */
    uint32_t restarts;   /* restarts after exits */
};

struct ohsm_sup {
    struct ohsm_sup_cfg cfg;
    sigset_t old_mask;
    int sfd;
    int wake_fd;        /* eventfd: another thread changed something the loop schedules */
    pthread_mutex_t mu; /* guards h, n and every struct hsm */
    pthread_cond_t cv;  /* broadcast when a child is reaped */
    struct hsm *h;
    size_t n;
    char exec_fail_msg[256]; /* written by a child whose execv failed */
    /* The spawner thread and its one request slot (under fork_mu). */
    pthread_t forker;
    bool forker_up;
    pthread_mutex_t fork_mu;
    pthread_cond_t fork_cv;
    const struct hsm *fork_h; /* the request; NULL: none */
    int fork_null_fd, fork_log_fd;
    bool fork_done;
    bool fork_quit;
    pid_t fork_pid;
    int fork_errno;
};

static void *forker_main(void *arg);

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint32_t ohsm_sup_backoff_ms(uint32_t prev_ms, uint64_t uptime_ms)
{
    if (prev_ms == 0 || uptime_ms >= OHSM_SUP_STABLE_MS) {
        return OHSM_SUP_BACKOFF_MIN_MS;
    }
    uint64_t next = (uint64_t)prev_ms * 2;
    if (next < OHSM_SUP_BACKOFF_MIN_MS) {
        return OHSM_SUP_BACKOFF_MIN_MS;
    }
    return next > OHSM_SUP_BACKOFF_MAX_MS ? OHSM_SUP_BACKOFF_MAX_MS : (uint32_t)next;
}

ohsm_rv ohsm_sup_new(const struct ohsm_sup_cfg *cfg, struct ohsm_sup **out)
{
    sigset_t set;

    OHSM_ENSURE(cfg != NULL && out != NULL && cfg->hsm_bin != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(cfg->out != NULL && cfg->err != NULL, OHSM_ARGUMENTS_BAD);
    struct ohsm_sup *s = calloc(1, sizeof(*s));
    OHSM_ENSURE(s != NULL, OHSM_HOST_MEMORY);
    s->cfg = *cfg;
    if (s->cfg.ready_ms == 0) {
        s->cfg.ready_ms = OHSM_SUP_READY_MS;
    }
    if (s->cfg.stop_ms == 0) {
        s->cfg.stop_ms = OHSM_SUP_STOP_MS;
    }
    if (ohsm_files_path(s->exec_fail_msg, sizeof(s->exec_fail_msg), "openhsmd: cannot execute %s\n",
                        cfg->hsm_bin) != OHSM_OK) {
        memcpy(s->exec_fail_msg, "openhsmd: cannot execute the HSM\n",
               sizeof("openhsmd: cannot execute the HSM\n"));
    }
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &set, &s->old_mask) != 0) {
        free(s);
        return OHSM_IO;
    }
    s->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->sfd < 0 || s->wake_fd < 0) {
        if (s->sfd >= 0) {
            close(s->sfd);
        }
        (void)sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
        free(s);
        return OHSM_IO;
    }
    (void)pthread_mutex_init(&s->mu, NULL);
    (void)pthread_cond_init(&s->cv, NULL);
    (void)pthread_mutex_init(&s->fork_mu, NULL);
    (void)pthread_cond_init(&s->fork_cv, NULL);
    /* Created after SIGCHLD/SIGINT/SIGTERM are blocked, so it inherits that mask. */
    if (pthread_create(&s->forker, NULL, forker_main, s) != 0) {
        ohsm_sup_free(s);
        return OHSM_IO;
    }
    s->forker_up = true;
    *out = s;
    return OHSM_OK;
}

static void hsm_clear(struct hsm *h)
{
    for (size_t i = 0; i < MAX_ARGS; i++) {
        free(h->argv[i]);
        h->argv[i] = NULL;
    }
    free(h->pidfile);
    free(h->logfile);
    h->pidfile = NULL;
    h->logfile = NULL;
}

void ohsm_sup_free(struct ohsm_sup *s)
{
    if (s == NULL) {
        return;
    }
    ohsm_sup_stop(s);
    for (size_t i = 0; i < s->n; i++) {
        hsm_clear(&s->h[i]);
    }
    free(s->h);
    if (s->forker_up) {
        (void)pthread_mutex_lock(&s->fork_mu);
        s->fork_quit = true;
        (void)pthread_cond_broadcast(&s->fork_cv);
        (void)pthread_mutex_unlock(&s->fork_mu);
        (void)pthread_join(s->forker, NULL);
    }
    close(s->sfd);
    close(s->wake_fd);
    (void)pthread_cond_destroy(&s->fork_cv);
    (void)pthread_mutex_destroy(&s->fork_mu);
    (void)pthread_cond_destroy(&s->cv);
    (void)pthread_mutex_destroy(&s->mu);
    (void)sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
    free(s);
}

static struct hsm *by_id(struct ohsm_sup *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->h[i].id, id) == 0) {
            return &s->h[i];
        }
    }
    return NULL;
}

/* Appends a formatted, owned string to argv at *k. */
__attribute__((format(printf, 4, 5))) static ohsm_rv arg(struct hsm *h, size_t *k, char *buf,
                                                         const char *fmt, ...)
{
    va_list ap;
    OHSM_ENSURE(*k + 1 < MAX_ARGS, OHSM_BUFFER_TOO_SMALL);
    va_start(ap, fmt);
    int n = vsnprintf(buf, PATHLEN, fmt, ap);
    va_end(ap);
    OHSM_ENSURE(n >= 0 && (size_t)n < PATHLEN, OHSM_BUFFER_TOO_SMALL);
    h->argv[*k] = strdup(buf);
    OHSM_ENSURE(h->argv[*k] != NULL, OHSM_HOST_MEMORY);
    (*k)++;
    return OHSM_OK;
}

/* The command line of the spec: openhsm-hsm --db ... --au-password-file ... [--max-sessions N]. */
static ohsm_rv build_argv(const struct ohsm_sup *s, const struct ohsm_sup_hsm *in, struct hsm *h)
{
    char buf[PATHLEN];
    size_t k = 0;
    const char *d = in->hsm_dir;

    OHSM_TRY(arg(h, &k, buf, "%s", s->cfg.hsm_bin));
    OHSM_TRY(arg(h, &k, buf, "--db"));
    OHSM_TRY(arg(h, &k, buf, "%s/hsm.db", d));
    OHSM_TRY(arg(h, &k, buf, "--cert"));
    OHSM_TRY(arg(h, &k, buf, "%s/hsm.crt", d));
    OHSM_TRY(arg(h, &k, buf, "--key"));
    OHSM_TRY(arg(h, &k, buf, "%s/hsm.key", d));
    OHSM_TRY(arg(h, &k, buf, "--listen"));
    OHSM_TRY(arg(h, &k, buf, "127.0.0.1:%u", (unsigned)in->port));
    OHSM_TRY(arg(h, &k, buf, "--hsm-id"));
    OHSM_TRY(arg(h, &k, buf, "%s", in->hsm_id));
    OHSM_TRY(arg(h, &k, buf, "--cluster-id"));
    OHSM_TRY(arg(h, &k, buf, "%s", in->cluster_id));
    OHSM_TRY(arg(h, &k, buf, "--lockout-attempts"));
    OHSM_TRY(arg(h, &k, buf, "%u", (unsigned)in->lockout));
    OHSM_TRY(arg(h, &k, buf, "--au-password-file"));
    OHSM_TRY(arg(h, &k, buf, "%s/app_user.secret", in->cluster_dir));
    OHSM_TRY(arg(h, &k, buf, "--masking-key"));
    OHSM_TRY(arg(h, &k, buf, "%s/masking.key", in->cluster_dir));
    OHSM_TRY(arg(h, &k, buf, "--slot"));
    OHSM_TRY(arg(h, &k, buf, "%u", (unsigned)in->slot));
    if (s->cfg.max_sessions != 0) {
        OHSM_TRY(arg(h, &k, buf, "--max-sessions"));
        OHSM_TRY(arg(h, &k, buf, "%u", (unsigned)s->cfg.max_sessions));
    }
    h->argv[k] = NULL;
    return OHSM_OK;
}

ohsm_rv ohsm_sup_add(struct ohsm_sup *s, const struct ohsm_sup_hsm *in)
{
    char buf[PATHLEN];
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && in != NULL && in->hsm_id != NULL && in->cluster_id != NULL &&
                    in->hsm_dir != NULL && in->cluster_dir != NULL && in->port != 0,
                OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(strlen(in->hsm_id) < OHSM_IDS_MAX, OHSM_ARGUMENTS_BAD);
    (void)pthread_mutex_lock(&s->mu);
    struct hsm *nh = by_id(s, in->hsm_id) == NULL ? realloc(s->h, (s->n + 1) * sizeof(*nh)) : NULL;
    if (nh == NULL) {
        (void)pthread_mutex_unlock(&s->mu);
        return by_id(s, in->hsm_id) != NULL ? OHSM_ARGUMENTS_BAD : OHSM_HOST_MEMORY;
    }
    s->h = nh;
    struct hsm *h = &s->h[s->n];
    memset(h, 0, sizeof(*h));
    h->pid = -1;
    memcpy(h->id, in->hsm_id, strlen(in->hsm_id) + 1);
    h->port = in->port;
    rv = build_argv(s, in, h);
    if (rv == OHSM_OK) {
        rv = ohsm_files_path(buf, sizeof(buf), "%s/hsm.pid", in->hsm_dir);
    }
    if (rv == OHSM_OK) {
        h->pidfile = strdup(buf);
        rv = ohsm_files_path(buf, sizeof(buf), "%s/hsm.log", in->hsm_dir);
    }
    if (rv == OHSM_OK) {
        h->logfile = strdup(buf);
        rv = h->pidfile != NULL && h->logfile != NULL ? OHSM_OK : OHSM_HOST_MEMORY;
    }
    if (rv != OHSM_OK) {
        hsm_clear(h);
    } else {
        s->n++;
    }
    (void)pthread_mutex_unlock(&s->mu);
    return rv;
}

/* In the child, between fork and execv: async-signal-safe calls only. Never returns. */
__attribute__((noreturn)) static void child(const struct ohsm_sup *s, const struct hsm *h,
                                            pid_t parent, int null_fd, int log_fd)
{
    sigset_t none;
    struct sigaction dfl;

    /* openhsmd blocks SIGTERM (it reads it from a signalfd) and ignores SIGPIPE; both would be
     * inherited through execv, and the HSM must see SIGTERM. */
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    (void)sigaction(SIGPIPE, &dfl, NULL);
    (void)setpgid(0, 0);
    /* prctl(2): the parent may die before PR_SET_PDEATHSIG takes effect; check it is still ours. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) {
        _exit(1);
    }
    if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
        dup2(log_fd, STDERR_FILENO) < 0) {
        _exit(1);
    }
    execv(h->argv[0], h->argv);
    ssize_t w = write(STDERR_FILENO, s->exec_fail_msg, strlen(s->exec_fail_msg));
    (void)w;
    _exit(127);
}

/* The spawner thread: forks each requested child, so that every HSM's parent thread is this one
 * (see "Who forks" at the top). */
static void *forker_main(void *arg)
{
    struct ohsm_sup *s = arg;
    (void)pthread_mutex_lock(&s->fork_mu);
    for (;;) {
        while (s->fork_h == NULL && !s->fork_quit) {
            (void)pthread_cond_wait(&s->fork_cv, &s->fork_mu);
        }
        if (s->fork_h == NULL) { /* quit, nothing pending */
            break;
        }
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid == 0) {
            child(s, s->fork_h, parent, s->fork_null_fd, s->fork_log_fd);
        }
        s->fork_errno = pid < 0 ? errno : 0;
        s->fork_pid = pid;
        s->fork_h = NULL;
        s->fork_done = true;
        (void)pthread_cond_broadcast(&s->fork_cv);
    }
    (void)pthread_mutex_unlock(&s->fork_mu);
    return NULL;
}

/* Has the spawner thread fork h with these descriptors for its stdin and stdout+stderr; returns
 * the pid, or -1 with errno set. One request at a time. */
static pid_t fork_on_spawner(struct ohsm_sup *s, const struct hsm *h, int null_fd, int log_fd)
{
    (void)pthread_mutex_lock(&s->fork_mu);
    while (s->fork_h != NULL || s->fork_done) { /* another caller's request or unread result */
        (void)pthread_cond_wait(&s->fork_cv, &s->fork_mu);
    }
    if (s->fork_quit) {
        (void)pthread_mutex_unlock(&s->fork_mu);
        errno = ESHUTDOWN;
        return -1;
    }
    s->fork_h = h;
    s->fork_null_fd = null_fd;
    s->fork_log_fd = log_fd;
    (void)pthread_cond_broadcast(&s->fork_cv);
    while (!s->fork_done) {
        (void)pthread_cond_wait(&s->fork_cv, &s->fork_mu);
    }
    pid_t pid = s->fork_pid;
    int err = s->fork_errno;
    s->fork_done = false;
    (void)pthread_cond_broadcast(&s->fork_cv); /* the slot is free */
    (void)pthread_mutex_unlock(&s->fork_mu);
    errno = err;
    return pid;
}

static void write_pidfile(const struct ohsm_sup *s, const struct hsm *h)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "%ld\n", (long)h->pid);
    if (n < 0 || (size_t)n >= sizeof(text) ||
        ohsm_files_write_atomic(h->pidfile, text, (size_t)n, 0644) != OHSM_OK) {
        fprintf(s->cfg.err, "openhsmd: cannot write %s: %s\n", h->pidfile, strerror(errno));
    }
}

/* Forks and execs one HSM. Errors: OHSM_IO (log file, /dev/null or fork). */
static ohsm_rv spawn(struct ohsm_sup *s, struct hsm *h)
{
    ohsm_rv rv = OHSM_IO;
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int log_fd = open(h->logfile, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);

    if (null_fd < 0 || log_fd < 0) {
        fprintf(s->cfg.err, "openhsmd: %s: cannot open %s: %s\n", h->id,
                log_fd < 0 ? h->logfile : "/dev/null", strerror(errno));
        goto out;
    }
    fflush(s->cfg.out); /* nothing buffered may be written twice by the child */
    fflush(s->cfg.err);
    pid_t pid = fork_on_spawner(s, h, null_fd, log_fd);
    if (pid < 0) {
        fprintf(s->cfg.err, "openhsmd: %s: fork: %s\n", h->id, strerror(errno));
        goto out;
    }
    (void)setpgid(pid, pid); /* also here, so it holds whichever side runs first */
    h->pid = pid;
    h->started_ms = now_ms();
    h->restart_at = 0;
    h->spawned = true;
    write_pidfile(s, h);
    rv = OHSM_OK;
out:
    if (null_fd >= 0) {
        close(null_fd);
    }
    if (log_fd >= 0) {
        close(log_fd);
    }
    return rv;
}

static void loopback(struct sockaddr_in *a, uint16_t port)
{
    memset(a, 0, sizeof(*a));
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->sin_port = htons(port);
}

/* Can we bind the port ourselves? (With SO_REUSEADDR, as the HSM does: only a listener or an
 * active connection on it makes it unavailable.) */
static bool port_free(uint16_t port)
{
    struct sockaddr_in a;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    loopback(&a, port);
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* Does 127.0.0.1:port accept a TCP connection within timeout_ms? */
static bool port_accepts(uint16_t port, int timeout_ms)
{
    struct sockaddr_in a;
    int err = 0;
    socklen_t elen = sizeof(err);
    bool ok = false;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return false;
    }
    loopback(&a, port);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
        ok = true;
    } else if (errno == EINPROGRESS) {
        struct pollfd p = {fd, POLLOUT, 0};
        ok = poll(&p, 1, timeout_ms) == 1 &&
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0;
    }
    close(fd);
    return ok;
}

static void print_tail(const struct ohsm_sup *s, const struct hsm *h)
{
    char tail[2048];
    if (ohsm_files_tail(h->logfile, tail, sizeof(tail)) != OHSM_OK || tail[0] == '\0') {
        fprintf(s->cfg.err, "  (%s is empty or unreadable)\n", h->logfile);
        return;
    }
    fprintf(s->cfg.err, "  last lines of %s:\n", h->logfile);
    for (char *line = tail; *line != '\0';) {
        char *nl = strchr(line, '\n');
        size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);
        fprintf(s->cfg.err, "  | %.*s\n", (int)len, line);
        line += len + (nl != NULL ? 1 : 0);
    }
}

static void describe_exit(int status, char *buf, size_t cap)
{
    int n;
    if (WIFSIGNALED(status)) {
        n = snprintf(buf, cap, "signal %d", WTERMSIG(status));
    } else {
        n = snprintf(buf, cap, "status %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = '\0';
    }
}

static struct hsm *by_pid(struct ohsm_sup *s, pid_t pid)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->h[i].pid == pid) {
            return &s->h[i];
        }
    }
    return NULL;
}

/* What the signalfd says: a stop request, and/or children to reap. */
struct sigs {
    bool stop;
    bool child;
};

/* Drains the signalfd. Returns -1 on a read error other than "nothing more". */
static int read_signals(struct ohsm_sup *s, struct sigs *g)
{
    struct signalfd_siginfo si[8];
    for (;;) {
        ssize_t n = read(s->sfd, si, sizeof(si));
        if (n < 0) {
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        }
        for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++) {
            if (si[i].ssi_signo == SIGCHLD) {
                g->child = true;
            } else {
                g->stop = true;
            }
        }
    }
}

enum reap_mode {
    REAP_RESTART, /* supervising: schedule a restart and say so */
    REAP_REPORT,  /* starting: an exit is a failure; report it with the log tail */
    REAP_QUIET,   /* stopping: exits are expected */
};

/* Reaps every exited child; each HSM that exited gets pid -1 and is handled as mode says.
 * Returns how many HSMs exited. */
static size_t reap(struct ohsm_sup *s, enum reap_mode mode)
{
    size_t exited = 0;
    int status = 0;
    pid_t pid;
    char why[32];

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct hsm *h = by_pid(s, pid);
        if (h == NULL) {
            continue; /* not an HSM (cannot happen: we start no other children) */
        }
        int64_t now = now_ms();
        h->pid = -1;
        exited++;
        describe_exit(status, why, sizeof(why));
        h->paused = false;
        if (h->launching) {
            h->failed = true;
            fprintf(s->cfg.err, "openhsmd: %s exited (%s) while starting on 127.0.0.1:%u\n", h->id,
                    why, (unsigned)h->port);
            print_tail(s, h);
        } else if (h->held) {
            fprintf(s->cfg.out, "openhsmd: %s stopped (%s)\n", h->id, why);
            fflush(s->cfg.out);
        } else if (mode == REAP_RESTART) {
            h->restarts++;
            h->backoff_ms = ohsm_sup_backoff_ms(h->backoff_ms, (uint64_t)(now - h->started_ms));
            h->restart_at = now + h->backoff_ms;
            fprintf(s->cfg.out, "openhsmd: %s exited (%s), restarting in %.1f s\n", h->id, why,
                    h->backoff_ms / 1000.0);
            fflush(s->cfg.out);
        } else if (mode == REAP_REPORT) {
            fprintf(s->cfg.err, "openhsmd: %s exited (%s) while starting on 127.0.0.1:%u\n", h->id,
                    why, (unsigned)h->port);
            print_tail(s, h);
        }
    }
    if (exited > 0) {
        (void)pthread_cond_broadcast(&s->cv);
    }
    return exited;
}

/* Waits up to timeout_ms (-1: forever) for the signalfd; a poll failure other than EINTR is an
 * error. */
static ohsm_rv wait_signals(struct ohsm_sup *s, int timeout_ms, struct sigs *g)
{
    struct pollfd p[2] = {{s->sfd, POLLIN, 0}, {s->wake_fd, POLLIN, 0}};
    uint64_t v;
    if (poll(p, 2, timeout_ms) < 0 && errno != EINTR) {
        return OHSM_IO;
    }
    if (read(s->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN && errno != EINTR) {
        return OHSM_IO;
    }
    return read_signals(s, g) == 0 ? OHSM_OK : OHSM_IO;
}

static void wake(struct ohsm_sup *s)
{
    uint64_t one = 1;
    ssize_t w = write(s->wake_fd, &one, sizeof(one));
    (void)w; /* a full counter already wakes the loop */
}

ohsm_rv ohsm_sup_start(struct ohsm_sup *s, bool *stop_asked)
{
    struct sigs g = {false, false};

    OHSM_ENSURE(s != NULL && stop_asked != NULL, OHSM_ARGUMENTS_BAD);
    *stop_asked = false;
    /* A port someone else listens on would look "ready" while our HSM fails to bind it. */
    for (size_t i = 0; i < s->n; i++) {
        if (!port_free(s->h[i].port)) {
            fprintf(s->cfg.err, "openhsmd: %s: port 127.0.0.1:%u is in use by another process\n",
                    s->h[i].id, (unsigned)s->h[i].port);
            return OHSM_IO;
        }
    }
    for (size_t i = 0; i < s->n; i++) {
        s->h[i].ready = false;
        OHSM_TRY(spawn(s, &s->h[i]));
    }
    const int64_t deadline = now_ms() + s->cfg.ready_ms;
    for (;;) {
        bool all = true;
        for (size_t i = 0; i < s->n; i++) {
            if (!s->h[i].ready) {
                s->h[i].ready = port_accepts(s->h[i].port, 100);
                all = all && s->h[i].ready;
            }
        }
        if (all) {
            return OHSM_OK;
        }
        if (now_ms() >= deadline) {
            for (size_t i = 0; i < s->n; i++) {
                if (!s->h[i].ready) {
                    fprintf(s->cfg.err,
                            "openhsmd: %s did not accept connections on 127.0.0.1:%u within "
                            "%u s\n",
                            s->h[i].id, (unsigned)s->h[i].port, s->cfg.ready_ms / 1000);
                    print_tail(s, &s->h[i]);
                }
            }
            return OHSM_TIMEOUT;
        }
        OHSM_TRY(wait_signals(s, 50, &g));
        if (g.stop) {
            *stop_asked = true;
            return OHSM_OK;
        }
        if (g.child && reap(s, REAP_REPORT) > 0) {
            return OHSM_DEVICE_ERROR;
        }
        g.child = false;
    }
}

/* Restarts every HSM whose time has come; returns the poll timeout until the next one (-1:
 * none scheduled). */
static int restart_due(struct ohsm_sup *s)
{
    int64_t next = -1;
    for (size_t i = 0; i < s->n; i++) {
        struct hsm *h = &s->h[i];
        if (h->pid >= 0 || h->restart_at == 0 || h->held) {
            continue;
        }
        int64_t now = now_ms();
        if (h->restart_at <= now && spawn(s, h) != OHSM_OK) {
            /* Could not even fork: try again later, backing off as for a crash. */
            h->started_ms = now;
            h->backoff_ms = ohsm_sup_backoff_ms(h->backoff_ms, 0);
            h->restart_at = now + h->backoff_ms;
        }
        if (h->pid < 0 && (next < 0 || h->restart_at - now < next)) {
            next = h->restart_at - now;
        }
    }
    return next < 0 ? -1 : (int)(next < 1 ? 1 : next);
}

ohsm_rv ohsm_sup_run(struct ohsm_sup *s)
{
    OHSM_ENSURE(s != NULL, OHSM_ARGUMENTS_BAD);
    for (;;) {
        struct sigs g = {false, false};
        (void)pthread_mutex_lock(&s->mu);
        int timeout = restart_due(s);
        (void)pthread_mutex_unlock(&s->mu);
        OHSM_TRY(wait_signals(s, timeout, &g));
        if (g.child) {
            (void)pthread_mutex_lock(&s->mu);
            (void)reap(s, REAP_RESTART);
            (void)pthread_mutex_unlock(&s->mu);
        }
        if (g.stop) {
            return OHSM_OK;
        }
    }
}

void ohsm_sup_stop(struct ohsm_sup *s)
{
    size_t running = 0;

    if (s == NULL) {
        return;
    }
    (void)pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        s->h[i].restart_at = 0;
        s->h[i].held = true;
        if (s->h[i].pid > 0 && s->h[i].paused) {
            (void)kill(s->h[i].pid, SIGCONT);
        }
        if (s->h[i].pid > 0 && kill(s->h[i].pid, SIGTERM) == 0) {
            running++;
        }
    }
    (void)pthread_mutex_unlock(&s->mu);
    const int64_t deadline = now_ms() + s->cfg.stop_ms;
    while (running > 0) {
        struct sigs g = {false, false};
        int64_t left = deadline - now_ms();
        if (left <= 0 || wait_signals(s, (int)left, &g) != OHSM_OK) {
            break;
        }
        (void)pthread_mutex_lock(&s->mu);
        size_t gone = reap(s, REAP_QUIET);
        (void)pthread_mutex_unlock(&s->mu);
        running = gone < running ? running - gone : 0;
        if (g.stop) {
            break; /* asked again: do not wait any longer */
        }
    }
    for (size_t i = 0; i < s->n; i++) {
        struct hsm *h = &s->h[i];
        if (h->pid > 0) {
            fprintf(s->cfg.err, "openhsmd: %s did not stop, killing it\n", h->id);
            (void)kill(h->pid, SIGKILL);
            while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR) {
            }
            h->pid = -1;
        }
        if (h->spawned) {
            (void)unlink(h->pidfile); /* the process it named is gone */
        }
    }
}

/* ---- changes from other threads (the control plane) ---- */

/* Records (s->mu held) that h's process, reaped outside the main loop, exited with status; an
 * exit while launching is the launch's failure, reported as the loop's reap reports it. */
static void reaped_here(struct ohsm_sup *s, struct hsm *h, int status)
{
    h->pid = -1;
    h->paused = false;
    if (h->launching) {
        char why[32];
        describe_exit(status, why, sizeof(why));
        h->failed = true;
        fprintf(s->cfg.err, "openhsmd: %s exited (%s) while starting on 127.0.0.1:%u\n", h->id, why,
                (unsigned)h->port);
        print_tail(s, h);
    }
    (void)pthread_cond_broadcast(&s->cv);
}

/* Waits (s->mu held) until h's process is reaped or deadline (monotonic ms) passes. The main
 * loop reaps it when it runs; before it runs (openhsmd's first start) nobody else would, so the
 * process is also reaped here, by pid (never another child's status: only this pid's). */
static bool wait_exit(struct ohsm_sup *s, const char *id, int64_t deadline)
{
    for (;;) {
        struct hsm *h = by_id(s, id);
        if (h == NULL || h->pid < 0) {
            return true;
        }
        int status = 0;
        if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
            reaped_here(s, h, status);
            return true;
        }
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            return false;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (left < 50 ? left : 50) * 1000000;
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        (void)pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
}

/* Stops h's process for good (s->mu held): SIGTERM, then SIGKILL after stop_ms. The main loop
 * or wait_exit reaps it, whichever looks first. */
static void stop_one(struct ohsm_sup *s, const char *id)
{
    struct hsm *h = by_id(s, id);
    if (h == NULL) {
        return;
    }
    h->held = true;
    h->restart_at = 0;
    if (h->pid <= 0) {
        return;
    }
    pid_t pid = h->pid;
    if (h->paused) {
        (void)kill(pid, SIGCONT);
    }
    (void)kill(pid, SIGTERM);
    if (!wait_exit(s, id, now_ms() + s->cfg.stop_ms)) {
        fprintf(s->cfg.err, "openhsmd: %s did not stop, killing it\n", id);
        (void)kill(pid, SIGKILL);
        (void)wait_exit(s, id, now_ms() + s->cfg.stop_ms);
    }
    h = by_id(s, id);
    if (h != NULL && h->pid == pid && waitpid(pid, NULL, WNOHANG) == pid) {
        h->pid = -1; /* nobody reaped it (no main loop) */
    }
}

ohsm_rv ohsm_sup_launch(struct ohsm_sup *s, const char *id)
{
    ohsm_rv rv = OHSM_OK;

    OHSM_ENSURE(s != NULL && id != NULL, OHSM_ARGUMENTS_BAD);
    (void)pthread_mutex_lock(&s->mu);
    struct hsm *h = by_id(s, id);
    if (h == NULL) {
        rv = OHSM_ARGUMENTS_BAD;
        goto out;
    }
    h->held = false;
    h->failed = false;
    if (h->pid > 0) {
        goto out; /* already running */
    }
    if (!port_free(h->port)) {
        fprintf(s->cfg.err, "openhsmd: %s: port 127.0.0.1:%u is in use by another process\n",
                h->id, (unsigned)h->port);
        rv = OHSM_IO;
        goto out;
    }
    h->launching = true;
    rv = spawn(s, h);
    if (rv != OHSM_OK) {
        h->launching = false;
        goto out;
    }
    const uint16_t port = h->port;
    const int64_t deadline = now_ms() + s->cfg.ready_ms;
    for (;;) {
        (void)pthread_mutex_unlock(&s->mu);
        bool up = port_accepts(port, 100);
        (void)pthread_mutex_lock(&s->mu);
        h = by_id(s, id);
        if (h == NULL) {
            rv = OHSM_DEVICE_ERROR; /* removed meanwhile */
            goto out;
        }
        if (up && h->pid > 0) {
            h->ready = true;
            break;
        }
        int status = 0;
        if (h->pid > 0 && waitpid(h->pid, &status, WNOHANG) == h->pid) {
            /* Reaped here when no supervision loop runs yet (the first start) or before it
             * looked: the same report as the loop's. */
            reaped_here(s, h, status);
        }
        if (h->failed || h->held) {
            rv = OHSM_DEVICE_ERROR;
            break;
        }
        if (now_ms() >= deadline) {
            fprintf(s->cfg.err, "openhsmd: %s did not accept connections on 127.0.0.1:%u\n", id,
                    (unsigned)port);
            print_tail(s, h);
            stop_one(s, id);
            rv = OHSM_TIMEOUT;
            break;
        }
        (void)wait_exit(s, id, now_ms() + 50);
    }
    h = by_id(s, id);
    if (h != NULL) {
        h->launching = false;
        if (rv != OHSM_OK) {
            h->held = true; /* a failed launch is not retried behind the caller's back */
        }
    }
out:
    (void)pthread_mutex_unlock(&s->mu);
    return rv;
}

ohsm_rv ohsm_sup_hold(struct ohsm_sup *s, const char *id)
{
    OHSM_ENSURE(s != NULL && id != NULL, OHSM_ARGUMENTS_BAD);
    (void)pthread_mutex_lock(&s->mu);
    bool known = by_id(s, id) != NULL;
    stop_one(s, id);
    (void)pthread_mutex_unlock(&s->mu);
    wake(s);
    return known ? OHSM_OK : OHSM_ARGUMENTS_BAD;
}

ohsm_rv ohsm_sup_remove(struct ohsm_sup *s, const char *id)
{
    OHSM_ENSURE(s != NULL && id != NULL, OHSM_ARGUMENTS_BAD);
    (void)pthread_mutex_lock(&s->mu);
    struct hsm *h = by_id(s, id);
    if (h == NULL) {
        (void)pthread_mutex_unlock(&s->mu);
        return OHSM_ARGUMENTS_BAD; /* as the header says of every id call */
    }
    stop_one(s, id);
    h = by_id(s, id);
    if (h != NULL && h->pid < 0) {
        size_t i = (size_t)(h - s->h);
        hsm_clear(h);
        memmove(&s->h[i], &s->h[i + 1], (s->n - i - 1) * sizeof(*h));
        s->n--;
        h = NULL;
    }
    (void)pthread_mutex_unlock(&s->mu);
    wake(s);
    return h == NULL ? OHSM_OK : OHSM_DEVICE_ERROR;
}

/* SIGSTOP / SIGCONT to a running HSM. */
static ohsm_rv signal_one(struct ohsm_sup *s, const char *id, bool pause)
{
    ohsm_rv rv = OHSM_OK;
    OHSM_ENSURE(s != NULL && id != NULL, OHSM_ARGUMENTS_BAD);
    (void)pthread_mutex_lock(&s->mu);
    struct hsm *h = by_id(s, id);
    if (h == NULL) {
        rv = OHSM_ARGUMENTS_BAD;
    } else if (h->pid <= 0) {
        rv = OHSM_DEVICE_ERROR; /* not running */
    } else if (kill(h->pid, pause ? SIGSTOP : SIGCONT) != 0) {
        rv = OHSM_IO;
    } else {
        h->paused = pause;
    }
    (void)pthread_mutex_unlock(&s->mu);
    return rv;
}

ohsm_rv ohsm_sup_pause(struct ohsm_sup *s, const char *id)
{
    return signal_one(s, id, true);
}

ohsm_rv ohsm_sup_resume(struct ohsm_sup *s, const char *id)
{
    return signal_one(s, id, false);
}

ohsm_rv ohsm_sup_status(struct ohsm_sup *s, const char *id, struct ohsm_sup_status *out)
{
    ohsm_rv rv = OHSM_OK;
    OHSM_ENSURE(s != NULL && id != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    (void)pthread_mutex_lock(&s->mu);
    struct hsm *h = by_id(s, id);
    if (h == NULL) {
        rv = OHSM_ARGUMENTS_BAD;
    } else {
        out->running = h->pid > 0;
        out->pid = h->pid;
        out->held = h->held;
        out->paused = h->paused;
        out->restarts = h->restarts;
    }
    (void)pthread_mutex_unlock(&s->mu);
    return rv;
}
