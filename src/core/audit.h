/* SPDX-License-Identifier: Apache-2.0
 *
 * HSM audit records (issue 16), pure: CloudHSM's audit event fields, one JSON line per record,
 * each line hash-chained to the one before it.
 *
 * A record has CloudHSM's fields (its audit log reference and "Interpreting HSM audit logs"):
 * time (unix microseconds), reboot counter (persisted, one more per start), sequence number (from
 * 0 per boot, no gaps), command type (CN_MGMT_CMD, 0), opcode (CloudHSM's names, with the number
 * where AWS's guide gives one), session handle, response (our rv and its text), log type
 * (MINIMAL_LOG_ENTRY 0, MGMT_KEY_DETAILS_LOG 1, MGMT_USER_DETAILS_LOG 2), and by log type the
 * user's name and type or the key handles. Never a password, PIN, token signature or key
 * material: the record has no field that could hold one.
 *
 * The line, keys always in this order:
 *   {"reboot":N,"seq":N,"time_us":N,"cmd_type":0,"opcode":"CN_LOGIN","opcode_id":13,
 *    "session":N,"response":N,"response_text":"...","log_type":2,"user":"...","user_type":"...",
 *    "user_type_id":N,"key":N,"pub_key":N,"hash":"<64 hex>"}
 * (opcode_id is -1 where AWS's guide gives no number; user fields only with log type 2, key
 * fields only with log type 1). hash = SHA-256(previous line's hash || the line's bytes up to
 * the ',"hash"'), the first line's previous hash being ohsm_audit_genesis(hsm_id): a line
 * edited, removed, inserted or moved breaks the chain at the first line after the change, and a
 * log copied from another HSM breaks at its first line.
 */
#ifndef OHSM_AUDIT_H
#define OHSM_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openhsm/rv.h"
#include "openhsm/user.h"

#define OHSM_AUDIT_HASH_LEN 32
#define OHSM_AUDIT_LINE_MAX 1024 /* a formatted record, '\n' included */

enum ohsm_audit_op {
    OHSM_AUDIT_LOGIN,
    OHSM_AUDIT_LOGOUT,
    OHSM_AUDIT_APP_FINALIZE, /* the connection closed without a logout */
    OHSM_AUDIT_CREATE_USER,  /* a crypto user */
    OHSM_AUDIT_CREATE_CO,
    OHSM_AUDIT_CREATE_APPLIANCE_USER,
    OHSM_AUDIT_DELETE_USER,
    OHSM_AUDIT_CHANGE_PSWD,
    OHSM_AUDIT_CHANGE_MFA, /* register or remove a user's MFA key */
    OHSM_AUDIT_SET_M_VALUE,
    OHSM_AUDIT_GET_TOKEN,
    OHSM_AUDIT_REGISTER_QUORUM_KEY, /* a user registers the key its quorum approvals sign with */
    OHSM_AUDIT_DELETE_TOKEN,
    OHSM_AUDIT_GENERATE_KEY,
    OHSM_AUDIT_GENERATE_KEY_PAIR,
    OHSM_AUDIT_CREATE_OBJECT,
    OHSM_AUDIT_MODIFY_OBJECT,
    OHSM_AUDIT_DESTROY_OBJECT,   /* a session key */
    OHSM_AUDIT_TOMBSTONE_OBJECT, /* a token key */
    OHSM_AUDIT_SHARE_OBJECT,
    OHSM_AUDIT_WRAP_KEY,
    OHSM_AUDIT_UNWRAP_KEY,
    OHSM_AUDIT_DERIVE_KEY,
    OHSM_AUDIT_EXTRACT_MASKED_OBJECT,
    OHSM_AUDIT_INSERT_MASKED_OBJECT,
    OHSM_AUDIT_EXTRACT_USER, /* a user record sent to another HSM (user sync) */
    OHSM_AUDIT_INSERT_USER,  /* a user record received from another HSM */
    OHSM_AUDIT_OP_COUNT
};

enum ohsm_audit_log_type {
    OHSM_AUDIT_MINIMAL = 0,
    OHSM_AUDIT_KEY_DETAILS = 1,
    OHSM_AUDIT_USER_DETAILS = 2,
};

struct ohsm_audit_opdef {
    const char *name; /* CloudHSM's opcode name */
    int id;           /* its number in AWS's guide; -1 where the guide gives none */
    enum ohsm_audit_log_type log_type;
};

/* The table row of op (NULL for an out-of-range value). */
const struct ohsm_audit_opdef *ohsm_audit_opdef(enum ohsm_audit_op op);

struct ohsm_audit_rec {
    uint32_t reboot;
    uint64_t seq;
    uint64_t time_us;
    enum ohsm_audit_op op;
    uint64_t session;
    ohsm_rv response;
    const char *user; /* user details: borrowed, NULL for none (any bytes: escaped) */
    enum ohsm_utype user_type;
    uint64_t key, pub_key; /* key details */
};

/* CloudHSM's name and number of a user type ("CN_CRYPTO_USER", 1). */
const char *ohsm_audit_utype_name(enum ohsm_utype t, int *id);

/* The hash a log's first line chains to. */
void ohsm_audit_genesis(const char *hsm_id, uint8_t out[OHSM_AUDIT_HASH_LEN]);

/* Formats r as one line ending in '\n' into out (cap >= OHSM_AUDIT_LINE_MAX is always enough),
 * chained to prev; next gets the line's hash. Errors: OHSM_ARGUMENTS_BAD (op out of range),
 * OHSM_BUFFER_TOO_SMALL. */
OHSM_NODISCARD ohsm_rv ohsm_audit_format(const struct ohsm_audit_rec *r,
                                         const uint8_t prev[OHSM_AUDIT_HASH_LEN], char *out,
                                         size_t cap, size_t *out_len,
                                         uint8_t next[OHSM_AUDIT_HASH_LEN]);

/* The outcome of checking a log. */
struct ohsm_audit_verdict {
    bool ok;
    uint64_t records;   /* lines that checked out (before the break, if any) */
    uint64_t line;      /* the first bad line, 1-based (0 when ok) */
    bool have_position; /* the bad line's reboot and seq could be read */
    uint32_t reboot;
    uint64_t seq;
    const char *reason; /* static text */
    bool torn;          /* the break is a last line cut short (a write that never finished) */
    bool want_known;    /* want_seq: the sequence number the bad line should have had */
    uint64_t want_seq;
    uint8_t last[OHSM_AUDIT_HASH_LEN]; /* the last good line's hash (the genesis when none) */
    uint32_t last_reboot;              /* the last good line's position (0/0 when none) */
    uint64_t last_seq;
    bool any;
};

/* The same, a line at a time (logs of any size): begin, then each line without its '\n' (false
 * once the verdict is a break: stop there), then _torn for bytes after the last '\n', if any. */
void ohsm_audit_verify_begin(struct ohsm_audit_verdict *v, const char *hsm_id);
bool ohsm_audit_verify_line(struct ohsm_audit_verdict *v, const char *p, size_t n);
void ohsm_audit_verify_torn(struct ohsm_audit_verdict *v, const char *p, size_t n);

/* Checks a whole log (untrusted bytes; a torn last line without '\n' counts as a break) against
 * hsm_id's chain: every hash, and the numbering (seq 0, 1, 2 .. within a boot; a new boot has a
 * larger reboot counter and starts again at 0). Fills v; OHSM_OK when it could check, whatever
 * the verdict. */
OHSM_NODISCARD ohsm_rv ohsm_audit_verify(const char *buf, size_t len, const char *hsm_id,
                                         struct ohsm_audit_verdict *v);

#endif
