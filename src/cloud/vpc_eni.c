/* SPDX-License-Identifier: Apache-2.0
 *
 * The VPC model's network interfaces: one address of a subnet each. AWS keeps the first four and
 * the last address of every subnet (VPC user guide "Subnet CIDR blocks"), so a /28 holds 11. An
 * address is stored as an integer (unique per subnet) and checked on every read to lie inside its
 * subnet and outside the reserved five.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <sqlite3.h>

#include "cloud/vpc.h"
#include "cloud/vpc_db.h"
#include "http/http.h"

#define ENI_SELECT                                                                                 \
    "SELECT e.seq, e.id, e.region, e.subnet_id, s.vpc_id, s.az, s.cidr, e.ip, e.mac,"              \
    " e.description, e.group_id, g.name, e.requester_managed, e.owner FROM vpc_enis e"             \
    " LEFT JOIN vpc_subnets s ON s.id = e.subnet_id LEFT JOIN vpc_sgs g ON g.id = e.group_id "

static bool mac_valid(const char *m)
{
    if (strlen(m) != OHSM_VPC_MAC_MAX - 1 || strncmp(m, "02:", 3) != 0) {
        return false;
    }
    for (size_t i = 0; m[i] != '\0'; i++) {
        char c = m[i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        if (i % 3 == 2 ? c != ':' : !hex) {
            return false;
        }
    }
    return true;
}

static bool eni_row(sqlite3_stmt *st, struct ohsm_vpc_eni *e)
{
    struct ohsm_cidr c;
    int64_t ip = 0, rm = 0;
    memset(e, 0, sizeof(*e));
    if (!(ohsm_vpc_col_int(st, 0, 1, INT64_MAX, &e->seq) &&
          ohsm_vpc_col_text(st, 1, e->id, sizeof(e->id)) && ohsm_vpc_id_valid("eni-", e->id) &&
          ohsm_vpc_col_text(st, 2, e->region, sizeof(e->region)) &&
          ohsm_vpc_region_valid(e->region) &&
          ohsm_vpc_col_text(st, 3, e->subnet_id, sizeof(e->subnet_id)) &&
          ohsm_vpc_id_valid("subnet-", e->subnet_id) &&
          ohsm_vpc_col_text(st, 4, e->vpc_id, sizeof(e->vpc_id)) &&
          ohsm_vpc_id_valid("vpc-", e->vpc_id) && ohsm_vpc_col_text(st, 5, e->az, sizeof(e->az)) &&
          ohsm_vpc_az_index(e->region, e->az) >= 0 && ohsm_vpc_col_cidr(st, 6, &c) &&
          ohsm_vpc_col_int(st, 7, 0, UINT32_MAX, &ip) &&
          ohsm_vpc_col_text(st, 8, e->mac, sizeof(e->mac)) && mac_valid(e->mac) &&
          ohsm_vpc_col_text(st, 9, e->description, sizeof(e->description)) &&
          ohsm_vpc_col_text(st, 10, e->group_id, sizeof(e->group_id)) &&
          ohsm_vpc_col_int(st, 12, 0, 1, &rm) &&
          ohsm_vpc_col_text(st, 13, e->owner, sizeof(e->owner)) &&
          ohsm_vpc_account_valid(e->owner))) {
        return false;
    }
    e->ip = (uint32_t)ip;
    if (!ohsm_cidr_has(&c, e->ip) || ohsm_cidr_reserved(&c, e->ip) ||
        ohsm_cidr_ip_format(e->ip, e->ip_text, sizeof(e->ip_text)) != OHSM_OK) {
        return false;
    }
    if (e->group_id[0] != '\0' &&
        !(ohsm_vpc_id_valid("sg-", e->group_id) &&
          ohsm_vpc_col_text(st, 11, e->group_name, sizeof(e->group_name)))) {
        return false;
    }
    e->requester_managed = rm == 1;
    e->status = e->requester_managed ? "in-use" : "available";
    return true;
}

/* Runs a prepared ENI query expected to give at most one row; not found -> nf_code/nf_msg. */
static ohsm_rv eni_one(sqlite3_stmt *st, const char *region, struct ohsm_vpc_eni *out,
                       const char *what, struct ohsm_aws_err *err)
{
    ohsm_rv rv;
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE) {
        rv = ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidNetworkInterfaceID.NotFound",
                           "The networkInterface ID '%s' does not exist", what);
    } else if (r == SQLITE_ROW && eni_row(st, out) && strcmp(out->region, region) == 0) {
        rv = OHSM_OK;
    } else {
        rv = ohsm_vpc_internal(err, OHSM_DB);
    }
    sqlite3_finalize(st);
    return rv;
}

ohsm_rv ohsm_vpc_eni_get(sqlite3 *db, const char *region, const char *id, struct ohsm_vpc_eni *out,
                         struct ohsm_aws_err *err)
{
    sqlite3_stmt *st = NULL;
    OHSM_ENSURE(db != NULL && region != NULL && id != NULL && out != NULL,
                ohsm_vpc_internal(err, OHSM_ARGUMENTS_BAD));
    if (ohsm_vpc_prep(db, &st, ENI_SELECT "WHERE e.region = ? AND e.id = ?", region, id, NULL) !=
        OHSM_OK) {
        return ohsm_vpc_internal(err, OHSM_DB);
    }
    return eni_one(st, region, out, id, err);
}

ohsm_rv ohsm_vpc_eni_find(sqlite3 *db, const char *region, const char *subnet_id, const char *ip,
                          struct ohsm_vpc_eni *out, struct ohsm_aws_err *err)
{
    struct ohsm_vpc_subnet s;
    sqlite3_stmt *st = NULL;
    uint32_t a;
    OHSM_ENSURE(db != NULL && region != NULL && subnet_id != NULL && out != NULL,
                ohsm_vpc_internal(err, OHSM_ARGUMENTS_BAD));
    if (ohsm_cidr_ip_parse(ip, &a) != OHSM_OK) {
        return ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidParameterValue",
                             "Invalid IPv4 address: '%.64s'", ip != NULL ? ip : "");
    }
    OHSM_TRY(ohsm_vpc_subnet_get(db, region, subnet_id, &s, err));
    if (ohsm_vpc_prep(db, &st, ENI_SELECT "WHERE e.region = ? AND e.subnet_id = ? AND e.ip = ?3",
                      region, subnet_id, NULL) != OHSM_OK ||
        sqlite3_bind_int64(st, 3, (sqlite3_int64)a) != SQLITE_OK) {
        sqlite3_finalize(st);
        return ohsm_vpc_internal(err, OHSM_DB);
    }
    return eni_one(st, region, out, ip, err);
}

/* eni_row for ohsm_vpc_collect: the row, which must be of region. */
static bool eni_row_in(sqlite3_stmt *st, void *out, const char *region)
{
    struct ohsm_vpc_eni *x = out;
    return eni_row(st, x) && strcmp(x->region, region) == 0;
}

ohsm_rv ohsm_vpc_eni_list(sqlite3 *db, const char *region, struct ohsm_vpc_eni **out, size_t *n,
                          struct ohsm_aws_err *err)
{
    return ohsm_vpc_collect(db, ENI_SELECT "WHERE e.region = ? ORDER BY e.seq", region, sizeof(**out), eni_row_in, (void **)out, n, err);
}

/* Is address a of the subnet taken? */
static ohsm_rv ip_taken(sqlite3 *db, const char *subnet_id, uint32_t a, bool *taken)
{
    sqlite3_stmt *st = NULL;
    int64_t n = 0;
    OHSM_TRY(ohsm_vpc_prep(db, &st, "SELECT count(*) FROM vpc_enis WHERE subnet_id = ? AND ip = ?2",
                           subnet_id, NULL));
    if (sqlite3_bind_int64(st, 2, (sqlite3_int64)a) != SQLITE_OK) {
        sqlite3_finalize(st);
        return OHSM_DB;
    }
    OHSM_TRY(ohsm_vpc_count(st, &n));
    *taken = n > 0;
    return OHSM_OK;
}

/* The lowest usable address of s no ENI holds (s has at least one free). */
static ohsm_rv lowest_free(sqlite3 *db, const struct ohsm_vpc_subnet *s, uint32_t *out)
{
    sqlite3_stmt *st = NULL;
    uint32_t cand;
    int64_t v;
    int r;
    OHSM_TRY(ohsm_cidr_nth_usable(&s->cidr, 0, &cand));
    OHSM_TRY(ohsm_vpc_prep(db, &st, "SELECT ip FROM vpc_enis WHERE subnet_id = ? ORDER BY ip",
                           s->id, NULL));
    /* Bounded by the subnet's ENIs; sorted, so the first gap is the answer. */
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (!ohsm_vpc_col_int(st, 0, 0, UINT32_MAX, &v)) {
            r = SQLITE_ERROR;
            break;
        }
        if ((uint32_t)v == cand) {
            cand++;
        } else if ((uint32_t)v > cand) {
            break;
        }
    }
    sqlite3_finalize(st);
    OHSM_ENSURE(r == SQLITE_ROW || r == SQLITE_DONE, OHSM_DB);
    OHSM_ENSURE(ohsm_cidr_has(&s->cidr, cand) && !ohsm_cidr_reserved(&s->cidr, cand), OHSM_DB);
    *out = cand;
    return OHSM_OK;
}

/* A Description: at most 255 characters, no control characters. */
static ohsm_rv desc_check(const char *d, struct ohsm_aws_err *err)
{
    if (strnlen(d, OHSM_VPC_DESC_MAX) >= OHSM_VPC_DESC_MAX) {
        return ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidParameterValue",
                             "Value for parameter description is too long (at most %d "
                             "characters)",
                             OHSM_VPC_DESC_MAX - 1);
    }
    for (const unsigned char *p = (const unsigned char *)d; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidParameterValue",
                                 "Value for parameter description contains a control character");
        }
    }
    return OHSM_OK;
}

/* Checks the request's own fields (before the database is looked at). */
static ohsm_rv req_check(const struct ohsm_vpc_eni_req *req, uint32_t *ip, bool *has_ip,
                         struct ohsm_aws_err *err)
{
    if (req->description != NULL) {
        OHSM_TRY(desc_check(req->description, err));
    }
    *has_ip = req->ip != NULL;
    if (*has_ip && ohsm_cidr_ip_parse(req->ip, ip) != OHSM_OK) {
        return ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidParameterValue",
                             "Value (%.64s) for parameter privateIpAddress is invalid.", req->ip);
    }
    return OHSM_OK;
}

/* Chooses the address: the requested one if usable and free, else the lowest free one. */
static ohsm_rv pick_ip(sqlite3 *db, const struct ohsm_vpc_subnet *s, bool has_ip, uint32_t *ip,
                       struct ohsm_aws_err *err)
{
    char t[OHSM_CIDR_IP_MAX];
    bool taken = false;
    if (!has_ip) {
        if (s->available == 0) {
            return ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InsufficientFreeAddressesInSubnet",
                                 "The specified subnet does not have enough free addresses to "
                                 "satisfy the request.");
        }
        return lowest_free(db, s, ip) == OHSM_OK ? OHSM_OK : ohsm_vpc_internal(err, OHSM_DB);
    }
    if (ohsm_cidr_ip_format(*ip, t, sizeof(t)) != OHSM_OK) {
        return ohsm_vpc_internal(err, OHSM_ARGUMENTS_BAD);
    }
    if (!ohsm_cidr_has(&s->cidr, *ip)) {
        return ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidParameterValue",
                             "Address %s does not fall within the subnet's address range", t);
    }
    if (ohsm_cidr_reserved(&s->cidr, *ip)) {
        return ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidParameterValue",
                             "Address %s is in subnet's reserved address range", t);
    }
    if (ip_taken(db, s->id, *ip, &taken) != OHSM_OK) {
        return ohsm_vpc_internal(err, OHSM_DB);
    }
    if (taken) {
        return ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidIPAddress.InUse",
                             "Address %s is in use.", t);
    }
    return OHSM_OK;
}

static ohsm_rv make_mac(char *out, size_t cap, struct ohsm_aws_err *err)
{
    uint8_t r[5];
    if (RAND_bytes(r, (int)sizeof(r)) != 1) {
        return ohsm_vpc_internal(err, OHSM_DEVICE_ERROR);
    }
    /* 02: a locally administered unicast address, as EC2's ENIs have. */
    int n = snprintf(out, cap, "02:%02x:%02x:%02x:%02x:%02x", r[0], r[1], r[2], r[3], r[4]);
    return n > 0 && (size_t)n < cap ? OHSM_OK : ohsm_vpc_internal(err, OHSM_BUFFER_TOO_SMALL);
}

static ohsm_rv group_check(sqlite3 *db, const char *region, const struct ohsm_vpc_subnet *s,
                           const char *group_id, struct ohsm_aws_err *err)
{
    sqlite3_stmt *st = NULL;
    int64_t n = 0;
    if (group_id == NULL) {
        return OHSM_OK;
    }
    if (ohsm_vpc_prep(db, &st,
                      "SELECT count(*) FROM vpc_sgs WHERE region = ? AND id = ? AND vpc_id = ?",
                      region, group_id, s->vpc_id, NULL) != OHSM_OK ||
        ohsm_vpc_count(st, &n) != OHSM_OK) {
        return ohsm_vpc_internal(err, OHSM_DB);
    }
    if (n == 0) {
        return ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidGroup.NotFound",
                             "The security group '%.64s' does not exist in VPC '%s'", group_id,
                             s->vpc_id);
    }
    return OHSM_OK;
}

/* EC2's ClientToken: at most 64 printable ASCII characters. */
static bool token_valid(const char *t)
{
    size_t n = strnlen(t, 65);
    if (n == 0 || n > 64) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (t[i] < 0x21 || t[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

/* A repeated ClientToken: *replayed with *out the ENI it made; not replayed when the token is new
 * (or its ENI is gone, then the token is forgotten). IdempotentParameterMismatch when the
 * request differs from the one that made the ENI. */
static ohsm_rv token_replay(sqlite3 *db, const char *region, const struct ohsm_vpc_eni_req *req,
                            const char *token, struct ohsm_vpc_eni *out, bool *replayed,
                            struct ohsm_aws_err *err)
{
    char id[OHSM_VPC_ID_MAX];
    sqlite3_stmt *st = NULL;
    *replayed = false;
    if (ohsm_vpc_prep(db, &st, "SELECT eni_id FROM vpc_eni_tokens WHERE region = ? AND token = ?",
                      region, token, NULL) != OHSM_OK) {
        return ohsm_vpc_internal(err, OHSM_DB);
    }
    int r = sqlite3_step(st);
    bool found = r == SQLITE_ROW && ohsm_vpc_col_text(st, 0, id, sizeof(id));
    sqlite3_finalize(st);
    if (!found) {
        return r == SQLITE_DONE ? OHSM_OK : ohsm_vpc_internal(err, OHSM_DB);
    }
    ohsm_rv rv = ohsm_vpc_eni_get(db, region, id, out, err);
    if (rv == OHSM_ARGUMENTS_BAD) { /* deleted since: the token starts over */
        if (ohsm_vpc_prep(db, &st, "DELETE FROM vpc_eni_tokens WHERE region = ? AND token = ?",
                          region, token, NULL) != OHSM_OK ||
            ohsm_vpc_run(st) != OHSM_OK) {
            return ohsm_vpc_internal(err, OHSM_DB);
        }
        return OHSM_OK;
    }
    OHSM_TRY(rv);
    const char *d = req->description != NULL ? req->description : "";
    const char *g = req->group_id != NULL ? req->group_id : "";
    if (strcmp(out->subnet_id, req->subnet_id) != 0 || strcmp(out->description, d) != 0 ||
        strcmp(out->group_id, g) != 0 || out->requester_managed != req->requester_managed ||
        (req->ip != NULL && strcmp(out->ip_text, req->ip) != 0)) {
        return ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "IdempotentParameterMismatch",
                             "The client token '%.64s' was used with different parameters.", token);
    }
    *replayed = true;
    return OHSM_OK;
}

ohsm_rv ohsm_vpc_eni_create(sqlite3 *db, const char *region, const char *account_id,
                            const struct ohsm_vpc_eni_req *req, struct ohsm_vpc_eni *out,
                            struct ohsm_aws_err *err)
{
    return ohsm_vpc_eni_create_token(db, region, account_id, req, NULL, out, err);
}

ohsm_rv ohsm_vpc_eni_create_token(sqlite3 *db, const char *region, const char *account_id,
                                  const struct ohsm_vpc_eni_req *req, const char *token,
                                  struct ohsm_vpc_eni *out, struct ohsm_aws_err *err)
{
    struct ohsm_vpc_subnet s;
    char id[OHSM_VPC_ID_MAX], mac[OHSM_VPC_MAC_MAX];
    sqlite3_stmt *st = NULL;
    uint32_t ip = 0;
    bool has_ip = false;
    int64_t n = 0;
    ohsm_rv rv;
    OHSM_ENSURE(db != NULL && ohsm_vpc_region_valid(region) && ohsm_vpc_account_valid(account_id) &&
                    req != NULL && req->subnet_id != NULL,
                ohsm_vpc_internal(err, OHSM_ARGUMENTS_BAD));
    OHSM_TRY(req_check(req, &ip, &has_ip, err));
    if (token != NULL && !token_valid(token)) {
        return ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidParameterValue",
                             "Value for parameter clientToken is invalid (1 to 64 printable "
                             "ASCII characters).");
    }
    OHSM_TRY(ohsm_vpc_sp_begin(db) == OHSM_OK ? OHSM_OK : ohsm_vpc_internal(err, OHSM_DB));
    if (token != NULL) {
        struct ohsm_vpc_eni prev;
        bool replayed = false;
        rv = token_replay(db, region, req, token, &prev, &replayed, err);
        if (rv != OHSM_OK || replayed) {
            if (rv == OHSM_OK && out != NULL) {
                *out = prev;
            }
            goto out;
        }
    }
    rv = ohsm_vpc_subnet_get(db, region, req->subnet_id, &s, err);
    if (rv != OHSM_OK || (rv = group_check(db, region, &s, req->group_id, err)) != OHSM_OK) {
        goto out;
    }
    if (ohsm_vpc_prep(db, &st, "SELECT count(*) FROM vpc_enis WHERE region = ?", region, NULL) !=
            OHSM_OK ||
        ohsm_vpc_count(st, &n) != OHSM_OK) {
        rv = ohsm_vpc_internal(err, OHSM_DB);
        goto out;
    }
    if (n >= OHSM_VPC_MAX_ENIS) {
        rv = ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "NetworkInterfaceLimitExceeded",
                           "The maximum number of network interfaces has been reached.");
        goto out;
    }
    if ((rv = pick_ip(db, &s, has_ip, &ip, err)) != OHSM_OK ||
        (rv = ohsm_vpc_make_id("eni-", id, sizeof(id), err)) != OHSM_OK ||
        (rv = make_mac(mac, sizeof(mac), err)) != OHSM_OK) {
        goto out;
    }
    st = NULL;
    if (ohsm_vpc_prep(db, &st,
                      "INSERT INTO vpc_enis (id, region, subnet_id, mac, description, group_id,"
                      " owner, ip, requester_managed) VALUES (?, ?, ?, ?, ?, ?, ?, ?8, ?9)",
                      id, region, s.id, mac, req->description != NULL ? req->description : "",
                      req->group_id != NULL ? req->group_id : "", account_id, NULL) != OHSM_OK ||
        sqlite3_bind_int64(st, 8, (sqlite3_int64)ip) != SQLITE_OK ||
        sqlite3_bind_int(st, 9, req->requester_managed ? 1 : 0) != SQLITE_OK) {
        sqlite3_finalize(st);
        rv = ohsm_vpc_internal(err, OHSM_DB);
        goto out;
    }
    if (ohsm_vpc_run(st) != OHSM_OK) {
        rv = ohsm_vpc_internal(err, OHSM_DB);
        goto out;
    }
    if (token != NULL &&
        (ohsm_vpc_prep(db, &st,
                       "INSERT INTO vpc_eni_tokens (region, token, eni_id) VALUES (?, ?, ?)",
                       region, token, id, NULL) != OHSM_OK ||
         ohsm_vpc_run(st) != OHSM_OK)) {
        rv = ohsm_vpc_internal(err, OHSM_DB);
        goto out;
    }
    if (out != NULL) {
        rv = ohsm_vpc_eni_get(db, region, id, out, err);
    }
out:
    return ohsm_vpc_sp_end(db, rv);
}

ohsm_rv ohsm_vpc_eni_delete(sqlite3 *db, const char *region, const char *id, bool as_service,
                            struct ohsm_aws_err *err)
{
    struct ohsm_vpc_eni e;
    sqlite3_stmt *st = NULL;
    ohsm_rv rv;
    OHSM_ENSURE(db != NULL && region != NULL && id != NULL,
                ohsm_vpc_internal(err, OHSM_ARGUMENTS_BAD));
    OHSM_TRY(ohsm_vpc_sp_begin(db) == OHSM_OK ? OHSM_OK : ohsm_vpc_internal(err, OHSM_DB));
    rv = ohsm_vpc_eni_get(db, region, id, &e, err);
    if (rv != OHSM_OK) {
        goto out;
    }
    if (e.requester_managed && !as_service) {
        /* What EC2 answers for an ENI another service (NAT gateway, endpoint) holds. */
        rv = ohsm_vpc_fail(err, OHSM_ARGUMENTS_BAD, "InvalidParameterValue",
                           "Network interface '%s' is currently in use.", id);
        goto out;
    }
    if (ohsm_vpc_prep(db, &st, "DELETE FROM vpc_enis WHERE region = ? AND id = ?", region, id,
                      NULL) != OHSM_OK ||
        ohsm_vpc_run(st) != OHSM_OK || sqlite3_changes(db) != 1) {
        rv = ohsm_vpc_internal(err, OHSM_DB);
    }
out:
    return ohsm_vpc_sp_end(db, rv);
}
