/* SPDX-License-Identifier: Apache-2.0
 *
 * File-system helpers for openhsmd: bounded path formatting, private directories, files created
 * exclusively (O_EXCL|O_NOFOLLOW, so a planted symlink or an old file is never written through),
 * files replaced atomically (temp file, fsync, rename), tree removal, reading a log's tail, and
 * the ownership checks that keep openhsmd from running on keys or a CA someone else planted.
 * On failure errno describes the cause (it is preserved across the cleanup). Thread-safe.
 */
#ifndef OHSM_CLOUD_FILES_H
#define OHSM_CLOUD_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "openhsm/rv.h"

/* snprintf into out. Errors: OHSM_BUFFER_TOO_SMALL (truncated; out is then ""). */
OHSM_NODISCARD __attribute__((format(printf, 3, 4))) ohsm_rv ohsm_files_path(char *out, size_t cap,
                                                                             const char *fmt, ...);

/* Creates directory path with mode 0700; an existing directory is fine when it is openhsmd's
 * (owned by the effective user, not writable by group or others). Errors: OHSM_IO (errno set;
 * ENOTDIR when path exists and is not a directory, ELOOP for a symlink, EPERM for a directory
 * someone else owns or can write to). */
OHSM_NODISCARD ohsm_rv ohsm_files_mkdir(const char *path);

/* Creates path (which must not exist) with mode, writes len bytes, fsyncs and closes. A partial
 * file is removed on failure. Errors: OHSM_IO (EEXIST when path exists, ELOOP for a symlink). */
OHSM_NODISCARD ohsm_rv ohsm_files_write_new(const char *path, const void *data, size_t len,
                                            mode_t mode);

/* Replaces path atomically: writes path.tmp as ohsm_files_write_new does, renames it over path and
 * fsyncs the directory. Readers see the old or the new content, never a mix. Errors: OHSM_IO,
 * OHSM_BUFFER_TOO_SMALL (path too long). */
OHSM_NODISCARD ohsm_rv ohsm_files_write_atomic(const char *path, const void *data, size_t len,
                                               mode_t mode);

/* fsyncs directory dir (best effort: after a rename or unlink in it). */
void ohsm_files_sync_dir(const char *dir);

/* Removes path and everything under it without following symlinks; a missing path is fine.
 * Errors: OHSM_IO. */
OHSM_NODISCARD ohsm_rv ohsm_files_remove_tree(const char *path);

/* Copies the last (at most cap - 1) bytes of path into out, NUL-terminated, starting at a line
 * boundary when the file is longer. Errors: OHSM_IO, OHSM_ARGUMENTS_BAD. */
OHSM_NODISCARD ohsm_rv ohsm_files_tail(const char *path, char *out, size_t cap);

/* Whether path (a symlink is not followed) may be trusted as openhsmd's own: a directory or a
 * regular file, owned by uid, not writable by group or others; a secret (secret true) has no
 * group or other permission at all. On refusal, why (cap bytes, may be NULL) says what is wrong
 * and names path. Errors: OHSM_ACCESS_DENIED (refused), OHSM_IO (lstat failed; errno set, why
 * says so), OHSM_ARGUMENTS_BAD. */
OHSM_NODISCARD ohsm_rv ohsm_files_check_owned(const char *path, uid_t uid, bool secret, char *why,
                                              size_t cap);

/* Is name (a file's last path component) a secret for ohsm_files_check_owned: *.key (CA, HSM and
 * masking keys) and *.secret (the appliance user's password). */
bool ohsm_files_is_secret(const char *name);

/* Checks dir and everything under it (never following symlinks, at most 16 levels deep) with
 * ohsm_files_check_owned; the first refusal stops the walk. Read-only: nothing is created or
 * changed. Errors: as ohsm_files_check_owned, OHSM_BUFFER_TOO_SMALL (a path too long, or too
 * deep: refused as well). */
OHSM_NODISCARD ohsm_rv ohsm_files_check_tree(const char *dir, uid_t uid, char *why, size_t cap);

#endif
