/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-cmu's key commands, as cloudhsm_mgmt_util has them: shareKey, getKeyInfo, findAllKeys,
 * getAttribute, syncKey and syncUser, plus the server mode (`server N`, `exit`) that names the
 * server reads are made on and syncs copy from. CMU speaks of users by id, but ids are each HSM's
 * own: every id is turned into a user name on the server it is used with (listUsers there), and
 * names from key records back into that server's ids. What is printed comes from the HSMs'
 * answers (records, user lists), which are bounded and made printable before they reach the
 * terminal; records never hold key material, so nothing secret passes through here.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/outfile.h"
#include "cmu/cmu.h"

/* getAttribute's id for "every attribute". */
#define ATTR_ALL 512u

/* ---- users by id and by name, per server ---- */

struct users {
    struct ohsm_user_info *u;
    size_t n;
    ohsm_rv rv;
};

static void users_load(struct ohsm_cmu *c, size_t i, struct users *us)
{
    us->u = NULL;
    us->n = 0;
    us->rv = ohsm_client_list_users(c->client, i, &us->u, &us->n);
    if (us->rv != OHSM_OK) {
        free(us->u);
        us->u = NULL;
        us->n = 0;
    }
}

static const struct ohsm_user_info *users_by_id(const struct users *us, uint32_t id)
{
    for (size_t k = 0; k < us->n; k++) {
        if (us->u[k].id == id) {
            return &us->u[k];
        }
    }
    return NULL;
}

static const struct ohsm_user_info *users_by_name(const struct users *us, const char *name)
{
    for (size_t k = 0; k < us->n; k++) {
        if (strncmp(us->u[k].username, name, sizeof(us->u[k].username)) == 0) {
            return &us->u[k];
        }
    }
    return NULL;
}

/* Server i's name for user id uid into name (OHSM_USERNAME_MAX + 1). Errors: the listUsers
 * failure, OHSM_USER_NOT_FOUND. */
static ohsm_rv user_name_on(struct ohsm_cmu *c, size_t i, uint32_t uid, char *name, size_t cap)
{
    struct users us;
    ohsm_rv rv;

    users_load(c, i, &us);
    rv = us.rv;
    if (rv == OHSM_OK) {
        const struct ohsm_user_info *u = users_by_id(&us, uid);
        if (u == NULL) {
            rv = OHSM_USER_NOT_FOUND;
        } else {
            (void)snprintf(name, cap, "%.*s", OHSM_USERNAME_MAX, u->username);
        }
    }
    free(us.u);
    return rv;
}

/* A name from a record as this server's user id ("3"), or, when the server has no such user,
 * the name itself, quoted and bounded. */
static void who_on(const struct users *us, const char *name, char *buf, size_t cap)
{
    const struct ohsm_user_info *u = users_by_name(us, name);
    if (u != NULL) {
        (void)snprintf(buf, cap, "%" PRIu32, u->id);
    } else {
        (void)snprintf(buf, cap, "'%.*s' (not a user on this server)", OHSM_USERNAME_MAX, name);
    }
}

/* ---- output to stdout or to the command's file ---- */

/* Where a command's blocks go: the file named on the line (replaced whole, as a new 0600 file:
 * never written through a symbolic link, never keeping an old file's mode; client/outfile.h),
 * else the session's output. false: message printed. */
static bool out_open(struct ohsm_cmu *c, const char *file, struct ohsm_outfile *of, FILE **out)
{
    char why[256];

    *out = c->out;
    of->fd = -1;
    if (file == NULL) {
        return true;
    }
    if (ohsm_outfile_open(of, file, 0600, why, sizeof(why)) != OHSM_OK) {
        (void)fprintf(c->out, "Cannot write to '%s': %s; nothing was done\n", file, why);
        c->failed = true;
        return false;
    }
    /* The stream gets its own descriptor: fclose closes it, commit fsyncs and closes of->fd. */
    int fd = dup(of->fd);
    *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (*out == NULL) {
        int e = errno;
        if (fd >= 0) {
            (void)close(fd);
        }
        ohsm_outfile_abort(of);
        (void)fprintf(c->out, "Cannot write to '%s': %s; nothing was done\n", file, strerror(e));
        *out = c->out;
        c->failed = true;
        return false;
    }
    return true;
}

static void out_close(struct ohsm_cmu *c, FILE *out, struct ohsm_outfile *of, const char *file)
{
    char why[256] = "";

    if (out == c->out) {
        return;
    }
    bool bad = ferror(out) != 0;
    bad = fclose(out) != 0 || bad;
    if (bad) {
        (void)snprintf(why, sizeof(why), "%s", strerror(errno));
        ohsm_outfile_abort(of);
    } else if (ohsm_outfile_commit(of, why, sizeof(why)) != OHSM_OK) {
        bad = true;
    }
    if (bad) {
        (void)fprintf(c->out, "Writing '%s' failed: %s\n", file, why);
        c->failed = true;
    } else {
        (void)fprintf(c->out, "Output written to '%s'\n", file);
    }
}

/* ---- shareKey ---- */

void ohsm_cmu_share_key(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    char name[OHSM_USERNAME_MAX + 1] = "";
    size_t named = SIZE_MAX;
    bool clash = false;
    struct ohsm_result *res = ohsm_cmu_results_new(c);

    if (res == NULL) {
        return;
    }
    /* The id means a user on each server; they must all mean the same one. */
    for (size_t i = 0; i < c->n; i++) {
        char here[OHSM_USERNAME_MAX + 1];
        res[i].rv = user_name_on(c, i, p->uid, here, sizeof(here));
        if (res[i].rv != OHSM_OK) {
            continue;
        }
        if (named == SIZE_MAX) {
            (void)snprintf(name, sizeof(name), "%s", here);
            named = i;
        } else if (strcmp(here, name) != 0) {
            char a[128], b[128];
            ohsm_cmu_label(c, named, a, sizeof(a));
            ohsm_cmu_label(c, i, b, sizeof(b));
            (void)fprintf(c->out,
                          "shareKey failed: user id %" PRIu32
                          " is '%s' on %s but '%s' on %s; nothing was changed (syncUser first)\n",
                          p->uid, name, a, here, b);
            clash = true;
            c->failed = true;
        }
    }
    if (clash) {
        free(res);
        return;
    }
    if (named == SIZE_MAX) {
        /* No server knows the id: say so per server and send nothing. */
        (void)ohsm_cmu_report(c, "shareKey", res);
        free(res);
        return;
    }
    ohsm_cmu_results_reset(c, res);
    ohsm_rv rv = ohsm_client_key_share(c->client, p->handle, name, p->flag, res);
    ohsm_cmu_finish(c, "shareKey", rv, res);
}

/* ---- getKeyInfo ---- */

static void print_key_info(FILE *o, const char *label, const struct ohsm_obj *k,
                           const struct users *us)
{
    char who[OHSM_USERNAME_MAX + 64];
    uint32_t nshared = k->nshared <= OHSM_SHARE_MAX ? k->nshared : OHSM_SHARE_MAX;

    (void)fprintf(o, "Key Info on %s:\n\n", label);
    (void)fprintf(o, "        %s,\n\n",
                  (k->flags & OHSM_F_TOKEN) != 0 ? "Token/Flash Key" : "Session Key");
    who_on(us, k->owner, who, sizeof(who));
    (void)fprintf(o, "        Owned by user %s\n", who);
    if (nshared == 0) {
        (void)fputc('\n', o); /* the guide: a blank line after the owner of an unshared key */
    } else {
        (void)fprintf(o, "\n        also, shared to following %" PRIu32 " user(s):\n\n", nshared);
        for (uint32_t s = 0; s < nshared; s++) {
            who_on(us, k->shared[s], who, sizeof(who));
            (void)fprintf(o, "                 %s\n", who);
        }
    }
}

void ohsm_cmu_key_info(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    size_t lo, hi;
    FILE *o = NULL;
    struct ohsm_outfile of;

    if (!out_open(c, p->file, &of, &o)) {
        return;
    }
    ohsm_cmu_scope(c, &lo, &hi);
    for (size_t i = lo; i < hi; i++) {
        struct ohsm_obj k;
        memset(&k, 0, sizeof(k));
        ohsm_rv rv = ohsm_client_key_get_on(c->client, i, p->handle, &k);
        if (rv != OHSM_OK) {
            ohsm_cmu_report_one(c, "getKeyInfo", i, rv);
            continue;
        }
        struct users us;
        char label[128];
        users_load(c, i, &us);
        ohsm_cmu_label(c, i, label, sizeof(label));
        print_key_info(o, label, &k, &us);
        free(us.u);
        if (o != c->out) {
            ohsm_cmu_report_one(c, "getKeyInfo", i, OHSM_OK);
        }
    }
    out_close(c, o, &of, p->file);
}

/* ---- findAllKeys ---- */

/* Keys of server i that user `name` owns or that are shared with them, in handle order, as the
 * guide prints them: "8(s),9(s),17" (a shared key marked (s), an owned one bare); *count gets how
 * many. */
static void print_key_list(FILE *o, const struct ohsm_obj *k, size_t n, const char *name,
                           size_t *count)
{
    size_t m = 0;

    for (size_t j = 0; j < n; j++) {
        bool own = ohsm_obj_is_owner(&k[j], name);
        bool shared = !own && ohsm_obj_may_use(&k[j], name);
        if (own || shared) {
            (void)fprintf(o, "%s%" PRIu64 "%s", m == 0 ? "" : ",", k[j].handle,
                          own ? "" : "(s)");
            m++;
        }
    }
    if (m > 0) {
        (void)fputc('\n', o);
    }
    *count = m;
}

static size_t count_keys(const struct ohsm_obj *k, size_t n, const char *name)
{
    size_t m = 0;
    for (size_t j = 0; j < n; j++) {
        m += ohsm_obj_may_use(&k[j], name) ? 1u : 0u;
    }
    return m;
}

/* findAllKeys is the officers' view (CO, AU: every key's metadata). The HSM would answer a
 * crypto user's find too, with the keys that user may see, which is not what the command means;
 * crypto users have getKeyInfo (and the CLI's key list). */
static ohsm_rv may_find_all(struct ohsm_cmu *c, size_t i)
{
    struct ohsm_hsm_status st;
    memset(&st, 0, sizeof(st));
    if (ohsm_client_hsm_status(c->client, i, &st) == OHSM_OK && st.logged_in &&
        st.user_type == OHSM_UT_CU) {
        return OHSM_ACCESS_DENIED;
    }
    return OHSM_OK;
}

void ohsm_cmu_find_all_keys(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    size_t lo, hi;
    FILE *o = NULL;
    struct ohsm_outfile of;
    struct ohsm_sync_report *sync = NULL;
    ohsm_rv sync_rv = OHSM_OK;

    if (!out_open(c, p->file, &of, &o)) {
        return;
    }
    if (p->flag) {
        /* The key hash: the HSM's digest over all its token objects, which is what tells at a
         * glance whether the HSMs hold the same keys, owners and shares. */
        sync_rv = ohsm_client_sync_status(c->client, &sync);
    }
    ohsm_cmu_scope(c, &lo, &hi);
    for (size_t i = lo; i < hi; i++) {
        char name[OHSM_USERNAME_MAX + 1], label[128];
        struct ohsm_obj *k = NULL;
        size_t n = 0, m = 0;

        ohsm_rv rv = may_find_all(c, i);
        if (rv == OHSM_OK) {
            rv = user_name_on(c, i, p->uid, name, sizeof(name));
        }
        if (rv == OHSM_OK) {
            rv = ohsm_client_key_find_on(c->client, i, NULL, 0, &k, &n);
        }
        if (rv != OHSM_OK) {
            free(k);
            ohsm_cmu_report_one(c, "findAllKeys", i, rv);
            continue;
        }
        ohsm_cmu_label(c, i, label, sizeof(label));
        size_t total = count_keys(k, n, name);
        (void)fprintf(o, "Keys on %s:\n", label);
        (void)fprintf(o, "Number of keys found %zu\n", total);
        (void)fprintf(o, "number of keys matched from start index 0::%zu\n", total);
        print_key_list(o, k, n, name, &m);
        free(k);
        if (p->flag && m > 0) {
            /* As the guide: no hash for a user who owns and shares no keys. */
            (void)fprintf(o, "Key Hash:\n");
            if (sync_rv == OHSM_OK && i < sync->nhsm && sync->hsm[i].rv == OHSM_OK) {
                (void)fprintf(o, "%.64s\n\n", sync->hsm[i].objects_digest);
            } else {
                ohsm_rv why = sync_rv != OHSM_OK ? sync_rv
                              : i < sync->nhsm   ? sync->hsm[i].rv
                                                 : OHSM_DEVICE_ERROR;
                (void)fprintf(o, "(not available: %s)\n\n", ohsm_rv_str(why));
            }
        }
        ohsm_cmu_report_one(c, "findAllKeys", i, OHSM_OK);
        /* As the guide: a blank line after each server's block, except after a key hash (whose
         * own blank line comes before the result line). */
        if (o == c->out && !(p->flag && m > 0)) {
            (void)fputc('\n', o);
        }
    }
    ohsm_sync_report_free(sync);
    out_close(c, o, &of, p->file);
}

/* ---- getAttribute ---- */

/* One attribute's value as CMU prints it: numbers and booleans as 0x%08x, handles and versions as
 * 0x%016x, text as text (unprintable bytes escaped), byte strings as 0x and hex. */
static void print_value(FILE *o, enum ohsm_attr_kind kind, const uint8_t *v, size_t len)
{
    switch (kind) {
    case OHSM_AK_BOOL:
        (void)fprintf(o, "0x%08x\n", len == 1 ? (unsigned)v[0] : 0u);
        return;
    case OHSM_AK_U32:
        if (len == 4) {
            uint32_t x = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
            (void)fprintf(o, "0x%08" PRIx32 "\n", x);
            return;
        }
        break;
    case OHSM_AK_U64:
        if (len == 8) {
            uint64_t x = 0;
            for (size_t j = 0; j < 8; j++) {
                x = x << 8 | v[j];
            }
            (void)fprintf(o, "0x%016" PRIx64 "\n", x);
            return;
        }
        break;
    case OHSM_AK_STR:
        for (size_t j = 0; j < len; j++) {
            if (v[j] >= 0x20 && v[j] < 0x7f && v[j] != '\\') {
                (void)fputc(v[j], o);
            } else {
                (void)fprintf(o, "\\x%02x", v[j]);
            }
        }
        (void)fputc('\n', o);
        return;
    case OHSM_AK_BYTES:
        break;
    }
    (void)fputs("0x", o);
    for (size_t j = 0; j < len; j++) {
        (void)fprintf(o, "%02x", v[j]);
    }
    (void)fputc('\n', o);
}

static void print_attr(FILE *o, const struct ohsm_obj *k, const struct ohsm_attr_def *d,
                       uint8_t *buf, size_t cap)
{
    size_t len = 0;
    if (d->kmu != NULL && ohsm_obj_attr_get(k, d->id, buf, cap, &len) == OHSM_OK) {
        (void)fprintf(o, "%s\n", d->kmu);
        print_value(o, d->kind, buf, len);
    }
}

void ohsm_cmu_get_attribute(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    size_t lo, hi;
    FILE *o = NULL;
    struct ohsm_outfile of;
    const struct ohsm_attr_def *d = NULL;
    uint8_t buf[OHSM_OBJ_ENC_MAX];

    if (p->attr != ATTR_ALL) {
        d = ohsm_attr_by_id(p->attr);
        if (d == NULL || d->kmu == NULL) { /* only attributes with an OBJ_ATTR_ name */
            (void)fprintf(c->out,
                          "Invalid attribute id '%" PRIu32 "': no such attribute (listAttributes "
                          "shows them; %u is all)\n",
                          p->attr, ATTR_ALL);
            c->failed = true;
            return;
        }
    }
    if (!out_open(c, p->file, &of, &o)) {
        return;
    }
    ohsm_cmu_scope(c, &lo, &hi);
    for (size_t i = lo; i < hi; i++) {
        struct ohsm_obj k;
        char label[128];
        size_t len = 0;

        memset(&k, 0, sizeof(k));
        ohsm_rv rv = ohsm_client_key_get_on(c->client, i, p->handle, &k);
        if (rv == OHSM_OK && d != NULL) {
            /* Ask first, so a key without the attribute fails as a line, not an empty block. */
            rv = ohsm_obj_attr_get(&k, d->id, buf, sizeof(buf), &len);
        }
        if (rv != OHSM_OK) {
            ohsm_cmu_report_one(c, "getAttribute", i, rv);
            continue;
        }
        ohsm_cmu_label(c, i, label, sizeof(label));
        (void)fprintf(o, "\nAttribute Value on %s:\n", label);
        if (d != NULL) {
            (void)fprintf(o, "%s\n", d->kmu);
            print_value(o, d->kind, buf, len);
        } else {
            size_t nt = 0;
            const struct ohsm_attr_def *t = ohsm_attr_table(&nt);
            for (size_t j = 0; j < nt; j++) {
                print_attr(o, &k, &t[j], buf, sizeof(buf));
            }
        }
        if (o != c->out) {
            ohsm_cmu_report_one(c, "getAttribute", i, OHSM_OK);
        }
    }
    out_close(c, o, &of, p->file);
}

/* ---- syncKey, syncUser ---- */

/* The server a sync copies from: the one of server mode, else the first connected server other
 * than `to` for which has(i) holds. SIZE_MAX when none (*why says why, for the last tried). */
static size_t sync_source(struct ohsm_cmu *c, size_t to,
                          bool (*has)(struct ohsm_cmu *, size_t, const void *, ohsm_rv *),
                          const void *arg, ohsm_rv *why)
{
    *why = OHSM_KEY_HANDLE_INVALID;
    if (c->in_server) {
        return c->server;
    }
    for (size_t i = 0; i < c->n; i++) {
        if (i != to && has(c, i, arg, why)) {
            return i;
        }
    }
    return SIZE_MAX;
}

static bool has_key(struct ohsm_cmu *c, size_t i, const void *arg, ohsm_rv *why)
{
    struct ohsm_obj k;
    memset(&k, 0, sizeof(k));
    *why = ohsm_client_key_get_on(c->client, i, *(const uint64_t *)arg, &k);
    return *why == OHSM_OK;
}

static bool has_user(struct ohsm_cmu *c, size_t i, const void *arg, ohsm_rv *why)
{
    char name[OHSM_USERNAME_MAX + 1];
    *why = user_name_on(c, i, *(const uint32_t *)arg, name, sizeof(name));
    return *why == OHSM_OK;
}

/* Common checks of both syncs; prints and returns false when there is nothing to do. */
static bool sync_pick(struct ohsm_cmu *c, const char *cmd, size_t to, size_t from, ohsm_rv why)
{
    char label[128];
    if (from == to) {
        ohsm_cmu_label(c, to, label, sizeof(label));
        (void)fprintf(c->out,
                      "%s failed: the destination %s is the server you are in; give another "
                      "server\n",
                      cmd, label);
        c->failed = true;
        return false;
    }
    if (from == SIZE_MAX) {
        (void)fprintf(c->out, "%s failed: %s on every other server; nothing was copied\n", cmd,
                      ohsm_rv_str(why));
        c->failed = true;
        return false;
    }
    return true;
}

void ohsm_cmu_sync_key(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    ohsm_rv why = OHSM_OK;
    char a[128], b[128];
    size_t from = sync_source(c, p->server, has_key, &p->handle, &why);

    if (!sync_pick(c, "syncKey", p->server, from, why)) {
        return;
    }
    ohsm_cmu_label(c, from, a, sizeof(a));
    ohsm_cmu_label(c, p->server, b, sizeof(b));
    ohsm_rv rv = ohsm_client_sync_key(c->client, p->handle, from, p->server);
    if (rv == OHSM_OK) {
        (void)fprintf(c->out, "syncKey success\n"); /* the guide's whole answer */
    } else {
        (void)fprintf(c->out, "Syncing key %" PRIu64 " from %s to %s\n", p->handle, a, b);
        ohsm_cmu_report_one(c, "syncKey", p->server, rv);
    }
}

void ohsm_cmu_sync_user(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    ohsm_rv why = OHSM_OK;
    char name[OHSM_USERNAME_MAX + 1], a[128], b[128];
    size_t from = sync_source(c, p->server, has_user, &p->uid, &why);

    if (!sync_pick(c, "syncUser", p->server, from, why)) {
        return;
    }
    why = user_name_on(c, from, p->uid, name, sizeof(name));
    if (why != OHSM_OK) {
        ohsm_cmu_label(c, from, a, sizeof(a));
        (void)fprintf(c->out, "syncUser failed: %s on %s; nothing was copied\n", ohsm_rv_str(why),
                      a);
        c->failed = true;
        return;
    }
    ohsm_cmu_label(c, from, a, sizeof(a));
    ohsm_cmu_label(c, p->server, b, sizeof(b));
    ohsm_rv rv = ohsm_client_sync_user(c->client, name, from, p->server);
    if (rv == OHSM_OK) {
        /* The guide's answer: the user record left the source as a masked object and went into
         * the destination as one (both returned 0), which is what the library did. */
        (void)fprintf(c->out, "ExtractMaskedObject: 0x0 !\nInsertMaskedObject: 0x0 !\n"
                              "syncUser success\n");
    } else {
        (void)fprintf(c->out, "Syncing user %s (id %" PRIu32 " on %s) to %s\n", name, p->uid, a,
                      b);
        ohsm_cmu_report_one(c, "syncUser", p->server, rv);
    }
}

/* ---- server mode ---- */

void ohsm_cmu_server(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    c->in_server = true;
    c->server = p->server;
    /* Every session is TLS 1.3 end to end to the HSM: the guide's 'E2' mode. */
    (void)fprintf(c->out, "\nServer is in 'E2' mode...\n");
}

void ohsm_cmu_exit(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    (void)p;
    if (!c->in_server) {
        (void)fprintf(c->out, "Not in server mode; type 'quit' to end the session\n");
        c->failed = true;
        return;
    }
    c->in_server = false;
}
