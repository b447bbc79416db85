/* SPDX-License-Identifier: Apache-2.0
 * The KMS root key in its hidden cluster (src/kms/root.c), against the real openhsm-hsm run by a
 * real supervisor (build/bin, or $OHSM_BIN). Properties: a first start makes the cluster, the
 * credentials (DIR/private/kms/root.json, 0600 in a 0700 directory) and the root key, and seals
 * and unseals; a blob with another aad, a flipped byte, a truncation or another version byte is
 * OHSM_ENCRYPTED_DATA_INVALID; a reopen finds the same key (an old blob unseals); a start cut
 * short before root.json said "ready" is finished by the next start with the same key; damaged
 * credentials (another password, group-readable, not JSON) are refused with a clear error and
 * left as they were; no file under DIR holds a sealed plaintext in clear. Also prints (not an
 * assertion) seal+unseal round trips per second from 4 threads. Every wait has a deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/rand.h>

#include "cloud/files.h"
#include "cloud/supervise.h"
#include "kms/root.h"

#define BENCH_THREADS 4
#define BENCH_MS 1000
#define BENCH_MAX_ITERS 1000000

static char bin_dir[4096];
static char hsm_bin[4200];

struct fx {
    char dir[64];
    char creds[256];
    struct ohsm_sup *sup; /* one per test: a supervision loop ended by SIGTERM is not reused */
    struct ohsm_kms_root *root;
    pthread_t loop;
    bool loop_running;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int group_setup(void **state)
{
    (void)state;
    char abs[PATH_MAX];
    if (realpath(bin_dir, abs) == NULL ||
        ohsm_files_path(hsm_bin, sizeof(hsm_bin), "%s/openhsm-hsm", abs) != OHSM_OK ||
        access(hsm_bin, X_OK) != 0) {
        fprintf(stderr, "test_kms_root: no openhsm-hsm in %s (build it, or set OHSM_BIN)\n",
                bin_dir);
        return -1;
    }
    return 0;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return -1;
    }
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/ohsm-kms-root-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    (void)snprintf(f->creds, sizeof(f->creds), "%s/private/kms/root.json", f->dir);
    const struct ohsm_sup_cfg cfg = {
        .hsm_bin = hsm_bin, .ready_ms = 10000, .stop_ms = 5000, .out = stderr, .err = stderr};
    if (ohsm_sup_new(&cfg, &f->sup) != OHSM_OK) {
        free(f);
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
    ohsm_kms_root_close(f->root);
    ohsm_sup_free(f->sup);
    ohsm_rv rv = ohsm_files_remove_tree(f->dir);
    (void)rv; /* best effort: a leftover temp dir fails nothing */
    free(f);
    return 0;
}

static ohsm_rv open_root(struct fx *f, char *err, size_t cap)
{
    const struct ohsm_kms_root_cfg cfg = {f->dir, f->sup};
    return ohsm_kms_root_open(&cfg, &f->root, err, cap);
}

static void open_ok(struct fx *f)
{
    char err[512] = "";
    ohsm_rv rv = open_root(f, err, sizeof(err));
    if (rv != OHSM_OK) {
        fprintf(stderr, "open: %s: %s\n", ohsm_rv_str(rv), err);
    }
    assert_int_equal(rv, OHSM_OK);
    assert_non_null(f->root);
}

static void close_root(struct fx *f)
{
    ohsm_kms_root_close(f->root);
    f->root = NULL;
}

static uint8_t *seal(struct fx *f, const char *aad, const uint8_t *in, size_t n, size_t *len)
{
    struct ohsm_kms_sealer s;
    uint8_t *blob = NULL;
    ohsm_kms_root_sealer(f->root, &s);
    assert_int_equal(s.seal(s.ctx, (const uint8_t *)aad, strlen(aad), in, n, &blob, len), OHSM_OK);
    assert_non_null(blob);
    return blob;
}

static ohsm_rv unseal(struct fx *f, const char *aad, const uint8_t *blob, size_t len, uint8_t *out,
                      size_t cap, size_t *got)
{
    struct ohsm_kms_sealer s;
    ohsm_kms_root_sealer(f->root, &s);
    return s.unseal(s.ctx, (const uint8_t *)aad, strlen(aad), blob, len, out, cap, got);
}

static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char *buf = calloc(1, 8192);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 8191, fp);
    fclose(fp);
    buf[n] = '\0';
    return buf;
}

/* ---- scanning the data directory for a plaintext ---- */

static const char *scan_skip; /* a path not scanned (NULL: none) */
static const uint8_t *scan_needle;
static size_t scan_needle_len;
static int scan_hits;
static int scan_files;

static int scan_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F || !S_ISREG(st->st_mode) ||
        (scan_skip != NULL && strcmp(path, scan_skip) == 0)) {
        return 0;
    }
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        return 0;
    }
    size_t cap = (size_t)st->st_size + 1, n = 0;
    uint8_t *buf = malloc(cap);
    if (buf != NULL) {
        n = fread(buf, 1, cap, fp);
        if (memmem(buf, n, scan_needle, scan_needle_len) != NULL) {
            fprintf(stderr, "needle found in %s\n", path);
            scan_hits++;
        }
        free(buf);
    }
    scan_files++;
    fclose(fp);
    return 0;
}

/* How many files under dir (but skip) hold needle. */
static int scan(const char *dir, const char *skip, const uint8_t *needle, size_t len)
{
    scan_skip = skip;
    scan_needle = needle;
    scan_needle_len = len;
    scan_hits = 0;
    scan_files = 0;
    assert_int_equal(nftw(dir, scan_one, 16, FTW_PHYS), 0);
    assert_true(scan_files >= 8); /* root.json, client.json, CA, HSM key, cert, db, log ... */
    return scan_hits;
}

/* No file under dir (but skip) holds needle; a planted copy would be found (the scan works). */
static void assert_nowhere(const char *dir, const char *skip, const uint8_t *needle, size_t len)
{
    char plant[512];
    (void)snprintf(plant, sizeof(plant), "%s/kms/root/planted", dir);
    uint8_t buf[256];
    assert_true(len + 7 <= sizeof(buf));
    memcpy(buf, "prefix:", 7);
    memcpy(buf + 7, needle, len);
    assert_int_equal(ohsm_files_write_new(plant, buf, len + 7, 0600), OHSM_OK);
    assert_int_equal(scan(dir, skip, needle, len), 1);
    assert_int_equal(unlink(plant), 0);
    assert_int_equal(scan(dir, skip, needle, len), 0);
}

/* ---- tests ---- */

/* First start, seal/unseal, refusals, file modes, reopen with the same key, nothing in clear. */
static void test_kms_root_open_seal_reopen(void **state)
{
    struct fx *f = *state;
    uint8_t secret[64], out[64];
    size_t len = 0, got = 0;
    struct stat st;
    char path[256];

    assert_int_equal(RAND_bytes(secret, (int)sizeof(secret)), 1);
    open_ok(f);
    uint8_t *blob = seal(f, "key-1#1", secret, sizeof(secret), &len);
    assert_int_equal(len, 1 + 12 + sizeof(secret) + 16);
    assert_int_equal(blob[0], 1);
    assert_int_equal(unseal(f, "key-1#1", blob, len, out, sizeof(out), &got), OHSM_OK);
    assert_int_equal(got, sizeof(secret));
    assert_memory_equal(out, secret, sizeof(secret));

    /* Refusals: another aad, each region flipped, truncations, another version byte, a short
     * buffer. */
    assert_int_equal(unseal(f, "key-2#1", blob, len, out, sizeof(out), &got),
                     OHSM_ENCRYPTED_DATA_INVALID);
    const size_t flips[] = {1, 12, 13, 40, len - 16, len - 1};
    for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
        blob[flips[i]] ^= 0x01;
        assert_int_equal(unseal(f, "key-1#1", blob, len, out, sizeof(out), &got),
                         OHSM_ENCRYPTED_DATA_INVALID);
        blob[flips[i]] ^= 0x01;
    }
    const size_t cuts[] = {0, 1, 13, 28, 29, len - 1};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        assert_int_equal(unseal(f, "key-1#1", blob, cuts[i], out, sizeof(out), &got),
                         OHSM_ENCRYPTED_DATA_INVALID);
    }
    blob[0] = 2;
    assert_int_equal(unseal(f, "key-1#1", blob, len, out, sizeof(out), &got),
                     OHSM_ENCRYPTED_DATA_INVALID);
    blob[0] = 1;
    assert_int_equal(unseal(f, "key-1#1", blob, len, out, sizeof(secret) - 1, &got),
                     OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(got, sizeof(secret));

    /* An empty plaintext seals too. */
    size_t elen = 0;
    uint8_t *empty = seal(f, "key-1#2", NULL, 0, &elen);
    assert_int_equal(elen, 29);
    assert_int_equal(unseal(f, "key-1#2", empty, elen, out, sizeof(out), &got), OHSM_OK);
    assert_int_equal(got, 0);
    free(empty);

    /* Files: root.json 0600 in a 0700 directory, a JSON object that says ready. */
    assert_int_equal(stat(f->creds, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    (void)snprintf(path, sizeof(path), "%s/private/kms", f->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    char *text = read_text(f->creds);
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "ready")));
    assert_string_equal(json_string_value(json_object_get(j, "crypto_user")), "kms_root");
    assert_int_equal(strlen(json_string_value(json_object_get(j, "crypto_user_password"))), 32);
    json_decref(j);
    free(text);

    /* Reopen: the same root key. */
    close_root(f);
    open_ok(f);
    memset(out, 0, sizeof(out));
    assert_int_equal(unseal(f, "key-1#1", blob, len, out, sizeof(out), &got), OHSM_OK);
    assert_memory_equal(out, secret, sizeof(secret));
    close_root(f); /* the HSM stopped: its database and log are complete on disk */
    assert_nowhere(f->dir, NULL, secret, sizeof(secret));
    /* The passwords are in root.json only (the HSM keeps hashes; its log names no secret). */
    text = read_text(f->creds);
    j = json_loads(text, 0, NULL);
    assert_non_null(j);
    const char *pws[] = {"admin_password", "crypto_user_password"};
    for (size_t i = 0; i < 2; i++) {
        const char *pw = json_string_value(json_object_get(j, pws[i]));
        assert_non_null(pw);
        assert_int_equal(strlen(pw), 32);
        assert_nowhere(f->dir, f->creds, (const uint8_t *)pw, strlen(pw));
    }
    json_decref(j);
    free(text);
    free(blob);
}

/* A first start cut short before root.json said ready (the HSM already activated, the user and
 * key made) is finished by the next start: the same key, and root.json ready again. */
static void test_kms_root_recovers_unfinished_start(void **state)
{
    struct fx *f = *state;
    uint8_t secret[32], out[32];
    size_t len = 0, got = 0;

    assert_int_equal(RAND_bytes(secret, (int)sizeof(secret)), 1);
    open_ok(f);
    uint8_t *blob = seal(f, "k#1", secret, sizeof(secret), &len);
    close_root(f);

    json_t *j = json_load_file(f->creds, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_object_set_new(j, "ready", json_false()), 0);
    char *text = json_dumps(j, JSON_INDENT(2));
    assert_non_null(text);
    assert_int_equal(ohsm_files_write_atomic(f->creds, text, strlen(text), 0600), OHSM_OK);
    free(text);
    json_decref(j);

    open_ok(f);
    assert_int_equal(unseal(f, "k#1", blob, len, out, sizeof(out), &got), OHSM_OK);
    assert_memory_equal(out, secret, sizeof(secret));
    close_root(f);
    j = json_load_file(f->creds, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "ready")));
    json_decref(j);
    free(blob);
}

/* Writes text as root.json with mode. */
static void put_creds(struct fx *f, const char *text, mode_t mode)
{
    assert_int_equal(ohsm_files_write_atomic(f->creds, text, strlen(text), mode), OHSM_OK);
    assert_int_equal(chmod(f->creds, mode), 0);
}

static void assert_refused(struct fx *f, ohsm_rv want, const char *err_has)
{
    char err[512] = "";
    char *before = read_text(f->creds);
    assert_int_equal(open_root(f, err, sizeof(err)), want);
    assert_null(f->root);
    assert_non_null(strstr(err, err_has));
    char *after = read_text(f->creds);
    assert_string_equal(before, after); /* nothing changed */
    free(before);
    free(after);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(d);
    return n;
}

/* Damaged credentials: another crypto user password (OHSM_PIN_INCORRECT), a group-readable file,
 * not JSON, a missing field, no root.json beside an existing hidden cluster: refused with a clear
 * error, root.json left as it was (or absent) and no new cluster made; the right credentials put
 * back still open. */
static void test_kms_root_damaged_credentials(void **state)
{
    struct fx *f = *state;
    open_ok(f);
    close_root(f);
    char *good = read_text(f->creds);

    json_t *j = json_loads(good, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_object_set_new(j, "crypto_user_password",
                                         json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")),
                     0);
    char *wrong = json_dumps(j, JSON_INDENT(2));
    assert_non_null(wrong);
    put_creds(f, wrong, 0600);
    assert_refused(f, OHSM_PIN_INCORRECT, "crypto user");
    free(wrong);

    assert_int_equal(json_object_del(j, "hsm_id"), 0);
    char *missing = json_dumps(j, JSON_INDENT(2));
    assert_non_null(missing);
    put_creds(f, missing, 0600);
    assert_refused(f, OHSM_IO, "is damaged");
    free(missing);
    json_decref(j);

    put_creds(f, "not json\n", 0600);
    assert_refused(f, OHSM_IO, "is damaged");

    put_creds(f, good, 0640);
    assert_refused(f, OHSM_IO, "root.json");

    /* root.json gone while the hidden cluster is there: refused, nothing made anew. */
    char rdir[256], err[512] = "";
    (void)snprintf(rdir, sizeof(rdir), "%s/kms/root/clusters", f->dir);
    int before = count_entries(rdir);
    assert_int_equal(before, 1);
    assert_int_equal(unlink(f->creds), 0);
    assert_int_equal(open_root(f, err, sizeof(err)), OHSM_IO);
    assert_null(f->root);
    assert_non_null(strstr(err, "root.json is missing"));
    assert_int_equal(access(f->creds, F_OK), -1);
    assert_int_equal(count_entries(rdir), before);

    put_creds(f, good, 0600);
    open_ok(f);
    close_root(f);
    free(good);
}

static void *loop_main(void *arg)
{
    struct fx *f = arg;
    return (void *)(intptr_t)ohsm_sup_run(f->sup);
}

/* The root HSM killed (kill -9) is restarted by the supervision loop on the same port; the root's
 * clients reconnect and log in again by themselves: an old blob unseals and a new one seals
 * within the deadline, with exactly one restart. */
static void test_kms_root_survives_hsm_restart(void **state)
{
    struct fx *f = *state;
    uint8_t secret[32], out[32];
    size_t len = 0, got = 0;
    struct ohsm_sup_status st;

    assert_int_equal(RAND_bytes(secret, (int)sizeof(secret)), 1);
    open_ok(f);
    uint8_t *blob = seal(f, "k#1", secret, sizeof(secret), &len);
    json_t *j = json_load_file(f->creds, 0, NULL);
    assert_non_null(j);
    char hid[32];
    (void)snprintf(hid, sizeof(hid), "%s", json_string_value(json_object_get(j, "hsm_id")));
    json_decref(j);

    assert_int_equal(pthread_create(&f->loop, NULL, loop_main, f), 0);
    f->loop_running = true;
    assert_int_equal(ohsm_sup_status(f->sup, hid, &st), OHSM_OK);
    assert_true(st.running);
    assert_int_equal(st.restarts, 0);
    assert_int_equal(kill((pid_t)st.pid, SIGKILL), 0);

    ohsm_rv rv = OHSM_DEVICE_ERROR;
    const int64_t deadline = now_ms() + 20000;
    while (now_ms() < deadline) {
        rv = unseal(f, "k#1", blob, len, out, sizeof(out), &got);
        if (rv == OHSM_OK) {
            break;
        }
        const struct timespec pause_ts = {0, 100 * 1000 * 1000};
        (void)nanosleep(&pause_ts, NULL); /* the HSM is coming back: poll again */
    }
    assert_int_equal(rv, OHSM_OK);
    assert_memory_equal(out, secret, sizeof(secret));
    size_t len2 = 0;
    uint8_t *blob2 = seal(f, "k#2", secret, sizeof(secret), &len2);
    assert_int_equal(unseal(f, "k#2", blob2, len2, out, sizeof(out), &got), OHSM_OK);
    assert_int_equal(ohsm_sup_status(f->sup, hid, &st), OHSM_OK);
    assert_int_equal(st.restarts, 1); /* the kill took: these ran against the restarted HSM */

    void *ret = NULL;
    assert_int_equal(kill(getpid(), SIGTERM), 0);
    assert_int_equal(pthread_join(f->loop, &ret), 0);
    f->loop_running = false;
    assert_int_equal((int)(intptr_t)ret, OHSM_OK);
    close_root(f);
    free(blob);
    free(blob2);
}

struct bench {
    struct fx *f;
    int64_t until;
    long done;
    ohsm_rv rv;
};

static void *bench_thread(void *arg)
{
    struct bench *b = arg;
    struct ohsm_kms_sealer s;
    uint8_t in[64], out[64];
    memset(in, 0x21, sizeof(in));
    ohsm_kms_root_sealer(b->f->root, &s);
    b->rv = OHSM_OK;
    for (long i = 0; i < BENCH_MAX_ITERS && now_ms() < b->until; i++) {
        uint8_t *blob = NULL;
        size_t len = 0, got = 0;
        b->rv = s.seal(s.ctx, (const uint8_t *)"bench", 5, in, sizeof(in), &blob, &len);
        if (b->rv == OHSM_OK) {
            b->rv = s.unseal(s.ctx, (const uint8_t *)"bench", 5, blob, len, out, sizeof(out), &got);
        }
        free(blob);
        if (b->rv != OHSM_OK || got != sizeof(in) || memcmp(in, out, got) != 0) {
            b->rv = b->rv != OHSM_OK ? b->rv : OHSM_DEVICE_ERROR;
            break;
        }
        b->done++;
    }
    return NULL;
}

/* Seal+unseal from 4 threads at once all succeed; the rate is printed, not asserted. */
static void test_kms_root_threads(void **state)
{
    struct fx *f = *state;
    struct bench b[BENCH_THREADS];
    pthread_t t[BENCH_THREADS];
    open_ok(f);
    const int64_t start = now_ms();
    for (int i = 0; i < BENCH_THREADS; i++) {
        memset(&b[i], 0, sizeof(b[i]));
        b[i].f = f;
        b[i].until = start + BENCH_MS;
        assert_int_equal(pthread_create(&t[i], NULL, bench_thread, &b[i]), 0);
    }
    long total = 0;
    for (int i = 0; i < BENCH_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(b[i].rv, OHSM_OK);
        assert_true(b[i].done > 0);
        total += b[i].done;
    }
    const int64_t ms = now_ms() - start;
    printf("kms root: %ld seal+unseal round trips in %lld ms with %d threads: %.0f/s\n", total,
           (long long)ms, BENCH_THREADS, ms > 0 ? (double)total * 1000.0 / (double)ms : 0.0);
    close_root(f);
}

int main(int argc, char **argv)
{
    (void)argc;
    /* The tests live in build/tests, the programs in build/bin (OHSM_BIN overrides). */
    const char *env = getenv("OHSM_BIN");
    if (env != NULL) {
        (void)snprintf(bin_dir, sizeof(bin_dir), "%s", env);
    } else {
        const char *slash = strrchr(argv[0], '/');
        int n = slash != NULL ? (int)(slash - argv[0]) : 1;
        (void)snprintf(bin_dir, sizeof(bin_dir), "%.*s/../bin", n, slash != NULL ? argv[0] : ".");
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kms_root_open_seal_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_root_recovers_unfinished_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_root_damaged_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_root_survives_hsm_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_root_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
