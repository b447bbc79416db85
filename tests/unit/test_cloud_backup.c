/* SPDX-License-Identifier: Apache-2.0
 * Sealed HSM backups: the backup key file's rules; a round trip on a real store database backed
 * up while another connection writes (the copy is one committed state); restore rebinds the ids
 * and keeps users and objects; a restored database opens in openhsm-hsm with the masking key;
 * copy under a new id; every header byte and a sample of the rest flipped, truncations, an
 * appended byte, an empty file, another key or id: refused, with nothing written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "cloud/backup.h"
#include "cloud/files.h"
#include "cloud/pki.h"
#include "openhsm/mask.h"
#include "openhsm/obj.h"
#include "store/store.h"

static const struct ohsm_pwhash_cost cheap = {4, 8, 1};
static char bin_dir[4096];

struct fx {
    char dir[64];
    char db[128], mask[128], key_path[128], bak[128];
    struct ohsm_secret *key;
    uint8_t mk[OHSM_MASKING_KEY_LEN];
};

static void path_in(const struct fx *f, char *out, size_t cap, const char *name)
{
    assert_int_equal(ohsm_files_path(out, cap, "%s/%s", f->dir, name), OHSM_OK);
}

/* A store database like an HSM's: users, real sealed AES objects, a masking key file. */
static void make_hsm_db(struct fx *f, size_t n_objs)
{
    struct ohsm_store_init in = {"cluster-src", "hsm-src", 5, NULL, 0, &cheap};
    struct ohsm_store *s = NULL;
    struct ohsm_mask_key *mk = NULL;
    uint8_t pwrec[OHSM_PWHASH_LEN];
    uint8_t fp[8];
    uint8_t material[32];
    uint32_t id = 0;

    assert_int_equal(ohsm_store_open(f->db, &in, &s), OHSM_OK);
    assert_int_equal(ohsm_pwhash_make(&cheap, (const uint8_t *)"alicepass", 9, pwrec), OHSM_OK);
    assert_int_equal(ohsm_store_user_add(s, "alice", OHSM_UT_CU, pwrec, &id), OHSM_OK);
    assert_int_equal(ohsm_store_mask_fp(s, fp, &(bool){false}), OHSM_OK);
    assert_int_equal(ohsm_mask_key_new(f->mk, &mk), OHSM_OK);
    ohsm_mask_key_fingerprint(mk, fp);
    assert_int_equal(ohsm_store_set_mask_fp(s, fp), OHSM_OK);
    for (size_t i = 0; i < n_objs; i++) {
        struct ohsm_obj o;
        uint8_t *sealed = NULL;
        size_t len = 0;
        ohsm_obj_defaults(&o, OHSM_CLASS_SECRET, OHSM_KT_AES, true);
        memcpy(o.owner, "alice", 6);
        (void)snprintf(o.label, sizeof(o.label), "key%zu", i);
        o.handle = ohsm_handle_make(0, 100 + i);
        o.value_len = 32;
        assert_int_equal(RAND_bytes(material, sizeof(material)), 1);
        assert_int_equal(ohsm_mask_seal_obj(mk, &o, material, sizeof(material), &sealed, &len),
                         OHSM_OK);
        assert_int_equal(ohsm_store_obj_put(s, o.handle, 1, sealed, len), OHSM_OK);
        free(sealed);
    }
    ohsm_mask_key_free(mk);
    ohsm_store_close(s);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/ohsm-backup-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    path_in(f, f->db, sizeof(f->db), "hsm.db");
    path_in(f, f->mask, sizeof(f->mask), "masking.key");
    path_in(f, f->key_path, sizeof(f->key_path), "backup.key");
    path_in(f, f->bak, sizeof(f->bak), "backup-one.bak");
    assert_int_equal(RAND_bytes(f->mk, sizeof(f->mk)), 1);
    assert_int_equal(ohsm_files_write_new(f->mask, f->mk, sizeof(f->mk), 0600), OHSM_OK);
    assert_int_equal(ohsm_backup_key_load(f->key_path, &f->key), OHSM_OK);
    make_hsm_db(f, 3);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    ohsm_secret_free(f->key);
    assert_int_equal(ohsm_files_remove_tree(f->dir), OHSM_OK);
    free(f);
    return 0;
}

/* Number of directory entries whose name contains part. */
static int count_named(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strstr(e->d_name, part) != NULL) {
            n++;
        }
    }
    closedir(d);
    return n;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    uint8_t *b = malloc((size_t)st.st_size + 1);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    *len = fread(b, 1, (size_t)st.st_size, fp);
    assert_int_equal(*len, (size_t)st.st_size);
    fclose(fp);
    return b;
}

static void spit(const char *path, const uint8_t *b, size_t len)
{
    unlink(path);
    assert_int_equal(ohsm_files_write_new(path, b, len, 0600), OHSM_OK);
}

/* The backup key: made 0600 with 32 bytes, the same on reload; a file of the wrong mode or
 * size, a symlink or a directory is refused. */
static void test_backup_key_file(void **state)
{
    struct fx *f = *state;
    struct ohsm_secret *k = NULL;
    struct stat st;
    char p[128], link_path[128];

    assert_int_equal(lstat(f->key_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);
    assert_int_equal(ohsm_backup_key_load(f->key_path, &k), OHSM_OK);
    assert_int_equal(ohsm_secret_len(k), 32);
    assert_memory_equal(ohsm_secret_data(k), ohsm_secret_data(f->key), 32);
    ohsm_secret_free(k);
    k = NULL;

    assert_int_equal(chmod(f->key_path, 0640), 0);
    assert_int_equal(ohsm_backup_key_load(f->key_path, &k), OHSM_ACCESS_DENIED);
    assert_int_equal(chmod(f->key_path, 0600), 0);
    path_in(f, p, sizeof(p), "short.key");
    assert_int_equal(ohsm_files_write_new(p, "0123456789", 10, 0600), OHSM_OK);
    assert_int_equal(ohsm_backup_key_load(p, &k), OHSM_DATA_INVALID);
    path_in(f, link_path, sizeof(link_path), "link.key");
    assert_int_equal(symlink(f->key_path, link_path), 0);
    assert_int_equal(ohsm_backup_key_load(link_path, &k), OHSM_ACCESS_DENIED);
    assert_int_equal(ohsm_backup_key_load(f->dir, &k), OHSM_ACCESS_DENIED);
    assert_null(k);
    assert_int_equal(ohsm_backup_key_load(NULL, &k), OHSM_ARGUMENTS_BAD);
}

/* ---- a writer on a second connection while the backup is made ---- */

struct writer {
    const char *db;
    atomic_int done; /* transactions committed */
    atomic_bool stop;
};

/* Each transaction puts an object and a tombstone of the same handle: a consistent copy has
 * them in pairs. */
static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct ohsm_store_init in = {"cluster-src", "hsm-src", 5, NULL, 0, &cheap};
    struct ohsm_store *s = NULL;
    if (ohsm_store_open(w->db, &in, &s) != OHSM_OK) {
        return NULL;
    }
    for (uint64_t i = 0; i < 5000 && !atomic_load(&w->stop); i++) {
        uint64_t h = ohsm_handle_make(1, 1000 + i);
        if (ohsm_store_begin(s) != OHSM_OK) {
            break;
        }
        if (ohsm_store_obj_put(s, h, 1, (const uint8_t *)"pair-object", 11) != OHSM_OK ||
            ohsm_store_tomb_put(s, h, 1, (const uint8_t *)"pair-tomb", 9) != OHSM_OK ||
            ohsm_store_commit(s) != OHSM_OK) {
            ohsm_store_rollback(s);
            break;
        }
        atomic_fetch_add(&w->done, 1);
    }
    ohsm_store_close(s);
    return NULL;
}

struct pairs {
    struct ohsm_store *s;
    size_t objs, paired;
};

static ohsm_rv count_pair(void *arg, uint64_t handle, uint64_t version, const uint8_t *sealed,
                          size_t len)
{
    struct pairs *p = arg;
    uint64_t v = 0;
    uint8_t *b = NULL;
    size_t n = 0;
    (void)version;
    p->objs++;
    if (len == 11 && memcmp(sealed, "pair-object", 11) == 0) {
        if (ohsm_store_tomb_get(p->s, handle, &v, &b, &n) == OHSM_OK) {
            p->paired++;
        }
        free(b);
    }
    return OHSM_OK;
}

/* Round trip: a backup made while another connection commits is one committed state (objects
 * and tombstones in pairs); restore gives new ids and serial, the same users (with fail
 * counters), the real objects and the masking key; the backup file is 0600 and no temp file is
 * left. */
static void test_backup_round_trip(void **state)
{
    struct fx *f = *state;
    struct writer w = {.db = f->db};
    struct ohsm_backup_info info, vinfo;
    struct ohsm_store_meta m;
    struct ohsm_store_user u;
    struct ohsm_store *s = NULL;
    struct ohsm_store_init in = {"x", "y", 5, NULL, 0, &cheap};
    struct pairs pr = {0};
    struct stat st;
    pthread_t t;
    char out_db[128], out_mask[128];
    size_t n = 0;

    atomic_init(&w.done, 0);
    atomic_init(&w.stop, false);
    assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
    for (int i = 0; i < 2000 && atomic_load(&w.done) < 20; i++) {
        (void)poll(NULL, 0, 5);
    }
    assert_true(atomic_load(&w.done) >= 20);
    assert_int_equal(ohsm_backup_make(f->key, "backup-one", f->db, f->mask, f->bak, &info),
                     OHSM_OK);
    int during = atomic_load(&w.done);
    atomic_store(&w.stop, true);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_string_equal(info.backup_id, "backup-one");
    assert_string_equal(info.cluster_id, "cluster-src");
    assert_string_equal(info.hsm_id, "hsm-src");
    assert_true(info.created > 0 && info.db_len > 0);
    assert_int_equal(lstat(f->bak, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(count_named(f->dir, ".tmp-"), 0);

    assert_int_equal(ohsm_backup_verify(f->key, "backup-one", f->bak, &vinfo), OHSM_OK);
    assert_memory_equal(&vinfo, &info, sizeof(info));

    path_in(f, out_db, sizeof(out_db), "restored.db");
    path_in(f, out_mask, sizeof(out_mask), "restored.mask");
    assert_int_equal(ohsm_backup_restore(f->key, "backup-one", f->bak, "cluster-new", "hsm-new",
                                         out_db, out_mask),
                     OHSM_OK);
    assert_int_equal(count_named(f->dir, ".tmp-"), 0);
    assert_int_equal(count_named(f->dir, "restored.db-"), 0); /* no -wal or -shm left */
    assert_int_equal(lstat(out_db, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(lstat(out_mask, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    uint8_t *mk = slurp(out_mask, &n);
    assert_int_equal(n, 32);
    assert_memory_equal(mk, f->mk, 32);
    free(mk);

    assert_int_equal(ohsm_store_open(out_db, &in, &s), OHSM_OK);
    assert_int_equal(ohsm_store_meta(s, &m), OHSM_OK);
    assert_string_equal(m.cluster_id, "cluster-new");
    assert_string_equal(m.hsm_id, "hsm-new");
    assert_int_equal(ohsm_store_user_by_name(s, "alice", &u), OHSM_OK);
    assert_int_equal(u.type, OHSM_UT_CU);
    assert_int_equal(ohsm_pwhash_verify(u.pwrec, sizeof(u.pwrec), (const uint8_t *)"alicepass", 9),
                     OHSM_OK);
    assert_int_equal(ohsm_store_user_by_name(s, "admin", &u), OHSM_OK);
    pr.s = s;
    assert_int_equal(ohsm_store_obj_each(s, count_pair, &pr), OHSM_OK);
    /* 3 real objects, then the writer's pairs: all complete, at least those committed before
     * the backup started, at most those committed by the time it returned. */
    assert_int_equal(pr.objs, 3 + pr.paired);
    assert_true(pr.paired >= 20 && pr.paired <= (size_t)during);
    ohsm_store_close(s);

    /* The source meta is untouched by the restore. */
    assert_int_equal(ohsm_store_open(f->db, &in, &s), OHSM_OK);
    assert_int_equal(ohsm_store_meta(s, &m), OHSM_OK);
    assert_string_equal(m.cluster_id, "cluster-src");
    ohsm_store_close(s);

    /* Outputs are new files only: a second restore to the same paths changes nothing. */
    struct stat before;
    assert_int_equal(stat(out_db, &before), 0);
    assert_int_equal(
        ohsm_backup_restore(f->key, "backup-one", f->bak, "cluster-x", "hsm-x", out_db, NULL),
        OHSM_IO);
    assert_int_equal(errno, EEXIST);
    assert_int_equal(stat(out_db, &st), 0);
    assert_int_equal(st.st_mtime, before.st_mtime);
    assert_int_equal(st.st_ino, before.st_ino);
    /* Restoring without a masking-key output writes only the database. */
    path_in(f, out_db, sizeof(out_db), "restored2.db");
    assert_int_equal(
        ohsm_backup_restore(f->key, "backup-one", f->bak, "cluster-x", "hsm-x", out_db, NULL),
        OHSM_OK);
    /* make refuses an existing output. */
    assert_int_equal(ohsm_backup_make(f->key, "backup-one", f->db, f->mask, f->bak, NULL), OHSM_IO);
    assert_int_equal(errno, EEXIST);
    assert_int_equal(count_named(f->dir, ".tmp-"), 0);
}

/* Refusal: verify and restore both fail with code want, and restore writes nothing. */
static void assert_refused(struct fx *f, const struct ohsm_secret *key, const char *id,
                           const char *path, ohsm_rv want)
{
    char out_db[128], out_mask[128];
    struct ohsm_backup_info info;
    memset(&info, 0x5a, sizeof(info));
    assert_int_equal(ohsm_backup_verify(key, id, path, &info), want);
    path_in(f, out_db, sizeof(out_db), "never.db");
    path_in(f, out_mask, sizeof(out_mask), "never.mask");
    assert_int_equal(ohsm_backup_restore(key, id, path, "cluster-new", "hsm-new", out_db, out_mask),
                     want);
    assert_int_equal(access(out_db, F_OK), -1);
    assert_int_equal(access(out_mask, F_OK), -1);
    assert_int_equal(count_named(f->dir, ".tmp-"), 0);
    assert_int_equal(count_named(f->dir, "never"), 0);
}

/* Every header byte (through the IV) flipped in turn, and every 97th byte after it, the last
 * tag byte: refused; so are truncations, an appended byte, an empty file, a missing file, another
 * key and another backup id; the copy is a new id's backup of the same snapshot. */
static void test_backup_tamper(void **state)
{
    struct fx *f = *state;
    struct ohsm_secret *other = NULL;
    uint8_t k2[32];
    char p[128], cp[128];
    size_t len = 0;

    assert_int_equal(ohsm_backup_make(f->key, "backup-one", f->db, f->mask, f->bak, NULL), OHSM_OK);
    uint8_t *orig = slurp(f->bak, &len);
    size_t hdr = 8 + 2 + 1 + strlen("backup-one") + 1 + strlen("cluster-src") + 1 +
                 strlen("hsm-src") + 8 + 4 + 8 + 12;
    assert_true(len > hdr + 32 + 16);
    path_in(f, p, sizeof(p), "bad.bak");
    size_t flips = 0;
    for (size_t i = 0; i < len; i += i < hdr ? 1 : 97) {
        orig[i] ^= 0x01;
        spit(p, orig, len);
        orig[i] ^= 0x01;
        struct ohsm_backup_info info;
        ohsm_rv rv = ohsm_backup_verify(f->key, "backup-one", p, &info);
        if (rv != OHSM_DATA_INVALID && rv != OHSM_ENCRYPTED_DATA_INVALID) {
            fail_msg("byte %zu flipped: %d", i, (int)rv);
        }
        flips++;
    }
    assert_true(flips > hdr);
    orig[len - 1] ^= 0x80;
    spit(p, orig, len);
    orig[len - 1] ^= 0x80;
    assert_refused(f, f->key, "backup-one", p, OHSM_ENCRYPTED_DATA_INVALID);
    orig[hdr + 5] ^= 0x10; /* ciphertext: restore refused too */
    spit(p, orig, len);
    orig[hdr + 5] ^= 0x10;
    assert_refused(f, f->key, "backup-one", p, OHSM_ENCRYPTED_DATA_INVALID);
    orig[20] ^= 0x01; /* inside an id in the header */
    spit(p, orig, len);
    orig[20] ^= 0x01;
    assert_refused(f, f->key, "backup-one", p, OHSM_DATA_INVALID);

    const size_t cuts[] = {0, 1, 7, 8, hdr - 1, hdr, hdr + 1, len / 2, len - 16, len - 1};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        spit(p, orig, cuts[i]);
        assert_refused(f, f->key, "backup-one", p, OHSM_DATA_INVALID);
    }
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, orig, len);
    longer[len] = 0;
    spit(p, longer, len + 1);
    assert_refused(f, f->key, "backup-one", p, OHSM_DATA_INVALID);
    free(longer);

    path_in(f, cp, sizeof(cp), "missing.bak");
    assert_refused(f, f->key, "backup-one", cp, OHSM_IO);
    assert_int_equal(RAND_bytes(k2, sizeof(k2)), 1);
    assert_int_equal(ohsm_secret_new(k2, sizeof(k2), &other), OHSM_OK);
    assert_refused(f, other, "backup-one", f->bak, OHSM_ENCRYPTED_DATA_INVALID);
    assert_refused(f, f->key, "backup-two", f->bak, OHSM_DATA_INVALID);
    assert_refused(f, f->key, "", f->bak, OHSM_ARGUMENTS_BAD);
    assert_refused(f, NULL, "backup-one", f->bak, OHSM_ARGUMENTS_BAD);

    /* Copy: verifies as the new id only, same snapshot; the original is unchanged. */
    path_in(f, cp, sizeof(cp), "backup-copy.bak");
    struct ohsm_backup_info a, b;
    assert_int_equal(ohsm_backup_copy(f->key, "backup-one", f->bak, "backup-copy", cp), OHSM_OK);
    assert_int_equal(ohsm_backup_verify(f->key, "backup-one", f->bak, &a), OHSM_OK);
    assert_int_equal(ohsm_backup_verify(f->key, "backup-copy", cp, &b), OHSM_OK);
    assert_string_equal(b.backup_id, "backup-copy");
    assert_string_equal(b.cluster_id, a.cluster_id);
    assert_string_equal(b.hsm_id, a.hsm_id);
    assert_int_equal(b.created, a.created);
    assert_int_equal(b.db_len, a.db_len);
    assert_refused(f, f->key, "backup-one", cp, OHSM_DATA_INVALID);
    /* a copy from a bad source or to an existing path writes nothing */
    path_in(f, cp, sizeof(cp), "backup-three.bak");
    assert_int_equal(ohsm_backup_copy(other, "backup-one", f->bak, "backup-three", cp),
                     OHSM_ENCRYPTED_DATA_INVALID);
    assert_int_equal(access(cp, F_OK), -1);
    assert_int_equal(ohsm_backup_copy(f->key, "backup-one", f->bak, "backup-three", p), OHSM_IO);
    assert_int_equal(count_named(f->dir, ".tmp-"), 0);
    ohsm_secret_free(other);
    free(orig);
}

/* make refuses what is not an HSM backup source and leaves nothing behind: a missing database,
 * a database that is not a store, a masking key of the wrong size or mode, a bad id. */
static void test_backup_make_refusals(void **state)
{
    struct fx *f = *state;
    char p[128], bad[128];

    path_in(f, p, sizeof(p), "missing.db");
    assert_int_equal(ohsm_backup_make(f->key, "backup-one", p, f->mask, f->bak, NULL), OHSM_DB);
    path_in(f, p, sizeof(p), "plain.db");
    assert_int_equal(ohsm_files_write_new(p, "not a database at all", 21, 0600), OHSM_OK);
    assert_int_equal(ohsm_backup_make(f->key, "backup-one", p, f->mask, f->bak, NULL), OHSM_DB);
    path_in(f, bad, sizeof(bad), "short.mask");
    assert_int_equal(ohsm_files_write_new(bad, f->mk, 31, 0600), OHSM_OK);
    assert_int_equal(ohsm_backup_make(f->key, "backup-one", f->db, bad, f->bak, NULL),
                     OHSM_DATA_INVALID);
    assert_int_equal(chmod(f->mask, 0644), 0);
    assert_int_equal(ohsm_backup_make(f->key, "backup-one", f->db, f->mask, f->bak, NULL),
                     OHSM_DATA_INVALID);
    assert_int_equal(chmod(f->mask, 0600), 0);
    assert_int_equal(ohsm_backup_make(f->key, "has space", f->db, f->mask, f->bak, NULL),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(access(f->bak, F_OK), -1);
    assert_int_equal(count_named(f->dir, ".tmp-"), 0);
    assert_int_equal(count_named(f->dir, ".bak"), 0);
}

/* ---- the restored database in openhsm-hsm ---- */

/* Starts openhsm-hsm on db with the masking key, reads its first stderr line (bounded wait),
 * stops it. */
static void hsm_banner(struct fx *f, const char *db, const char *mask, char *line, size_t cap)
{
    char hsm[4200], cert[128], key[128];
    EVP_PKEY *ca_key = NULL, *k = NULL;
    X509 *ca = NULL, *c = NULL;
    int pipefd[2];
    size_t got = 0;

    path_in(f, cert, sizeof(cert), "hsm.crt");
    path_in(f, key, sizeof(key), "hsm.key");
    if (access(cert, F_OK) != 0) {
        assert_int_equal(ohsm_pki_keygen(&ca_key), OHSM_OK);
        assert_int_equal(ohsm_pki_ca_cert(ca_key, "cluster-new", &ca), OHSM_OK);
        assert_int_equal(ohsm_pki_keygen(&k), OHSM_OK);
        assert_int_equal(ohsm_pki_hsm_cert(k, "hsm-new", ca, ca_key, &c), OHSM_OK);
        assert_int_equal(ohsm_pki_write_key(key, k), OHSM_OK);
        assert_int_equal(ohsm_pki_write_cert(cert, c, 0644), OHSM_OK);
        EVP_PKEY_free(ca_key);
        EVP_PKEY_free(k);
        X509_free(ca);
        X509_free(c);
    }
    assert_int_equal(ohsm_files_path(hsm, sizeof(hsm), "%s/openhsm-hsm", bin_dir), OHSM_OK);
    assert_int_equal(access(hsm, X_OK), 0);
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        execl(hsm, hsm, "--db", db, "--masking-key", mask, "--cert", cert, "--key", key, "--listen",
              "127.0.0.1:0", (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    /* One line, or EOF (the HSM refused to start), within 20 s. */
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (got + 1 < cap && memchr(line, '\n', got) == NULL) {
        struct pollfd pfd = {pipefd[0], POLLIN, 0};
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left =
            20000 - ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            break;
        }
        ssize_t n = read(pipefd[0], line + got, cap - 1 - got);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    line[got] = '\0';
    close(pipefd[0]);
    kill(pid, SIGTERM);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
}

/* A backup of an HSM database restored to a new path starts in openhsm-hsm with the masking key,
 * under its new ids, with every object opening (none skipped); with another masking key it
 * refuses to start. */
static void test_backup_restored_db_starts_hsm(void **state)
{
    struct fx *f = *state;
    char out_db[128], out_mask[128], other_mask[128], line[1024];
    uint8_t k2[32];

    assert_int_equal(ohsm_backup_make(f->key, "backup-one", f->db, f->mask, f->bak, NULL), OHSM_OK);
    path_in(f, out_db, sizeof(out_db), "new.db");
    path_in(f, out_mask, sizeof(out_mask), "new.mask");
    assert_int_equal(ohsm_backup_restore(f->key, "backup-one", f->bak, "cluster-new", "hsm-new",
                                         out_db, out_mask),
                     OHSM_OK);
    hsm_banner(f, out_db, out_mask, line, sizeof(line));
    if (strstr(line, "openhsm-hsm: hsm-new of cluster-new listening on 127.0.0.1:") == NULL ||
        strstr(line, "(slot 0, 3 objects,") == NULL) {
        fail_msg("unexpected HSM output: %s", line);
    }
    assert_int_equal(RAND_bytes(k2, sizeof(k2)), 1);
    path_in(f, other_mask, sizeof(other_mask), "other.mask");
    assert_int_equal(ohsm_files_write_new(other_mask, k2, sizeof(k2), 0600), OHSM_OK);
    hsm_banner(f, out_db, other_mask, line, sizeof(line));
    if (strstr(line, "does not belong to this HSM's cluster") == NULL) {
        fail_msg("unexpected HSM output: %s", line);
    }
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
        cmocka_unit_test_setup_teardown(test_backup_key_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_tamper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_make_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_restored_db_starts_hsm, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
