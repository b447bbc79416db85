/* SPDX-License-Identifier: Apache-2.0
 *
 * `openhsmd audit verify`: checks the audit log of every HSM under a data directory (issue 16):
 *
 *   openhsmd audit verify --data DIR [--cluster CLUSTER_ID]
 *
 * Each HSM's log (<DIR>/clusters/<cluster>/hsms/<hsm>/hsm.db.audit) is checked against its
 * HSM's hash chain and numbering (core/audit.h). One line per HSM: "ok" with the record count and
 * the last record's reboot counter and sequence number, or the first break: the line, its reboot
 * counter and sequence number when they can be read, and what is wrong. Logs of any size are read
 * a chunk at a time. Exit status 0 when every
 * log checks out, 1 when one does not (or cannot be read), 2 for a bad command line. Reads only;
 * works with openhsmd running or not.
 */
#include "cloud/audit_cmd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cloud/ids.h"
#include "core/audit.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: openhsmd audit verify --data DIR [--cluster CLUSTER_ID]\n");
}

/* Checks the log at path a chunk at a time (any size). -1: cannot read it. */
static int check_file(const char *path, const char *hsm, struct ohsm_audit_verdict *v)
{
    enum { CHUNK = 64 * 1024, CARRY = 2 * OHSM_AUDIT_LINE_MAX };
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    char *buf = malloc(CARRY + CHUNK);
    if (buf == NULL) {
        close(fd);
        return -1;
    }
    ohsm_audit_verify_begin(v, hsm);
    size_t have = 0; /* bytes of a line not ended yet, at buf[0..have) */
    int rc = 0;
    while (v->ok) {
        ssize_t k = read(fd, buf + have, CHUNK);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k < 0) {
            rc = -1;
            break;
        }
        if (k == 0) {
            if (have > 0) {
                ohsm_audit_verify_torn(v, buf, have);
            }
            break;
        }
        size_t end = have + (size_t)k, at = 0;
        for (;;) {
            char *nl = memchr(buf + at, '\n', end - at);
            if (nl == NULL) {
                break;
            }
            size_t n = (size_t)(nl - (buf + at));
            if (!ohsm_audit_verify_line(v, buf + at, n)) {
                break;
            }
            at += n + 1;
        }
        if (!v->ok) {
            break;
        }
        have = end - at;
        if (have > OHSM_AUDIT_LINE_MAX) {
            (void)ohsm_audit_verify_line(v, buf + at, have); /* too long for a record */
            break;
        }
        memmove(buf, buf + at, have);
    }
    free(buf);
    close(fd);
    return rc;
}

/* Checks one HSM's log and prints its line; 0 ok, 1 not. */
static int check_hsm(const char *cluster, const char *hsm, const char *path)
{
    struct ohsm_audit_verdict v;
    if (check_file(path, hsm, &v) != 0) {
        printf("%s %s: cannot read %s: %s\n", cluster, hsm, path, strerror(errno));
        return 1;
    }
    if (v.ok) {
        if (v.any) {
            printf("%s %s: ok, %llu records (last: reboot counter %u, sequence number %llu)\n",
                   cluster, hsm, (unsigned long long)v.records, v.last_reboot,
                   (unsigned long long)v.last_seq);
        } else {
            printf("%s %s: ok, no records\n", cluster, hsm);
        }
        return 0;
    }
    if (v.have_position && v.want_known && v.want_seq != v.seq) {
        printf("%s %s: BROKEN at line %llu (reboot counter %u, sequence number %llu, expected "
               "%llu): %s\n",
               cluster, hsm, (unsigned long long)v.line, v.reboot, (unsigned long long)v.seq,
               (unsigned long long)v.want_seq, v.reason);
    } else if (v.have_position) {
        printf("%s %s: BROKEN at line %llu (reboot counter %u, sequence number %llu): %s\n",
               cluster, hsm, (unsigned long long)v.line, v.reboot, (unsigned long long)v.seq,
               v.reason);
    } else {
        printf("%s %s: BROKEN at line %llu: %s\n", cluster, hsm, (unsigned long long)v.line,
               v.reason);
    }
    return 1;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of dir whose names are ids with prefix, sorted; *n of them; caller frees. */
static char **ids_in(const char *dir, const char *prefix, size_t *n)
{
    DIR *d = opendir(dir);
    char **v = NULL;
    size_t cap = 0;
    *n = 0;
    if (d == NULL) {
        return NULL;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!ohsm_ids_valid(prefix, e->d_name)) {
            continue;
        }
        if (*n == cap) {
            size_t nc = cap == 0 ? 8 : cap * 2;
            char **nv = realloc(v, nc * sizeof(*nv));
            if (nv == NULL) {
                break;
            }
            v = nv;
            cap = nc;
        }
        v[*n] = strdup(e->d_name);
        if (v[*n] != NULL) {
            (*n)++;
        }
    }
    closedir(d);
    if (*n > 1) {
        qsort(v, *n, sizeof(*v), cmp_names);
    }
    return v;
}

static void free_ids(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

/* Checks every HSM of one cluster; returns the number of bad logs, *seen the HSMs checked. */
static int check_cluster(const char *data, const char *cluster, size_t *seen)
{
    char dir[4096], path[4096];
    int bad = 0;
    int k = snprintf(dir, sizeof(dir), "%s/clusters/%s/hsms", data, cluster);
    if (k < 0 || (size_t)k >= sizeof(dir)) {
        return 1;
    }
    size_t n = 0;
    char **hsms = ids_in(dir, OHSM_IDS_HSM_PREFIX, &n);
    for (size_t i = 0; i < n; i++) {
        k = snprintf(path, sizeof(path), "%s/%s/hsm.db.audit", dir, hsms[i]);
        if (k < 0 || (size_t)k >= sizeof(path)) {
            bad++;
            continue;
        }
        bad += check_hsm(cluster, hsms[i], path);
        (*seen)++;
    }
    free_ids(hsms, n);
    return bad;
}

int ohsm_audit_cmd_main(int argc, char **argv)
{
    const char *data = NULL, *cluster = NULL;
    if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc < 3 || strcmp(argv[2], "verify") != 0) {
        usage(stderr);
        return 2;
    }
    for (int i = 3; i < argc; i += 2) {
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        if (strcmp(argv[i], "--data") == 0) {
            data = argv[i + 1];
        } else if (strcmp(argv[i], "--cluster") == 0) {
            cluster = argv[i + 1];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (data == NULL) {
        fprintf(stderr, "openhsmd audit verify: --data DIR is required\n");
        return 2;
    }
    if (cluster != NULL && !ohsm_ids_valid(OHSM_IDS_CLUSTER_PREFIX, cluster)) {
        fprintf(stderr, "openhsmd audit verify: --cluster must be a cluster id such as "
                        "cluster-abcdefghijk\n");
        return 2;
    }
    size_t seen = 0;
    int bad = 0;
    if (cluster != NULL) {
        bad = check_cluster(data, cluster, &seen);
    } else {
        char dir[4096];
        int k = snprintf(dir, sizeof(dir), "%s/clusters", data);
        if (k < 0 || (size_t)k >= sizeof(dir)) {
            return 2;
        }
        size_t n = 0;
        char **cl = ids_in(dir, OHSM_IDS_CLUSTER_PREFIX, &n);
        for (size_t i = 0; i < n; i++) {
            bad += check_cluster(data, cl[i], &seen);
        }
        free_ids(cl, n);
    }
    if (seen == 0) {
        fprintf(stderr, "openhsmd audit verify: no HSM audit logs under %s%s%s\n", data,
                cluster != NULL ? " for " : "", cluster != NULL ? cluster : "");
        return 1;
    }
    return bad > 0 ? 1 : 0;
}
