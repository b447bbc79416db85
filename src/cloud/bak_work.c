/* SPDX-License-Identifier: Apache-2.0
 *
 * The worker's part of backups: taking one of a running HSM (a new HSM is restored from it; a
 * removed HSM and an activated cluster leave one; an active cluster that changes gets one at least
 * every 24 h), copying one to another region, applying retention, purging the ones deleted more
 * than 7 days ago, and finishing after a crash (a backup left CREATE_IN_PROGRESS is READY if its
 * file verifies, else DELETED).
 *
 * Besides the sealed file, a backup keeps what a cluster made from it needs to be of the same
 * lineage, in DIR/private/lineage/<backup-id>/ (0700; files 0600): the cluster key (clusters
 * initialized by their owner) or the local CA's key (clusters of the first start), so the new
 * cluster presents certificates of the same trust anchor, as clusters sharing a backup history do
 * in CloudHSM; and the appliance user's password, which the restored users hold.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cloud/backup.h"
#include "cloud/ids.h"
#include "cloud/cp_int.h"
#include "cloud/files.h"
#include "cloud/provision.h"

#define DAY (24 * 3600)
#define PENDING_DAYS 7

static ohsm_rv backup_path(struct ohsm_cloud *c, const char *bid, char *out, size_t cap)
{
    return ohsm_files_path(out, cap, "%s/backups/%s.bak", c->data_dir, bid);
}

/* Copies a file of at most 16 KiB (a key) to a new 0600 file, replacing to. */
static ohsm_rv copy_small(const char *from, const char *to)
{
    size_t tl = strlen(to);
    mode_t mode = tl > 4 && strcmp(to + tl - 4, ".crt") == 0 ? 0644 : 0600;
    char buf[16384];
    FILE *f = fopen(from, "rbe");
    ohsm_rv rv = OHSM_IO;
    if (f == NULL) {
        return OHSM_IO;
    }
    size_t n = fread(buf, 1, sizeof(buf), f);
    if (n > 0 && n < sizeof(buf) && !ferror(f)) {
        rv = ohsm_files_write_atomic(to, buf, n, mode);
    }
    fclose(f);
    OPENSSL_cleanse(buf, sizeof(buf));
    return rv;
}

static ohsm_rv lineage_path(struct ohsm_cloud *c, const char *bid, char *out, size_t cap)
{
    return ohsm_files_path(out, cap, "%s/private/lineage/%s", c->data_dir, bid);
}

/* The files of a lineage: where they live in a cluster (0: private dir, 1: cluster dir). */
static const struct {
    const char *name;
    int where;
} lineage_files[] = {{"cluster.key", 0},
                     {OHSM_PROVISION_CA_KEY, 0},
                     {"app_user.secret", 1},
                     {OHSM_PROVISION_TRUST_ANCHOR, 1}};
#define N_LINEAGE (sizeof(lineage_files) / sizeof(lineage_files[0]))

static ohsm_rv cluster_file(struct ohsm_cloud *c, const char *cid, size_t i, char *out,
                            size_t cap)
{
    char dir[4096];
    if (lineage_files[i].where == 0) {
        OHSM_TRY(ohsm_provision_private_dir(c->data_dir, cid, dir, sizeof(dir)));
    } else {
        OHSM_TRY(ohsm_provision_cluster_dir(c->data_dir, cid, dir, sizeof(dir)));
    }
    return ohsm_files_path(out, cap, "%s/%s", dir, lineage_files[i].name);
}

/* Copies the lineage files of a cluster (save: cluster -> backup) or back (cluster <- backup). */
static ohsm_rv lineage_copy(struct ohsm_cloud *c, const char *bid, const char *cid, bool save)
{
    char ldir[4096], lf[4200], cf[4096], top[4096];
    OHSM_TRY(lineage_path(c, bid, ldir, sizeof(ldir)));
    OHSM_TRY(ohsm_files_path(top, sizeof(top), "%s/private/lineage", c->data_dir));
    if (save) {
        OHSM_ENSURE(ohsm_files_mkdir(top) == OHSM_OK && ohsm_files_mkdir(ldir) == OHSM_OK,
                    OHSM_IO);
    }
    for (size_t i = 0; i < N_LINEAGE; i++) {
        OHSM_TRY(ohsm_files_path(lf, sizeof(lf), "%s/%s", ldir, lineage_files[i].name));
        OHSM_TRY(cluster_file(c, cid, i, cf, sizeof(cf)));
        const char *from = save ? cf : lf;
        if (access(from, F_OK) == 0) {
            OHSM_TRY(copy_small(from, save ? lf : cf));
        }
    }
    return OHSM_OK;
}

static void lineage_drop(struct ohsm_cloud *c, const char *bid)
{
    char ldir[4096];
    if (lineage_path(c, bid, ldir, sizeof(ldir)) == OHSM_OK) {
        ohsm_rv rv = ohsm_files_remove_tree(ldir);
        (void)rv; /* absent is fine */
    }
}

static ohsm_rv load_key(struct ohsm_cloud *c, struct ohsm_secret **key)
{
    char path[4096], dir[4096];
    OHSM_TRY(ohsm_files_path(dir, sizeof(dir), "%s/private", c->data_dir));
    OHSM_TRY(ohsm_files_path(path, sizeof(path), "%s/private/backup.key", c->data_dir));
    OHSM_ENSURE(ohsm_files_mkdir(dir) == OHSM_OK, OHSM_IO);
    return ohsm_backup_key_load(path, key);
}

ohsm_rv ohsm_cp_backup_inherit(struct ohsm_cloud *c, const char *from, const char *to)
{
    static const char *const keys[] = {OHSM_BA_HSM_TYPE, OHSM_CA_PKI, OHSM_CA_CLUSTER_CERT,
                                       OHSM_CA_TRUST_ANCHOR};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char *v = NULL;
        OHSM_TRY(ohsm_meta_attr_get(c->meta, from, keys[i], &v));
        ohsm_rv rv = v != NULL ? ohsm_meta_attr_set(c->meta, to, keys[i], v) : OHSM_OK;
        free(v);
        OHSM_TRY(rv);
    }
    return OHSM_OK;
}

/* Records a new backup of cluster cid (c->lock held) and writes its id to bid. */
static ohsm_rv begin_backup(struct ohsm_cloud *c, const char *cid, const char *hid, char *bid)
{
    struct ohsm_meta_cluster cl;
    struct ohsm_meta_backup b;
    memset(&b, 0, sizeof(b));
    OHSM_TRY(ohsm_cp_find_cluster(c, NULL, cid, &cl));
    OHSM_TRY(ohsm_ids_make("backup-", b.id, sizeof(b.id)));
    ohsm_cloud_cluster_region(c, cid, b.region, sizeof(b.region));
    memcpy(b.cluster_id, cid, sizeof(b.cluster_id));
    b.state = OHSM_BS_CREATE_IN_PROGRESS;
    b.created_at = ohsm_cloud_now(c);
    char real[24];
    (void)snprintf(real, sizeof(real), "%lld", (long long)time(NULL));
    OHSM_TRY(ohsm_meta_begin(c->meta));
    if (ohsm_meta_backup_add(c->meta, &b) != OHSM_OK ||
        ohsm_cp_backup_inherit(c, cid, b.id) != OHSM_OK ||
        ohsm_meta_attr_set(c->meta, b.id, OHSM_BA_HSM_TYPE, cl.hsm_type) != OHSM_OK ||
        ohsm_meta_attr_set(c->meta, b.id, OHSM_BA_SOURCE_HSM, hid) != OHSM_OK ||
        ohsm_meta_attr_set(c->meta, b.id, OHSM_BA_TAKEN_REAL, real) != OHSM_OK ||
        ohsm_meta_commit(c->meta) != OHSM_OK) {
        ohsm_meta_rollback(c->meta);
        return OHSM_DB;
    }
    memcpy(bid, b.id, sizeof(b.id));
    return OHSM_OK;
}

/* Ends a backup: READY when its file is whole, else DELETED without files. */
static void end_backup(struct ohsm_cloud *c, const char *bid, bool ok)
{
    char path[4096];
    if (!ok) {
        if (backup_path(c, bid, path, sizeof(path)) == OHSM_OK) {
            (void)unlink(path);
        }
        lineage_drop(c, bid);
    }
    (void)pthread_mutex_lock(&c->lock);
    if (ohsm_meta_backup_set_state(c->meta, bid, ok ? OHSM_BS_READY : OHSM_BS_DELETED) !=
        OHSM_OK) {
        fprintf(stderr, "openhsmd: %s: cannot record its state\n", bid);
    }
    (void)pthread_mutex_unlock(&c->lock);
}

ohsm_rv ohsm_cp_backup_take(struct ohsm_cloud *c, const char *cid, const char *hid, char *bid)
{
    char hdir[4096], cdir[4096], db[4200], mask[4200], out[4096], dir[4096];
    struct ohsm_secret *k = NULL;

    (void)pthread_mutex_lock(&c->lock);
    ohsm_rv rv = begin_backup(c, cid, hid, bid);
    (void)pthread_mutex_unlock(&c->lock);
    OHSM_TRY(rv);
    rv = OHSM_BUFFER_TOO_SMALL;
    if (ohsm_provision_hsm_dir(c->data_dir, cid, hid, hdir, sizeof(hdir)) == OHSM_OK &&
        ohsm_provision_cluster_dir(c->data_dir, cid, cdir, sizeof(cdir)) == OHSM_OK &&
        ohsm_files_path(db, sizeof(db), "%s/hsm.db", hdir) == OHSM_OK &&
        ohsm_files_path(mask, sizeof(mask), "%s/" OHSM_PROVISION_MASKING_KEY, cdir) == OHSM_OK &&
        ohsm_files_path(dir, sizeof(dir), "%s/backups", c->data_dir) == OHSM_OK &&
        backup_path(c, bid, out, sizeof(out)) == OHSM_OK) {
        rv = ohsm_files_mkdir(dir) == OHSM_OK ? load_key(c, &k) : OHSM_IO;
    }
    if (rv == OHSM_OK) {
        rv = ohsm_backup_make(k, bid, db, mask, out, NULL);
    }
    if (rv == OHSM_OK) {
        rv = lineage_copy(c, bid, cid, true);
    }
    ohsm_secret_free(k);
    end_backup(c, bid, rv == OHSM_OK);
    if (rv != OHSM_OK) {
        fprintf(stderr, "openhsmd: cannot back up %s: %s\n", hid, ohsm_rv_str(rv));
    }
    return rv;
}

ohsm_rv ohsm_cp_backup_restore(struct ohsm_cloud *c, const char *bid, const char *cid,
                               const char *hid, const char *mask_out)
{
    char path[4096], hdir[4096], db[4200], tmpdb[4200];
    struct ohsm_secret *k = NULL;
    OHSM_TRY(backup_path(c, bid, path, sizeof(path)));
    OHSM_TRY(load_key(c, &k));
    ohsm_rv rv;
    if (hid != NULL) {
        rv = ohsm_provision_hsm_dir(c->data_dir, cid, hid, hdir, sizeof(hdir));
        if (rv == OHSM_OK) {
            rv = ohsm_files_path(db, sizeof(db), "%s/hsm.db", hdir);
        }
        if (rv == OHSM_OK) {
            rv = ohsm_backup_restore(k, bid, path, cid, hid, db, mask_out);
        }
    } else {
        /* Only the masking key (a cluster made from a backup, before its first HSM). */
        rv = ohsm_files_path(tmpdb, sizeof(tmpdb), "%s.restore-db", mask_out);
        if (rv == OHSM_OK) {
            (void)unlink(tmpdb);
            rv = ohsm_backup_restore(k, bid, path, cid, "hsm-aaaaaaaaaaa", tmpdb, mask_out);
            (void)unlink(tmpdb);
        }
    }
    ohsm_secret_free(k);
    return rv;
}

ohsm_rv ohsm_cp_lineage_key(struct ohsm_cloud *c, const char *bid, const char *cid)
{
    char pdir[4096], top[4096];
    OHSM_TRY(ohsm_files_path(top, sizeof(top), "%s/private", c->data_dir));
    OHSM_TRY(ohsm_provision_private_dir(c->data_dir, cid, pdir, sizeof(pdir)));
    OHSM_ENSURE(ohsm_files_mkdir(top) == OHSM_OK && ohsm_files_mkdir(pdir) == OHSM_OK, OHSM_IO);
    return lineage_copy(c, bid, cid, false);
}

/* Copies the lineage of backup from to backup to (CopyBackupToRegion). */
static ohsm_rv lineage_dup(struct ohsm_cloud *c, const char *from, const char *to)
{
    char fd[4096], td[4096], f[4200], t[4200], top[4096];
    OHSM_TRY(lineage_path(c, from, fd, sizeof(fd)));
    OHSM_TRY(lineage_path(c, to, td, sizeof(td)));
    OHSM_TRY(ohsm_files_path(top, sizeof(top), "%s/private/lineage", c->data_dir));
    OHSM_ENSURE(ohsm_files_mkdir(top) == OHSM_OK && ohsm_files_mkdir(td) == OHSM_OK, OHSM_IO);
    for (size_t i = 0; i < N_LINEAGE; i++) {
        OHSM_TRY(ohsm_files_path(f, sizeof(f), "%s/%s", fd, lineage_files[i].name));
        OHSM_TRY(ohsm_files_path(t, sizeof(t), "%s/%s", td, lineage_files[i].name));
        if (access(f, F_OK) == 0) {
            OHSM_TRY(copy_small(f, t));
        }
    }
    return OHSM_OK;
}

/* CopyBackupToRegion's work: the same snapshot sealed under the copy's id. */
static void copy_one(struct ohsm_cloud *c, const char *bid)
{
    char *src = NULL;
    char from[4096], to[4096];
    struct ohsm_secret *k = NULL;
    (void)pthread_mutex_lock(&c->lock);
    ohsm_rv rv = ohsm_meta_attr_get(c->meta, bid, OHSM_BA_SOURCE_BACKUP, &src);
    (void)pthread_mutex_unlock(&c->lock);
    if (rv == OHSM_OK && src != NULL && backup_path(c, src, from, sizeof(from)) == OHSM_OK &&
        backup_path(c, bid, to, sizeof(to)) == OHSM_OK && load_key(c, &k) == OHSM_OK) {
        (void)unlink(to); /* a copy cut short by a crash */
        rv = ohsm_backup_copy(k, src, from, bid, to);
        if (rv == OHSM_OK) {
            rv = lineage_dup(c, src, bid);
        }
    } else {
        rv = OHSM_IO;
    }
    ohsm_secret_free(k);
    free(src);
    /* AWS: a copy that fails becomes DELETED. */
    end_backup(c, bid, rv == OHSM_OK);
}

/* A backup found CREATE_IN_PROGRESS at the start of a pass was cut short (takes and copies finish
 * within a pass): a copy is redone, a take kept only if its file verifies. */
static void finish_cut_short(struct ohsm_cloud *c, const struct ohsm_meta_backup *b)
{
    char *src = NULL, path[4096];
    struct ohsm_secret *k = NULL;
    (void)pthread_mutex_lock(&c->lock);
    ohsm_rv rv = ohsm_meta_attr_get(c->meta, b->id, OHSM_BA_SOURCE_BACKUP, &src);
    (void)pthread_mutex_unlock(&c->lock);
    if (rv == OHSM_OK && src != NULL) {
        free(src);
        copy_one(c, b->id);
        return;
    }
    bool ok = backup_path(c, b->id, path, sizeof(path)) == OHSM_OK &&
              load_key(c, &k) == OHSM_OK && ohsm_backup_verify(k, b->id, path, NULL) == OHSM_OK;
    ohsm_secret_free(k);
    end_backup(c, b->id, ok);
}

/* Retention, and the purge of backups pending deletion for 7 days. c->lock held. */
static void expire(struct ohsm_cloud *c, struct ohsm_meta_backup *bs, size_t n)
{
    const int64_t now = ohsm_cloud_now(c);
    char ts[24];
    (void)snprintf(ts, sizeof(ts), "%lld", (long long)now);
    for (size_t i = 0; i < n; i++) {
        struct ohsm_meta_backup *b = &bs[i];
        char *v = NULL;
        if (b->state == OHSM_BS_PENDING_DELETION) {
            int64_t del = -1;
            if (ohsm_meta_attr_get(c->meta, b->id, OHSM_BA_DELETE_TS, &v) == OHSM_OK &&
                v != NULL) {
                del = strtoll(v, NULL, 10);
            }
            free(v);
            if (del >= 0 && now - del >= PENDING_DAYS * DAY) {
                char path[4096];
                if (backup_path(c, b->id, path, sizeof(path)) == OHSM_OK) {
                    (void)unlink(path);
                }
                lineage_drop(c, b->id);
                ohsm_rv rv = ohsm_meta_backup_set_state(c->meta, b->id, OHSM_BS_DELETED);
                (void)rv;
                b->state = OHSM_BS_DELETED;
            }
            continue;
        }
        if (b->state != OHSM_BS_READY) {
            continue;
        }
        /* The cluster's retention applies in its own region only (a copy elsewhere has none),
         * never to NeverExpires backups, and never to the cluster's newest backup. */
        struct ohsm_meta_cluster cl;
        char region[32];
        if (ohsm_cp_find_cluster(c, b->region, b->cluster_id, &cl) != OHSM_OK ||
            cl.state == OHSM_CS_DELETED) {
            continue;
        }
        ohsm_cloud_cluster_region(c, cl.id, region, sizeof(region));
        bool newer = false;
        for (size_t j = 0; j < n && !newer; j++) {
            newer = j != i && strcmp(bs[j].cluster_id, b->cluster_id) == 0 &&
                    strcmp(bs[j].region, b->region) == 0 && bs[j].state == OHSM_BS_READY &&
                    (bs[j].created_at > b->created_at ||
                     (bs[j].created_at == b->created_at && j > i)); /* list: oldest first */
        }
        int64_t days = OHSM_CLOUD_RETENTION_DEFAULT;
        if (ohsm_meta_attr_get(c->meta, cl.id, OHSM_CA_RETENTION, &v) == OHSM_OK && v != NULL) {
            days = strtoll(v, NULL, 10);
        }
        free(v);
        v = NULL;
        bool never = ohsm_meta_attr_get(c->meta, b->id, OHSM_BA_NEVER_EXPIRES, &v) == OHSM_OK &&
                     v != NULL;
        free(v);
        if (!newer || never || days < 7 || now - b->created_at < days * DAY) {
            continue;
        }
        if (ohsm_meta_begin(c->meta) == OHSM_OK &&
            ohsm_meta_backup_set_state(c->meta, b->id, OHSM_BS_PENDING_DELETION) == OHSM_OK &&
            ohsm_meta_attr_set(c->meta, b->id, OHSM_BA_DELETE_TS, ts) == OHSM_OK &&
            ohsm_meta_commit(c->meta) == OHSM_OK) {
            b->state = OHSM_BS_PENDING_DELETION;
        } else {
            ohsm_meta_rollback(c->meta);
        }
    }
}

/* The running HSM of a cluster to back up (not skip), or "" (c->lock held). */
void ohsm_cp_running_hsm(struct ohsm_cloud *c, const char *cid, const char *skip, char *out)
{
    struct ohsm_meta_hsm *hs = NULL;
    size_t n = 0;
    out[0] = '\0';
    if (ohsm_meta_hsm_list(c->meta, cid, &hs, &n) != OHSM_OK) {
        return;
    }
    for (size_t i = 0; i < n && out[0] == '\0'; i++) {
        struct ohsm_sup_status st;
        if (hs[i].state == OHSM_HS_ACTIVE && (skip == NULL || strcmp(hs[i].id, skip) != 0) &&
            ohsm_sup_status(c->sup, hs[i].id, &st) == OHSM_OK && st.running && !st.paused) {
            memcpy(out, hs[i].id, sizeof(hs[i].id));
        }
    }
    free(hs);
}

/* Daily backups: an activated cluster whose newest backup is a day old (on the cloud's clock)
 * gets a new one when its HSM's database changed since (on the real clock). */
static void daily(struct ohsm_cloud *c)
{
    struct ohsm_meta_cluster *cs = NULL;
    struct ohsm_meta_backup *bs = NULL;
    size_t nc = 0, nb = 0;
    char due[64][OHSM_IDS_MAX], hsm[64][OHSM_IDS_MAX];
    size_t nt = 0;

    (void)pthread_mutex_lock(&c->lock);
    if (ohsm_meta_cluster_list(c->meta, &cs, &nc) == OHSM_OK &&
        ohsm_meta_backup_list(c->meta, &bs, &nb) == OHSM_OK) {
        const int64_t now = ohsm_cloud_now(c);
        for (size_t i = 0; i < nc && nt < 64; i++) {
            /* An activated cluster (before activation it holds nothing but its two
             * built-in users; activation itself takes the first backup). */
            if (cs[i].state != OHSM_CS_ACTIVE && cs[i].state != OHSM_CS_DEGRADED) {
                continue;
            }
            int64_t last = -1;
            const char *last_id = NULL;
            for (size_t j = 0; j < nb; j++) {
                if (strcmp(bs[j].cluster_id, cs[i].id) == 0 && bs[j].state != OHSM_BS_DELETED &&
                    bs[j].created_at >= last) {
                    last = bs[j].created_at;
                    last_id = bs[j].id;
                }
            }
            char h[OHSM_IDS_MAX];
            ohsm_cp_running_hsm(c, cs[i].id, NULL, h);
            if (h[0] == '\0' || (last >= 0 && now - last < DAY)) {
                continue;
            }
            /* Changed since? The database files' modification time against when the last
             * backup was really taken. */
            char *real = NULL;
            int64_t taken = -1;
            if (last_id != NULL &&
                ohsm_meta_attr_get(c->meta, last_id, OHSM_BA_TAKEN_REAL, &real) == OHSM_OK &&
                real != NULL) {
                taken = strtoll(real, NULL, 10);
            }
            free(real);
            char hdir[4096], f[4200];
            struct stat st;
            int64_t mtime = 0;
            if (ohsm_provision_hsm_dir(c->data_dir, cs[i].id, h, hdir, sizeof(hdir)) == OHSM_OK) {
                const char *names[] = {"hsm.db", "hsm.db-wal"};
                for (size_t k = 0; k < 2; k++) {
                    if (ohsm_files_path(f, sizeof(f), "%s/%s", hdir, names[k]) == OHSM_OK &&
                        stat(f, &st) == 0 && (int64_t)st.st_mtime > mtime) {
                        mtime = (int64_t)st.st_mtime;
                    }
                }
            }
            if (taken >= 0 && mtime < taken) {
                continue;
            }
            memcpy(due[nt], cs[i].id, sizeof(due[nt]));
            memcpy(hsm[nt], h, sizeof(hsm[nt]));
            nt++;
        }
    }
    (void)pthread_mutex_unlock(&c->lock);
    free(cs);
    free(bs);
    for (size_t i = 0; i < nt && !c->stopping; i++) {
        char bid[OHSM_IDS_MAX];
        ohsm_rv rv = ohsm_cp_backup_take(c, due[i], hsm[i], bid);
        (void)rv; /* said on stderr; tried again next pass */
    }
}

void ohsm_cp_backups_pass(struct ohsm_cloud *c)
{
    struct ohsm_meta_backup *bs = NULL;
    size_t n = 0;

    (void)pthread_mutex_lock(&c->lock);
    ohsm_rv rv = ohsm_meta_backup_list(c->meta, &bs, &n);
    (void)pthread_mutex_unlock(&c->lock);
    if (rv != OHSM_OK) {
        return;
    }
    for (size_t i = 0; i < n && !c->stopping; i++) {
        if (bs[i].state != OHSM_BS_CREATE_IN_PROGRESS) {
            continue;
        }
        char *src = NULL;
        (void)pthread_mutex_lock(&c->lock);
        rv = ohsm_meta_attr_get(c->meta, bs[i].id, OHSM_BA_SOURCE_BACKUP, &src);
        (void)pthread_mutex_unlock(&c->lock);
        if (src != NULL) {
            copy_one(c, bs[i].id); /* CopyBackupToRegion's work */
        } else {
            finish_cut_short(c, &bs[i]);
        }
        free(src);
    }
    free(bs);
    bs = NULL;
    (void)pthread_mutex_lock(&c->lock);
    if (ohsm_meta_backup_list(c->meta, &bs, &n) == OHSM_OK) {
        expire(c, bs, n);
    }
    (void)pthread_mutex_unlock(&c->lock);
    free(bs);
    daily(c);
}
