/* SPDX-License-Identifier: Apache-2.0
 *
 * The HSM's audit log file (see auditlog.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/hex.h"
#include "hsm/auditlog.h"

/* A log larger than this is not read whole at start (only its last line, for the chain). */
#define AUDIT_CHECK_MAX (256u * 1024u * 1024u)

struct ohsm_auditlog {
    pthread_mutex_t mu; /* the file's end: seq, last, writes */
    int fd;
    uint32_t reboot;
    uint64_t seq;                      /* the next record's */
    uint8_t last[OHSM_AUDIT_HASH_LEN]; /* the last line's hash */
    uint64_t written;                  /* records written since open */
    pthread_mutex_t sync_mu;           /* one fdatasync at a time */
    atomic_uint_fast64_t synced;       /* records known to be on disk */
    atomic_bool broken;
};

static uint64_t wall_us(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
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

/* Reads the whole file (at most AUDIT_CHECK_MAX bytes); *buf is malloc'd. */
static ohsm_rv read_file(int fd, char **buf, size_t *len)
{
    struct stat st;
    *buf = NULL;
    *len = 0;
    OHSM_ENSURE(fstat(fd, &st) == 0 && S_ISREG(st.st_mode), OHSM_IO);
    OHSM_ENSURE((uint64_t)st.st_size <= AUDIT_CHECK_MAX, OHSM_IO);
    size_t n = (size_t)st.st_size;
    char *p = malloc(n + 1);
    OHSM_ENSURE(p != NULL, OHSM_HOST_MEMORY);
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, p + got, n - got, (off_t)got);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            free(p);
            return OHSM_IO;
        }
        got += (size_t)k;
    }
    *buf = p;
    *len = n;
    return OHSM_OK;
}

/* The hash stored at the end of a record line (without '\n'), if it has one. */
static bool line_hash_field(const char *p, size_t n, uint8_t h[OHSM_AUDIT_HASH_LEN])
{
    const size_t hl = 2 * OHSM_AUDIT_HASH_LEN;
    if (n < hl + 2 || memcmp(p + n - 2, "\"}", 2) != 0) {
        return false;
    }
    const char *x = p + n - 2 - hl;
    for (size_t i = 0; i < OHSM_AUDIT_HASH_LEN; i++) {
        int hi = ohsm_hex_digit(x[2 * i]);
        int lo = ohsm_hex_digit(x[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        h[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* Brings a's chain to the end of the existing log: checks it, cuts a torn last line, and takes
 * the last line's hash. */
static ohsm_rv resume(struct ohsm_auditlog *a, const char *path, const char *hsm_id)
{
    char *buf = NULL;
    size_t len = 0;
    OHSM_TRY(read_file(a->fd, &buf, &len));
    struct ohsm_audit_verdict v;
    ohsm_rv rv = ohsm_audit_verify(buf, len, hsm_id, &v);
    if (rv != OHSM_OK) {
        free(buf);
        return rv;
    }
    memcpy(a->last, v.last, sizeof(a->last));
    size_t end = len;
    while (end > 0 && buf[end - 1] != '\n') {
        end--; /* a torn last line: its write never finished, nor was it acknowledged */
    }
    if (end < len) {
        fprintf(stderr, "openhsm-hsm: audit log %s: cutting a torn last line (%zu bytes)\n", path,
                len - end);
        if (ftruncate(a->fd, (off_t)end) != 0 || fdatasync(a->fd) != 0) {
            free(buf);
            return OHSM_IO;
        }
    }
    if (!v.ok && !v.torn) {
        fprintf(stderr, "openhsm-hsm: audit log %s: line %llu: %s\n", path,
                (unsigned long long)v.line, v.reason);
        /* Chain on from the last complete line as it stands: the break stays visible. */
        size_t start = end > 0 ? end - 1 : 0;
        while (start > 0 && buf[start - 1] != '\n') {
            start--;
        }
        if (end > 0 && !line_hash_field(buf + start, end - 1 - start, a->last)) {
            ohsm_audit_genesis(hsm_id, a->last);
        }
    }
    free(buf);
    return OHSM_OK;
}

ohsm_rv ohsm_auditlog_open(const char *path, const char *hsm_id, uint32_t reboot,
                           struct ohsm_auditlog **out)
{
    OHSM_ENSURE(path != NULL && hsm_id != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    *out = NULL;
    struct ohsm_auditlog *a = calloc(1, sizeof(*a));
    OHSM_ENSURE(a != NULL, OHSM_HOST_MEMORY);
    a->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (a->fd < 0) {
        free(a);
        return OHSM_IO;
    }
    if (pthread_mutex_init(&a->mu, NULL) != 0) {
        close(a->fd);
        free(a);
        return OHSM_HOST_MEMORY;
    }
    if (pthread_mutex_init(&a->sync_mu, NULL) != 0) {
        pthread_mutex_destroy(&a->mu);
        close(a->fd);
        free(a);
        return OHSM_HOST_MEMORY;
    }
    a->reboot = reboot;
    ohsm_rv rv = resume(a, path, hsm_id);
    if (rv != OHSM_OK) {
        ohsm_auditlog_free(a);
        return rv;
    }
    *out = a;
    return OHSM_OK;
}

void ohsm_auditlog_free(struct ohsm_auditlog *a)
{
    if (a == NULL) {
        return;
    }
    if (a->fd >= 0) {
        (void)fdatasync(a->fd);
        close(a->fd);
    }
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->sync_mu);
    free(a);
}

bool ohsm_auditlog_broken(struct ohsm_auditlog *a)
{
    return a != NULL && atomic_load(&a->broken);
}

ohsm_rv ohsm_auditlog_append(struct ohsm_auditlog *a, struct ohsm_audit_rec *r, bool durable)
{
    char line[OHSM_AUDIT_LINE_MAX];
    size_t n = 0;
    uint8_t next[OHSM_AUDIT_HASH_LEN];

    OHSM_ENSURE(a != NULL && r != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(!atomic_load(&a->broken), OHSM_IO);
    (void)pthread_mutex_lock(&a->mu);
    r->reboot = a->reboot;
    r->seq = a->seq;
    r->time_us = wall_us();
    ohsm_rv rv = ohsm_audit_format(r, a->last, line, sizeof(line), &n, next);
    if (rv == OHSM_OK && !write_all(a->fd, line, n)) {
        rv = OHSM_IO;
        atomic_store(&a->broken, true); /* a partial line may be on disk: no more appends */
    }
    uint64_t mine = 0;
    if (rv == OHSM_OK) {
        memcpy(a->last, next, sizeof(a->last));
        a->seq++;
        mine = ++a->written;
    }
    (void)pthread_mutex_unlock(&a->mu);
    if (rv != OHSM_OK || !durable) {
        return rv;
    }
    /* Group commit: whoever syncs covers every record written before its fdatasync. */
    if (atomic_load(&a->synced) >= mine) {
        return OHSM_OK;
    }
    (void)pthread_mutex_lock(&a->sync_mu);
    if (atomic_load(&a->synced) < mine) {
        (void)pthread_mutex_lock(&a->mu);
        uint64_t upto = a->written;
        (void)pthread_mutex_unlock(&a->mu);
        if (fdatasync(a->fd) != 0) {
            atomic_store(&a->broken, true);
            rv = OHSM_IO;
        } else {
            atomic_store(&a->synced, upto);
        }
    }
    (void)pthread_mutex_unlock(&a->sync_mu);
    return rv;
}
