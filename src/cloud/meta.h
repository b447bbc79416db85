/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsmd's own metadata: the clusters it runs and their HSMs (ids, endpoints, states, lockout
 * setting, creation times), in one SQLite database (WAL, synchronous=FULL, foreign keys on).
 * States are the CloudHSM v2 API's strings, so the control plane can report them unchanged. Every
 * row read back is validated (ids, ranges, known states) before it is returned: a hand-edited or
 * damaged database yields OHSM_DB, never a half-trusted value.
 *
 * Not thread-safe: one struct ohsm_meta per thread, or the caller serialises.
 */
#ifndef OHSM_CLOUD_META_H
#define OHSM_CLOUD_META_H

#include <stddef.h>
#include <stdint.h>

#include "cloud/ids.h"
#include "openhsm/rv.h"

/* ClusterState of the CloudHSM v2 API. Values are not stored (names are): order is free. */
enum ohsm_meta_cstate {
    OHSM_CS_CREATE_IN_PROGRESS,
    OHSM_CS_UNINITIALIZED,
    OHSM_CS_INITIALIZE_IN_PROGRESS,
    OHSM_CS_INITIALIZED,
    OHSM_CS_ACTIVE,
    OHSM_CS_UPDATE_IN_PROGRESS,
    OHSM_CS_MODIFY_IN_PROGRESS,
    OHSM_CS_ROLLBACK_IN_PROGRESS,
    OHSM_CS_DELETE_IN_PROGRESS,
    OHSM_CS_DELETED,
    OHSM_CS_DEGRADED,
    OHSM_CS_COUNT_
};

/* HsmState of the CloudHSM v2 API. */
enum ohsm_meta_hstate {
    OHSM_HS_CREATE_IN_PROGRESS,
    OHSM_HS_ACTIVE,
    OHSM_HS_DEGRADED,
    OHSM_HS_DELETE_IN_PROGRESS,
    OHSM_HS_DELETED,
    OHSM_HS_COUNT_
};

#define OHSM_META_HSM_TYPE_DEFAULT "hsm1.medium"

struct ohsm_meta_cluster {
    char id[OHSM_IDS_MAX]; /* cluster-xxxxxxxxxxx */
    enum ohsm_meta_cstate state;
    char hsm_type[32];         /* e.g. hsm1.medium */
    uint32_t lockout_attempts; /* 1..100 */
    int64_t created_at;        /* Unix seconds */
};

struct ohsm_meta_hsm {
    char id[OHSM_IDS_MAX]; /* hsm-xxxxxxxxxxx */
    char cluster_id[OHSM_IDS_MAX];
    uint32_t seq;  /* position within the cluster (order of client.json) */
    char host[64]; /* address it listens on, e.g. 127.0.0.1 */
    uint16_t port; /* 1..65535, unique across the database */
    enum ohsm_meta_hstate state;
    int64_t created_at;
};

struct ohsm_meta;

/* "INITIALIZED", "ACTIVE", ...; NULL when out of range. */
const char *ohsm_meta_cstate_name(enum ohsm_meta_cstate s);
const char *ohsm_meta_hstate_name(enum ohsm_meta_hstate s);
/* Parses a state name (exact, upper case). Errors: OHSM_ARGUMENTS_BAD. */
OHSM_NODISCARD ohsm_rv ohsm_meta_cstate_parse(const char *name, enum ohsm_meta_cstate *out);
OHSM_NODISCARD ohsm_rv ohsm_meta_hstate_parse(const char *name, enum ohsm_meta_hstate *out);

/* Opens the database at path, creating it and its schema when new; refuses a schema version this
 * code does not know. Caller closes. Errors: OHSM_DB, OHSM_HOST_MEMORY, OHSM_ARGUMENTS_BAD. */
OHSM_NODISCARD ohsm_rv ohsm_meta_open(const char *path, struct ohsm_meta **out);
void ohsm_meta_close(struct ohsm_meta *m); /* NULL ok */
/* SQLite's message for the last failure (borrowed, valid until the next call). */
const char *ohsm_meta_errstr(const struct ohsm_meta *m);

/* The database handle, for modules that keep their own tables in openhsmd.db (vpc.c). Borrowed;
 * used under the same serialisation as m. */
struct sqlite3;
struct sqlite3 *ohsm_meta_sqlite(struct ohsm_meta *m);

/* A write transaction around several calls. rollback is a no-op outside a transaction. */
OHSM_NODISCARD ohsm_rv ohsm_meta_begin(struct ohsm_meta *m);
OHSM_NODISCARD ohsm_rv ohsm_meta_commit(struct ohsm_meta *m);
void ohsm_meta_rollback(struct ohsm_meta *m);

/* Inserts a cluster / an HSM (borrowed). Values are validated as rows read back are.
 * Errors: OHSM_ARGUMENTS_BAD (invalid field), OHSM_DB (duplicate id or port, unknown cluster). */
OHSM_NODISCARD ohsm_rv ohsm_meta_cluster_add(struct ohsm_meta *m,
                                             const struct ohsm_meta_cluster *c);
OHSM_NODISCARD ohsm_rv ohsm_meta_hsm_add(struct ohsm_meta *m, const struct ohsm_meta_hsm *h);

/* Sets a state. Errors: OHSM_ARGUMENTS_BAD (bad state or no such id), OHSM_DB. */
OHSM_NODISCARD ohsm_rv ohsm_meta_cluster_set_state(struct ohsm_meta *m, const char *id,
                                                   enum ohsm_meta_cstate s);
OHSM_NODISCARD ohsm_rv ohsm_meta_hsm_set_state(struct ohsm_meta *m, const char *id,
                                               enum ohsm_meta_hstate s);

/* All clusters in creation order. *out is malloc'd (caller frees with free(); NULL when *n is 0).
 * Errors: OHSM_DB (query failed or a row is invalid), OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_meta_cluster_list(struct ohsm_meta *m, struct ohsm_meta_cluster **out,
                                              size_t *n);
/* The HSMs of cluster_id in seq order, or of every cluster (cluster, then seq) when cluster_id is
 * NULL. Ownership and errors as ohsm_meta_cluster_list. */
OHSM_NODISCARD ohsm_rv ohsm_meta_hsm_list(struct ohsm_meta *m, const char *cluster_id,
                                          struct ohsm_meta_hsm **out, size_t *n);

/* BackupState of the CloudHSM v2 API. */
enum ohsm_meta_bstate {
    OHSM_BS_CREATE_IN_PROGRESS,
    OHSM_BS_READY,
    OHSM_BS_DELETED,
    OHSM_BS_PENDING_DELETION,
    OHSM_BS_COUNT_
};

struct ohsm_meta_backup {
    char id[OHSM_IDS_MAX]; /* backup-xxxxxxxxxxx */
    char region[32];
    char cluster_id[OHSM_IDS_MAX]; /* the cluster it was taken of (that cluster may be gone) */
    enum ohsm_meta_bstate state;
    int64_t created_at; /* Unix seconds (a copy keeps its source's) */
};

const char *ohsm_meta_bstate_name(enum ohsm_meta_bstate s);
/* Inserts a backup / sets its state / lists all (oldest first). Ownership and errors as the
 * cluster functions. */
OHSM_NODISCARD ohsm_rv ohsm_meta_backup_add(struct ohsm_meta *m, const struct ohsm_meta_backup *b);
OHSM_NODISCARD ohsm_rv ohsm_meta_backup_set_state(struct ohsm_meta *m, const char *id,
                                                  enum ohsm_meta_bstate s);
OHSM_NODISCARD ohsm_rv ohsm_meta_backup_list(struct ohsm_meta *m, struct ohsm_meta_backup **out,
                                             size_t *n);

/* Further text facts of an id (cluster, HSM, backup), kept for the control plane, which
 * interprets and validates them when read. set: v NULL removes; at most 256 KiB. get: *out is
 * malloc'd (caller frees), NULL when absent. drop: removes every fact of id.
 * Errors: OHSM_ARGUMENTS_BAD, OHSM_DB, OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_meta_attr_set(struct ohsm_meta *m, const char *id, const char *k,
                                          const char *v);
OHSM_NODISCARD ohsm_rv ohsm_meta_attr_get(struct ohsm_meta *m, const char *id, const char *k,
                                          char **out);
OHSM_NODISCARD ohsm_rv ohsm_meta_attr_drop(struct ohsm_meta *m, const char *id);

#endif
