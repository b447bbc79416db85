/* SPDX-License-Identifier: Apache-2.0
 *
 * Sealed HSM backups (format and contracts in backup.h). Backup files are untrusted input: read
 * with a size bound, parsed with struct ohsm_rd, and nothing of them is used before the GCM tag
 * has been checked over the whole file. The snapshot uses SQLite's online backup API
 * (sqlite.org/backup.html): one sqlite3_backup_step(-1) copies every page inside one read
 * transaction, so the copy is a state the database was in at one commit, whatever the HSM writes
 * meanwhile (WAL readers do not block the writer).
 */
#include "cloud/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "cloud/files.h"
#include "openhsm/rd.h"
#include "store/store.h"

static const char magic[8] = {'O', 'H', 'S', 'M', 'B', 'A', 'K', '1'};
#define VERSION 1
#define IV_LEN 12
#define TAG_LEN 16
#define MASK_LEN 32
/* Header: magic, version, three ids with length bytes, time, two lengths, IV. */
#define HDR_MAX (8 + 2 + 3 + OHSM_BACKUP_ID_MAX + 31 + 31 + 8 + 4 + 8 + IV_LEN)
#define FILE_MAX ((size_t)HDR_MAX + MASK_LEN + OHSM_BACKUP_DB_MAX + TAG_LEN)
#define BUSY_TRIES 200 /* x 25 ms: how long a locked source database is waited for */

/* ---- small helpers ---- */

/* 1..max printable ASCII characters without spaces. */
static bool id_ok(const char *id, size_t max)
{
    size_t n = id != NULL ? strnlen(id, max + 1) : 0;
    if (n == 0 || n > max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (id[i] <= 0x20 || id[i] >= 0x7f) {
            return false;
        }
    }
    return true;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xffu);
        v >>= 8;
    }
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* Frees a plaintext buffer after wiping it (NULL ok). */
static void wipe_free(uint8_t *p, size_t len)
{
    if (p != NULL) {
        OPENSSL_cleanse(p, len);
        free(p);
    }
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads a whole regular file (not a symlink) of at most max bytes into *out (malloc'd; the
 * caller wipes and frees). Errors: OHSM_IO (errno), OHSM_DATA_INVALID (not a regular file, or
 * over max), OHSM_HOST_MEMORY. */
static ohsm_rv read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t got = 0, cap = 0;
    ohsm_rv rv = OHSM_IO;

    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return OHSM_IO;
    }
    if (fstat(fd, &st) != 0) {
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size > max) {
        rv = OHSM_DATA_INVALID;
        goto out;
    }
    cap = (size_t)st.st_size + 1;
    buf = malloc(cap);
    if (buf == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    /* Read until EOF (bounded by max + 1): a file that grew since fstat is refused. */
    while (got < cap) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            goto out;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    if (got != (size_t)st.st_size) {
        rv = OHSM_DATA_INVALID;
        goto out;
    }
    *out = buf;
    *len = got;
    buf = NULL;
    rv = OHSM_OK;
out:
    wipe_free(buf, cap);
    close(fd);
    return rv;
}

/* A new temp file "<path>.tmp-XXXXXX" (mkstemp: O_EXCL, mode 0600) holding data, fsynced.
 * tmp gets its name. */
static ohsm_rv write_temp(const char *path, const uint8_t *data, size_t len, char *tmp, size_t cap)
{
    OHSM_TRY(ohsm_files_path(tmp, cap, "%s.tmp-XXXXXX", path));
    int fd = mkstemp(tmp);
    if (fd < 0) {
        tmp[0] = '\0';
        return OHSM_IO;
    }
    if (fchmod(fd, 0600) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        int saved = errno;
        close(fd);
        unlink(tmp);
        tmp[0] = '\0';
        errno = saved;
        return OHSM_IO;
    }
    if (close(fd) != 0) {
        int saved = errno;
        unlink(tmp);
        tmp[0] = '\0';
        errno = saved;
        return OHSM_IO;
    }
    return OHSM_OK;
}

static void fsync_dir_of(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        ohsm_files_sync_dir(".");
    } else if (slash == path) {
        ohsm_files_sync_dir("/");
    } else if ((size_t)(slash - path) < sizeof(dir)) {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
        ohsm_files_sync_dir(dir);
    }
}

/* Gives the complete temp file its final name, which must not exist (link(2) never replaces),
 * and removes the temp name. Errors: OHSM_IO (EEXIST). The temp file is removed either way. */
static ohsm_rv publish(const char *tmp, const char *path)
{
    ohsm_rv rv = OHSM_OK;
    int saved = 0;
    if (link(tmp, path) != 0) {
        saved = errno;
        rv = OHSM_IO;
    }
    unlink(tmp);
    fsync_dir_of(path);
    errno = saved;
    return rv;
}

/* write_temp + publish. */
static ohsm_rv write_new_file(const char *path, const uint8_t *data, size_t len)
{
    char tmp[PATH_MAX];
    OHSM_TRY(write_temp(path, data, len, tmp, sizeof(tmp)));
    return publish(tmp, path);
}

/* The masking key file: regular, no group/other access, exactly 32 bytes. */
static ohsm_rv read_mask(const char *path, uint8_t mk[MASK_LEN])
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t len = 0;
    ohsm_rv rv;

    if (lstat(path, &st) != 0) {
        return OHSM_IO;
    }
    OHSM_ENSURE(S_ISREG(st.st_mode) && (st.st_mode & 077) == 0, OHSM_DATA_INVALID);
    OHSM_TRY(read_file(path, MASK_LEN, &buf, &len));
    rv = len == MASK_LEN ? OHSM_OK : OHSM_DATA_INVALID;
    if (rv == OHSM_OK) {
        memcpy(mk, buf, MASK_LEN);
    }
    wipe_free(buf, len + 1);
    return rv;
}

/* ---- the backup key ---- */

ohsm_rv ohsm_backup_key_load(const char *path, struct ohsm_secret **out)
{
    uint8_t k[OHSM_BACKUP_KEY_LEN];
    uint8_t *buf = NULL;
    size_t len = 0;
    struct stat st;
    ohsm_rv rv;

    OHSM_ENSURE(path != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    if (lstat(path, &st) != 0) {
        OHSM_ENSURE(errno == ENOENT, OHSM_IO);
        OHSM_ENSURE(RAND_priv_bytes(k, sizeof(k)) == 1, OHSM_DEVICE_ERROR);
        /* O_EXCL|O_NOFOLLOW: never through a planted symlink or over a file made meanwhile. */
        rv = ohsm_files_write_new(path, k, sizeof(k), 0600);
        if (rv == OHSM_OK) {
            rv = ohsm_secret_new(k, sizeof(k), out);
        }
        OPENSSL_cleanse(k, sizeof(k));
        return rv;
    }
    OHSM_ENSURE(S_ISREG(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 077) == 0,
                OHSM_ACCESS_DENIED);
    OHSM_TRY(read_file(path, OHSM_BACKUP_KEY_LEN, &buf, &len));
    rv = len == OHSM_BACKUP_KEY_LEN ? ohsm_secret_new(buf, len, out) : OHSM_DATA_INVALID;
    wipe_free(buf, len + 1);
    return rv;
}

/* ---- sealing ---- */

/* Writes the header (through the IV) for info and iv into h; *hlen gets its length. */
static void header_put(const struct ohsm_backup_info *info, const uint8_t iv[IV_LEN],
                       uint8_t h[HDR_MAX], size_t *hlen)
{
    size_t off = 0;
    const char *ids[3] = {info->backup_id, info->cluster_id, info->hsm_id};

    memcpy(h, magic, sizeof(magic));
    off += sizeof(magic);
    put_be(h + off, VERSION, 2);
    off += 2;
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(ids[i]);
        h[off++] = (uint8_t)n;
        memcpy(h + off, ids[i], n);
        off += n;
    }
    put_be(h + off, info->created, 8);
    off += 8;
    put_be(h + off, MASK_LEN, 4);
    off += 4;
    put_be(h + off, info->db_len, 8);
    off += 8;
    memcpy(h + off, iv, IV_LEN);
    off += IV_LEN;
    *hlen = off;
}

/* AES-256-GCM over in (len bytes) into out (same length), with aad; enc 1 writes tag, enc 0
 * checks it. OpenSSL takes int lengths: fed in 1 MiB pieces. */
static ohsm_rv gcm(int enc, const struct ohsm_secret *key, const uint8_t iv[IV_LEN],
                   const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
                   uint8_t tag[TAG_LEN])
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    int n = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

    OHSM_ENSURE(c != NULL, OHSM_HOST_MEMORY);
    if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, ohsm_secret_data(key), iv, enc) != 1 ||
        EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len) != 1) {
        goto out;
    }
    for (size_t off = 0; off < len;) {
        size_t chunk = len - off < (1u << 20) ? len - off : (1u << 20);
        if (EVP_CipherUpdate(c, out + off, &n, in + off, (int)chunk) != 1 || (size_t)n != chunk) {
            goto out;
        }
        off += chunk;
    }
    if (enc == 0 && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1) {
        goto out;
    }
    if (EVP_CipherFinal_ex(c, out + len, &n) != 1) {
        rv = enc ? OHSM_DEVICE_ERROR : OHSM_ENCRYPTED_DATA_INVALID;
        goto out;
    }
    if (enc == 1 && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1) {
        goto out;
    }
    rv = OHSM_OK;
out:
    EVP_CIPHER_CTX_free(c);
    return rv;
}

/* Seals plain (masking key || database, info->db_len + 32 bytes) into a new file buffer. */
static ohsm_rv seal(const struct ohsm_secret *key, const struct ohsm_backup_info *info,
                    const uint8_t *plain, uint8_t **out, size_t *out_len)
{
    uint8_t iv[IV_LEN];
    size_t hlen = 0;
    size_t plen = (size_t)info->db_len + MASK_LEN;
    ohsm_rv rv;

    OHSM_ENSURE(RAND_bytes(iv, sizeof(iv)) == 1, OHSM_DEVICE_ERROR);
    uint8_t *f = malloc(HDR_MAX + plen + TAG_LEN);
    OHSM_ENSURE(f != NULL, OHSM_HOST_MEMORY);
    header_put(info, iv, f, &hlen);
    rv = gcm(1, key, iv, f, hlen, plain, plen, f + hlen, f + hlen + plen);
    if (rv != OHSM_OK) {
        free(f);
        return rv;
    }
    *out = f;
    *out_len = hlen + plen + TAG_LEN;
    return OHSM_OK;
}

/* Copies an id field of length n (checked printable, 1..max) into dst. */
static ohsm_rv take_id(struct ohsm_rd *r, char *dst, size_t max)
{
    uint8_t n = 0;
    const uint8_t *p = NULL;
    OHSM_TRY(ohsm_rd_u8(r, &n));
    OHSM_ENSURE(n >= 1 && n <= max, OHSM_DATA_INVALID);
    OHSM_TRY(ohsm_rd_bytes(r, n, &p));
    memcpy(dst, p, n);
    dst[n] = '\0';
    OHSM_ENSURE(id_ok(dst, max), OHSM_DATA_INVALID);
    return OHSM_OK;
}

/* Parses the header of file f; *hlen gets its length (the AAD) and *iv points at the IV. */
static ohsm_rv header_get(const uint8_t *f, size_t len, struct ohsm_backup_info *info, size_t *hlen,
                          const uint8_t **iv)
{
    struct ohsm_rd r;
    const uint8_t *p = NULL;
    uint32_t mask_len = 0;

    memset(info, 0, sizeof(*info));
    ohsm_rd_init(&r, f, len);
    if (ohsm_rd_bytes(&r, sizeof(magic), &p) != OHSM_OK || memcmp(p, magic, sizeof(magic)) != 0 ||
        ohsm_rd_bytes(&r, 2, &p) != OHSM_OK || get_be(p, 2) != VERSION ||
        take_id(&r, info->backup_id, OHSM_BACKUP_ID_MAX) != OHSM_OK ||
        take_id(&r, info->cluster_id, sizeof(info->cluster_id) - 1) != OHSM_OK ||
        take_id(&r, info->hsm_id, sizeof(info->hsm_id) - 1) != OHSM_OK ||
        ohsm_rd_bytes(&r, 8, &p) != OHSM_OK) {
        return OHSM_DATA_INVALID;
    }
    info->created = get_be(p, 8);
    if (ohsm_rd_u32(&r, &mask_len) != OHSM_OK || mask_len != MASK_LEN ||
        ohsm_rd_bytes(&r, 8, &p) != OHSM_OK) {
        return OHSM_DATA_INVALID;
    }
    info->db_len = get_be(p, 8);
    if (info->db_len == 0 || info->db_len > OHSM_BACKUP_DB_MAX ||
        ohsm_rd_bytes(&r, IV_LEN, iv) != OHSM_OK) {
        return OHSM_DATA_INVALID;
    }
    *hlen = r.off;
    /* The file ends right after the tag. */
    OHSM_ENSURE(len - r.off >= TAG_LEN && len - r.off - TAG_LEN == info->db_len + MASK_LEN,
                OHSM_DATA_INVALID);
    return OHSM_OK;
}

/* Reads, checks and decrypts backup id at path. *plain (malloc'd, *plain_len bytes: masking key
 * then database) is the caller's to wipe and free. */
static ohsm_rv open_backup(const struct ohsm_secret *key, const char *id, const char *path,
                           struct ohsm_backup_info *info, uint8_t **plain, size_t *plain_len)
{
    uint8_t *f = NULL, *p = NULL;
    uint8_t tag[TAG_LEN];
    const uint8_t *iv = NULL;
    size_t len = 0, hlen = 0, plen = 0;
    ohsm_rv rv;

    OHSM_ENSURE(key != NULL && ohsm_secret_len(key) == OHSM_BACKUP_KEY_LEN && path != NULL &&
                    id_ok(id, OHSM_BACKUP_ID_MAX),
                OHSM_ARGUMENTS_BAD);
    OHSM_TRY(read_file(path, FILE_MAX, &f, &len));
    rv = header_get(f, len, info, &hlen, &iv);
    if (rv == OHSM_OK && strcmp(info->backup_id, id) != 0) {
        rv = OHSM_DATA_INVALID; /* another backup's file */
    }
    if (rv != OHSM_OK) {
        goto out;
    }
    plen = (size_t)info->db_len + MASK_LEN;
    p = malloc(plen);
    if (p == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    memcpy(tag, f + hlen + plen, TAG_LEN);
    rv = gcm(0, key, iv, f, hlen, f + hlen, plen, p, tag);
    if (rv != OHSM_OK) {
        goto out;
    }
    *plain = p;
    *plain_len = plen;
    p = NULL;
out:
    wipe_free(p, plen);
    free(f); /* ciphertext only */
    if (rv != OHSM_OK) {
        memset(info, 0, sizeof(*info));
    }
    return rv;
}

/* ---- the snapshot ---- */

/* One text value of the copy's meta table into v (cap bytes). */
static ohsm_rv meta_text(sqlite3 *db, const char *k, char *v, size_t cap)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv = OHSM_DB;
    if (sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k = ?1", -1, &st, NULL) != SQLITE_OK) {
        return OHSM_DB;
    }
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        int n = sqlite3_column_bytes(st, 0);
        if (t != NULL && n > 0 && (size_t)n < cap) {
            memcpy(v, t, (size_t)n);
            v[n] = '\0';
            rv = OHSM_OK;
        }
    }
    sqlite3_finalize(st);
    return rv;
}

/* Copies the live database at path into memory and serialises it: *db (sqlite3_malloc'd; the
 * caller wipes and sqlite3_free's it). info gets the copy's cluster and HSM ids and db_len. */
static ohsm_rv snapshot(const char *path, struct ohsm_backup_info *info, uint8_t **db)
{
    sqlite3 *src = NULL, *mem = NULL;
    sqlite3_backup *b = NULL;
    sqlite3_int64 size = 0;
    unsigned char *bytes = NULL;
    ohsm_rv rv = OHSM_DB;
    int rc = SQLITE_OK;

    if (sqlite3_open_v2(path, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK) {
        goto out;
    }
    b = sqlite3_backup_init(mem, "main", src, "main");
    if (b == NULL) {
        goto out;
    }
    /* step(-1): all pages in one read transaction. BUSY/LOCKED (a writer holding an exclusive
     * lock, e.g. during a checkpoint) is retried for at most BUSY_TRIES x 25 ms. */
    for (int i = 0; i < BUSY_TRIES; i++) {
        rc = sqlite3_backup_step(b, -1);
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) {
            break;
        }
        sqlite3_sleep(25);
    }
    if (sqlite3_backup_finish(b) != SQLITE_OK || rc != SQLITE_DONE) {
        rv = rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? OHSM_TIMEOUT : OHSM_DB;
        goto out;
    }
    /* Is it an HSM store? Its meta names the HSM (also recorded in the header). */
    if (meta_text(mem, "cluster_id", info->cluster_id, sizeof(info->cluster_id)) != OHSM_OK ||
        meta_text(mem, "hsm_id", info->hsm_id, sizeof(info->hsm_id)) != OHSM_OK ||
        !id_ok(info->cluster_id, sizeof(info->cluster_id) - 1) ||
        !id_ok(info->hsm_id, sizeof(info->hsm_id) - 1)) {
        goto out;
    }
    bytes = sqlite3_serialize(mem, "main", &size, 0);
    if (bytes == NULL || size <= 0) {
        goto out;
    }
    if ((uint64_t)size > OHSM_BACKUP_DB_MAX) {
        rv = OHSM_DATA_LEN_RANGE;
        goto out;
    }
    info->db_len = (uint64_t)size;
    *db = bytes;
    bytes = NULL;
    rv = OHSM_OK;
out:
    if (bytes != NULL) {
        OPENSSL_cleanse(bytes, (size_t)size);
        sqlite3_free(bytes);
    }
    /* The in-memory copy's pages go with the connection (password records and sealed objects,
     * no key material in the clear). */
    sqlite3_close(mem);
    sqlite3_close(src);
    return rv;
}

ohsm_rv ohsm_backup_make(const struct ohsm_secret *key, const char *backup_id, const char *db_path,
                         const char *mask_path, const char *out_path, struct ohsm_backup_info *info)
{
    struct ohsm_backup_info h;
    uint8_t *db = NULL, *plain = NULL, *file = NULL;
    size_t plen = 0, flen = 0;
    ohsm_rv rv;

    OHSM_ENSURE(key != NULL && ohsm_secret_len(key) == OHSM_BACKUP_KEY_LEN && db_path != NULL &&
                    mask_path != NULL && out_path != NULL && id_ok(backup_id, OHSM_BACKUP_ID_MAX),
                OHSM_ARGUMENTS_BAD);
    memset(&h, 0, sizeof(h));
    memcpy(h.backup_id, backup_id, strlen(backup_id));
    h.created = (uint64_t)time(NULL);
    rv = snapshot(db_path, &h, &db);
    if (rv != OHSM_OK) {
        goto out;
    }
    plen = (size_t)h.db_len + MASK_LEN;
    plain = malloc(plen);
    if (plain == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    rv = read_mask(mask_path, plain);
    if (rv != OHSM_OK) {
        goto out;
    }
    memcpy(plain + MASK_LEN, db, (size_t)h.db_len);
    rv = seal(key, &h, plain, &file, &flen);
    if (rv != OHSM_OK) {
        goto out;
    }
    rv = write_new_file(out_path, file, flen);
    if (rv == OHSM_OK && info != NULL) {
        *info = h;
    }
out:
    if (db != NULL) {
        OPENSSL_cleanse(db, (size_t)h.db_len);
        sqlite3_free(db);
    }
    wipe_free(plain, plen);
    free(file);
    return rv;
}

ohsm_rv ohsm_backup_verify(const struct ohsm_secret *key, const char *backup_id, const char *path,
                           struct ohsm_backup_info *info)
{
    struct ohsm_backup_info h;
    uint8_t *plain = NULL;
    size_t plen = 0;
    OHSM_TRY(open_backup(key, backup_id, path, &h, &plain, &plen));
    wipe_free(plain, plen);
    if (info != NULL) {
        *info = h;
    }
    return OHSM_OK;
}

/* Removes a temp database and the side files SQLite may have made next to it. */
static void remove_db_temp(const char *tmp)
{
    char side[PATH_MAX];
    static const char *const ext[] = {"-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
        if (ohsm_files_path(side, sizeof(side), "%s%s", tmp, ext[i]) == OHSM_OK) {
            unlink(side);
        }
    }
    unlink(tmp);
}

ohsm_rv ohsm_backup_restore(const struct ohsm_secret *key, const char *backup_id, const char *path,
                            const char *new_cluster_id, const char *new_hsm_id, const char *out_db,
                            const char *out_mask)
{
    struct ohsm_backup_info h;
    struct stat st;
    uint8_t *plain = NULL;
    size_t plen = 0;
    char tmp_db[PATH_MAX] = "", tmp_mask[PATH_MAX] = "";
    ohsm_rv rv;

    OHSM_ENSURE(out_db != NULL && id_ok(new_cluster_id, 31) && id_ok(new_hsm_id, 31),
                OHSM_ARGUMENTS_BAD);
    /* Refuse early when an output exists (publish checks again, atomically). */
    if (lstat(out_db, &st) == 0 || (out_mask != NULL && lstat(out_mask, &st) == 0)) {
        errno = EEXIST;
        return OHSM_IO;
    }
    OHSM_TRY(open_backup(key, backup_id, path, &h, &plain, &plen));
    rv = write_temp(out_db, plain + MASK_LEN, (size_t)h.db_len, tmp_db, sizeof(tmp_db));
    if (rv != OHSM_OK) {
        goto out;
    }
    rv = ohsm_store_rebind(tmp_db, new_cluster_id, new_hsm_id);
    if (rv != OHSM_OK) {
        goto out;
    }
    if (out_mask != NULL) {
        rv = write_temp(out_mask, plain, MASK_LEN, tmp_mask, sizeof(tmp_mask));
        if (rv != OHSM_OK) {
            goto out;
        }
        rv = publish(tmp_mask, out_mask);
        tmp_mask[0] = '\0';
        if (rv != OHSM_OK) {
            goto out;
        }
    }
    rv = publish(tmp_db, out_db);
    tmp_db[0] = '\0';
    if (rv != OHSM_OK && out_mask != NULL) {
        int saved = errno;
        unlink(out_mask); /* both files or neither */
        errno = saved;
    }
out:
    if (tmp_db[0] != '\0') {
        int saved = errno;
        remove_db_temp(tmp_db);
        errno = saved;
    }
    wipe_free(plain, plen);
    return rv;
}

ohsm_rv ohsm_backup_copy(const struct ohsm_secret *key, const char *src_id, const char *src_path,
                         const char *dst_id, const char *dst_path)
{
    struct ohsm_backup_info h;
    uint8_t *plain = NULL, *file = NULL;
    size_t plen = 0, flen = 0;
    ohsm_rv rv;

    OHSM_ENSURE(dst_path != NULL && id_ok(dst_id, OHSM_BACKUP_ID_MAX), OHSM_ARGUMENTS_BAD);
    OHSM_TRY(open_backup(key, src_id, src_path, &h, &plain, &plen));
    memset(h.backup_id, 0, sizeof(h.backup_id));
    memcpy(h.backup_id, dst_id, strlen(dst_id));
    rv = seal(key, &h, plain, &file, &flen);
    if (rv == OHSM_OK) {
        rv = write_new_file(dst_path, file, flen);
    }
    wipe_free(plain, plen);
    free(file);
    return rv;
}
