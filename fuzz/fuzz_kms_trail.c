/* SPDX-License-Identifier: Apache-2.0
 *
 * Fuzz target for the KMS audit trail's readers (src/kms/trail.c, src/kms/events.c): the input is
 * written as DIR/kms/trail.jsonl and
 *   - verify answers OK (every line ends with a newline and chains) or OHSM_DATA_INVALID with
 *     bad_line = good lines + 1 and a reason; never anything else;
 *   - open agrees with verify of the input without its torn tail T: if T verifies, open succeeds;
 *     if open refuses, T does not verify; either way the file is left as T (only a torn tail is
 *     ever dropped);
 *   - after a successful open and one append, verify gives T's count + 1 when T verified, else
 *     the same first bad line as T;
 *   - `openhsmd events` lists, filters and verifies the file without crashing.
 * Run with -close_fd_mask=1 to silence the listed events (stdout).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kms/trail.h"
#include "kms/trail_test.h"

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
    char kms[96];
    snprintf(kms, sizeof(kms), "%s/kms", dir);
    unlink(path);
    unlink(wal);
    rmdir(kms);
    rmdir(dir);
}

static void setup(void)
{
    if (dir[0] != '\0') {
        return;
    }
    /* tmpfs when there is one: every open and append fsyncs. */
    struct stat st;
    strcpy(dir, stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode)
                    ? "/dev/shm/ohsm-fuzz-trail-XXXXXX"
                    : "/tmp/ohsm-fuzz-trail-XXXXXX");
    check(mkdtemp(dir) != NULL);
    char kms[96];
    snprintf(kms, sizeof(kms), "%s/kms", dir);
    check(mkdir(kms, 0700) == 0);
    snprintf(path, sizeof(path), "%s/trail.jsonl", kms);
    snprintf(wal, sizeof(wal), "%s/trail.wal", kms);
    check(atexit(cleanup) == 0);
}

static void put_file(const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    check(fd >= 0);
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        check(n > 0);
        off += (size_t)n;
    }
    close(fd);
}

static off_t size_of(void)
{
    struct stat st;
    check(stat(path, &st) == 0);
    return st.st_size;
}

struct result {
    ohsm_rv rv;
    size_t n;
    size_t bad;
};

static struct result verify(void)
{
    struct result r;
    char why[128];
    memset(why, 'X', sizeof(why));
    r.rv = ohsm_kms_trail_verify(path, &r.n, &r.bad, why, sizeof(why));
    check(r.rv == OHSM_OK || r.rv == OHSM_DATA_INVALID);
    check(memchr(why, '\0', sizeof(why)) != NULL);
    if (r.rv == OHSM_OK) {
        check(r.bad == 0 && why[0] == '\0');
    } else {
        check(r.bad == r.n + 1 && strncmp(why, "line ", 5) == 0);
    }
    return r;
}

static void events(const char *a, const char *b, const char *c, const char *d)
{
    char *argv[] = {"openhsmd", "events",  "--data-dir", dir, (char *)a,
                    (char *)b,  (char *)c, (char *)d,    NULL};
    int argc = 4;
    while (argv[argc] != NULL) {
        argc++;
    }
    int rc = ohsm_kms_events_main(argc, argv);
    check(rc == 0 || rc == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) {
        return 0;
    }
    setup();
    /* T: the input up to and including its last newline. */
    size_t tlen = size;
    while (tlen > 0 && data[tlen - 1] != '\n') {
        tlen--;
    }
    put_file(data, size);
    struct result whole = verify();
    if (whole.rv == OHSM_OK) {
        check(tlen == size);
        size_t lines = 0;
        for (size_t i = 0; i < size; i++) {
            lines += data[i] == '\n';
        }
        check(whole.n == lines);
    }
    events(NULL, NULL, NULL, NULL);
    events("--name", "Encrypt", "--since", "2026-12-06T19:00:00Z");
    events("--key", "1234abcd-12ab-34cd-56ef-1234567890ab", NULL, NULL);
    events("--verify", NULL, NULL, NULL);

    put_file(data, tlen);
    struct result torn_free = verify();
    put_file(data, size);
    struct ohsm_kms_trail *t = NULL;
    /* A fresh, small write-ahead log each time: fuzz_kms_wal covers replay. */
    check(unlink(wal) == 0 || errno == ENOENT);
    ohsm_rv rv = ohsm_kms_trail_test_open_sized(path, 4096, &t);
    check(size_of() == (off_t)tlen);
    if (rv != OHSM_OK) {
        check(rv == OHSM_DATA_INVALID && t == NULL && torn_free.rv != OHSM_OK);
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
    struct result after = verify();
    if (torn_free.rv == OHSM_OK) {
        check(after.rv == OHSM_OK && after.n == torn_free.n + 1);
    } else {
        check(after.rv == OHSM_DATA_INVALID && after.bad == torn_free.bad);
    }
    return 0;
}
