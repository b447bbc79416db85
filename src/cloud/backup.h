/* SPDX-License-Identifier: Apache-2.0
 *
 * Sealed HSM backups (issue 12): a snapshot of one HSM's database (hsm.db: users, sealed objects,
 * metadata) and of its cluster's masking key, sealed under openhsmd's backup key.
 *
 * File format (integers big-endian; parsed with struct ohsm_rd, nothing trusted before the tag
 * checks):
 *   "OHSMBAK1" | u16 version (1)
 *   | u8 n | backup id (n = 1..OHSM_BACKUP_ID_MAX)
 *   | u8 n | source cluster id (1..31) | u8 n | source HSM id (1..31)
 *   | u64 creation time (Unix seconds) | u32 masking key length (32) | u64 database length
 *   | 12-byte IV
 *   | AES-256-GCM ciphertext of (masking key || database bytes) | 16-byte tag
 * The AAD is every byte before the ciphertext (header and IV), and the file must end right after
 * the tag: a change of any byte, a truncation, an appended byte, another key, or a file that
 * names another backup id (a backup renamed or copied over another) is refused.
 *
 * The backup key: 32 random bytes in a file of openhsmd's private directory (0600, owned by the
 * user running openhsmd), made on first use.
 *
 * Every output file is written as a temp file (mode 0600, "<path>.tmp-XXXXXX") in the target's
 * directory, fsynced, then linked to its name, which must not exist, and the directory fsynced:
 * the name shows the whole file or nothing, and nothing is ever overwritten. On failure nothing is
 * left behind (no temp file, no output). Plaintext buffers are cleansed on every path.
 * Thread-safe (no state).
 */
#ifndef OHSM_CLOUD_BACKUP_H
#define OHSM_CLOUD_BACKUP_H

#include <stdint.h>

#include "openhsm/rv.h"
#include "openhsm/secret.h"

#define OHSM_BACKUP_KEY_LEN 32
#define OHSM_BACKUP_ID_MAX 63
/* The largest database a backup holds (an HSM at its object limit is well below it). */
#define OHSM_BACKUP_DB_MAX (256u * 1024u * 1024u)

/* What a backup's header says (checked by the tag before it is returned). */
struct ohsm_backup_info {
    char backup_id[OHSM_BACKUP_ID_MAX + 1];
    char cluster_id[32]; /* the HSM the snapshot was taken from */
    char hsm_id[32];
    uint64_t created; /* Unix seconds: when the snapshot was taken */
    uint64_t db_len;
};

/* Loads the backup key from path, creating it (32 random bytes, O_EXCL|O_NOFOLLOW, 0600) when
 * path does not exist. An existing path must be a regular file (not a symlink) owned by the
 * effective user, mode 0600 or stricter, of exactly 32 bytes. *out: caller frees
 * (ohsm_secret_free). Errors: OHSM_ACCESS_DENIED (wrong owner, type or mode), OHSM_DATA_INVALID
 * (wrong size), OHSM_IO (errno set), OHSM_DEVICE_ERROR, OHSM_HOST_MEMORY, OHSM_ARGUMENTS_BAD. */
OHSM_NODISCARD ohsm_rv ohsm_backup_key_load(const char *path, struct ohsm_secret **out);

/* Takes a consistent snapshot of the live database db_path (SQLite's online backup API from a
 * read-only connection; the HSM may keep writing meanwhile) and the masking key file mask_path
 * (a 32-byte regular file without group or other access), and writes the sealed backup to
 * out_path (new file, mode 0600). info (may be NULL) gets the header written.
 * backup_id: 1..OHSM_BACKUP_ID_MAX printable ASCII characters without spaces.
 * Errors: OHSM_ARGUMENTS_BAD, OHSM_DB (database unreadable or not an HSM store), OHSM_IO (errno
 * set; EEXIST when out_path exists), OHSM_DATA_INVALID (masking key file), OHSM_DATA_LEN_RANGE
 * (database over OHSM_BACKUP_DB_MAX), OHSM_TIMEOUT (database locked for 5 s),
 * OHSM_DEVICE_ERROR, OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_backup_make(const struct ohsm_secret *key, const char *backup_id,
                                        const char *db_path, const char *mask_path,
                                        const char *out_path, struct ohsm_backup_info *info);

/* Reads and fully decrypts the backup at path, which must be backup backup_id sealed under key.
 * info (may be NULL) gets its header. Errors: OHSM_DATA_INVALID (malformed, truncated, trailing
 * bytes, another backup id), OHSM_ENCRYPTED_DATA_INVALID (tag: another key or any change),
 * OHSM_IO (errno set), OHSM_ARGUMENTS_BAD, OHSM_HOST_MEMORY, OHSM_DEVICE_ERROR. */
OHSM_NODISCARD ohsm_rv ohsm_backup_verify(const struct ohsm_secret *key, const char *backup_id,
                                          const char *path, struct ohsm_backup_info *info);

/* Restores backup backup_id from path: writes its database to out_db (new file, 0600) rebound to
 * new_cluster_id / new_hsm_id (ohsm_store_rebind: new ids and serial, all else kept) and, when
 * out_mask is not NULL, the masking key to out_mask (new file, 0600, 32 bytes). Both files or
 * neither. Errors: those of ohsm_backup_verify, OHSM_DB (rebind failed), OHSM_IO (EEXIST when an
 * output exists). */
OHSM_NODISCARD ohsm_rv ohsm_backup_restore(const struct ohsm_secret *key, const char *backup_id,
                                           const char *path, const char *new_cluster_id,
                                           const char *new_hsm_id, const char *out_db,
                                           const char *out_mask);

/* Re-seals backup src_id (src_path) as backup dst_id at dst_path (new file, 0600) with a fresh
 * IV; the source cluster and HSM ids and the creation time stay those of the snapshot
 * (CopyBackupToRegion: the copy is the same snapshot under a new backup id). Errors: those of
 * ohsm_backup_verify and ohsm_backup_make's output. */
OHSM_NODISCARD ohsm_rv ohsm_backup_copy(const struct ohsm_secret *key, const char *src_id,
                                        const char *src_path, const char *dst_id,
                                        const char *dst_path);

#endif
