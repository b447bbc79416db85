/* SPDX-License-Identifier: Apache-2.0
 *
 * Fuzz target for sealed backup files (src/cloud/backup.c): hostile bytes as a backup file,
 * opened with a fixed backup key and backup id as openhsmd opens its backups.
 *
 * Input: one control byte, then the file's bytes. The file is written to a temp file (one per
 * process, in a private temp directory, rewritten each run) and given to ohsm_backup_verify; the
 * control byte's bits then choose further work on the same file:
 *   bit 0: ohsm_backup_restore to temp paths (bit 1: no database output, bit 2: no masking key
 *          output; both set: nothing asked, which must be refused)
 *   bit 3: ohsm_backup_copy to a new id, and ohsm_backup_verify of the copy
 * Invariants (any broken one aborts): verify accepts only a file whose header names the fixed id;
 * restore (asked for an output) and copy succeed exactly when verify did and fail with the same
 * code otherwise; a successful restore leaves each output asked for (a 32-byte
 * masking key), a failed one leaves nothing; a copy verifies under its new id with the same
 * header; no temp file is ever left in the directory. Outputs are removed after each run.
 *
 * Seeds (fuzz/corpus/backup) come from a real backup of a store database made with the store
 * API: run this binary with OHSM_FUZZ_BACKUP_SEEDS=<dir> to write them (it then exits); the
 * committed files were made that way.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <sqlite3.h>

#include "cloud/backup.h"
#include "cloud/files.h"
#include "openhsm/secret.h"
#include "store/store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BACKUP_ID "backup-fuzzfuzzfuz"
#define COPY_ID "backup-fuzzcopycop"
#define CTL_RESTORE 1u
#define CTL_NO_DB 2u
#define CTL_NO_MASK 4u
#define CTL_COPY 8u

/* The fixed backup key of the fuzzer and of its seeds: bytes 0x00..0x1f. */
static struct ohsm_secret *key;
static char dir[64];
static char in_path[128], out_db[128], out_mask[128], copy_path[128];

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

static void cleanup(void)
{
    if (dir[0] != '\0') {
        (void)ohsm_files_remove_tree(dir);
        dir[0] = '\0';
    }
}

static void path_in(char *out, size_t cap, const char *name)
{
    check(ohsm_files_path(out, cap, "%s/%s", dir, name) == OHSM_OK);
}

static void make_key(void)
{
    uint8_t k[OHSM_BACKUP_KEY_LEN];
    for (size_t i = 0; i < sizeof(k); i++) {
        k[i] = (uint8_t)i;
    }
    check(ohsm_secret_new(k, sizeof(k), &key) == OHSM_OK);
}

static void write_seed(const char *seeds, const char *name, uint8_t ctl, const uint8_t *b,
                       size_t len)
{
    char p[4096];
    uint8_t *buf = malloc(len + 1);
    check(buf != NULL);
    buf[0] = ctl;
    if (len > 0) {
        memcpy(buf + 1, b, len);
    }
    check(ohsm_files_path(p, sizeof(p), "%s/%s", seeds, name) == OHSM_OK);
    (void)unlink(p);
    check(ohsm_files_write_new(p, buf, len + 1, 0644) == OHSM_OK);
    free(buf);
}

/* Rewrites the database with 512-byte pages (out of WAL mode, as page_size requires): the same
 * schema and rows in a file an eighth the size, so the seeds stay small and the fuzzer fast. */
static void shrink(const char *path)
{
    sqlite3 *db = NULL;
    check(sqlite3_open(path, &db) == SQLITE_OK);
    check(sqlite3_exec(db, "PRAGMA journal_mode = DELETE; PRAGMA page_size = 512; VACUUM;", NULL,
                       NULL, NULL) == SQLITE_OK);
    check(sqlite3_close(db) == SQLITE_OK);
}

/* Writes the seed corpus into seeds: a real backup (a store database with a user, made through
 * the store API, and a random masking key) under each control byte, then truncated, flipped
 * and extended variants. */
static void make_seeds(const char *seeds)
{
    static const struct ohsm_pwhash_cost cheap = {4, 8, 1};
    struct ohsm_store_init in = {"cluster-seedseedsee", "hsm-seedseedsee", 5, NULL, 0, &cheap};
    struct ohsm_store *s = NULL;
    struct ohsm_backup_info info;
    uint8_t mk[32], pwrec[OHSM_PWHASH_LEN];
    uint32_t uid = 0;
    char db[128], mask[128], bak[128];
    struct stat st;

    path_in(db, sizeof(db), "hsm.db");
    path_in(mask, sizeof(mask), "masking.key");
    path_in(bak, sizeof(bak), "seed.bak");
    check(ohsm_store_open(db, &in, &s) == OHSM_OK);
    check(ohsm_pwhash_make(&cheap, (const uint8_t *)"alicepass", 9, pwrec) == OHSM_OK);
    check(ohsm_store_user_add(s, "alice", OHSM_UT_CU, pwrec, &uid) == OHSM_OK);
    ohsm_store_close(s);
    shrink(db);
    check(RAND_bytes(mk, sizeof(mk)) == 1);
    check(ohsm_files_write_new(mask, mk, sizeof(mk), 0600) == OHSM_OK);
    check(ohsm_backup_make(key, BACKUP_ID, db, mask, bak, &info) == OHSM_OK);
    check(stat(bak, &st) == 0 && st.st_size > 0);
    size_t len = (size_t)st.st_size;
    uint8_t *b = malloc(len), *v = malloc(len + 1);
    FILE *fp = fopen(bak, "rb");
    check(b != NULL && v != NULL && fp != NULL && fread(b, 1, len, fp) == len);
    fclose(fp);
    check(ohsm_backup_verify(key, BACKUP_ID, bak, NULL) == OHSM_OK);

    /* header: "OHSMBAK1" u16 | u8 n id | u8 n cluster | u8 n hsm | u64 | u32 | u64 | IV */
    const size_t id_at = 8 + 2 + 1;
    const size_t hdr =
        id_at + strlen(BACKUP_ID) + 1 + strlen(in.cluster_id) + 1 + strlen(in.hsm_id) + 8 + 4 + 8;
    const size_t iv_end = hdr + 12;
    write_seed(seeds, "valid_verify", 0, b, len);
    write_seed(seeds, "valid_restore_both", CTL_RESTORE, b, len);
    write_seed(seeds, "valid_restore_mask_only", CTL_RESTORE | CTL_NO_DB, b, len);
    write_seed(seeds, "valid_restore_db_only", CTL_RESTORE | CTL_NO_MASK, b, len);
    write_seed(seeds, "valid_restore_nothing", CTL_RESTORE | CTL_NO_DB | CTL_NO_MASK, b, len);
    write_seed(seeds, "valid_copy", CTL_COPY, b, len);
    write_seed(seeds, "empty", CTL_RESTORE, b, 0);
    write_seed(seeds, "trunc_magic", CTL_RESTORE, b, 5);
    write_seed(seeds, "trunc_header", CTL_RESTORE, b, hdr);
    write_seed(seeds, "trunc_iv", CTL_RESTORE, b, iv_end - 3);
    write_seed(seeds, "trunc_body", CTL_RESTORE, b, iv_end + (len - iv_end) / 2);
    write_seed(seeds, "trunc_tag", CTL_RESTORE | CTL_COPY, b, len - 1);
    memcpy(v, b, len);
    v[len] = 0;
    write_seed(seeds, "appended", CTL_RESTORE, v, len + 1);
    const struct {
        const char *name;
        size_t at;
    } flips[] = {
        {"flip_magic", 0},          {"flip_version", 9},      {"flip_id_len", 10},
        {"flip_id", id_at + 3},     {"flip_db_len", hdr - 1}, {"flip_iv", iv_end - 1},
        {"flip_body", iv_end + 40}, {"flip_tag", len - 2},
    };
    for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
        memcpy(v, b, len);
        v[flips[i].at] ^= 0x01;
        write_seed(seeds, flips[i].name, CTL_RESTORE | CTL_COPY, v, len);
    }
    /* Another backup id in the header (same length, so only the id check refuses it). */
    memcpy(v, b, len);
    v[id_at + strlen(BACKUP_ID) - 1] = 'x';
    write_seed(seeds, "other_id", CTL_RESTORE, v, len);
    free(b);
    free(v);
    OPENSSL_cleanse(mk, sizeof(mk));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    (void)snprintf(dir, sizeof(dir), "/tmp/ohsm-fuzz-backup-XXXXXX");
    check(mkdtemp(dir) != NULL);
    check(atexit(cleanup) == 0);
    path_in(in_path, sizeof(in_path), "in.bak");
    path_in(out_db, sizeof(out_db), "out.db");
    path_in(out_mask, sizeof(out_mask), "out.key");
    path_in(copy_path, sizeof(copy_path), "copy.bak");
    make_key();
    const char *seeds = getenv("OHSM_FUZZ_BACKUP_SEEDS");
    if (seeds != NULL) {
        make_seeds(seeds);
        exit(0);
    }
    return 0;
}

static bool exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

/* Only the input file is left in the directory (no temp file, no output). */
static void check_dir_clean(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    check(d != NULL);
    while ((e = readdir(d)) != NULL) {
        check(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
              strcmp(e->d_name, "in.bak") == 0);
    }
    closedir(d);
}

static void restore(uint8_t ctl, ohsm_rv verified)
{
    const char *db = (ctl & CTL_NO_DB) != 0 ? NULL : out_db;
    const char *mask = (ctl & CTL_NO_MASK) != 0 ? NULL : out_mask;
    ohsm_rv rv = ohsm_backup_restore(key, BACKUP_ID, in_path, "cluster-restorerest",
                                     "hsm-restorerest", db, mask);
    if (db == NULL && mask == NULL) {
        check(rv == OHSM_ARGUMENTS_BAD);
    } else {
        /* Only our own sealed files verify, and they hold a real store: restoring one works. */
        check(rv == verified);
    }
    if (rv != OHSM_OK) {
        check(!exists(out_db) && !exists(out_mask));
        return;
    }
    check(db == NULL || exists(out_db));
    check(db != NULL || !exists(out_db));
    if (mask != NULL) {
        struct stat st;
        check(lstat(out_mask, &st) == 0 && st.st_size == 32 && (st.st_mode & 077) == 0);
    } else {
        check(!exists(out_mask));
    }
    (void)unlink(out_db);
    (void)unlink(out_mask);
}

static void copy(const struct ohsm_backup_info *info, ohsm_rv verified)
{
    struct ohsm_backup_info ci;
    ohsm_rv rv = ohsm_backup_copy(key, BACKUP_ID, in_path, COPY_ID, copy_path);
    check(rv == verified);
    if (rv != OHSM_OK) {
        check(!exists(copy_path));
        return;
    }
    check(ohsm_backup_verify(key, COPY_ID, copy_path, &ci) == OHSM_OK);
    check(strcmp(ci.backup_id, COPY_ID) == 0 && strcmp(ci.cluster_id, info->cluster_id) == 0 &&
          strcmp(ci.hsm_id, info->hsm_id) == 0 && ci.created == info->created &&
          ci.db_len == info->db_len);
    check(ohsm_backup_verify(key, BACKUP_ID, copy_path, NULL) == OHSM_DATA_INVALID);
    (void)unlink(copy_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ohsm_backup_info info;

    if (size < 1 || size > 1024 * 1024) {
        return 0;
    }
    const uint8_t ctl = data[0];
    (void)unlink(in_path);
    check(ohsm_files_write_new(in_path, data + 1, size - 1, 0600) == OHSM_OK);
    memset(&info, 0xa5, sizeof(info));
    ohsm_rv v = ohsm_backup_verify(key, BACKUP_ID, in_path, &info);
    if (v == OHSM_OK) {
        check(strcmp(info.backup_id, BACKUP_ID) == 0);
        check(memchr(info.cluster_id, '\0', sizeof(info.cluster_id)) != NULL &&
              memchr(info.hsm_id, '\0', sizeof(info.hsm_id)) != NULL);
        check(info.db_len < size);
    } else {
        check(v == OHSM_DATA_INVALID || v == OHSM_ENCRYPTED_DATA_INVALID);
    }
    if ((ctl & CTL_RESTORE) != 0) {
        restore(ctl, v);
    }
    if ((ctl & CTL_COPY) != 0) {
        copy(&info, v);
    }
    check_dir_clean();
    return 0;
}
