/* SPDX-License-Identifier: Apache-2.0
 *
 * File-system helpers. Paths come from openhsmd itself (data dir given by the operator plus ids
 * it generated); file contents read back (log tails) are only ever printed, never parsed.
 */
#include "cloud/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ohsm_rv ohsm_files_path(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;

    OHSM_ENSURE(out != NULL && cap > 0 && fmt != NULL, OHSM_ARGUMENTS_BAD);
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) {
        out[0] = '\0';
        errno = ENAMETOOLONG;
        return OHSM_BUFFER_TOO_SMALL;
    }
    return OHSM_OK;
}

ohsm_rv ohsm_files_mkdir(const char *path)
{
    struct stat st;

    OHSM_ENSURE(path != NULL, OHSM_ARGUMENTS_BAD);
    if (mkdir(path, 0700) == 0) {
        return OHSM_OK;
    }
    if (errno != EEXIST) {
        return OHSM_IO;
    }
    if (lstat(path, &st) != 0) {
        return OHSM_IO;
    }
    if (!S_ISDIR(st.st_mode)) {
        errno = S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
        return OHSM_IO;
    }
    /* An existing directory is used only when it is ours and closed to others: what openhsmd
     * writes there (keys, HSM databases) must not be replaceable by anyone else. */
    if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        errno = EPERM;
        return OHSM_IO;
    }
    return OHSM_OK;
}

static int write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

ohsm_rv ohsm_files_write_new(const char *path, const void *data, size_t len, mode_t mode)
{
    OHSM_ENSURE(path != NULL && (data != NULL || len == 0), OHSM_ARGUMENTS_BAD);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        return OHSM_IO;
    }
    /* fchmod: the umask may have narrowed mode; what was asked for is what the file gets. */
    if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        int saved = errno;
        close(fd);
        unlink(path);
        errno = saved;
        return OHSM_IO;
    }
    if (close(fd) != 0) {
        int saved = errno;
        unlink(path);
        errno = saved;
        return OHSM_IO;
    }
    return OHSM_OK;
}

void ohsm_files_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static void fsync_dir_of(const char *path)
{
    char copy[PATH_MAX];
    if (ohsm_files_path(copy, sizeof(copy), "%s", path) != OHSM_OK) {
        return;
    }
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd); /* best effort: the rename itself already happened */
        close(fd);
    }
}

ohsm_rv ohsm_files_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[PATH_MAX];

    OHSM_ENSURE(path != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_files_path(tmp, sizeof(tmp), "%s.tmp", path));
    /* A temp file left by a crash is ours (one openhsmd per data dir holds the lock). */
    if (unlink(tmp) != 0 && errno != ENOENT) {
        return OHSM_IO;
    }
    OHSM_TRY(ohsm_files_write_new(tmp, data, len, mode));
    if (rename(tmp, path) != 0) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
        return OHSM_IO;
    }
    fsync_dir_of(path);
    return OHSM_OK;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

ohsm_rv ohsm_files_remove_tree(const char *path)
{
    struct stat st;

    OHSM_ENSURE(path != NULL, OHSM_ARGUMENTS_BAD);
    if (lstat(path, &st) != 0) {
        return errno == ENOENT ? OHSM_OK : OHSM_IO;
    }
    /* FTW_DEPTH: children before their directory; FTW_PHYS: never follow a symlink. */
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? OHSM_OK : OHSM_IO;
}

ohsm_rv ohsm_files_tail(const char *path, char *out, size_t cap)
{
    ohsm_rv rv = OHSM_IO;
    struct stat st;

    OHSM_ENSURE(path != NULL && out != NULL && cap > 1, OHSM_ARGUMENTS_BAD);
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return OHSM_IO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        goto out;
    }
    off_t want = (off_t)(cap - 1);
    off_t start = st.st_size > want ? st.st_size - want : 0;
    ssize_t n = pread(fd, out, cap - 1, start);
    if (n < 0) {
        goto out;
    }
    out[n] = '\0';
    if (start > 0) {
        /* Drop the partial first line so the tail starts where a line does. */
        char *nl = memchr(out, '\n', (size_t)n);
        if (nl != NULL) {
            memmove(out, nl + 1, strlen(nl + 1) + 1);
        }
    }
    rv = OHSM_OK;
out:
    close(fd);
    return rv;
}

/* Formats the reason for a refusal into why (may be NULL). */
__attribute__((format(printf, 3, 4))) static void say(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (why == NULL || cap == 0) {
        return;
    }
    va_start(ap, fmt);
    int n = vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    if (n < 0) {
        why[0] = '\0';
    }
}

bool ohsm_files_is_secret(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    return (n > 4 && strcmp(name + n - 4, ".key") == 0) ||
           (n > 7 && strcmp(name + n - 7, ".secret") == 0);
}

ohsm_rv ohsm_files_check_owned(const char *path, uid_t uid, bool secret, char *why, size_t cap)
{
    struct stat st;

    OHSM_ENSURE(path != NULL, OHSM_ARGUMENTS_BAD);
    if (lstat(path, &st) != 0) {
        int saved = errno;
        say(why, cap, "%s: cannot inspect it (%s)", path, strerror(saved));
        errno = saved;
        return OHSM_IO;
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
        say(why, cap, "%s is %s, not a directory or a regular file", path,
            S_ISLNK(st.st_mode) ? "a symbolic link" : "a special file");
        return OHSM_ACCESS_DENIED;
    }
    if (st.st_uid != uid) {
        say(why, cap, "%s is owned by uid %lu, not by openhsmd's user (uid %lu)", path,
            (unsigned long)st.st_uid, (unsigned long)uid);
        return OHSM_ACCESS_DENIED;
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        say(why, cap, "%s is writable by group or others (mode %04lo; chmod go-w it)", path,
            (unsigned long)(st.st_mode & 07777));
        return OHSM_ACCESS_DENIED;
    }
    if (secret && S_ISREG(st.st_mode) && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        say(why, cap, "%s holds a secret and is open to group or others (mode %04lo; chmod 600 it)",
            path, (unsigned long)(st.st_mode & 07777));
        return OHSM_ACCESS_DENIED;
    }
    return OHSM_OK;
}

static ohsm_rv check_tree(const char *path, uid_t uid, bool secret, int depth, char *why,
                          size_t cap)
{
    struct stat st;
    ohsm_rv rv;

    OHSM_TRY(ohsm_files_check_owned(path, uid, secret, why, cap));
    if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return OHSM_OK; /* a file: done (a path that vanished since was checked a moment ago) */
    }
    if (depth >= 16) {
        say(why, cap, "%s is nested deeper than openhsmd ever writes", path);
        return OHSM_BUFFER_TOO_SMALL;
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        int saved = errno;
        say(why, cap, "%s: cannot list it (%s)", path, strerror(saved));
        errno = saved;
        return OHSM_IO;
    }
    rv = OHSM_OK;
    for (struct dirent *e = readdir(d); e != NULL && rv == OHSM_OK; e = readdir(d)) {
        char sub[PATH_MAX];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        rv = ohsm_files_path(sub, sizeof(sub), "%s/%s", path, e->d_name);
        if (rv != OHSM_OK) {
            say(why, cap, "%s holds a path too long to check", path);
            break;
        }
        rv = check_tree(sub, uid, ohsm_files_is_secret(e->d_name), depth + 1, why, cap);
    }
    closedir(d);
    return rv;
}

ohsm_rv ohsm_files_check_tree(const char *dir, uid_t uid, char *why, size_t cap)
{
    OHSM_ENSURE(dir != NULL, OHSM_ARGUMENTS_BAD);
    return check_tree(dir, uid, false, 0, why, cap);
}
