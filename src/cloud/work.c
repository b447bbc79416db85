/* SPDX-License-Identifier: Apache-2.0
 *
 * The worker of the control plane: it reads the states the handlers wrote and does the work
 * behind them, then commits the state that follows:
 *
 *   cluster CREATE_IN_PROGRESS -> files (CA, appliance password, masking key) -> UNINITIALIZED
 *   cluster DELETE_IN_PROGRESS -> security group and files removed -> DELETED
 *   HSM CREATE_IN_PROGRESS     -> key, certificate, process started and accepting -> ACTIVE
 *   HSM DELETE_IN_PROGRESS     -> process stopped, ENI freed, files removed -> DELETED
 *   HSM ACTIVE <-> DEGRADED    -> its process stopped, paused or gone / back
 *   cluster ACTIVE <-> DEGRADED as its HSMs; INITIALIZED -> ACTIVE once an HSM is activated
 *
 * Each step is idempotent and decided from the metadata alone, so the pass run at start finishes
 * whatever a killed openhsmd left half done.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "cloud/backup.h"
#include "cloud/cloud.h"
#include "cloud/cp_int.h"
#include "cloud/files.h"
#include "cloud/provision.h"
#include "cloud/vpc.h"
#include "core/errf.h"
#include <unistd.h>

#define PASS_MS 1000

/* client.json of a cluster, once it has a trust anchor to name (c->lock held). */
ohsm_rv ohsm_cp_client_json(struct ohsm_cloud *c, const char *cid)
{
    struct ohsm_meta_cluster cl;
    OHSM_TRY(ohsm_cp_find_cluster(c, NULL, cid, &cl));
    if (cl.state == OHSM_CS_UNINITIALIZED || cl.state == OHSM_CS_CREATE_IN_PROGRESS) {
        return OHSM_OK; /* no trust anchor yet: the tools cannot connect, as in CloudHSM */
    }
    return ohsm_provision_client_json(c->meta, c->data_dir, cid, NULL, 0);
}

static void set_msg(struct ohsm_cloud *c, const char *id, const char *msg)
{
    ohsm_rv rv = ohsm_meta_attr_set(c->meta, id, OHSM_CA_MESSAGE, msg);
    (void)rv; /* a message is a courtesy: the state is what counts */
}

/* A cluster made from a backup: its masking key and lineage files before anything else. */
static ohsm_rv from_backup(struct ohsm_cloud *c, const char *cid, const char *bid)
{
    char top[4096], cdir[4096], mask[4200];
    OHSM_TRY(ohsm_files_path(top, sizeof(top), "%s/clusters", c->data_dir));
    OHSM_TRY(ohsm_provision_cluster_dir(c->data_dir, cid, cdir, sizeof(cdir)));
    OHSM_TRY(ohsm_files_path(mask, sizeof(mask), "%s/" OHSM_PROVISION_MASKING_KEY, cdir));
    OHSM_ENSURE(ohsm_files_mkdir(top) == OHSM_OK && ohsm_files_mkdir(cdir) == OHSM_OK, OHSM_IO);
    if (access(mask, F_OK) != 0) {
        OHSM_TRY(ohsm_cp_backup_restore(c, bid, cid, NULL, mask));
    }
    return ohsm_cp_lineage_key(c, bid, cid);
}

static void cluster_created(struct ohsm_cloud *c, const char *cid)
{
    char err[512];
    char *pki = NULL, *src = NULL;
    (void)pthread_mutex_lock(&c->lock);
    bool local = ohsm_meta_attr_get(c->meta, cid, OHSM_CA_PKI, &pki) == OHSM_OK && pki == NULL;
    bool ok = ohsm_meta_attr_get(c->meta, cid, OHSM_CA_SOURCE_BACKUP, &src) == OHSM_OK;
    (void)pthread_mutex_unlock(&c->lock);
    free(pki);
    ohsm_rv rv = ok ? OHSM_OK : OHSM_DB;
    if (rv == OHSM_OK && src != NULL) {
        rv = from_backup(c, cid, src);
        local = false; /* the lineage brought its CA, if it had one */
        ohsm_errf(err, sizeof(err), "cannot restore from %s: %s", src, ohsm_rv_str(rv));
    }
    free(src);
    if (rv == OHSM_OK) {
        rv = ohsm_provision_cluster_files(c->data_dir, cid, local, err, sizeof(err));
    }
    (void)pthread_mutex_lock(&c->lock);
    struct ohsm_meta_cluster cl;
    if (rv != OHSM_OK) {
        fprintf(stderr, "openhsmd: cluster %s: %s\n", cid, err);
    } else if (ohsm_cp_find_cluster(c, NULL, cid, &cl) == OHSM_OK &&
               cl.state == OHSM_CS_CREATE_IN_PROGRESS) {
        if (ohsm_meta_cluster_set_state(c->meta, cid, OHSM_CS_UNINITIALIZED) != OHSM_OK) {
            fprintf(stderr, "openhsmd: cluster %s: cannot record its state\n", cid);
        }
        set_msg(c, cid, NULL);
    }
    (void)pthread_mutex_unlock(&c->lock);
}

static void cluster_deleted(struct ohsm_cloud *c, const char *cid)
{
    char dir[4096], region[32], sg[32] = "";
    char *v = NULL;
    struct ohsm_aws_err e;

    (void)pthread_mutex_lock(&c->lock);
    ohsm_cloud_cluster_region(c, cid, region, sizeof(region));
    if (ohsm_meta_attr_get(c->meta, cid, OHSM_CA_SG, &v) == OHSM_OK && v != NULL &&
        strlen(v) < sizeof(sg)) {
        memcpy(sg, v, strlen(v) + 1);
    }
    free(v);
    if (sg[0] != '\0') {
        memset(&e, 0, sizeof(e));
        ohsm_rv rv = ohsm_vpc_sg_delete(ohsm_meta_sqlite(c->meta), region, sg, &e);
        (void)rv; /* already gone after a crash: nothing to do */
    }
    (void)pthread_mutex_unlock(&c->lock);
    if (ohsm_provision_cluster_dir(c->data_dir, cid, dir, sizeof(dir)) == OHSM_OK &&
        ohsm_files_remove_tree(dir) != OHSM_OK && errno != ENOENT) {
        fprintf(stderr, "openhsmd: cannot remove %s: %s\n", dir, strerror(errno));
        return;
    }
    if (ohsm_provision_private_dir(c->data_dir, cid, dir, sizeof(dir)) == OHSM_OK &&
        ohsm_files_remove_tree(dir) != OHSM_OK && errno != ENOENT) {
        fprintf(stderr, "openhsmd: cannot remove %s: %s\n", dir, strerror(errno));
        return;
    }
    (void)pthread_mutex_lock(&c->lock);
    if (ohsm_meta_cluster_set_state(c->meta, cid, OHSM_CS_DELETED) != OHSM_OK) {
        fprintf(stderr, "openhsmd: cluster %s: cannot record its state\n", cid);
    }
    set_msg(c, cid, NULL);
    (void)pthread_mutex_unlock(&c->lock);
}

/* Registers an HSM with the supervisor (already registered is fine). c->lock held. */
static ohsm_rv register_hsm(struct ohsm_cloud *c, const struct ohsm_meta_cluster *cl,
                            const struct ohsm_meta_hsm *h)
{
    char hdir[4096], cdir[4096];
    struct ohsm_sup_status st;
    if (ohsm_sup_status(c->sup, h->id, &st) == OHSM_OK) {
        return OHSM_OK;
    }
    OHSM_TRY(ohsm_provision_cluster_dir(c->data_dir, cl->id, cdir, sizeof(cdir)));
    OHSM_TRY(ohsm_provision_hsm_dir(c->data_dir, cl->id, h->id, hdir, sizeof(hdir)));
    struct ohsm_sup_hsm sh = {h->id,  cl->id, hdir, cdir, h->port, cl->lockout_attempts,
                              ohsm_cp_hsm_slot(c, h)};
    return ohsm_sup_add(c->sup, &sh);
}

/* A new HSM's state: the cluster's newest, as CloudHSM gives it -- a fresh backup of a running
 * HSM of the cluster, else its newest backup, else the backup it was made from; a new cluster's
 * first HSM starts empty (the precrypto officer and the appliance user). Nothing to do when the
 * database exists (a pass cut short after the restore). */
static ohsm_rv seed(struct ohsm_cloud *c, const struct ohsm_meta_hsm *h)
{
    char hdir[4096], db[4200], run[OHSM_IDS_MAX], latest[OHSM_IDS_MAX] = "";
    char *src = NULL;
    struct ohsm_meta_backup *bs = NULL;
    size_t n = 0;
    int64_t at = -1;

    OHSM_TRY(ohsm_provision_hsm_dir(c->data_dir, h->cluster_id, h->id, hdir, sizeof(hdir)));
    OHSM_TRY(ohsm_files_path(db, sizeof(db), "%s/hsm.db", hdir));
    if (access(db, F_OK) == 0) {
        return OHSM_OK;
    }
    struct ohsm_meta_cluster cl;
    (void)pthread_mutex_lock(&c->lock);
    ohsm_rv rv = ohsm_cp_find_cluster(c, NULL, h->cluster_id, &cl);
    run[0] = '\0';
    /* Before initialization the cluster has no state to copy (HSMs start as new ones). */
    if (rv == OHSM_OK && (cl.state == OHSM_CS_INITIALIZED || cl.state == OHSM_CS_ACTIVE ||
                          cl.state == OHSM_CS_DEGRADED)) {
        ohsm_cp_running_hsm(c, h->cluster_id, h->id, run);
    }
    if (rv == OHSM_OK) {
        rv = ohsm_meta_attr_get(c->meta, h->cluster_id, OHSM_CA_SOURCE_BACKUP, &src);
    }
    if (rv == OHSM_OK && ohsm_meta_backup_list(c->meta, &bs, &n) == OHSM_OK) {
        char region[32];
        ohsm_cloud_cluster_region(c, h->cluster_id, region, sizeof(region));
        for (size_t i = 0; i < n; i++) {
            if (strcmp(bs[i].cluster_id, h->cluster_id) == 0 && bs[i].state == OHSM_BS_READY &&
                strcmp(bs[i].region, region) == 0 && bs[i].created_at >= at) {
                at = bs[i].created_at;
                memcpy(latest, bs[i].id, sizeof(latest));
            }
        }
    }
    (void)pthread_mutex_unlock(&c->lock);
    free(bs);
    char bid[OHSM_IDS_MAX] = "";
    if (rv == OHSM_OK && run[0] != '\0') {
        rv = ohsm_cp_backup_take(c, h->cluster_id, run, bid);
    } else if (latest[0] != '\0') {
        memcpy(bid, latest, sizeof(bid));
    } else if (src != NULL) {
        (void)snprintf(bid, sizeof(bid), "%s", src);
    }
    free(src);
    if (rv == OHSM_OK && bid[0] != '\0') {
        rv = ohsm_cp_backup_restore(c, bid, h->cluster_id, h->id, NULL);
        if (rv != OHSM_OK) {
            fprintf(stderr, "openhsmd: %s: cannot restore %s: %s\n", h->id, bid, ohsm_rv_str(rv));
        }
    }
    return rv;
}

static void hsm_created(struct ohsm_cloud *c, const struct ohsm_meta_hsm *h)
{
    struct ohsm_meta_cluster cl;
    ohsm_rv rv = ohsm_cp_hsm_tls(c, h->cluster_id, h->id);
    if (rv != OHSM_OK) {
        return;
    }
    rv = seed(c, h);
    (void)pthread_mutex_lock(&c->lock);
    if (rv == OHSM_OK) {
        rv = ohsm_cp_find_cluster(c, NULL, h->cluster_id, &cl);
    }
    if (rv == OHSM_OK) {
        rv = register_hsm(c, &cl, h);
    }
    (void)pthread_mutex_unlock(&c->lock);
    if (rv == OHSM_OK) {
        rv = ohsm_sup_launch(c->sup, h->id);
    }
    (void)pthread_mutex_lock(&c->lock);
    struct ohsm_meta_hsm *hs = NULL;
    size_t n = 0;
    bool still = false;
    if (ohsm_meta_hsm_list(c->meta, h->cluster_id, &hs, &n) == OHSM_OK) {
        for (size_t i = 0; i < n; i++) {
            still = still || (strcmp(hs[i].id, h->id) == 0 &&
                              hs[i].state == OHSM_HS_CREATE_IN_PROGRESS);
        }
    }
    free(hs);
    if (still) {
        /* A start that fails leaves the HSM DEGRADED (with its log on stderr): visible, and
         * deletable, rather than retried forever. */
        enum ohsm_meta_hstate next = rv == OHSM_OK ? OHSM_HS_ACTIVE : OHSM_HS_DEGRADED;
        if (ohsm_meta_hsm_set_state(c->meta, h->id, next) != OHSM_OK ||
            ohsm_cp_client_json(c, h->cluster_id) != OHSM_OK) {
            fprintf(stderr, "openhsmd: %s: cannot record its state\n", h->id);
        }
    }
    (void)pthread_mutex_unlock(&c->lock);
}

static void hsm_deleted(struct ohsm_cloud *c, const struct ohsm_meta_hsm *h)
{
    char dir[4096], region[32], eni[32] = "";
    char *v = NULL;
    struct ohsm_aws_err e;

    /* An HSM leaving an initialized cluster leaves a backup of itself (UG: a backup is taken
     * when an HSM is removed; deleting the last one and adding one later restores it). */
    struct ohsm_meta_cluster cl;
    struct ohsm_sup_status st;
    (void)pthread_mutex_lock(&c->lock);
    bool take = ohsm_cp_find_cluster(c, NULL, h->cluster_id, &cl) == OHSM_OK &&
                (cl.state == OHSM_CS_INITIALIZED || cl.state == OHSM_CS_ACTIVE ||
                 cl.state == OHSM_CS_DEGRADED) &&
                ohsm_sup_status(c->sup, h->id, &st) == OHSM_OK && st.running && !st.paused;
    (void)pthread_mutex_unlock(&c->lock);
    if (take) {
        char bid[OHSM_IDS_MAX];
        ohsm_rv brv = ohsm_cp_backup_take(c, h->cluster_id, h->id, bid);
        (void)brv; /* said on stderr; the deletion goes on */
    }
    ohsm_rv rv = ohsm_sup_remove(c->sup, h->id);
    if (rv != OHSM_OK && rv != OHSM_ARGUMENTS_BAD) {
        fprintf(stderr, "openhsmd: %s would not stop; its deletion waits\n", h->id);
        return;
    }
    if (ohsm_provision_hsm_dir(c->data_dir, h->cluster_id, h->id, dir, sizeof(dir)) == OHSM_OK &&
        ohsm_files_remove_tree(dir) != OHSM_OK && errno != ENOENT) {
        fprintf(stderr, "openhsmd: cannot remove %s: %s\n", dir, strerror(errno));
        return;
    }
    (void)pthread_mutex_lock(&c->lock);
    ohsm_cloud_cluster_region(c, h->cluster_id, region, sizeof(region));
    if (ohsm_meta_attr_get(c->meta, h->id, OHSM_HA_ENI, &v) == OHSM_OK && v != NULL &&
        strlen(v) < sizeof(eni)) {
        memcpy(eni, v, strlen(v) + 1);
    }
    free(v);
    memset(&e, 0, sizeof(e));
    if (eni[0] != '\0' &&
        ohsm_vpc_eni_delete(ohsm_meta_sqlite(c->meta), region, eni, true, &e) != OHSM_OK &&
        strcmp(e.type, "InvalidNetworkInterfaceID.NotFound") != 0) {
        fprintf(stderr, "openhsmd: %s: cannot free %s: %s\n", h->id, eni, e.msg);
    } else if (ohsm_meta_hsm_set_state(c->meta, h->id, OHSM_HS_DELETED) != OHSM_OK ||
               ohsm_cp_client_json(c, h->cluster_id) != OHSM_OK) {
        fprintf(stderr, "openhsmd: %s: cannot record its state\n", h->id);
    }
    (void)pthread_mutex_unlock(&c->lock);
}

/* Has an HSM of the cluster been activated (its admin's first password change)? Read from the
 * HSM's own database, read-only. */
static bool activated(struct ohsm_cloud *c, const struct ohsm_meta_hsm *h)
{
    char hdir[4096], db[4200];
    sqlite3 *s = NULL;
    sqlite3_stmt *st = NULL;
    bool yes = false;
    if (ohsm_provision_hsm_dir(c->data_dir, h->cluster_id, h->id, hdir, sizeof(hdir)) != OHSM_OK ||
        snprintf(db, sizeof(db), "%s/hsm.db", hdir) >= (int)sizeof(db)) {
        return false;
    }
    if (sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL) ==
            SQLITE_OK &&
        sqlite3_busy_timeout(s, 200) == SQLITE_OK &&
        sqlite3_prepare_v2(s, "SELECT v FROM meta WHERE k = 'activated'", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        yes = v != NULL && strcmp((const char *)v, "1") == 0;
    }
    sqlite3_finalize(st);
    sqlite3_close(s);
    return yes;
}

/* Health of running HSMs and the cluster states that follow from it. c->lock held. */
static void health(struct ohsm_cloud *c, const struct ohsm_meta_cluster *cl)
{
    struct ohsm_meta_hsm *hs = NULL;
    size_t n = 0, up = 0, down = 0;
    bool act = false;
    if (ohsm_meta_hsm_list(c->meta, cl->id, &hs, &n) != OHSM_OK) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct ohsm_sup_status st;
        if (hs[i].state != OHSM_HS_ACTIVE && hs[i].state != OHSM_HS_DEGRADED) {
            continue;
        }
        bool ok = ohsm_sup_status(c->sup, hs[i].id, &st) == OHSM_OK && st.running && !st.paused;
        enum ohsm_meta_hstate want = ok ? OHSM_HS_ACTIVE : OHSM_HS_DEGRADED;
        if (want != hs[i].state && ohsm_meta_hsm_set_state(c->meta, hs[i].id, want) != OHSM_OK) {
            fprintf(stderr, "openhsmd: %s: cannot record its state\n", hs[i].id);
        }
        up += ok ? 1 : 0;
        down += ok ? 0 : 1;
        if (ok && cl->state == OHSM_CS_INITIALIZED && !act) {
            act = activated(c, &hs[i]);
        }
    }
    free(hs);
    enum ohsm_meta_cstate next = cl->state;
    char *src = NULL;
    if (cl->state == OHSM_CS_UNINITIALIZED && up > 0 &&
        ohsm_meta_attr_get(c->meta, cl->id, OHSM_CA_SOURCE_BACKUP, &src) == OHSM_OK &&
        src != NULL) {
        /* A cluster of a backup's lineage is initialized by its first restored HSM. */
        next = OHSM_CS_INITIALIZED;
    }
    free(src);
    if (cl->state == OHSM_CS_INITIALIZED && act) {
        next = down > 0 ? OHSM_CS_DEGRADED : OHSM_CS_ACTIVE;
    } else if (cl->state == OHSM_CS_ACTIVE && down > 0) {
        next = OHSM_CS_DEGRADED;
    } else if (cl->state == OHSM_CS_DEGRADED && down == 0) {
        next = OHSM_CS_ACTIVE;
    }
    if (next != cl->state && ohsm_meta_cluster_set_state(c->meta, cl->id, next) != OHSM_OK) {
        fprintf(stderr, "openhsmd: cluster %s: cannot record its state\n", cl->id);
        return;
    }
    if (next != cl->state && (cl->state == OHSM_CS_UNINITIALIZED || next == OHSM_CS_ACTIVE) &&
        ohsm_cp_client_json(c, cl->id) != OHSM_OK) {
        fprintf(stderr, "openhsmd: cluster %s: cannot write client.json\n", cl->id);
    }
    if (cl->state == OHSM_CS_INITIALIZED && next != cl->state) {
        /* Activation: CloudHSM takes a backup. */
        ohsm_rv rv = ohsm_meta_attr_set(c->meta, cl->id, OHSM_CA_NEED_BACKUP, "1");
        (void)rv;
    }
}

/* Backups asked for by a state change (activation). */
static void activation_backups(struct ohsm_cloud *c)
{
    struct ohsm_meta_cluster *cs = NULL;
    size_t n = 0;
    (void)pthread_mutex_lock(&c->lock);
    ohsm_rv rv = ohsm_meta_cluster_list(c->meta, &cs, &n);
    (void)pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; rv == OHSM_OK && i < n && !c->stopping; i++) {
        char *v = NULL, run[OHSM_IDS_MAX], bid[OHSM_IDS_MAX];
        (void)pthread_mutex_lock(&c->lock);
        bool want = ohsm_meta_attr_get(c->meta, cs[i].id, OHSM_CA_NEED_BACKUP, &v) == OHSM_OK &&
                    v != NULL;
        ohsm_cp_running_hsm(c, cs[i].id, NULL, run);
        (void)pthread_mutex_unlock(&c->lock);
        free(v);
        if (want && run[0] != '\0' && ohsm_cp_backup_take(c, cs[i].id, run, bid) == OHSM_OK) {
            (void)pthread_mutex_lock(&c->lock);
            ohsm_rv r2 = ohsm_meta_attr_set(c->meta, cs[i].id, OHSM_CA_NEED_BACKUP, NULL);
            (void)r2;
            (void)pthread_mutex_unlock(&c->lock);
        }
    }
    free(cs);
}

void ohsm_cloud_reconcile(struct ohsm_cloud *c)
{
    struct ohsm_meta_cluster *cs = NULL;
    struct ohsm_meta_hsm *hs = NULL;
    size_t nc = 0, nh = 0;

    (void)pthread_mutex_lock(&c->pass);
    (void)pthread_mutex_lock(&c->lock);
    if (ohsm_meta_cluster_list(c->meta, &cs, &nc) != OHSM_OK ||
        ohsm_meta_hsm_list(c->meta, NULL, &hs, &nh) != OHSM_OK) {
        (void)pthread_mutex_unlock(&c->lock);
        (void)pthread_mutex_unlock(&c->pass);
        fprintf(stderr, "openhsmd: the metadata is unreadable\n");
        free(cs);
        return;
    }
    (void)pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < nc && !c->stopping; i++) {
        if (cs[i].state == OHSM_CS_CREATE_IN_PROGRESS) {
            cluster_created(c, cs[i].id);
        }
    }
    for (size_t i = 0; i < nh && !c->stopping; i++) {
        if (hs[i].state == OHSM_HS_CREATE_IN_PROGRESS) {
            hsm_created(c, &hs[i]);
        } else if (hs[i].state == OHSM_HS_DELETE_IN_PROGRESS) {
            hsm_deleted(c, &hs[i]);
        }
    }
    for (size_t i = 0; i < nc && !c->stopping; i++) {
        if (cs[i].state == OHSM_CS_DELETE_IN_PROGRESS) {
            cluster_deleted(c, cs[i].id);
        } else if (cs[i].state == OHSM_CS_INITIALIZE_IN_PROGRESS) {
            ohsm_cp_initialized(c, cs[i].id);
        }
    }
    free(cs);
    free(hs);
    /* Health, on a fresh read (the steps above changed states). */
    (void)pthread_mutex_lock(&c->lock);
    if (ohsm_meta_cluster_list(c->meta, &cs, &nc) == OHSM_OK) {
        for (size_t i = 0; i < nc; i++) {
            if (cs[i].state == OHSM_CS_INITIALIZED || cs[i].state == OHSM_CS_ACTIVE ||
                cs[i].state == OHSM_CS_DEGRADED || cs[i].state == OHSM_CS_UNINITIALIZED) {
                health(c, &cs[i]);
            }
        }
        free(cs);
    }
    (void)pthread_mutex_unlock(&c->lock);
    activation_backups(c);
    ohsm_cp_backups_pass(c);
    (void)pthread_mutex_unlock(&c->pass);
}

static void *worker(void *arg)
{
    struct ohsm_cloud *c = arg;
    (void)pthread_mutex_lock(&c->lock);
    while (!c->stopping) {
        if (!c->kicked) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += PASS_MS / 1000;
            (void)pthread_cond_timedwait(&c->kick, &c->lock, &ts);
        }
        c->kicked = false;
        if (c->stopping) {
            break;
        }
        (void)pthread_mutex_unlock(&c->lock);
        ohsm_cloud_reconcile(c);
        (void)pthread_mutex_lock(&c->lock);
    }
    (void)pthread_mutex_unlock(&c->lock);
    return NULL;
}

void ohsm_cloud_kick(struct ohsm_cloud *c)
{
    (void)pthread_mutex_lock(&c->lock);
    c->kicked = true;
    (void)pthread_cond_signal(&c->kick);
    (void)pthread_mutex_unlock(&c->lock);
}

ohsm_rv ohsm_cloud_init(struct ohsm_cloud *c, struct ohsm_meta *meta, struct ohsm_sup *sup,
                        const char *data_dir, const char *region, const char *account_id,
                        uint32_t lockout)
{
    OHSM_ENSURE(c != NULL && meta != NULL && sup != NULL && data_dir != NULL && region != NULL &&
                    account_id != NULL,
                OHSM_ARGUMENTS_BAD);
    memset(c, 0, sizeof(*c));
    OHSM_ENSURE(strlen(data_dir) < sizeof(c->data_dir) && strlen(region) < sizeof(c->region) &&
                    strlen(account_id) < sizeof(c->account_id),
                OHSM_ARGUMENTS_BAD);
    atomic_init(&c->stopping, false);
    memcpy(c->data_dir, data_dir, strlen(data_dir) + 1);
    memcpy(c->region, region, strlen(region) + 1);
    memcpy(c->account_id, account_id, strlen(account_id) + 1);
    c->meta = meta;
    c->sup = sup;
    c->lockout = lockout;
    (void)pthread_mutex_init(&c->lock, NULL);
    (void)pthread_mutex_init(&c->pass, NULL);
    (void)pthread_cond_init(&c->kick, NULL);
    return ohsm_vpc_init(ohsm_meta_sqlite(meta));
}

/* What a kill -9 in the middle of a backup, restore or copy left: temp files in the backups
 * directory and in HSM directories (nothing else runs yet, so none is in use). */
static void remove_temps(struct ohsm_cloud *c)
{
    char dir[4096];
    struct ohsm_meta_hsm *hs = NULL;
    size_t n = 0;
    if (ohsm_files_path(dir, sizeof(dir), "%s/backups", c->data_dir) == OHSM_OK &&
        access(dir, F_OK) == 0 && ohsm_backup_remove_temps(dir, NULL) != OHSM_OK) {
        fprintf(stderr, "openhsmd: cannot clear temporary files in %s: %s\n", dir,
                strerror(errno));
    }
    if (ohsm_meta_hsm_list(c->meta, NULL, &hs, &n) != OHSM_OK) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (ohsm_provision_hsm_dir(c->data_dir, hs[i].cluster_id, hs[i].id, dir, sizeof(dir)) ==
                OHSM_OK &&
            access(dir, F_OK) == 0 && ohsm_backup_remove_temps(dir, NULL) != OHSM_OK) {
            fprintf(stderr, "openhsmd: cannot clear temporary files in %s: %s\n", dir,
                    strerror(errno));
        }
    }
    free(hs);
}

ohsm_rv ohsm_cloud_start(struct ohsm_cloud *c)
{
    OHSM_ENSURE(c != NULL && !c->worker_running, OHSM_ARGUMENTS_BAD);
    remove_temps(c);
    OHSM_ENSURE(pthread_create(&c->worker, NULL, worker, c) == 0, OHSM_HOST_MEMORY);
    c->worker_running = true;
    return OHSM_OK;
}

void ohsm_cloud_stop(struct ohsm_cloud *c)
{
    if (c == NULL || !c->worker_running) {
        return;
    }
    (void)pthread_mutex_lock(&c->lock);
    c->stopping = true;
    (void)pthread_cond_signal(&c->kick);
    (void)pthread_mutex_unlock(&c->lock);
    (void)pthread_join(c->worker, NULL);
    c->worker_running = false;
}

void ohsm_cloud_destroy(struct ohsm_cloud *c)
{
    if (c == NULL) {
        return;
    }
    ohsm_cloud_stop(c);
    (void)pthread_cond_destroy(&c->kick);
    (void)pthread_mutex_destroy(&c->pass);
    (void)pthread_mutex_destroy(&c->lock);
}
