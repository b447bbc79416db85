/* SPDX-License-Identifier: Apache-2.0
 *
 * Internals shared by openhsm-hsm's request handlers (state.c: reply arena, lock, sessions,
 * permission check; users.c: users; keys.c: key creation and management; crypto.c: cryptography,
 * wrapping; masked.c: masked objects, sync status; userrec.c: user records between HSMs; auth.c:
 * MFA token-sign login and registration, quorum tokens and approvals).
 * Every handler checks the permission table with the session's current user type first, then the
 * per-key rules of src/core/obj.c, and fills the reply only on success.
 */
#ifndef OHSM_HSM_HANDLERS_H
#define OHSM_HSM_HANDLERS_H

#include "hsm/hsm.h"
#include "openhsm/mech.h"
#include "openhsm/obj.h"
#include "openhsm/perm.h"

void ohsm_hsm_lock(struct ohsm_hsm *h);
void ohsm_hsm_unlock(struct ohsm_hsm *h);

/* The session's current user type (OHSM_UT_NONE when not logged in or the user is gone), from the
 * cache unless a user changed since it was filled. _locked: the caller holds h->lock. */
enum ohsm_utype ohsm_hsm_session_type(struct ohsm_hsm *h, struct ohsm_session *s);
enum ohsm_utype ohsm_hsm_session_type_locked(struct ohsm_hsm *h, struct ohsm_session *s);
/* Permission-table check for the session; *t (may be NULL) gets its user type. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_check(struct ohsm_hsm *h, struct ohsm_session *s, enum ohsm_op op,
                                      enum ohsm_utype *t);
/* Marks every session as needing to re-read its user. */
void ohsm_hsm_users_changed(struct ohsm_hsm *h);

/* Per-key visibility: session objects only to their own session; token keys to admins and the
 * appliance user (metadata only) and to crypto users that own them or are shared them. */
bool ohsm_hsm_sees(const struct ohsm_session *s, enum ohsm_utype t, const struct ohsm_objent *e);
/* The entry for handle if the session sees it (a reference; caller puts it), else
 * OHSM_KEY_HANDLE_INVALID. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_key_seen(struct ohsm_hsm *h, const struct ohsm_session *s,
                                         enum ohsm_utype t, uint64_t handle,
                                         struct ohsm_objent **out);
/* ... that the session may use in cryptography (a crypto user that owns it or is shared it). */
OHSM_NODISCARD ohsm_rv ohsm_hsm_key_usable(struct ohsm_hsm *h, const struct ohsm_session *s,
                                           enum ohsm_utype t, uint64_t handle,
                                           struct ohsm_objent **out);
/* ... that the session owns (OHSM_KEY_NOT_OWNER for a crypto user it is only shared with). */
OHSM_NODISCARD ohsm_rv ohsm_hsm_key_owned(struct ohsm_hsm *h, const struct ohsm_session *s,
                                          enum ohsm_utype t, uint64_t handle,
                                          struct ohsm_objent **out);

/* Issue 5, key quorum. May the session ask quorum tokens for key handle? A crypto user that owns
 * the token key or is shared it (errors as ohsm_hsm_key_usable; a session key:
 * OHSM_KEY_FUNCTION_NOT_PERMITTED). */
OHSM_NODISCARD ohsm_rv ohsm_hsm_key_quorum_target(struct ohsm_hsm *h, const struct ohsm_session *s,
                                                  enum ohsm_utype t, uint64_t handle);
/* The key's quorum value for a key service: quorum_use for key-usage, quorum_manage for
 * key-management (0 for any other service). 0 and 1 mean none. */
uint32_t ohsm_hsm_key_quorum(const struct ohsm_obj *o, enum ohsm_qservice sv);

/* Encodes a record into reply storage. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_put_record(struct ohsm_reply *r, const struct ohsm_obj *o,
                                           ProtobufCBinaryData *out);
/* Copies bytes into reply storage. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_put_bytes(struct ohsm_reply *r, const uint8_t *p, size_t n,
                                          ProtobufCBinaryData *out);
/* Sets the reply body to r->key with n records (and masked objects when nmasked > 0). */
void ohsm_hsm_reply_key(struct ohsm_reply *r, size_t n, size_t nmasked);
/* Parses an encoded template that may be empty. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_tmpl(const ProtobufCBinaryData *b, struct ohsm_tmpl *t);
/* Wire mechanism -> parameters (borrowing its buffers); NULL gives OHSM_M_NONE. */
void ohsm_hsm_mech(const Ohsm__Mech *w, struct ohsm_mech_params *m);

/* A new key: its record and material as the creating handler built them. */
struct ohsm_newkey {
    struct ohsm_obj o;
    const uint8_t *material; /* borrowed */
    size_t len;
};
/* Gives n (1 or 2) new keys the session's user as owner, the shares (each an existing crypto user),
 * version 1 and a handle each; stores the token ones sealed in one transaction; adds them to the
 * object table; fills r->key. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_create(struct ohsm_hsm *h, struct ohsm_session *s,
                                       struct ohsm_newkey *k, size_t n, char *const *share,
                                       size_t nshare, struct ohsm_reply *r);
/* Import and unwrap: builds a key from material (secret raw, PKCS#8 private, SPKI public),
 * checking it fits cls/ktype, local=false, then ohsm_hsm_create. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_import(struct ohsm_hsm *h, struct ohsm_session *s, uint32_t cls,
                                       uint32_t ktype, const uint8_t *material, size_t len,
                                       const ProtobufCBinaryData *tmpl, char *const *share,
                                       size_t nshare, struct ohsm_reply *r);
/* Swaps in a changed record of key e (version already bumped): seals and stores token keys,
 * replaces the object-table entry, fills r->key with the new record. Caller holds h->lock. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_replace_locked(struct ohsm_hsm *h, const struct ohsm_objent *e,
                                               const struct ohsm_obj *o, struct ohsm_reply *r);

/* Ends a store transaction begun by the caller: commits when rv is OHSM_OK (returning the
 * commit's result), else rolls back and returns rv. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_tx_end(struct ohsm_hsm *h, ohsm_rv rv);

/* A wire user type (u32): only real types. Errors: OHSM_USER_TYPE_INVALID. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_wire_type(uint32_t t, enum ohsm_utype *out);
/* Logs the session in as u (a user just authenticated), gen_before being h->user_gen as read
 * before u was; fills r->login. The session takes one of h->max_sessions slots (released when it
 * logs out or ends) and counts as u's live session. group (NULL or empty: a group of its own)
 * names the session-object group to join or make (sgroup.h). Caller holds h->lock. Errors:
 * OHSM_SESSION_COUNT (all slots taken, or the group table full; nothing changed),
 * OHSM_ARGUMENTS_BAD (the group is another user's). */
OHSM_NODISCARD ohsm_rv ohsm_hsm_session_login(struct ohsm_hsm *h, struct ohsm_session *s,
                                              const struct ohsm_store_user *u,
                                              unsigned gen_before,
                                              const ProtobufCBinaryData *group,
                                              struct ohsm_reply *r);
/* The logged-in-user rule (CloudHSM CLI: a user's password cannot be changed while that user is
 * logged in): OHSM_USER_LOGGED_IN when uid has a live session on this HSM other than session s.
 * Caller holds h->lock, and keeps it until the change is stored. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_pw_change_allowed_locked(struct ohsm_hsm *h,
                                                         const struct ohsm_session *s,
                                                         uint32_t uid);
/* Takes a login-attempt slot for user u (ustate.h), waiting while the limit's worth of its
 * attempts are being checked; u->fail_count gets the stored counter. Errors: OHSM_PIN_LOCKED
 * (locked, or no slot came free in time: no hashing then), OHSM_PIN_INCORRECT (deleted), OHSM_DB.
 * Takes h->lock: the caller must not hold it. The caller gives the slot back under the lock with
 * ohsm_ustate_attempt_put once the outcome is stored. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_attempt_begin(struct ohsm_hsm *h, struct ohsm_store_user *u);
/* After a secret of u (read outside the lock) checked out: is u unchanged? OHSM_PIN_INCORRECT
 * when it was deleted or its password changed meanwhile. Caller holds h->lock. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_login_recheck_locked(struct ohsm_hsm *h,
                                                     const struct ohsm_store_user *u);

/* ---- issue 5: MFA and quorum (auth.c) ---- */

/* The clock in unix seconds (h->now, else time(NULL)) and the token lifetime in seconds. */
uint64_t ohsm_hsm_now(const struct ohsm_hsm *h);
uint32_t ohsm_hsm_token_lifetime(const struct ohsm_hsm *h);
/* Drops the session's pending MFA token and the quorum tokens it generated. Caller holds
 * h->lock. */
void ohsm_hsm_auth_session_end_locked(struct ohsm_hsm *h, struct ohsm_session *s);

/* The quorum (M of N) guard of an operation of service. Call it after the operation's own checks
 * and before it changes anything, then ohsm_hsm_quorum_end_locked once the operation is done.
 * With the service's value at 1 nothing is needed (ap, which may be NULL, is ignored) and *ticket
 * is 0. Otherwise ap must hold this HSM's record of a live token of the session's user for this
 * service and signatures of SHA-256(ap->data) by at least value distinct admins that have a
 * quorum key; the token is then held for the operation (*ticket names it). Errors:
 * OHSM_QUORUM_REQUIRED (no approval), OHSM_DATA_INVALID (malformed data), OHSM_TOKEN_NOT_FOUND,
 * OHSM_TOKEN_EXPIRED, OHSM_QUORUM_INSUFFICIENT (the token stays for another attempt),
 * OHSM_ARGUMENTS_BAD (too many signatures), OHSM_DB. Takes h->lock: the caller must not hold it. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_quorum_guard(struct ohsm_hsm *h, struct ohsm_session *s,
                                             enum ohsm_qservice service, const Ohsm__Approval *ap,
                                             uint64_t *ticket);
/* The guard of a key service (OHSM_QS_KEY_MGMT: the key's quorum_manage; OHSM_QS_KEY_USAGE: its
 * quorum_use), called as ohsm_hsm_quorum_guard. The token must be the session user's for this
 * service and key (its key_handle), and the approvers distinct crypto users associated with key
 * (owner or shared) that have a quorum key. key (borrowed) is the record the operation checked.
 * Errors: those of ohsm_hsm_quorum_guard; OHSM_ARGUMENTS_BAD for another service. The admin
 * services' guard above refuses the key services (OHSM_ARGUMENTS_BAD). */
OHSM_NODISCARD ohsm_rv ohsm_hsm_quorum_guard_key(struct ohsm_hsm *h, struct ohsm_session *s,
                                                 enum ohsm_qservice service,
                                                 const struct ohsm_obj *key,
                                                 const Ohsm__Approval *ap, uint64_t *ticket);
/* Ends an approved operation: success uses the token up (no replay), else it is released for
 * another attempt. Ticket 0: nothing. Caller holds h->lock; _end takes it. */
void ohsm_hsm_quorum_end_locked(struct ohsm_hsm *h, uint64_t ticket, bool success);
void ohsm_hsm_quorum_end(struct ohsm_hsm *h, uint64_t ticket, bool success);

/* ---- issue 10: versioned user records (userrec.c) ---- */

/* A user's password record at a record version, with the salt every HSM of the cluster derives
 * for (id, version) (ohsm_pwhash_user_salt): the same change makes the same record everywhere. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_pwhash(const struct ohsm_hsm *h, uint32_t id, uint64_t version,
                                       const uint8_t *pw, size_t pw_len,
                                       uint8_t rec[OHSM_PWHASH_LEN]);
/* A user record as it travels between HSMs (see userrec.c); keys borrowed from the record. */
struct ohsm_user_rec {
    uint32_t id;
    uint64_t version;
    bool deleted; /* a tombstone */
    char name[OHSM_USERNAME_MAX + 1];
    enum ohsm_utype type; /* OHSM_UT_NONE for a tombstone */
    const uint8_t *mfa;
    size_t mfa_len;
    const uint8_t *mofn;
    size_t mofn_len;
};
/* Parses an (opened) record. Errors: OHSM_MASKED_OBJECT_INVALID, OHSM_USER_RECORD_STALE (a record
 * of before issue 10, without a version). Pure: the fuzz target drives it. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_user_parse(const uint8_t *rec, size_t len,
                                           struct ohsm_user_rec *out);
/* Opens a sealed user record under mk and parses it; *pw gets the password record (empty for a
 * tombstone; caller frees). out's keys point into in. Errors: those of ohsm_hsm_user_parse. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_user_open(const struct ohsm_mask_key *mk, const uint8_t *in,
                                          size_t len, struct ohsm_user_rec *out,
                                          struct ohsm_secret **pw);
/* The sync-status users (live and deleted, in id order) and their digest, into r->sync. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_sync_users(struct ohsm_hsm *h, struct ohsm_reply *r);
/* Does user u own a key here (token, or a session key of a live session)? Caller holds h->lock. */
bool ohsm_hsm_user_owns_keys(struct ohsm_hsm *h, const struct ohsm_store_user *u);

/* User handlers (users.c). */
OHSM_NODISCARD ohsm_rv ohsm_hsm_login(struct ohsm_hsm *h, struct ohsm_session *s,
                                      const Ohsm__LoginReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_list_users(struct ohsm_hsm *h, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_create_user(struct ohsm_hsm *h, struct ohsm_session *s,
                                            const Ohsm__CreateUserReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_delete_user(struct ohsm_hsm *h, struct ohsm_session *s,
                                            const Ohsm__DeleteUserReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_change_password(struct ohsm_hsm *h, struct ohsm_session *s,
                                                const Ohsm__ChangePasswordReq *q,
                                                struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_info(struct ohsm_hsm *h, struct ohsm_reply *r);

/* Handlers. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_mfa_begin(struct ohsm_hsm *h, struct ohsm_session *s,
                                          const Ohsm__MfaBeginReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_mfa_finish(struct ohsm_hsm *h, struct ohsm_session *s,
                                           const Ohsm__MfaFinishReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_mfa_reg_begin(struct ohsm_hsm *h, struct ohsm_session *s,
                                              const Ohsm__MfaRegBeginReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_mfa_reg_finish(struct ohsm_hsm *h, struct ohsm_session *s,
                                               const Ohsm__MfaRegFinishReq *q,
                                               struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_quorum_gen(struct ohsm_hsm *h, struct ohsm_session *s,
                                           const Ohsm__QuorumGenReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_quorum_list(struct ohsm_hsm *h, struct ohsm_session *s,
                                            struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_quorum_values(struct ohsm_hsm *h, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_quorum_set(struct ohsm_hsm *h, struct ohsm_session *s,
                                           const Ohsm__QuorumSetReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_quorum_delete(struct ohsm_hsm *h, struct ohsm_session *s,
                                              const Ohsm__QuorumDeleteReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_quorum_register(struct ohsm_hsm *h, struct ohsm_session *s,
                                                const Ohsm__QuorumRegisterReq *q,
                                                struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_key_gen(struct ohsm_hsm *h, struct ohsm_session *s,
                                        const Ohsm__KeyGenReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_key_import(struct ohsm_hsm *h, struct ohsm_session *s,
                                           const Ohsm__KeyImportReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_key_delete(struct ohsm_hsm *h, struct ohsm_session *s,
                                           const Ohsm__KeyDeleteReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_key_find(struct ohsm_hsm *h, struct ohsm_session *s,
                                         const Ohsm__KeyFindReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_key_get(struct ohsm_hsm *h, struct ohsm_session *s,
                                        const Ohsm__KeyGetReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_key_set_attr(struct ohsm_hsm *h, struct ohsm_session *s,
                                             const Ohsm__KeySetAttrReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_key_share(struct ohsm_hsm *h, struct ohsm_session *s,
                                          const Ohsm__KeyShareReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_key_export(struct ohsm_hsm *h, struct ohsm_session *s,
                                           const Ohsm__KeyExportReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_wrap(struct ohsm_hsm *h, struct ohsm_session *s,
                                     const Ohsm__WrapReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_unwrap(struct ohsm_hsm *h, struct ohsm_session *s,
                                       const Ohsm__UnwrapReq *q, struct ohsm_reply *r);
/* Issue 15: derives a new secret key from a usable base key with derive=true (ECDH: an EC
 * private key and the peer's point), made like an unwrapped key (ohsm_hsm_create). */
OHSM_NODISCARD ohsm_rv ohsm_hsm_derive(struct ohsm_hsm *h, struct ohsm_session *s,
                                       const Ohsm__DeriveReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_crypto(struct ohsm_hsm *h, struct ohsm_session *s,
                                       const Ohsm__CryptoReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_random(struct ohsm_hsm *h, struct ohsm_session *s,
                                       const Ohsm__RandomReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_masked_extract(struct ohsm_hsm *h, struct ohsm_session *s,
                                               const Ohsm__MaskedExtractReq *q,
                                               struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_masked_insert(struct ohsm_hsm *h, struct ohsm_session *s,
                                              const Ohsm__MaskedInsertReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_sync_status(struct ohsm_hsm *h, struct ohsm_session *s,
                                            struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_user_extract(struct ohsm_hsm *h, struct ohsm_session *s,
                                             const Ohsm__UserExtractReq *q, struct ohsm_reply *r);
OHSM_NODISCARD ohsm_rv ohsm_hsm_user_insert(struct ohsm_hsm *h, struct ohsm_session *s,
                                            const Ohsm__UserInsertReq *q, struct ohsm_reply *r);

/* ---- issue 16: audit records (auditrec.c) ---- */

/* What a record needs from the session as it was before the request ran. */
struct ohsm_audit_pre {
    bool logged_in;
    enum ohsm_utype type;
    char user[OHSM_USERNAME_MAX + 1];
};
/* Does q make an audit record (refused while the log is broken)? */
bool ohsm_hsm_audit_needed(const Ohsm__Request *q);
void ohsm_hsm_audit_before(const struct ohsm_session *s, const Ohsm__Request *q,
                           struct ohsm_audit_pre *pre);
/* Writes q's record (if it makes one) before its answer goes out; returns the rv to answer with:
 * rv, or OHSM_DEVICE_ERROR when the record could not be written. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_audit_after(struct ohsm_hsm *h, struct ohsm_session *s,
                                            const Ohsm__Request *q, const struct ohsm_reply *r,
                                            ohsm_rv rv, const struct ohsm_audit_pre *pre);
/* A logged-in session ends without a logout (CN_APP_FINALIZE). */
void ohsm_hsm_audit_session_end(struct ohsm_hsm *h, const struct ohsm_session *s);

#endif
