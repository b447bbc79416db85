/* SPDX-License-Identifier: Apache-2.0
 *
 * Output files of the front ends (token files, wrapped keys, key files, signatures, -out files of
 * openhsm-cmu and openhsm-kmu), written so that they hold: the content goes to a new temporary
 * file next to the target (created O_EXCL|O_NOFOLLOW with the mode asked for, never the umask's
 * or an old file's), is fsync'd, and is renamed over the target. Readers see the old content or
 * the new, never a mix; a script that runs twice replaces its file; a symbolic link or other
 * non-regular file at the target is refused and left alone (never written through); a failed
 * write leaves the target as it was and no temporary file behind. Paths are the user's (argv,
 * command lines). Not thread-safe per struct ohsm_outfile; distinct ones are independent.
 */
#ifndef OHSM_CLIENT_OUTFILE_H
#define OHSM_CLIENT_OUTFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "openhsm/rv.h"

#define OHSM_OUTFILE_PATH_MAX 4096

struct ohsm_outfile {
    int fd; /* the temporary file, -1 when none */
    char path[OHSM_OUTFILE_PATH_MAX];
    char tmp[OHSM_OUTFILE_PATH_MAX + 8];
};

/* Starts an output file for path: checks that path is absent or a regular file, and creates the
 * temporary file (mode exactly `mode`). Write to f->fd, then ohsm_outfile_commit or
 * ohsm_outfile_abort. On failure err (cap bytes, may be NULL) says why in words a user can act on
 * ("it is a symbolic link", "Is a directory", strerror) and f holds nothing to clean up.
 * Errors: OHSM_IO, OHSM_ARGUMENTS_BAD (NULL or empty path, path too long). */
OHSM_NODISCARD ohsm_rv ohsm_outfile_open(struct ohsm_outfile *f, const char *path, mode_t mode,
                                         char *err, size_t cap);
/* fsyncs, closes and renames the temporary file over the path. On failure the temporary file is
 * removed and the target left as it was; err as above. Errors: OHSM_IO. */
OHSM_NODISCARD ohsm_rv ohsm_outfile_commit(struct ohsm_outfile *f, char *err, size_t cap);
/* Closes and removes the temporary file (nothing happens to the target). Safe to call twice. */
void ohsm_outfile_abort(struct ohsm_outfile *f);

/* The whole sequence for len bytes of data. Errors: as above. */
OHSM_NODISCARD ohsm_rv ohsm_outfile_write(const char *path, const void *data, size_t len,
                                          mode_t mode, char *err, size_t cap);

#endif
