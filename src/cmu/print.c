/* SPDX-License-Identifier: Apache-2.0
 *
 * The output shapes of cloudhsm_mgmt_util as the AWS CloudHSM user guide shows them: one result
 * line per server ("loginHSM success on server 0(10.0.2.9)"), the listUsers table with its fixed
 * columns, the info row, the getHSMInfo block and the connection lines at start-up. Servers are
 * named by their number in the config and their host. What is printed comes from libopenhsm's
 * answers (user names, types, counters); a failure line names the server and the reason from the
 * error table (ohsm_rv_str). Nothing secret passes through here.
 */
#include <inttypes.h>
#include <string.h>

#include "cmu/cmu.h"

/* Column layout of the guide's listUsers table (its wide form, for 31-character user names). */
#define USERS_HEADER                                                                               \
    "    User Id             User Type       User Name                          MofnPubKey    "    \
    "LoginFailureCnt         2FA"
/* info server: Id Name Hostname Port State Partition LoginState. The guide's header and its row
 * are not aligned alike (Hostname and Port are one column narrower and wider in the row). */
#define INFO_HEAD "%-8s%-24s%-17s%-7s%-16s%-24s%s\n"
#define INFO_ROW "%-8s%-24s%-16s%-8s%-16s%-24s%s\n"

static void status(struct ohsm_cmu *c, size_t i, struct ohsm_hsm_status *st)
{
    if (ohsm_client_hsm_status(c->client, i, st) != OHSM_OK) {
        memset(st, 0, sizeof(*st));
        (void)snprintf(st->host, sizeof(st->host), "?");
    }
    st->host[sizeof(st->host) - 1] = '\0';
    st->id[sizeof(st->id) - 1] = '\0';
    st->username[sizeof(st->username) - 1] = '\0';
}

void ohsm_cmu_label(struct ohsm_cmu *c, size_t i, char *buf, size_t cap)
{
    struct ohsm_hsm_status st;
    status(c, i, &st);
    (void)snprintf(buf, cap, "server %zu(%s)", i, st.host);
}

void ohsm_cmu_report_one(struct ohsm_cmu *c, const char *cmd, size_t i, ohsm_rv rv)
{
    struct ohsm_hsm_status st;

    status(c, i, &st);
    if (rv != OHSM_OK) {
        c->failed = true;
    }
    if (rv == OHSM_OK) {
        (void)fprintf(c->out, "%s success on server %zu(%s)\n", cmd, i, st.host);
    } else if (!st.connected) {
        (void)fprintf(c->out, "Server %zu(%s) is not connected (%s)\n", i, st.host,
                      ohsm_rv_str(rv));
    } else {
        (void)fprintf(c->out, "%s failed: %s on server %zu(%s)\n", cmd, ohsm_rv_str(rv), i,
                      st.host);
    }
}

size_t ohsm_cmu_report(struct ohsm_cmu *c, const char *cmd, const struct ohsm_result *res)
{
    size_t failed = 0;
    for (size_t i = 0; i < c->n; i++) {
        ohsm_cmu_report_one(c, cmd, i, res[i].rv);
        failed += res[i].rv != OHSM_OK;
    }
    return failed;
}

void ohsm_cmu_print_users(struct ohsm_cmu *c, size_t i, const struct ohsm_user_info *u, size_t n)
{
    char label[128];

    ohsm_cmu_label(c, i, label, sizeof(label));
    (void)fprintf(c->out, "Users on %s:\n", label);
    (void)fprintf(c->out, "Number of users found:%zu\n\n", n);
    (void)fprintf(c->out, "%s\n", USERS_HEADER);
    for (size_t k = 0; k < n; k++) {
        char name[OHSM_USERNAME_MAX + 1];
        /* The HSM's answer is data: bound it before printing. */
        (void)snprintf(name, sizeof(name), "%.*s", OHSM_USERNAME_MAX, u[k].username);
        (void)fprintf(c->out, "%10" PRIu32 "%14s%-16s%-31s%12s%16" PRIu32 "%17s\n", u[k].id, "",
                      ohsm_utype_cmu_name(u[k].type), name, u[k].mofn_pubkey ? "YES" : "NO",
                      u[k].login_failures, u[k].mfa ? "YES" : "NO");
    }
}

void ohsm_cmu_print_server_info(struct ohsm_cmu *c, size_t i)
{
    struct ohsm_hsm_status st;
    char id[24], port[8], login[96];

    status(c, i, &st);
    (void)snprintf(id, sizeof(id), "%zu", i);
    (void)snprintf(port, sizeof(port), "%u", (unsigned)st.port);
    if (st.connected && st.logged_in) {
        (void)snprintf(login, sizeof(login), "Logged in as '%s(%s)'", st.username,
                       ohsm_utype_cmu_name(st.user_type));
    } else {
        (void)snprintf(login, sizeof(login), "Not logged In");
    }
    (void)fprintf(c->out, INFO_HEAD, "Id", "Name", "Hostname", "Port", "State", "Partition",
                  "LoginState");
    (void)fprintf(c->out, INFO_ROW, id, st.host, st.host, port,
                  st.connected ? "Connected" : "Disconnected", st.id, login);
}

/* getHSMInfo's lines: 8 spaces, the name in 21 columns, ':' and the value, as the guide. */
#define HSM_FIELD "        %-21s:"

/* A string field of the HSM's answer, bounded (it is data from the wire). */
static void field(FILE *out, const char *name, const char *v, size_t cap)
{
    (void)fprintf(out, HSM_FIELD "%.*s\n", name, (int)strnlen(v, cap), v);
}

static void num(FILE *out, const char *name, uint64_t v)
{
    (void)fprintf(out, HSM_FIELD "%" PRIu64 "\n", name, v);
}

/* PCI-style ids print in hex, as the guide's "177D". */
static void hex(FILE *out, const char *name, uint32_t v)
{
    (void)fprintf(out, HSM_FIELD "%" PRIX32 "\n", name, v);
}

void ohsm_cmu_print_hsm_info(struct ohsm_cmu *c, size_t i, const struct ohsm_hsm_info *h)
{
    FILE *o = c->out;

    /* The guide's block, field for field; the values are the software HSM's own. */
    (void)fprintf(o, "                *** Server %zu HSM Info ***\n\n", i);
    field(o, "Label", h->hsm_id, sizeof(h->hsm_id));
    field(o, "Model", h->model, sizeof(h->model));
    (void)fputc('\n', o);
    field(o, "Serial Number", h->serial, sizeof(h->serial));
    num(o, "HSM Flags", h->hsm_flags);
    (void)fprintf(o, HSM_FIELD "%s\n", "FIPS state",
                  h->fips ? "2 [FIPS mode with single factor authentication]"
                          : "0 [non-FIPS mode with single factor authentication]");
    (void)fputc('\n', o);
    field(o, "Manufacturer ID", h->vendor, sizeof(h->vendor));
    hex(o, "Device ID", h->device_id);
    hex(o, "Class Code", h->class_code);
    hex(o, "System vendor ID", h->system_vendor_id);
    hex(o, "SubSystem ID", h->subsystem_id);
    (void)fputs("\n\n", o);
    num(o, "TotalPublicMemory", h->total_public_memory);
    num(o, "FreePublicMemory", h->free_public_memory);
    num(o, "TotalPrivateMemory", h->total_private_memory);
    num(o, "FreePrivateMemory", h->free_private_memory);
    (void)fputc('\n', o);
    num(o, "Hardware Major", h->hardware_major);
    num(o, "Hardware Minor", h->hardware_minor);
    (void)fputc('\n', o);
    num(o, "Firmware Major", h->firmware_major);
    (void)fprintf(o, HSM_FIELD "%02" PRIu32 "\n", "Firmware Minor", h->firmware_minor);
    (void)fputc('\n', o);
    if (h->temperature_known) {
        (void)fprintf(o, HSM_FIELD "%" PRId32 " C\n", "Temperature", h->temperature);
    } else {
        (void)fprintf(o, HSM_FIELD "N/A\n", "Temperature"); /* the host has no sensor */
    }
    (void)fputc('\n', o);
    num(o, "Build Number", h->build_number);
    (void)fputc('\n', o);
    field(o, "Firmware ID", h->firmware_id, sizeof(h->firmware_id));
    (void)fputc('\n', o);
}

void ohsm_cmu_print_connections(struct ohsm_cmu *c)
{
    size_t up = 0;

    for (size_t i = 0; i < c->n; i++) {
        struct ohsm_hsm_status st;
        status(c, i, &st);
        (void)fprintf(c->out, "Connecting to server '%s': hostname '%s', port %u...\n", st.host,
                      st.host, (unsigned)st.port);
        if (st.connected) {
            (void)fprintf(c->out, "Connected to server '%s': hostname '%s', port %u.\n\n", st.host,
                          st.host, (unsigned)st.port);
            up++;
        } else {
            (void)fprintf(c->out,
                          "Failed to connect to server '%s': hostname '%s', port %u: %s\n\n",
                          st.host, st.host, (unsigned)st.port, ohsm_rv_str(st.last_rv));
        }
    }
    if (up < c->n) {
        (void)fprintf(c->out,
                      "Connected to %zu of %zu servers; commands report the others as not "
                      "connected and retry them.\n\n",
                      up, c->n);
    }
}
