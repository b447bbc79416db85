/* SPDX-License-Identifier: Apache-2.0
 * The audit trail's write-ahead log (src/kms/trail_wal.c through trail.c): every acknowledged line
 * survives a crash that loses trail.jsonl's unsynced writes (simulated by cutting the file back
 * to its last checkpoint, by punching zeros into it, by adding NUL garbage), also after the log
 * has filled and wrapped; a process crash that lost nothing changes nothing; the log never
 * writes into a trail it does not belong to; a damaged record ends the replay there; and a clean
 * close leaves nothing to replay. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kms/trail.h"
#include "kms/trail_test.h"

#define ARN1 "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
#define T0 1796583600000LL
#define SMALL_WAL 4096u /* a few lines: fills and wraps quickly */

struct fixture {
    char dir[64];
    char path[128];
    char wal[128];
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    (void)snprintf(fx->dir, sizeof(fx->dir), "%s", "/tmp/ohsm-trailwal-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof(fx->path), "%s/trail.jsonl", fx->dir);
    snprintf(fx->wal, sizeof(fx->wal), "%s/trail.wal", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    unlink(fx->path);
    unlink(fx->wal);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static void record(struct ohsm_kms_trail *t, int i)
{
    char rid[32];
    snprintf(rid, sizeof(rid), "req-%04d", i);
    struct ohsm_kms_event e = {
        .name = "Encrypt",
        .time_ms = T0 + i,
        .region = "us-east-1",
        .account = "111122223333",
        .access_key_id = "AKIAIOSFODNN7EXAMPLE",
        .request_id = rid,
        .source_ip = "127.0.0.1",
        .key_arn = ARN1,
        .read_only = true,
    };
    assert_int_equal(ohsm_kms_trail_record(t, &e), OHSM_OK);
}

/* The whole file; *len its size. */
static char *slurp(const char *path, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    char *buf = malloc((size_t)st.st_size + 1);
    assert_non_null(buf);
    assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
    close(fd);
    *len = (size_t)st.st_size;
    return buf;
}

static off_t size_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void cut(const char *path, off_t size)
{
    assert_int_equal(truncate(path, size), 0);
}

static void poke(const char *path, off_t at, const void *bytes, size_t n)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, n, at), (ssize_t)n);
    close(fd);
}

static size_t verified(const char *path)
{
    size_t n = 0;
    assert_int_equal(ohsm_kms_trail_verify(path, &n, NULL, NULL, 0), OHSM_OK);
    return n;
}

static void assert_same_file(const char *path, const char *want, size_t want_len)
{
    size_t len = 0;
    char *have = slurp(path, &len);
    assert_int_equal(len, want_len);
    assert_memory_equal(have, want, len);
    free(have);
}

/* 4 lines, a clean close (a checkpoint at their end), 6 more and a crash; the OS loses
 * everything after the checkpoint. Reopening restores the 6 from the log, byte for byte, and the
 * chain goes on from them. */
static void test_wal_restores_lost_lines(void **state)
{
    struct fixture *fx = *state;
    struct ohsm_kms_trail *t = NULL;
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    for (int i = 0; i < 4; i++) {
        record(t, i);
    }
    ohsm_kms_trail_close(t);
    const off_t synced = size_of(fx->path);
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    for (int i = 4; i < 10; i++) {
        record(t, i);
    }
    ohsm_kms_trail_test_crash(t);
    size_t len = 0;
    char *before = slurp(fx->path, &len);
    cut(fx->path, synced);
    assert_int_equal(verified(fx->path), 4);

    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    assert_same_file(fx->path, before, len);
    record(t, 10);
    ohsm_kms_trail_close(t);
    assert_int_equal(verified(fx->path), 11);
    free(before);
}

/* The OS kept the file's new size but not all of its blocks (zeros inside the lost range) and
 * left NUL garbage after it: the log's bytes go back in and the garbage goes. */
static void test_wal_repairs_holes_and_garbage(void **state)
{
    struct fixture *fx = *state;
    struct ohsm_kms_trail *t = NULL;
    static const char zeros[300];
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    for (int i = 0; i < 8; i++) {
        record(t, i);
    }
    ohsm_kms_trail_test_crash(t);
    size_t len = 0;
    char *before = slurp(fx->path, &len);
    poke(fx->path, (off_t)len / 2, zeros, sizeof(zeros));
    poke(fx->path, (off_t)len, zeros, sizeof(zeros));
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    assert_same_file(fx->path, before, len);
    ohsm_kms_trail_close(t);
    assert_int_equal(verified(fx->path), 8);
    free(before);
}

/* A process crash loses nothing (the page cache keeps the writes): reopening changes nothing,
 * and the lines after it chain on. */
static void test_wal_process_crash_changes_nothing(void **state)
{
    struct fixture *fx = *state;
    struct ohsm_kms_trail *t = NULL;
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    for (int i = 0; i < 5; i++) {
        record(t, i);
    }
    ohsm_kms_trail_test_crash(t);
    size_t len = 0;
    char *before = slurp(fx->path, &len);
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    assert_same_file(fx->path, before, len);
    record(t, 5);
    ohsm_kms_trail_close(t);
    assert_int_equal(verified(fx->path), 6);
    free(before);
}

/* A small log fills again and again: each time the trail is synced and a new generation starts.
 * After the last checkpoint, a crash that loses the rest is repaired from the records written
 * since (older generations' records, still in the log, are not replayed). */
static void test_wal_wraps(void **state)
{
    struct fixture *fx = *state;
    struct ohsm_kms_trail *t = NULL;
    assert_int_equal(ohsm_kms_trail_test_open_sized(fx->path, SMALL_WAL, &t), OHSM_OK);
    uint64_t ck = ohsm_kms_trail_test_checkpoints(t);
    assert_int_equal(ck, 1); /* the one at open */
    off_t synced = 0;
    int after = 0; /* lines recorded since the last checkpoint */
    int i = 0;
    for (; i < 40 || after < 2; i++) {
        record(t, i);
        uint64_t now = ohsm_kms_trail_test_checkpoints(t);
        if (now != ck) {
            ck = now;
            synced = size_of(fx->path);
            after = 0;
        } else {
            after++;
        }
        assert_true(i < 200);
    }
    assert_true(ck >= 4);
    ohsm_kms_trail_test_crash(t);
    size_t len = 0;
    char *before = slurp(fx->path, &len);
    cut(fx->path, synced);
    assert_int_equal(ohsm_kms_trail_test_open_sized(fx->path, SMALL_WAL, &t), OHSM_OK);
    assert_same_file(fx->path, before, len);
    ohsm_kms_trail_close(t);
    assert_int_equal(verified(fx->path), (size_t)i);
    free(before);
}

/* A damaged record (one byte flipped) ends the replay: the records before it come back, the
 * trail stops where they end, and it still verifies. */
static void test_wal_damaged_record(void **state)
{
    struct fixture *fx = *state;
    struct ohsm_kms_trail *t = NULL;
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    size_t sizes[6];
    for (int i = 0; i < 6; i++) {
        record(t, i);
        sizes[i] = (size_t)size_of(fx->path);
    }
    ohsm_kms_trail_test_crash(t);
    /* Records: checkpoint (64 + 64 bytes) at 0, then one per line, 8-byte aligned. */
    size_t pos = 128;
    for (int i = 0; i < 2; i++) {
        size_t line = sizes[i] - (i == 0 ? 0 : sizes[i - 1]);
        pos += (64 + line + 7) & ~(size_t)7;
    }
    char b = 0;
    int fd = open(fx->wal, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &b, 1, (off_t)pos + 100), 1);
    b ^= 1;
    assert_int_equal(pwrite(fd, &b, 1, (off_t)pos + 100), 1);
    close(fd);
    cut(fx->path, 0);
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    assert_int_equal(size_of(fx->path), (off_t)sizes[1]);
    ohsm_kms_trail_close(t);
    assert_int_equal(verified(fx->path), 2);
}

/* A log whose checkpoint does not match the trail's bytes (the trail was replaced, or cut below
 * its synced size) writes nothing into it and cuts nothing. */
static void test_wal_foreign_trail_untouched(void **state)
{
    struct fixture *fx = *state;
    struct ohsm_kms_trail *t = NULL;
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    for (int i = 0; i < 3; i++) {
        record(t, i);
    }
    ohsm_kms_trail_close(t);
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    for (int i = 3; i < 6; i++) {
        record(t, i);
    }
    ohsm_kms_trail_test_crash(t);
    /* Another trail's bytes in its place, of the same length. */
    size_t len = 0;
    char *other = slurp(fx->path, &len);
    for (size_t k = 0; k < len; k++) {
        other[k] = other[k] == '\n' ? '\n' : 'x';
    }
    poke(fx->path, 0, other, len);
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_DATA_INVALID); /* its last line */
    assert_same_file(fx->path, other, len);
    /* Cut below the checkpoint: the same. */
    cut(fx->path, 0);
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    assert_int_equal(size_of(fx->path), 0);
    ohsm_kms_trail_close(t);
    free(other);
}

/* A clean close leaves the trail synced and nothing to replay: a later "loss" of nothing changes
 * nothing, and a missing log is made anew without touching the trail. */
static void test_wal_clean_close_and_missing_log(void **state)
{
    struct fixture *fx = *state;
    struct ohsm_kms_trail *t = NULL;
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    for (int i = 0; i < 3; i++) {
        record(t, i);
    }
    ohsm_kms_trail_close(t);
    assert_int_equal(size_of(fx->wal), 8 << 20);
    size_t len = 0;
    char *before = slurp(fx->path, &len);
    assert_int_equal(unlink(fx->wal), 0);
    assert_int_equal(ohsm_kms_trail_open(fx->path, &t), OHSM_OK);
    assert_same_file(fx->path, before, len);
    record(t, 3);
    ohsm_kms_trail_close(t);
    assert_int_equal(verified(fx->path), 4);
    free(before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_wal_restores_lost_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_repairs_holes_and_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_process_crash_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_wraps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_damaged_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_foreign_trail_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_clean_close_and_missing_log, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
