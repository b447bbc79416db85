/* SPDX-License-Identifier: Apache-2.0
 *
 * Output files replaced atomically (temp file, fsync, rename), never through a symlink, always
 * with the mode asked for. See outfile.h.
 */
#include "client/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void say(char *err, size_t cap, const char *why)
{
    if (err != NULL && cap > 0) {
        (void)snprintf(err, cap, "%s", why);
    }
}

ohsm_rv ohsm_outfile_open(struct ohsm_outfile *f, const char *path, mode_t mode, char *err,
                          size_t cap)
{
    struct stat st;

    OHSM_ENSURE(f != NULL, OHSM_ARGUMENTS_BAD);
    f->fd = -1;
    f->path[0] = '\0';
    f->tmp[0] = '\0';
    if (path == NULL || path[0] == '\0') {
        say(err, cap, "no file name given");
        return OHSM_ARGUMENTS_BAD;
    }
    size_t n = strlen(path);
    if (n >= sizeof(f->path)) {
        say(err, cap, strerror(ENAMETOOLONG));
        return OHSM_ARGUMENTS_BAD;
    }
    /* What is there now: nothing, or a regular file to replace. A symlink is refused rather than
     * replaced: it may be planted (never follow it) or the user's own (do not clobber it). The
     * check races with the rename below, but the race cannot make us write through a link:
     * rename replaces whatever name is there and follows nothing. */
    if (lstat(path, &st) == 0) {
        if (S_ISLNK(st.st_mode)) {
            say(err, cap, "it is a symbolic link (not followed; remove it or name another file)");
            return OHSM_IO;
        }
        if (S_ISDIR(st.st_mode)) {
            say(err, cap, strerror(EISDIR));
            return OHSM_IO;
        }
        if (!S_ISREG(st.st_mode)) {
            say(err, cap, "it is not a regular file");
            return OHSM_IO;
        }
    } else if (errno != ENOENT) {
        say(err, cap, strerror(errno));
        return OHSM_IO;
    }
    memcpy(f->path, path, n + 1);
    /* Same directory as the target, so the rename is atomic (same file system). mkostemp
     * creates with O_EXCL: a name someone planted makes it pick another. */
    (void)snprintf(f->tmp, sizeof(f->tmp), "%s.XXXXXX", path);
    int fd = mkostemp(f->tmp, O_CLOEXEC);
    if (fd < 0) {
        say(err, cap, strerror(errno));
        f->tmp[0] = '\0';
        return OHSM_IO;
    }
    /* fchmod: mkostemp made it 0600; this is the mode asked for, whatever the umask. */
    if (fchmod(fd, mode) != 0) {
        say(err, cap, strerror(errno));
        (void)close(fd);
        (void)unlink(f->tmp);
        f->tmp[0] = '\0';
        return OHSM_IO;
    }
    f->fd = fd;
    return OHSM_OK;
}

void ohsm_outfile_abort(struct ohsm_outfile *f)
{
    if (f == NULL) {
        return;
    }
    if (f->fd >= 0) {
        (void)close(f->fd);
        f->fd = -1;
    }
    if (f->tmp[0] != '\0') {
        (void)unlink(f->tmp);
        f->tmp[0] = '\0';
    }
}

static void sync_dir_of(const char *path)
{
    char copy[OHSM_OUTFILE_PATH_MAX];
    (void)snprintf(copy, sizeof(copy), "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd); /* best effort: the rename itself already happened */
        (void)close(fd);
    }
}

ohsm_rv ohsm_outfile_commit(struct ohsm_outfile *f, char *err, size_t cap)
{
    OHSM_ENSURE(f != NULL && f->fd >= 0, OHSM_ARGUMENTS_BAD);
    int fd = f->fd;
    f->fd = -1;
    if (fsync(fd) != 0) {
        say(err, cap, strerror(errno));
        (void)close(fd);
        ohsm_outfile_abort(f);
        return OHSM_IO;
    }
    if (close(fd) != 0 || rename(f->tmp, f->path) != 0) {
        say(err, cap, strerror(errno));
        ohsm_outfile_abort(f);
        return OHSM_IO;
    }
    f->tmp[0] = '\0';
    sync_dir_of(f->path);
    return OHSM_OK;
}

ohsm_rv ohsm_outfile_write(const char *path, const void *data, size_t len, mode_t mode, char *err,
                           size_t cap)
{
    struct ohsm_outfile f;
    const unsigned char *p = data;

    OHSM_ENSURE(data != NULL || len == 0, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_outfile_open(&f, path, mode, err, cap));
    while (len > 0) {
        ssize_t w = write(f.fd, p, len);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            say(err, cap, w < 0 ? strerror(errno) : "short write");
            ohsm_outfile_abort(&f);
            return OHSM_IO;
        }
        p += w;
        len -= (size_t)w;
    }
    return ohsm_outfile_commit(&f, err, cap);
}
