/* SPDX-License-Identifier: Apache-2.0
 *
 * What openhsm-kmu's handlers share: the key_mgmt_util result lines (the "returned" line with the
 * KMU code of errs.c, the "Cluster Error Status" block with one line per HSM), the cluster verdict
 * on a change sent to every HSM, bounded reads of the files a command names and 0600 writes of the
 * files it produces, and user id <-> name lookups. Files are untrusted input: their size is capped
 * before reading, they are opened without following a final symbolic link when written, and a
 * buffer that held key material is wiped before it is freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "client/outfile.h"
#include "kmu/kmu.h"

/* Not an ohsm_rv: marks a result slot the library did not fill. */
#define UNFILLED ((ohsm_rv)OHSM_RV_COUNT_)

static bool unreachable(ohsm_rv rv)
{
    return rv == OHSM_NOT_CONNECTED || rv == OHSM_TIMEOUT;
}

void ohsm_kmu_returned_ind(struct ohsm_kmu *k, const char *indent, const char *fn, ohsm_rv rv)
{
    char code[16];
    ohsm_kmu_code_str(ohsm_kmu_code(rv), code, sizeof(code));
    (void)fprintf(k->out, "\n%s%s returned: %s : %s\n", indent, fn, code, ohsm_kmu_text(rv));
}

void ohsm_kmu_returned(struct ohsm_kmu *k, const char *fn, ohsm_rv rv)
{
    ohsm_kmu_returned_ind(k, "\t", fn, rv);
}

void ohsm_kmu_cluster_ind(struct ohsm_kmu *k, const char *indent, const struct ohsm_result *res)
{
    (void)fprintf(k->out, "\n%sCluster Error Status\n", indent);
    for (size_t i = 0; i < k->n; i++) {
        (void)fprintf(k->out, "%sNode id %zu and err state 0x%08x : %s\n", indent, i,
                      (unsigned)ohsm_kmu_code(res[i].rv), ohsm_kmu_text(res[i].rv));
    }
}

void ohsm_kmu_cluster(struct ohsm_kmu *k, const struct ohsm_result *res)
{
    ohsm_kmu_cluster_ind(k, "\t", res);
}

ohsm_rv ohsm_kmu_overall(const struct ohsm_kmu *k, const struct ohsm_result *res, ohsm_rv rv)
{
    ohsm_rv hard = OHSM_OK, gone = OHSM_OK;
    bool any_ok = false;

    for (size_t i = 0; i < k->n; i++) {
        ohsm_rv r = res[i].rv;
        if (r == OHSM_OK) {
            any_ok = true;
        } else if (r == UNFILLED) {
            continue;
        } else if (unreachable(r)) {
            gone = gone == OHSM_OK ? r : gone;
        } else {
            hard = hard == OHSM_OK ? r : hard;
        }
    }
    if (hard != OHSM_OK) {
        return hard;
    }
    if (any_ok) {
        return OHSM_OK;
    }
    return gone != OHSM_OK ? gone : rv;
}

struct ohsm_result *ohsm_kmu_results(struct ohsm_kmu *k)
{
    struct ohsm_result *res = calloc(k->n > 0 ? k->n : 1, sizeof(*res));
    if (res == NULL) {
        (void)fprintf(k->out, "Error: %s\n", ohsm_rv_str(OHSM_HOST_MEMORY));
        return NULL;
    }
    for (size_t i = 0; i < k->n; i++) {
        res[i].rv = UNFILLED;
    }
    return res;
}

void ohsm_kmu_results_fill(struct ohsm_kmu *k, struct ohsm_result *res, ohsm_rv rv)
{
    for (size_t i = 0; i < k->n; i++) {
        if (res[i].rv == UNFILLED) {
            /* The library stopped before this HSM: show the call's own error, never a false
             * success. */
            res[i].rv = rv != OHSM_OK ? rv : OHSM_DEVICE_ERROR;
        }
    }
}

int ohsm_kmu_error(struct ohsm_kmu *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)fputc('\t', k->out);
    (void)vfprintf(k->out, fmt, ap);
    (void)fputc('\n', k->out);
    va_end(ap);
    return OHSM_KMU_FAILED;
}

void ohsm_kmu_free_secret(uint8_t *p, size_t len)
{
    if (p != NULL) {
        OPENSSL_cleanse(p, len);
        free(p);
    }
}

bool ohsm_kmu_read_file(struct ohsm_kmu *k, const char *path, size_t max, uint8_t **out,
                        size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    uint8_t *buf = NULL;
    size_t got = 0;

    *out = NULL;
    *len = 0;
    if (fd < 0) {
        (void)ohsm_kmu_error(k, "Cannot read file \"%s\": %s", path, strerror(errno));
        return false;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        (void)ohsm_kmu_error(k, "Cannot read file \"%s\": not a regular file", path);
        (void)close(fd);
        return false;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > max) {
        (void)ohsm_kmu_error(k, "File \"%s\" is too large (at most %zu bytes)", path, max);
        (void)close(fd);
        return false;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        (void)ohsm_kmu_error(k, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        (void)close(fd);
        return false;
    }
    /* Read up to the size seen plus one byte, so a file that grew meanwhile is refused rather
     * than cut short. */
    for (;;) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size + 1 - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            (void)ohsm_kmu_error(k, "Cannot read file \"%s\": %s", path, strerror(errno));
            ohsm_kmu_free_secret(buf, (size_t)st.st_size + 1);
            (void)close(fd);
            return false;
        }
        if (r == 0 || got + (size_t)r > (size_t)st.st_size) {
            got += (size_t)r;
            break;
        }
        got += (size_t)r;
    }
    (void)close(fd);
    if (got != (size_t)st.st_size) {
        (void)ohsm_kmu_error(k, "File \"%s\" changed while it was read", path);
        ohsm_kmu_free_secret(buf, (size_t)st.st_size + 1);
        return false;
    }
    *out = buf;
    *len = got;
    return true;
}

bool ohsm_kmu_write_file(struct ohsm_kmu *k, const char *path, const void *data, size_t len)
{
    char why[256];
    /* Always a new 0600 file renamed over the path (client/outfile.h): it may get key material,
     * so neither an old file's mode nor a planted symlink is ever used. */
    if (ohsm_outfile_write(path, data, len, 0600, why, sizeof(why)) != OHSM_OK) {
        (void)ohsm_kmu_error(k, "Cannot write file \"%s\": %s", path != NULL ? path : "", why);
        return false;
    }
    return true;
}

/* The user list of the first HSM that answers. */
static bool users(struct ohsm_kmu *k, struct ohsm_user_info **u, size_t *n)
{
    ohsm_rv rv = OHSM_NOT_CONNECTED;
    for (size_t i = 0; i < k->n; i++) {
        rv = ohsm_client_list_users(k->client, i, u, n);
        if (rv == OHSM_OK) {
            return true;
        }
    }
    (void)ohsm_kmu_error(k, "Cannot list the HSM users: %s", ohsm_rv_str(rv));
    return false;
}

bool ohsm_kmu_user_id(struct ohsm_kmu *k, const char *name, uint32_t *id)
{
    struct ohsm_user_info *u = NULL;
    size_t n = 0;
    bool found = false;

    if (!users(k, &u, &n)) {
        return false;
    }
    for (size_t i = 0; i < n && !found; i++) {
        if (strncmp(u[i].username, name, sizeof(u[i].username)) == 0) {
            *id = u[i].id;
            found = true;
        }
    }
    free(u);
    return found;
}

bool ohsm_kmu_share_names(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p,
                          char store[][OHSM_USERNAME_MAX + 1], const char *names[], size_t *n)
{
    struct ohsm_user_info *u = NULL;
    size_t nu = 0;

    *n = 0;
    if (p->nids == 0) {
        return true;
    }
    if (!users(k, &u, &nu)) {
        return false;
    }
    for (size_t i = 0; i < p->nids; i++) {
        const struct ohsm_user_info *hit = NULL;
        for (size_t j = 0; j < nu && hit == NULL; j++) {
            hit = u[j].id == p->ids[i] ? &u[j] : NULL;
        }
        if (hit == NULL || hit->type != OHSM_UT_CU) {
            (void)ohsm_kmu_error(k, "Cannot share with user %u: %s", (unsigned)p->ids[i],
                                 hit == NULL ? "no such user" : "not a crypto user (CU)");
            free(u);
            return false;
        }
        (void)snprintf(store[i], OHSM_USERNAME_MAX + 1, "%.*s", OHSM_USERNAME_MAX, hit->username);
        names[i] = store[i];
    }
    *n = p->nids;
    free(u);
    return true;
}
