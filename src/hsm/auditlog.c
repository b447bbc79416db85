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

/* At start only the log's tail is read: a torn line and the last whole one fit in it. */
#define TAIL_READ (4u * OHSM_AUDIT_LINE_MAX)
/* Records that need not be durable wait in memory for at most this long (or until a durable one,
 * or BUF_CAP bytes, or the next ohsm_auditlog_flush_due), so a session key's generation and
 * deletion cost no write(2) of their own. */
#define FLUSH_MS 100
#define BUF_CAP (64u * 1024u)

struct ohsm_auditlog {
    pthread_mutex_t mu; /* the file's end: seq, last, buf, writes */
    int fd;
    uint32_t reboot;
    uint64_t seq;                      /* the next record's */
    uint8_t last[OHSM_AUDIT_HASH_LEN]; /* the last line's hash */
    uint64_t written;                  /* records written since open */
    uint64_t appended;                 /* records appended (written, or waiting in buf) */
    char *buf;                         /* records not written yet, in order */
    size_t blen;
    uint64_t buf_first_ms;       /* when the oldest of them was appended */
    pthread_mutex_t sync_mu;     /* one fdatasync at a time */
    atomic_uint_fast64_t synced; /* records known to be on disk */
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

/* Reads up to cap bytes that end at the file's end: *off gets where they start. */
static ohsm_rv read_tail(int fd, char *buf, size_t cap, size_t *len, uint64_t *off)
{
    struct stat st;
    OHSM_ENSURE(fstat(fd, &st) == 0 && S_ISREG(st.st_mode), OHSM_IO);
    uint64_t size = (uint64_t)st.st_size;
    *off = size > cap ? size - cap : 0;
    size_t n = (size_t)(size - *off), got = 0;
    while (got < n) {
        ssize_t k = pread(fd, buf + got, n - got, (off_t)(*off + got));
        if (k < 0 && errno == EINTR) {
            continue;
        }
        OHSM_ENSURE(k > 0, OHSM_IO);
        got += (size_t)k;
    }
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

/* Brings a's chain to the end of the existing log, whatever its size, reading only its tail: a
 * torn last line (a write that never finished, never acknowledged) is cut off, and new records
 * chain to the hash the last line states. The whole chain is `openhsmd audit verify`'s to check:
 * a break stays where it is, and the records after it still chain to each other. */
static ohsm_rv resume(struct ohsm_auditlog *a, const char *path, const char *hsm_id)
{
    char buf[TAIL_READ];
    size_t len = 0;
    uint64_t off = 0;
    ohsm_audit_genesis(hsm_id, a->last);
    OHSM_TRY(read_tail(a->fd, buf, sizeof(buf), &len, &off));
    size_t end = len;
    while (end > 0 && buf[end - 1] != '\n') {
        end--;
    }
    if (end < len && (end > 0 || off == 0)) {
        fprintf(stderr, "openhsm-hsm: audit log %s: cutting a torn last line (%zu bytes)\n", path,
                len - end);
        OHSM_ENSURE(ftruncate(a->fd, (off_t)(off + end)) == 0 && fdatasync(a->fd) == 0, OHSM_IO);
    } else if (end < len) {
        fprintf(stderr, "openhsm-hsm: audit log %s: its end is not a record\n", path);
        return OHSM_IO;
    }
    if (end == 0) {
        return OHSM_OK; /* empty (or only a torn line): the chain starts afresh */
    }
    size_t start = end - 1;
    while (start > 0 && buf[start - 1] != '\n') {
        start--;
    }
    if ((start == 0 && off > 0) || !line_hash_field(buf + start, end - 1 - start, a->last)) {
        /* Not a record: new records chain to the genesis, and verify names the break. */
        fprintf(stderr, "openhsm-hsm: audit log %s: its last line is not a record\n", path);
        ohsm_audit_genesis(hsm_id, a->last);
    }
    return OHSM_OK;
}

ohsm_rv ohsm_auditlog_open(const char *path, const char *hsm_id, uint32_t reboot,
                           struct ohsm_auditlog **out)
{
    OHSM_ENSURE(path != NULL && hsm_id != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    *out = NULL;
    struct ohsm_auditlog *a = calloc(1, sizeof(*a));
    OHSM_ENSURE(a != NULL, OHSM_HOST_MEMORY);
    a->buf = malloc(BUF_CAP);
    if (a->buf == NULL) {
        free(a);
        return OHSM_HOST_MEMORY;
    }
    a->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (a->fd < 0) {
        free(a->buf);
        free(a);
        return OHSM_IO;
    }
    if (pthread_mutex_init(&a->mu, NULL) != 0) {
        close(a->fd);
        free(a->buf);
        free(a);
        return OHSM_HOST_MEMORY;
    }
    if (pthread_mutex_init(&a->sync_mu, NULL) != 0) {
        pthread_mutex_destroy(&a->mu);
        close(a->fd);
        free(a->buf);
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

/* Writes the buffered records (a->mu held). A failed write breaks the log. */
static ohsm_rv flush_locked(struct ohsm_auditlog *a)
{
    if (a->blen == 0) {
        return OHSM_OK;
    }
    bool ok = write_all(a->fd, a->buf, a->blen);
    a->blen = 0;
    if (!ok) {
        atomic_store(&a->broken, true); /* a partial line may be on disk: no more appends */
        return OHSM_IO;
    }
    a->written = a->appended;
    return OHSM_OK;
}

void ohsm_auditlog_flush(struct ohsm_auditlog *a)
{
    if (a == NULL) {
        return;
    }
    (void)pthread_mutex_lock(&a->mu);
    (void)flush_locked(a);
    (void)pthread_mutex_unlock(&a->mu);
}

void ohsm_auditlog_flush_due(struct ohsm_auditlog *a)
{
    if (a == NULL) {
        return;
    }
    (void)pthread_mutex_lock(&a->mu);
    uint64_t now = wall_us() / 1000u;
    if (a->blen > 0 && (now < a->buf_first_ms || now - a->buf_first_ms >= FLUSH_MS)) {
        (void)flush_locked(a);
    }
    (void)pthread_mutex_unlock(&a->mu);
}

void ohsm_auditlog_free(struct ohsm_auditlog *a)
{
    if (a == NULL) {
        return;
    }
    ohsm_auditlog_flush(a);
    if (a->fd >= 0) {
        (void)fdatasync(a->fd);
        close(a->fd);
    }
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->sync_mu);
    free(a->buf);
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
    if (rv == OHSM_OK && a->blen + n > BUF_CAP) {
        rv = flush_locked(a);
    }
    uint64_t mine = 0;
    if (rv == OHSM_OK) {
        uint64_t now = r->time_us / 1000u; /* the record's own clock reading, in ms */
        if (a->blen == 0) {
            a->buf_first_ms = now;
        }
        memcpy(a->buf + a->blen, line, n);
        a->blen += n;
        memcpy(a->last, next, sizeof(a->last));
        a->seq++;
        mine = ++a->appended;
        if (durable || now < a->buf_first_ms || now - a->buf_first_ms >= FLUSH_MS) {
            rv = flush_locked(a); /* this record and every one buffered before it */
        }
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
