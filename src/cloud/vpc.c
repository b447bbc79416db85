/* SPDX-License-Identifier: Apache-2.0
 *
 * The VPC model: regions, AZ names, VPCs, subnets and security groups (ENIs are in vpc_eni.c,
 * shared database helpers in vpc_db.c).
 * SQL lives only in the vpc*.c files and binds every value. Rows read back are validated (id
 * shapes, region, AZ, canonical CIDR, states) before they are returned: a row openhsmd did not
 * write yields OHSM_DB, never a half-trusted value.
 */
#include "cloud/vpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cloud/vpc_db.h"
#include "http/http.h"

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS vpc_regions ("
    " region TEXT PRIMARY KEY NOT NULL,"
    " owner TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS vpc_vpcs ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE,"
    " region TEXT NOT NULL,"
    " owner TEXT NOT NULL,"
    " cidr TEXT NOT NULL,"
    " is_default INTEGER NOT NULL,"
    " state TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS vpc_subnets ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE,"
    " region TEXT NOT NULL,"
    " vpc_id TEXT NOT NULL REFERENCES vpc_vpcs(id),"
    " az TEXT NOT NULL,"
    " cidr TEXT NOT NULL,"
    " default_for_az INTEGER NOT NULL,"
    " owner TEXT NOT NULL,"
    " state TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS vpc_sgs ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE,"
    " region TEXT NOT NULL,"
    " vpc_id TEXT NOT NULL REFERENCES vpc_vpcs(id),"
    " name TEXT NOT NULL,"
    " owner TEXT NOT NULL,"
    " UNIQUE (vpc_id, name));"
    "CREATE TABLE IF NOT EXISTS vpc_enis ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE,"
    " region TEXT NOT NULL,"
    " subnet_id TEXT NOT NULL REFERENCES vpc_subnets(id),"
    " ip INTEGER NOT NULL,"
    " mac TEXT NOT NULL,"
    " description TEXT NOT NULL,"
    " group_id TEXT NOT NULL,"
    " requester_managed INTEGER NOT NULL,"
    " owner TEXT NOT NULL,"
    " UNIQUE (subnet_id, ip));"
    "CREATE INDEX IF NOT EXISTS vpc_enis_subnet ON vpc_enis (subnet_id, ip);"
    "CREATE TABLE IF NOT EXISTS vpc_eni_tokens ("
    " region TEXT NOT NULL,"
    " token TEXT NOT NULL,"
    " eni_id TEXT NOT NULL,"
    " PRIMARY KEY (region, token));";

/* The default VPC of every region (VPC user guide "Default VPCs"). */
#define DEFAULT_VPC_CIDR "172.31.0.0/16"
static const char *const default_subnets[OHSM_VPC_AZ_COUNT] = {"172.31.0.0/20", "172.31.16.0/20",
                                                               "172.31.32.0/20"};

/* ---- ids, regions ---- */

bool ohsm_vpc_id_valid(const char *prefix, const char *s)
{
    if (prefix == NULL || s == NULL) {
        return false;
    }
    size_t pl = strlen(prefix);
    if (strncmp(s, prefix, pl) != 0 || strlen(s + pl) != OHSM_VPC_HEX_CHARS) {
        return false;
    }
    for (const char *p = s + pl; *p != '\0'; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
            return false;
        }
    }
    return true;
}

/* Direction words of region names, longest first so "northeast" is not read as "north". */
static const char *const directions[] = {"northeast", "southeast", "northwest",
                                         "southwest", "central",   "north",
                                         "south",     "east",      "west"};

/* Parses a region into country (2 letters), gov flag, direction and number; NULL-safe. */
static bool region_parts(const char *r, char cc[3], bool *gov, const char **dir, char *num)
{
    if (r == NULL || strlen(r) >= OHSM_VPC_REGION_MAX) {
        return false;
    }
    if (!(r[0] >= 'a' && r[0] <= 'z' && r[1] >= 'a' && r[1] <= 'z' && r[2] == '-')) {
        return false;
    }
    cc[0] = r[0];
    cc[1] = r[1];
    cc[2] = '\0';
    const char *p = r + 3;
    *gov = strncmp(p, "gov-", 4) == 0;
    if (*gov) {
        p += 4;
    }
    for (size_t i = 0; i < sizeof(directions) / sizeof(directions[0]); i++) {
        size_t l = strlen(directions[i]);
        if (strncmp(p, directions[i], l) == 0 && p[l] == '-' && p[l + 1] >= '0' &&
            p[l + 1] <= '9' && p[l + 2] == '\0') {
            *dir = directions[i];
            *num = p[l + 1];
            return true;
        }
    }
    return false;
}

bool ohsm_vpc_region_valid(const char *region)
{
    char cc[3], num;
    bool gov;
    const char *dir;
    return region_parts(region, cc, &gov, &dir, &num);
}

ohsm_rv ohsm_vpc_az(const char *region, unsigned idx, char *name, size_t name_cap, char *id,
                    size_t id_cap)
{
    char cc[3], num;
    bool gov;
    const char *dir;
    OHSM_ENSURE(region_parts(region, cc, &gov, &dir, &num) && idx < OHSM_VPC_AZ_COUNT,
                OHSM_ARGUMENTS_BAD);
    if (name != NULL) {
        int n = snprintf(name, name_cap, "%s%c", region, 'a' + (int)idx);
        OHSM_ENSURE(n > 0 && (size_t)n < name_cap, OHSM_BUFFER_TOO_SMALL);
    }
    if (id != NULL) {
        /* AWS's AZ ids: use1-az1, apse1-az2, euc1-az3, usgw1-az1 (a letter per word). */
        char abbr[8];
        size_t k = 0;
        if (gov) {
            abbr[k++] = 'g';
        }
        abbr[k++] = dir[0];
        if ((strncmp(dir, "north", 5) == 0 || strncmp(dir, "south", 5) == 0) && dir[5] != '\0') {
            abbr[k++] = dir[5]; /* northeast -> ne */
        }
        abbr[k] = '\0';
        int n = snprintf(id, id_cap, "%s%s%c-az%u", cc, abbr, num, idx + 1);
        OHSM_ENSURE(n > 0 && (size_t)n < id_cap, OHSM_BUFFER_TOO_SMALL);
    }
    return OHSM_OK;
}

int ohsm_vpc_az_index(const char *region, const char *name_or_id)
{
    char name[OHSM_VPC_AZ_MAX], id[OHSM_VPC_AZ_ID_MAX];
    if (name_or_id == NULL) {
        return -1;
    }
    for (unsigned i = 0; i < OHSM_VPC_AZ_COUNT; i++) {
        if (ohsm_vpc_az(region, i, name, sizeof(name), id, sizeof(id)) != OHSM_OK) {
            return -1;
        }
        if (strcmp(name, name_or_id) == 0 || strcmp(id, name_or_id) == 0) {
            return (int)i;
        }
    }
    return -1;
}

ohsm_rv ohsm_vpc_init(sqlite3 *db)
{
    OHSM_ENSURE(db != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_vpc_sp_begin(db));
    ohsm_rv rv = sqlite3_exec(db, schema, NULL, NULL, NULL) == SQLITE_OK ? OHSM_OK : OHSM_DB;
    return ohsm_vpc_sp_end(db, rv);
}

/* ---- VPCs ---- */

#define VPC_COLS "seq, id, region, owner, cidr, is_default, state"

static bool vpc_row(sqlite3_stmt *st, struct ohsm_vpc_vpc *v)
{
    int64_t b = 0;
    char state[16];
    memset(v, 0, sizeof(*v));
    v->state = "available";
    return ohsm_vpc_col_int(st, 0, 1, INT64_MAX, &v->seq) &&
           ohsm_vpc_col_text(st, 1, v->id, sizeof(v->id)) && ohsm_vpc_id_valid("vpc-", v->id) &&
           ohsm_vpc_col_text(st, 2, v->region, sizeof(v->region)) &&
           ohsm_vpc_region_valid(v->region) &&
           ohsm_vpc_col_text(st, 3, v->owner, sizeof(v->owner)) &&
           ohsm_vpc_account_valid(v->owner) && ohsm_vpc_col_cidr(st, 4, &v->cidr) &&
           ohsm_vpc_col_int(st, 5, 0, 1, &b) && (v->is_default = b == 1, true) &&
           ohsm_vpc_col_text(st, 6, state, sizeof(state)) && strcmp(state, v->state) == 0;
}

static ohsm_rv vpc_insert(sqlite3 *db, const char *region, const char *account,
                          const struct ohsm_cidr *cidr, bool is_default, char *id, size_t cap,
                          struct ohsm_aws_err *err)
{
    char c[OHSM_CIDR_TEXT_MAX];
    sqlite3_stmt *st = NULL;
    OHSM_TRY(ohsm_vpc_make_id("vpc-", id, cap, err));
    if (ohsm_cidr_format(cidr, c, sizeof(c)) != OHSM_OK ||
        ohsm_vpc_prep(db, &st,
                      "INSERT INTO vpc_vpcs (id, region, owner, cidr, is_default, state) "
                      "VALUES (?, ?, ?, ?, ?5, 'available')",
                      id, region, account, c, NULL) != OHSM_OK ||
        sqlite3_bind_int(st, 5, is_default ? 1 : 0) != SQLITE_OK) {
        sqlite3_finalize(st);
        return ohsm_vpc_internal(err, OHSM_DB);
    }
    return ohsm_vpc_run(st) == OHSM_OK ? OHSM_OK : ohsm_vpc_internal(err, OHSM_DB);
}

ohsm_rv ohsm_vpc_get(sqlite3 *db, const char *region, const char *id, struct ohsm_vpc_vpc *out,
                     struct ohsm_aws_err *err)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv;
    OHSM_ENSURE(db != NULL && region != NULL && id != NULL && out != NULL,
                ohsm_vpc_internal(err, OHSM_ARGUMENTS_BAD));
    if (ohsm_vpc_prep(db, &st, "SELECT " VPC_COLS " FROM vpc_vpcs WHERE region = ? AND id = ?",
                      region, id, NULL) != OHSM_OK) {
        return ohsm_vpc_internal(err, OHSM_DB);
    }
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE) {
        rv = ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidVpcID.NotFound",
                           "The vpc ID '%s' does not exist", id);
    } else if (r == SQLITE_ROW && vpc_row(st, out) && strcmp(out->region, region) == 0) {
        rv = OHSM_OK;
    } else {
        rv = ohsm_vpc_internal(err, OHSM_DB);
    }
    sqlite3_finalize(st);
    return rv;
}

/* vpc_row for ohsm_vpc_collect: the row, which must be of region. */
static bool vpc_row_in(sqlite3_stmt *st, void *out, const char *region)
{
    struct ohsm_vpc_vpc *x = out;
    return vpc_row(st, x) && strcmp(x->region, region) == 0;
}

ohsm_rv ohsm_vpc_list(sqlite3 *db, const char *region, struct ohsm_vpc_vpc **out, size_t *n,
                      struct ohsm_aws_err *err)
{
    return ohsm_vpc_collect(db, "SELECT " VPC_COLS " FROM vpc_vpcs WHERE region = ? ORDER BY seq", region, sizeof(**out), vpc_row_in, (void **)out, n, err);
}

static ohsm_rv count_where(sqlite3 *db, const char *sql, const char *a, const char *b, int64_t *n)
{
    sqlite3_stmt *st = NULL;
    OHSM_TRY(ohsm_vpc_prep(db, &st, sql, a, b, NULL));
    return ohsm_vpc_count(st, n);
}

ohsm_rv ohsm_vpc_create(sqlite3 *db, const char *region, const char *account_id,
                        const struct ohsm_cidr *cidr, struct ohsm_vpc_vpc *out,
                        struct ohsm_aws_err *err)
{
    char id[OHSM_VPC_ID_MAX], t[OHSM_CIDR_TEXT_MAX];
    int64_t n = 0;
    ohsm_rv rv;
    OHSM_ENSURE(db != NULL && ohsm_vpc_region_valid(region) && ohsm_vpc_account_valid(account_id) &&
                    cidr != NULL,
                ohsm_vpc_internal(err, OHSM_ARGUMENTS_BAD));
    bool canon = cidr->prefix <= 32 && (cidr->base & ~ohsm_cidr_mask(cidr->prefix)) == 0;
    if (!canon || cidr->prefix < 16 || cidr->prefix > 28) {
        if (ohsm_cidr_format(cidr, t, sizeof(t)) != OHSM_OK) {
            snprintf(t, sizeof(t), "?");
        }
        return ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidVpc.Range",
                             "The CIDR '%s' is invalid.", t);
    }
    OHSM_TRY(ohsm_vpc_sp_begin(db) == OHSM_OK ? OHSM_OK : ohsm_vpc_internal(err, OHSM_DB));
    rv = count_where(db, "SELECT count(*) FROM vpc_vpcs WHERE region = ? ", region, NULL, &n);
    if (rv != OHSM_OK) {
        rv = ohsm_vpc_internal(err, rv);
    } else if (n >= OHSM_VPC_MAX_VPCS) {
        rv = ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "VpcLimitExceeded",
                           "The maximum number of VPCs has been reached.");
    } else {
        rv = vpc_insert(db, region, account_id, cidr, false, id, sizeof(id), err);
    }
    if (rv == OHSM_OK && out != NULL) {
        rv = ohsm_vpc_get(db, region, id, out, err);
    }
    return ohsm_vpc_sp_end(db, rv);
}

/* ---- subnets ---- */

/* Subnet columns, the number of ENIs in it (for the free address count), and its VPC's block and
 * region (a subnet lies inside its VPC, in the same region). */
#define SUBNET_SELECT                                                                              \
    "SELECT s.seq, s.id, s.region, s.vpc_id, s.az, s.cidr, s.default_for_az, s.owner, s.state,"    \
    " (SELECT count(*) FROM vpc_enis e WHERE e.subnet_id = s.id), v.cidr, v.region"                \
    " FROM vpc_subnets s LEFT JOIN vpc_vpcs v ON v.id = s.vpc_id "

static bool subnet_row(sqlite3_stmt *st, struct ohsm_vpc_subnet *s)
{
    int64_t b = 0, used = 0;
    char state[16], vregion[OHSM_VPC_REGION_MAX];
    struct ohsm_cidr vcidr;
    int az;
    memset(s, 0, sizeof(*s));
    s->state = "available";
    if (!(ohsm_vpc_col_int(st, 0, 1, INT64_MAX, &s->seq) &&
          ohsm_vpc_col_text(st, 1, s->id, sizeof(s->id)) && ohsm_vpc_id_valid("subnet-", s->id) &&
          ohsm_vpc_col_text(st, 2, s->region, sizeof(s->region)) &&
          ohsm_vpc_col_text(st, 3, s->vpc_id, sizeof(s->vpc_id)) &&
          ohsm_vpc_id_valid("vpc-", s->vpc_id) && ohsm_vpc_col_text(st, 4, s->az, sizeof(s->az)) &&
          ohsm_vpc_col_cidr(st, 5, &s->cidr) && ohsm_vpc_col_int(st, 6, 0, 1, &b) &&
          ohsm_vpc_col_text(st, 7, s->owner, sizeof(s->owner)) &&
          ohsm_vpc_account_valid(s->owner) && ohsm_vpc_col_text(st, 8, state, sizeof(state)) &&
          strcmp(state, s->state) == 0 && ohsm_vpc_col_int(st, 9, 0, INT64_MAX, &used) &&
          ohsm_vpc_col_cidr(st, 10, &vcidr) &&
          ohsm_vpc_col_text(st, 11, vregion, sizeof(vregion)))) {
        return false;
    }
    if (strcmp(vregion, s->region) != 0 || !ohsm_cidr_contains(&vcidr, &s->cidr)) {
        return false;
    }
    az = ohsm_vpc_az_index(s->region, s->az);
    if (az < 0 ||
        ohsm_vpc_az(s->region, (unsigned)az, NULL, 0, s->az_id, sizeof(s->az_id)) != OHSM_OK ||
        (uint64_t)used > ohsm_cidr_usable(&s->cidr)) {
        return false;
    }
    s->default_for_az = b == 1;
    s->available = ohsm_cidr_usable(&s->cidr) - (uint64_t)used;
    return true;
}

ohsm_rv ohsm_vpc_subnet_get(sqlite3 *db, const char *region, const char *id,
                            struct ohsm_vpc_subnet *out, struct ohsm_aws_err *err)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv;
    OHSM_ENSURE(db != NULL && region != NULL && id != NULL && out != NULL,
                ohsm_vpc_internal(err, OHSM_ARGUMENTS_BAD));
    if (ohsm_vpc_prep(db, &st, SUBNET_SELECT "WHERE s.region = ? AND s.id = ?", region, id, NULL) !=
        OHSM_OK) {
        return ohsm_vpc_internal(err, OHSM_DB);
    }
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE) {
        rv = ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidSubnetID.NotFound",
                           "The subnet ID '%s' does not exist", id);
    } else if (r == SQLITE_ROW && subnet_row(st, out) && strcmp(out->region, region) == 0) {
        rv = OHSM_OK;
    } else {
        rv = ohsm_vpc_internal(err, OHSM_DB);
    }
    sqlite3_finalize(st);
    return rv;
}

/* subnet_row for ohsm_vpc_collect: the row, which must be of region. */
static bool subnet_row_in(sqlite3_stmt *st, void *out, const char *region)
{
    struct ohsm_vpc_subnet *x = out;
    return subnet_row(st, x) && strcmp(x->region, region) == 0;
}

ohsm_rv ohsm_vpc_subnet_list(sqlite3 *db, const char *region, struct ohsm_vpc_subnet **out,
                             size_t *n, struct ohsm_aws_err *err)
{
    return ohsm_vpc_collect(db, SUBNET_SELECT "WHERE s.region = ? ORDER BY s.seq", region, sizeof(**out), subnet_row_in, (void **)out, n, err);
}

static ohsm_rv subnet_insert(sqlite3 *db, const char *region, const char *account,
                             const char *vpc_id, const struct ohsm_cidr *cidr, unsigned az,
                             bool default_for_az, char *id, size_t cap, struct ohsm_aws_err *err)
{
    char c[OHSM_CIDR_TEXT_MAX], azn[OHSM_VPC_AZ_MAX];
    sqlite3_stmt *st = NULL;
    OHSM_TRY(ohsm_vpc_make_id("subnet-", id, cap, err));
    if (ohsm_cidr_format(cidr, c, sizeof(c)) != OHSM_OK ||
        ohsm_vpc_az(region, az, azn, sizeof(azn), NULL, 0) != OHSM_OK ||
        ohsm_vpc_prep(db, &st,
                      "INSERT INTO vpc_subnets (id, region, vpc_id, az, cidr, owner,"
                      " default_for_az, state) VALUES (?, ?, ?, ?, ?, ?, ?7, 'available')",
                      id, region, vpc_id, azn, c, account, NULL) != OHSM_OK ||
        sqlite3_bind_int(st, 7, default_for_az ? 1 : 0) != SQLITE_OK) {
        sqlite3_finalize(st);
        return ohsm_vpc_internal(err, OHSM_DB);
    }
    return ohsm_vpc_run(st) == OHSM_OK ? OHSM_OK : ohsm_vpc_internal(err, OHSM_DB);
}

/* Checks a new subnet block against its VPC and the VPC's subnets; picks the AZ when az < 0. */
static ohsm_rv subnet_check(sqlite3 *db, const char *region, const struct ohsm_vpc_vpc *vpc,
                            const struct ohsm_cidr *cidr, int *az, struct ohsm_aws_err *err)
{
    struct ohsm_vpc_subnet *all = NULL;
    size_t n = 0, in_vpc = 0, per_az[OHSM_VPC_AZ_COUNT] = {0};
    char t[OHSM_CIDR_TEXT_MAX];
    ohsm_rv rv;
    if (ohsm_cidr_format(cidr, t, sizeof(t)) != OHSM_OK) {
        return ohsm_vpc_internal(err, OHSM_ARGUMENTS_BAD);
    }
    bool canon = (cidr->base & ~ohsm_cidr_mask(cidr->prefix)) == 0;
    if (!canon || cidr->prefix < 16 || cidr->prefix > 28 || !ohsm_cidr_contains(&vpc->cidr, cidr)) {
        return ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidSubnet.Range",
                             "The CIDR '%s' is invalid.", t);
    }
    OHSM_TRY(ohsm_vpc_subnet_list(db, region, &all, &n, err));
    rv = OHSM_OK;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(all[i].vpc_id, vpc->id) != 0) {
            continue;
        }
        in_vpc++;
        int k = ohsm_vpc_az_index(region, all[i].az);
        if (k >= 0) {
            per_az[k]++;
        }
        if (ohsm_cidr_overlaps(&all[i].cidr, cidr)) {
            rv = ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidSubnet.Conflict",
                               "The CIDR '%s' conflicts with another subnet", t);
            goto out;
        }
    }
    if (in_vpc >= OHSM_VPC_MAX_SUBNETS) {
        rv = ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "SubnetLimitExceeded",
                           "The maximum number of subnets has been reached.");
        goto out;
    }
    if (*az < 0) {
        *az = 0; /* the AZ with the fewest subnets of this VPC, first letter on ties */
        for (int k = 1; k < OHSM_VPC_AZ_COUNT; k++) {
            if (per_az[k] < per_az[*az]) {
                *az = k;
            }
        }
    }
out:
    free(all);
    return rv;
}

ohsm_rv ohsm_vpc_subnet_create(sqlite3 *db, const char *region, const char *account_id,
                               const char *vpc_id, const struct ohsm_cidr *cidr, int az_index,
                               struct ohsm_vpc_subnet *out, struct ohsm_aws_err *err)
{
    struct ohsm_vpc_vpc vpc;
    char id[OHSM_VPC_ID_MAX];
    ohsm_rv rv;
    OHSM_ENSURE(db != NULL && ohsm_vpc_region_valid(region) && ohsm_vpc_account_valid(account_id) &&
                    vpc_id != NULL && cidr != NULL && cidr->prefix <= 32 &&
                    az_index < OHSM_VPC_AZ_COUNT,
                ohsm_vpc_internal(err, OHSM_ARGUMENTS_BAD));
    OHSM_TRY(ohsm_vpc_sp_begin(db) == OHSM_OK ? OHSM_OK : ohsm_vpc_internal(err, OHSM_DB));
    rv = ohsm_vpc_get(db, region, vpc_id, &vpc, err);
    if (rv == OHSM_OK) {
        rv = subnet_check(db, region, &vpc, cidr, &az_index, err);
    }
    if (rv == OHSM_OK) {
        rv = subnet_insert(db, region, account_id, vpc_id, cidr, (unsigned)az_index, false, id,
                           sizeof(id), err);
    }
    if (rv == OHSM_OK && out != NULL) {
        rv = ohsm_vpc_subnet_get(db, region, id, out, err);
    }
    return ohsm_vpc_sp_end(db, rv);
}

ohsm_rv ohsm_vpc_subnet_delete(sqlite3 *db, const char *region, const char *id,
                               struct ohsm_aws_err *err)
{
    struct ohsm_vpc_subnet s;
    sqlite3_stmt *st = NULL;
    ohsm_rv rv;
    OHSM_ENSURE(db != NULL && region != NULL && id != NULL,
                ohsm_vpc_internal(err, OHSM_ARGUMENTS_BAD));
    OHSM_TRY(ohsm_vpc_sp_begin(db) == OHSM_OK ? OHSM_OK : ohsm_vpc_internal(err, OHSM_DB));
    rv = ohsm_vpc_subnet_get(db, region, id, &s, err);
    if (rv != OHSM_OK) {
        goto out;
    }
    if (s.available != ohsm_cidr_usable(&s.cidr)) {
        /* VPC user guide: a subnet that contains network interfaces cannot be deleted. */
        rv = ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "DependencyViolation",
                           "The subnet '%s' has dependencies and cannot be deleted.", id);
        goto out;
    }
    if (ohsm_vpc_prep(db, &st, "DELETE FROM vpc_subnets WHERE region = ? AND id = ?", region, id,
                      NULL) != OHSM_OK ||
        ohsm_vpc_run(st) != OHSM_OK || sqlite3_changes(db) != 1) {
        rv = ohsm_vpc_internal(err, OHSM_DB);
    }
out:
    return ohsm_vpc_sp_end(db, rv);
}

/* ---- regions ---- */

ohsm_rv ohsm_vpc_ensure_region(sqlite3 *db, const char *region, const char *account_id,
                               struct ohsm_aws_err *err)
{
    char vpc_id[OHSM_VPC_ID_MAX], sid[OHSM_VPC_ID_MAX];
    struct ohsm_cidr c;
    sqlite3_stmt *st = NULL;
    int64_t n = 0;
    ohsm_rv rv;
    OHSM_ENSURE(db != NULL && ohsm_vpc_account_valid(account_id),
                ohsm_vpc_internal(err, OHSM_ARGUMENTS_BAD));
    if (!ohsm_vpc_region_valid(region)) {
        return ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidParameterValue",
                             "Invalid region: '%.64s'", region != NULL ? region : "");
    }
    if (count_where(db, "SELECT count(*) FROM vpc_regions WHERE region = ?", region, NULL, &n) !=
        OHSM_OK) {
        return ohsm_vpc_internal(err, OHSM_DB);
    }
    if (n > 0) {
        return OHSM_OK;
    }
    OHSM_TRY(ohsm_vpc_sp_begin(db) == OHSM_OK ? OHSM_OK : ohsm_vpc_internal(err, OHSM_DB));
    rv = ohsm_vpc_prep(db, &st, "INSERT INTO vpc_regions (region, owner) VALUES (?, ?)", region,
                       account_id, NULL);
    if (rv == OHSM_OK) {
        rv = ohsm_vpc_run(st);
    }
    if (rv != OHSM_OK) {
        rv = ohsm_vpc_internal(err, rv);
        goto out;
    }
    if (ohsm_cidr_parse(DEFAULT_VPC_CIDR, &c, NULL) != OHSM_OK) {
        rv = ohsm_vpc_internal(err, OHSM_ARGUMENTS_BAD);
        goto out;
    }
    rv = vpc_insert(db, region, account_id, &c, true, vpc_id, sizeof(vpc_id), err);
    for (unsigned i = 0; rv == OHSM_OK && i < OHSM_VPC_AZ_COUNT; i++) {
        if (ohsm_cidr_parse(default_subnets[i], &c, NULL) != OHSM_OK) {
            rv = ohsm_vpc_internal(err, OHSM_ARGUMENTS_BAD);
            break;
        }
        rv = subnet_insert(db, region, account_id, vpc_id, &c, i, true, sid, sizeof(sid), err);
    }
out:
    return ohsm_vpc_sp_end(db, rv);
}

/* ---- security groups ---- */

bool ohsm_vpc_sg_name_valid(const char *name)
{
    static const char extra[] = " ._-:/()#,@[]+=&;{}!$*";
    if (name == NULL) {
        return false;
    }
    size_t n = strnlen(name, OHSM_VPC_SG_NAME_MAX);
    if (n == 0 || n >= OHSM_VPC_SG_NAME_MAX || strncmp(name, "sg-", 3) == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && strchr(extra, ch) == NULL) {
            return false;
        }
    }
    return true;
}

ohsm_rv ohsm_vpc_sg_create_named(sqlite3 *db, const char *region, const char *account_id,
                                 const char *vpc_id, const char *name, char *sg_id, size_t cap,
                                 struct ohsm_aws_err *err)
{
    struct ohsm_vpc_vpc vpc;
    char id[OHSM_VPC_ID_MAX];
    sqlite3_stmt *st = NULL;
    int64_t n = 0;
    ohsm_rv rv;
    OHSM_ENSURE(db != NULL && ohsm_vpc_region_valid(region) && ohsm_vpc_account_valid(account_id) &&
                    vpc_id != NULL && sg_id != NULL && cap >= OHSM_VPC_ID_MAX,
                ohsm_vpc_internal(err, OHSM_ARGUMENTS_BAD));
    if (!ohsm_vpc_sg_name_valid(name)) {
        return ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidParameterValue",
                             "Invalid value for parameter GroupName");
    }
    OHSM_TRY(ohsm_vpc_sp_begin(db) == OHSM_OK ? OHSM_OK : ohsm_vpc_internal(err, OHSM_DB));
    rv = ohsm_vpc_get(db, region, vpc_id, &vpc, err);
    if (rv != OHSM_OK) {
        goto out;
    }
    if (count_where(db, "SELECT count(*) FROM vpc_sgs WHERE vpc_id = ? AND name = ?", vpc_id, name,
                    &n) != OHSM_OK) {
        rv = ohsm_vpc_internal(err, OHSM_DB);
        goto out;
    }
    if (n > 0) {
        rv = ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidGroup.Duplicate",
                           "The security group '%s' already exists for VPC '%s'", name, vpc_id);
        goto out;
    }
    rv = ohsm_vpc_make_id("sg-", id, sizeof(id), err);
    if (rv != OHSM_OK) {
        goto out;
    }
    if (ohsm_vpc_prep(db, &st,
                      "INSERT INTO vpc_sgs (id, region, vpc_id, name, owner)"
                      " VALUES (?, ?, ?, ?, ?)",
                      id, region, vpc_id, name, account_id, NULL) != OHSM_OK ||
        ohsm_vpc_run(st) != OHSM_OK) {
        rv = ohsm_vpc_internal(err, OHSM_DB);
        goto out;
    }
    snprintf(sg_id, cap, "%s", id);
out:
    return ohsm_vpc_sp_end(db, rv);
}

ohsm_rv ohsm_vpc_sg_create(sqlite3 *db, const char *region, const char *account_id,
                           const char *vpc_id, const char *cluster_id, char *sg_id, size_t cap,
                           struct ohsm_aws_err *err)
{
    char name[OHSM_VPC_SG_NAME_MAX];
    OHSM_ENSURE(cluster_id != NULL, ohsm_vpc_internal(err, OHSM_ARGUMENTS_BAD));
    size_t cl = strnlen(cluster_id, 65);
    bool ok = cl >= 1 && cl <= 64;
    for (size_t i = 0; ok && i < cl; i++) {
        char ch = cluster_id[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
    }
    if (!ok) {
        return ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidParameterValue",
                             "Invalid cluster id for a security group name");
    }
    snprintf(name, sizeof(name), "cloudhsm-%s-sg", cluster_id);
    return ohsm_vpc_sg_create_named(db, region, account_id, vpc_id, name, sg_id, cap, err);
}

/* A group row, checked (ids, region, name, owner), which must be of region. */
static bool sg_row_in(sqlite3_stmt *st, void *out, const char *region)
{
    struct ohsm_vpc_sg *g = out;
    memset(g, 0, sizeof(*g));
    return ohsm_vpc_col_int(st, 0, 1, INT64_MAX, &g->seq) &&
           ohsm_vpc_col_text(st, 1, g->id, sizeof(g->id)) && ohsm_vpc_id_valid("sg-", g->id) &&
           ohsm_vpc_col_text(st, 2, g->region, sizeof(g->region)) &&
           strcmp(g->region, region) == 0 &&
           ohsm_vpc_col_text(st, 3, g->vpc_id, sizeof(g->vpc_id)) &&
           ohsm_vpc_id_valid("vpc-", g->vpc_id) &&
           ohsm_vpc_col_text(st, 4, g->name, sizeof(g->name)) && ohsm_vpc_sg_name_valid(g->name) &&
           ohsm_vpc_col_text(st, 5, g->owner, sizeof(g->owner)) && ohsm_vpc_account_valid(g->owner);
}

ohsm_rv ohsm_vpc_sg_list(sqlite3 *db, const char *region, struct ohsm_vpc_sg **out, size_t *n,
                         struct ohsm_aws_err *err)
{
    return ohsm_vpc_collect(db,
                            "SELECT seq, id, region, vpc_id, name, owner FROM vpc_sgs"
                            " WHERE region = ? ORDER BY seq",
                            region, sizeof(**out), sg_row_in, (void **)out, n, err);
}

ohsm_rv ohsm_vpc_sg_delete(sqlite3 *db, const char *region, const char *sg_id,
                           struct ohsm_aws_err *err)
{
    sqlite3_stmt *st = NULL;
    int64_t n = 0, used = 0;
    ohsm_rv rv = OHSM_OK;
    OHSM_ENSURE(db != NULL && region != NULL && sg_id != NULL,
                ohsm_vpc_internal(err, OHSM_ARGUMENTS_BAD));
    OHSM_TRY(ohsm_vpc_sp_begin(db) == OHSM_OK ? OHSM_OK : ohsm_vpc_internal(err, OHSM_DB));
    if (count_where(db, "SELECT count(*) FROM vpc_sgs WHERE region = ? AND id = ?", region, sg_id,
                    &n) != OHSM_OK ||
        count_where(db, "SELECT count(*) FROM vpc_enis WHERE region = ? AND group_id = ?", region,
                    sg_id, &used) != OHSM_OK) {
        rv = ohsm_vpc_internal(err, OHSM_DB);
    } else if (n == 0) {
        rv = ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidGroup.NotFound",
                           "The security group '%s' does not exist", sg_id);
    } else if (used > 0) {
        rv = ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "DependencyViolation",
                           "resource %s has a dependent object", sg_id);
    } else if (ohsm_vpc_prep(db, &st, "DELETE FROM vpc_sgs WHERE region = ? AND id = ?", region,
                             sg_id, NULL) != OHSM_OK ||
               ohsm_vpc_run(st) != OHSM_OK) {
        rv = ohsm_vpc_internal(err, OHSM_DB);
    }
    return ohsm_vpc_sp_end(db, rv);
}
