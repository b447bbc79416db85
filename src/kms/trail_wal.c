/* SPDX-License-Identifier: Apache-2.0
 *
 * The audit trail's write-ahead log (trail_wal.h). Trusted: the trail bytes trail.c hands in.
 * Untrusted: the log file's contents at open (every record's length is checked against what is
 * left of the file before it is read, and its digest before it is believed).
 */
#include "kms/trail_wal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#define HDR 64u
#define DIGEST_AT 32u
#define TAIL 64u /* trail bytes a checkpoint keeps */
#define KIND_CKPT 1u
#define KIND_BATCH 2u
#define MAX_SIZE (1u << 30)
/* Trail bytes written before the kernel is asked to start writing them back, so that a
 * checkpoint's fdatasync of the trail finds little left to write. */
#define KICK_BYTES (1u << 20)

struct ohsm_kms_wal {
    int fd;
    size_t size;
    size_t pos;   /* where the next record goes */
    uint64_t gen; /* generation of the checkpoint at 0 */
    uint64_t checkpoints;
    uint64_t kicked; /* trail offset up to which writeback was started */
};

struct rec {
    unsigned kind;
    uint32_t len;
    uint64_t gen;
    uint64_t off;
    const uint8_t *payload;
};

static void put32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < 4; i++) {
        v |= (uint32_t)p[i] << (8 * i);
    }
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static size_t rec_size(size_t len)
{
    return (HDR + len + 7u) & ~(size_t)7u;
}

/* SHA-256 of hdr[0, DIGEST_AT) || payload. */
static bool digest(const uint8_t *hdr, const void *payload, size_t len, uint8_t out[32])
{
    unsigned n = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(md, hdr, DIGEST_AT) == 1 &&
              EVP_DigestUpdate(md, payload, len) == 1 && EVP_DigestFinal_ex(md, out, &n) == 1 &&
              n == 32;
    EVP_MD_CTX_free(md);
    return ok;
}

/* Builds a record in out (rec_size(len) bytes, zeroed by the caller). */
static bool build(uint8_t *out, unsigned kind, uint64_t gen, uint64_t off, const void *payload,
                  size_t len)
{
    memcpy(out, "OTWL", 4);
    out[4] = (uint8_t)kind;
    put32(out + 8, (uint32_t)len);
    put64(out + 16, gen);
    put64(out + 24, off);
    memcpy(out + HDR, payload, len);
    return digest(out, payload, len, out + DIGEST_AT);
}

/* Parses the record at pos of log (size bytes); false if there is none (zeros, torn, altered). */
static bool parse(const uint8_t *log, size_t size, size_t pos, struct rec *r)
{
    uint8_t d[32];
    if (pos > size || size - pos < HDR) {
        return false;
    }
    const uint8_t *h = log + pos;
    if (memcmp(h, "OTWL", 4) != 0 || (h[4] != KIND_CKPT && h[4] != KIND_BATCH) || h[5] != 0 ||
        h[6] != 0 || h[7] != 0) {
        return false;
    }
    r->kind = h[4];
    r->len = get32(h + 8);
    r->gen = get64(h + 16);
    r->off = get64(h + 24);
    if (r->len > size - pos - HDR) {
        return false;
    }
    r->payload = h + HDR;
    return digest(h, r->payload, r->len, d) && memcmp(d, h + DIGEST_AT, 32) == 0;
}

/* pwrite or pread of all len bytes at off, through short transfers and EINTR. */
static ohsm_rv transfer_all(int fd, uint8_t *p, size_t len, uint64_t off, bool write)
{
    while (len > 0) {
        ssize_t n = write ? pwrite(fd, p, len, (off_t)off) : pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return OHSM_IO;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return OHSM_OK;
}

static ohsm_rv pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    return transfer_all(fd, (uint8_t *)(uintptr_t)buf, len, off, true);
}

static ohsm_rv pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    return transfer_all(fd, buf, len, off, false);
}

/* Writes size zero bytes from offset 0 and syncs them. */
static ohsm_rv zero_fill(int fd, size_t size)
{
    static const uint8_t zeros[65536];
    OHSM_ENSURE(ftruncate(fd, 0) == 0, OHSM_IO);
    for (size_t off = 0; off < size; off += sizeof(zeros)) {
        size_t n = size - off < sizeof(zeros) ? size - off : sizeof(zeros);
        OHSM_TRY(pwrite_all(fd, zeros, n, off));
    }
    OHSM_ENSURE(fsync(fd) == 0, OHSM_IO);
    return OHSM_OK;
}

/* Replays log (size bytes) into the trail. */
static ohsm_rv replay(struct ohsm_kms_wal *w, const uint8_t *log, int trail_fd,
                      const char *trail_path)
{
    struct rec c;
    struct stat st;
    uint8_t tail[TAIL];

    if (!parse(log, w->size, 0, &c) || c.kind != KIND_CKPT) {
        bool zeros = true;
        for (size_t i = 0; i < HDR && zeros; i++) {
            zeros = log[i] == 0;
        }
        if (!zeros) {
            fprintf(stderr,
                    "openhsmd: %s: its write-ahead log has no valid checkpoint: nothing "
                    "replayed\n",
                    trail_path);
        }
        return OHSM_OK;
    }
    w->gen = c.gen;
    OHSM_ENSURE(fstat(trail_fd, &st) == 0 && st.st_size >= 0, OHSM_IO);
    const uint64_t have = (uint64_t)st.st_size;
    const size_t k = c.off < TAIL ? (size_t)c.off : TAIL;
    if (c.len != TAIL || have < c.off ||
        (k > 0 && (pread_all(trail_fd, tail, k, c.off - k) != OHSM_OK ||
                   memcmp(tail, c.payload + TAIL - k, k) != 0))) {
        fprintf(stderr,
                "openhsmd: %s: its write-ahead log belongs to another trail (or the trail "
                "was cut): nothing replayed\n",
                trail_path);
        return OHSM_OK;
    }
    uint64_t end = c.off;
    size_t n = 0;
    size_t pos = rec_size(c.len);
    bool lost = false; /* the trail lacked what a record holds: the OS lost unsynced writes */
    struct rec r;
    while (parse(log, w->size, pos, &r) && r.kind == KIND_BATCH && r.gen == c.gen && r.off == end &&
           r.len > 0) {
        bool same = false;
        if (r.off + r.len <= have) {
            uint8_t *cur = malloc(r.len);
            OHSM_ENSURE(cur != NULL, OHSM_HOST_MEMORY);
            same = pread_all(trail_fd, cur, r.len, r.off) == OHSM_OK &&
                   memcmp(cur, r.payload, r.len) == 0;
            free(cur);
        }
        if (!same) {
            OHSM_TRY(pwrite_all(trail_fd, r.payload, r.len, r.off));
            lost = true;
            n++;
        }
        end += r.len;
        pos += rec_size(r.len);
    }
    /* Past the run: lines written and never acknowledged. After a process crash they are intact
     * and stay (as a line written but not yet synced always could); after the OS lost writes
     * they may be holes or stale blocks, so they go. Trail lines never hold a NUL byte. */
    bool cut = false;
    if (have > end) {
        cut = lost;
        uint8_t block[4096];
        for (uint64_t at = end; at < have && !cut;) {
            size_t m = have - at < sizeof(block) ? (size_t)(have - at) : sizeof(block);
            OHSM_TRY(pread_all(trail_fd, block, m, at));
            cut = memchr(block, 0, m) != NULL;
            at += m;
        }
    }
    if (cut) {
        fprintf(stderr,
                "openhsmd: %s: dropping %llu bytes after the last acknowledged line (lost by a "
                "crash)\n",
                trail_path, (unsigned long long)(have - end));
        OHSM_ENSURE(ftruncate(trail_fd, (off_t)end) == 0, OHSM_IO);
    }
    if (n > 0) {
        fprintf(stderr, "openhsmd: %s: restored %zu batches from its write-ahead log\n", trail_path,
                n);
    }
    if (n > 0 || cut) {
        OHSM_ENSURE(fsync(trail_fd) == 0, OHSM_IO);
    }
    return OHSM_OK;
}

/* fsync of the directory holding path, so that a file just created there survives a crash. */
static ohsm_rv sync_dir(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t len = slash == NULL ? 1 : (slash == path ? 1 : (size_t)(slash - path));
    OHSM_ENSURE(len < sizeof(dir), OHSM_IO);
    memcpy(dir, slash == NULL ? "." : path, len);
    dir[len] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    OHSM_ENSURE(fd >= 0, OHSM_IO);
    int r = fsync(fd);
    close(fd);
    return r == 0 ? OHSM_OK : OHSM_IO;
}

ohsm_rv ohsm_kms_wal_open(const char *wal_path, int trail_fd, const char *trail_path, size_t size,
                          struct ohsm_kms_wal **out)
{
    struct stat st;
    OHSM_ENSURE(wal_path != NULL && trail_path != NULL && out != NULL && trail_fd >= 0,
                OHSM_ARGUMENTS_BAD);
    size = size == 0 ? OHSM_KMS_WAL_SIZE : size;
    OHSM_ENSURE(size >= OHSM_KMS_WAL_MIN_SIZE && size <= MAX_SIZE && size % 8 == 0,
                OHSM_ARGUMENTS_BAD);
    *out = NULL;
    struct ohsm_kms_wal *w = calloc(1, sizeof(*w));
    OHSM_ENSURE(w != NULL, OHSM_HOST_MEMORY);
    w->size = size;
    ohsm_rv rv = OHSM_IO;
    uint8_t *log = NULL;
    w->fd = open(wal_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (w->fd < 0 || fstat(w->fd, &st) != 0) {
        goto out;
    }
    if ((uint64_t)st.st_size != size) {
        if (st.st_size != 0) {
            fprintf(stderr, "openhsmd: %s: its write-ahead log has the wrong size: made anew\n",
                    trail_path);
        }
        rv = zero_fill(w->fd, size);
        if (rv == OHSM_OK) {
            rv = sync_dir(wal_path);
        }
        goto out; /* nothing to replay */
    }
    rv = OHSM_HOST_MEMORY;
    log = malloc(size);
    if (log == NULL) {
        goto out;
    }
    rv = pread_all(w->fd, log, size, 0);
    if (rv == OHSM_OK) {
        rv = replay(w, log, trail_fd, trail_path);
    }
    if (rv == OHSM_OK && w->gen == 0) {
        /* No valid checkpoint: start from a clean log, so no record of an older life can ever
         * be taken for one of the generations to come. */
        rv = zero_fill(w->fd, size);
    }
out:
    free(log);
    if (rv != OHSM_OK) {
        ohsm_kms_wal_close(w);
        return rv;
    }
    *out = w;
    return OHSM_OK;
}

ohsm_rv ohsm_kms_wal_checkpoint(struct ohsm_kms_wal *w, int trail_fd, uint64_t end)
{
    uint8_t tail[TAIL] = {0};
    uint8_t rec[HDR + TAIL] = {0};
    OHSM_ENSURE(w != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(fdatasync(trail_fd) == 0, OHSM_IO);
    const size_t k = end < TAIL ? (size_t)end : TAIL;
    if (k > 0) {
        OHSM_TRY(pread_all(trail_fd, tail + TAIL - k, k, end - k));
    }
    OHSM_ENSURE(build(rec, KIND_CKPT, w->gen + 1, end, tail, TAIL), OHSM_DEVICE_ERROR);
    OHSM_TRY(pwrite_all(w->fd, rec, sizeof(rec), 0));
    OHSM_ENSURE(fdatasync(w->fd) == 0, OHSM_IO);
    w->gen++;
    w->pos = rec_size(TAIL);
    w->checkpoints++;
    w->kicked = end;
    return OHSM_OK;
}

ohsm_rv ohsm_kms_wal_append(struct ohsm_kms_wal *w, int trail_fd, uint64_t off, const void *buf,
                            size_t len)
{
    OHSM_ENSURE(w != NULL && buf != NULL && len > 0 && len <= UINT32_MAX, OHSM_ARGUMENTS_BAD);
    const size_t need = rec_size(len);
    if (need > w->size - w->pos) {
        return ohsm_kms_wal_checkpoint(w, trail_fd, off + len);
    }
    uint8_t *rec = calloc(1, need);
    OHSM_ENSURE(rec != NULL, OHSM_HOST_MEMORY);
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    if (build(rec, KIND_BATCH, w->gen, off, buf, len)) {
        rv = pwrite_all(w->fd, rec, need, w->pos);
    }
    free(rec);
    OHSM_TRY(rv);
    OHSM_ENSURE(fdatasync(w->fd) == 0, OHSM_IO);
    w->pos += need;
    /* Start writing the trail back now, without waiting, so the next checkpoint is quick. */
    if (off + len - w->kicked >= KICK_BYTES) {
        (void)sync_file_range(trail_fd, (off_t)w->kicked, (off_t)(off + len - w->kicked),
                              SYNC_FILE_RANGE_WRITE);
        w->kicked = off + len;
    }
    return OHSM_OK;
}

uint64_t ohsm_kms_wal_checkpoints(const struct ohsm_kms_wal *w)
{
    return w != NULL ? w->checkpoints : 0;
}

void ohsm_kms_wal_close(struct ohsm_kms_wal *w)
{
    if (w == NULL) {
        return;
    }
    if (w->fd >= 0) {
        close(w->fd);
    }
    free(w);
}
