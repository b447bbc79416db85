/* SPDX-License-Identifier: Apache-2.0
 *
 * Fuzz target for the audit trail's write-ahead log replay (src/kms/trail_wal.c, through
 * trail.c's open). The input describes a trail and a 4 KiB log:
 *   byte 0: how the log is made: bit 0 raw (the log is the next 4096 input bytes as they are)
 *           else built from record specs with valid digests, so the fuzzer reaches the replay
 *           rules (generations, offsets, runs) rather than stopping at the digest;
 *   bytes 1-2: the trail's length L (LE, capped at what is left), then L trail bytes;
 *   then, when built: specs of kind (1 byte), generation (1), offset delta (1, signed, added
 *   to where the last record ended), payload length (1) and the payload.
 * Properties: open answers OK or OHSM_DATA_INVALID (a trail whose last line is not ours), never
 * crashes or leaks; a log without a valid checkpoint at 0 leaves the trail's bytes as they were
 * (but for a torn last line); after a successful open, one append and a close, verify answers OK
 * or OHSM_DATA_INVALID and the log is 4096 bytes again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "kms/trail.h"
#include "kms/trail_test.h"

#define LOG 4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char path[128];
static char wal[128];

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

static void cleanup(void)
{
    unlink(path);
    unlink(wal);
    rmdir(dir);
}

static void setup(void)
{
    if (dir[0] != '\0') {
        return;
    }
    struct stat st;
    strcpy(dir, stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm/ohsm-fuzz-wal-XXXXXX"
                                                                  : "/tmp/ohsm-fuzz-wal-XXXXXX");
    check(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/trail.jsonl", dir);
    snprintf(wal, sizeof(wal), "%s/trail.wal", dir);
    check(atexit(cleanup) == 0);
}

static void put(const char *p, const uint8_t *bytes, size_t n)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    check(fd >= 0);
    check(n == 0 || write(fd, bytes, n) == (ssize_t)n);
    close(fd);
}

static uint8_t *slurp(const char *p, size_t *n)
{
    struct stat st;
    check(stat(p, &st) == 0);
    uint8_t *b = malloc((size_t)st.st_size + 1);
    check(b != NULL);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    check(fd >= 0 && read(fd, b, (size_t)st.st_size) == st.st_size);
    close(fd);
    *n = (size_t)st.st_size;
    return b;
}

static void le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* One record as trail_wal.h describes it, at *pos of log; false when it does not fit. */
static bool emit(uint8_t *log, size_t *pos, unsigned kind, uint64_t gen, uint64_t off,
                 const uint8_t *payload, size_t len)
{
    size_t need = (64 + len + 7) & ~(size_t)7;
    if (need > LOG - *pos) {
        return false;
    }
    uint8_t *h = log + *pos;
    memset(h, 0, need);
    memcpy(h, "OTWL", 4);
    h[4] = (uint8_t)kind;
    le(h + 8, len, 4);
    le(h + 16, gen, 8);
    le(h + 24, off, 8);
    memcpy(h + 64, payload, len);
    unsigned n = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    check(md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
          EVP_DigestUpdate(md, h, 32) == 1 && EVP_DigestUpdate(md, payload, len) == 1 &&
          EVP_DigestFinal_ex(md, h + 32, &n) == 1);
    EVP_MD_CTX_free(md);
    *pos += need;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t log[LOG];
    if (size < 3 || size > 65536) {
        return 0;
    }
    setup();
    const bool raw = (data[0] & 1) != 0;
    size_t tlen = (size_t)data[1] | (size_t)data[2] << 8;
    const uint8_t *p = data + 3;
    size_t left = size - 3;
    tlen = tlen < left ? tlen : left;
    const uint8_t *trail = p;
    p += tlen;
    left -= tlen;

    memset(log, 0, sizeof(log));
    bool ckpt_first = false;
    if (raw) {
        memcpy(log, p, left < LOG ? left : LOG);
        ckpt_first = true; /* may be anything: no claim about the trail */
    } else {
        size_t pos = 0;
        uint64_t end = 0;
        while (left >= 4) {
            unsigned kind = p[0] % 3; /* 0 is no kind of ours */
            uint64_t gen = p[1] % 4;
            int8_t delta = (int8_t)p[2];
            size_t len = p[3];
            p += 4;
            left -= 4;
            len = len < left ? len : left;
            uint64_t off = (uint64_t)((int64_t)end + delta);
            off = off > 1u << 20 ? 0 : off;
            if (pos == 0 && kind == 1) {
                ckpt_first = true;
            }
            if (!emit(log, &pos, kind, gen, off, p, len)) {
                break;
            }
            end = off + (kind == 2 ? len : 0);
            p += len;
            left -= len;
        }
    }
    size_t keep = tlen; /* the trail without a torn last line */
    while (keep > 0 && trail[keep - 1] != '\n') {
        keep--;
    }
    put(path, trail, tlen);
    put(wal, log, LOG);

    struct ohsm_kms_trail *t = NULL;
    ohsm_rv rv = ohsm_kms_trail_test_open_sized(path, LOG, &t);
    check(rv == OHSM_OK || rv == OHSM_DATA_INVALID);
    if (!ckpt_first) {
        size_t n = 0;
        uint8_t *now = slurp(path, &n);
        check(n == keep && memcmp(now, trail, keep) == 0);
        free(now);
    }
    if (rv != OHSM_OK) {
        return 0;
    }
    struct ohsm_kms_event e = {.name = "Encrypt",
                               .time_ms = 1796583600000LL,
                               .region = "us-east-1",
                               .account = "111122223333",
                               .access_key_id = "AKIAIOSFODNN7EXAMPLE",
                               .request_id = "fuzz"};
    check(ohsm_kms_trail_record(t, &e) == OHSM_OK);
    ohsm_kms_trail_close(t);
    size_t n = 0;
    ohsm_rv vr = ohsm_kms_trail_verify(path, &n, NULL, NULL, 0);
    check(vr == OHSM_OK || vr == OHSM_DATA_INVALID);
    struct stat st;
    check(stat(wal, &st) == 0 && st.st_size == LOG);
    return 0;
}
