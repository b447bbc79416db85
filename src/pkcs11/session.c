/* SPDX-License-Identifier: Apache-2.0
 *
 * The slot, its token, sessions and login: C_GetSlotList .. C_GetMechanismInfo, C_OpenSession ..
 * C_GetSessionInfo, C_Login / C_Logout, and the token functions CloudHSM does not offer
 * (C_InitToken, C_InitPIN, C_SetPIN: users are managed with the CLI tools).
 *
 * One slot (P11_SLOT_ID) for the cluster, with its token always present. The PIN is
 * "<crypto user>:<password>" (CloudHSM's format); only CKU_USER logs in, as crypto user, on every
 * HSM of the cluster.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "p11.h"

/* ---- slot and token ---- */

/* The checks of a call on the slot: its ID, then its required argument (args_ok false: NULL). */
static CK_RV slot_check(CK_SLOT_ID id, bool args_ok)
{
    if (id != P11_SLOT_ID) {
        return CKR_SLOT_ID_INVALID;
    }
    return args_ok ? CKR_OK : CKR_ARGUMENTS_BAD;
}

/* The hardware and firmware versions both CK_SLOT_INFO and CK_TOKEN_INFO carry. */
static void put_versions(CK_VERSION *hw, CK_VERSION *fw)
{
    hw->major = 0;
    hw->minor = 1;
    fw->major = 0;
    fw->minor = 1;
}

P11_API CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
    (void)tokenPresent; /* the token is always present */
    P11_ENTER(st);
    (void)st;
    if (pulCount == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if (pSlotList == NULL) {
        *pulCount = 1;
        return CKR_OK;
    }
    if (*pulCount < 1) {
        *pulCount = 1;
        return CKR_BUFFER_TOO_SMALL;
    }
    pSlotList[0] = P11_SLOT_ID;
    *pulCount = 1;
    return CKR_OK;
}

P11_API CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
    P11_ENTER(st);
    CK_RV rv = slot_check(slotID, pInfo != NULL);
    if (rv != CKR_OK) {
        return rv;
    }
    memset(pInfo, 0, sizeof *pInfo);
    char d[80];
    snprintf(d, sizeof d, "openhsm cluster %s", ohsm_cfg_cluster_id(st->cfg));
    p11_pad(pInfo->slotDescription, sizeof pInfo->slotDescription, d);
    p11_pad(pInfo->manufacturerID, sizeof pInfo->manufacturerID, "openhsm");
    pInfo->flags = CKF_TOKEN_PRESENT | CKF_HW_SLOT;
    put_versions(&pInfo->hardwareVersion, &pInfo->firmwareVersion);
    return CKR_OK;
}

P11_API CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
    P11_ENTER(st);
    CK_RV rv = slot_check(slotID, pInfo != NULL);
    if (rv != CKR_OK) {
        return rv;
    }
    memset(pInfo, 0, sizeof *pInfo);
    /* CloudHSM's library names the token of its first cluster "hsm1". */
    p11_pad(pInfo->label, sizeof pInfo->label, "hsm1");
    p11_pad(pInfo->manufacturerID, sizeof pInfo->manufacturerID, "openhsm");
    p11_pad(pInfo->model, sizeof pInfo->model, "openhsm-soft");
    const char *cid = ohsm_cfg_cluster_id(st->cfg);
    size_t cl = strlen(cid);
    p11_pad(pInfo->serialNumber, sizeof pInfo->serialNumber,
            cl > sizeof pInfo->serialNumber ? cid + cl - sizeof pInfo->serialNumber : cid);
    pInfo->flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED |
                   CKF_TOKEN_INITIALIZED;
    p11_lock(&st->lock);
    pInfo->ulSessionCount = st->nsess;
    pInfo->ulRwSessionCount = st->rw_sessions;
    p11_unlock(&st->lock);
    pInfo->ulMaxSessionCount = P11_MAX_SESSIONS;
    pInfo->ulMaxRwSessionCount = P11_MAX_SESSIONS;
    /* "<user>:<password>": 1..31 + 1 + 7..32 characters. */
    pInfo->ulMaxPinLen = OHSM_USERNAME_MAX + 1 + 32;
    pInfo->ulMinPinLen = 1 + 1 + 7;
    pInfo->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
    put_versions(&pInfo->hardwareVersion, &pInfo->firmwareVersion);
    memset(pInfo->utcTime, ' ', sizeof pInfo->utcTime); /* no CKF_CLOCK_ON_TOKEN */
    return CKR_OK;
}

P11_API CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pList,
                                 CK_ULONG_PTR pulCount)
{
    P11_ENTER(st);
    (void)st;
    CK_RV rv = slot_check(slotID, pulCount != NULL);
    if (rv != CKR_OK) {
        return rv;
    }
    CK_ULONG n = 0;
    const CK_MECHANISM_TYPE *l = p11_mech_list(&n);
    if (pList == NULL) {
        *pulCount = n;
        return CKR_OK;
    }
    if (*pulCount < n) {
        *pulCount = n;
        return CKR_BUFFER_TOO_SMALL;
    }
    memcpy(pList, l, n * sizeof *l);
    *pulCount = n;
    return CKR_OK;
}

P11_API CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type,
                                 CK_MECHANISM_INFO_PTR pInfo)
{
    P11_ENTER(st);
    (void)st;
    CK_RV rv = slot_check(slotID, pInfo != NULL);
    if (rv != CKR_OK) {
        return rv;
    }
    return p11_mech_info(type, pInfo);
}

/* Users are created and their passwords changed with the CLI tools (openhsm-cli, -cmu), as with
 * CloudHSM. */
P11_API CK_RV C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
                          CK_UTF8CHAR_PTR pLabel)
{
    (void)pPin, (void)ulPinLen, (void)pLabel;
    P11_ENTER(st);
    (void)st;
    CK_RV rv = slot_check(slotID, true);
    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED;
}

P11_API CK_RV C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
    (void)pPin, (void)ulPinLen;
    P11_ENTER(st);
    CK_RV rv = p11_session_check(st, hSession);
    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED;
}

P11_API CK_RV C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
                       CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
    (void)pOldPin, (void)ulOldLen, (void)pNewPin, (void)ulNewLen;
    P11_ENTER(st);
    CK_RV rv = p11_session_check(st, hSession);
    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED;
}

/* ---- sessions ---- */

static struct p11_session *find_locked(struct p11_state *st, CK_SESSION_HANDLE h)
{
    for (size_t i = 0; i < st->nsess; i++) {
        if (st->sess[i]->h == h) {
            return st->sess[i];
        }
    }
    return NULL;
}

static void session_free(struct p11_session *s)
{
    p11_op_end(&s->op[0]);
    p11_op_end(&s->op[1]);
    free(s->found);
    p11_lock_destroy(&s->lock);
    free(s);
}

/* Drops a reference (state lock held); frees a closed session with none left. */
static void unref_locked(struct p11_session *s)
{
    if (--s->refs == 0 && s->closed) {
        session_free(s);
    }
}

CK_RV p11_session_acquire(struct p11_state *st, CK_SESSION_HANDLE h, struct p11_session **out)
{
    p11_lock(&st->lock);
    struct p11_session *s = find_locked(st, h);
    if (s == NULL) {
        p11_unlock(&st->lock);
        return CKR_SESSION_HANDLE_INVALID;
    }
    s->refs++;
    p11_unlock(&st->lock);
    p11_lock(&s->lock);
    if (s->closed) {
        p11_unlock(&s->lock);
        p11_lock(&st->lock);
        unref_locked(s);
        p11_unlock(&st->lock);
        return CKR_SESSION_HANDLE_INVALID;
    }
    *out = s;
    return CKR_OK;
}

void p11_session_release(struct p11_state *st, struct p11_session *s)
{
    p11_unlock(&s->lock);
    p11_lock(&st->lock);
    unref_locked(s);
    p11_unlock(&st->lock);
}

CK_RV p11_session_check(struct p11_state *st, CK_SESSION_HANDLE h)
{
    struct p11_session *s = NULL;
    CK_RV rv = p11_session_acquire(st, h, &s);
    if (rv == CKR_OK) {
        p11_session_release(st, s);
    }
    return rv;
}

CK_RV p11_session_writes(const struct p11_session *s, bool token)
{
    return token && (s->flags & CKF_RW_SESSION) == 0 ? CKR_SESSION_READ_ONLY : CKR_OK;
}

CK_STATE p11_session_state(struct p11_state *st, const struct p11_session *s)
{
    bool user = p11_pool_logged_in(&st->pool);
    if ((s->flags & CKF_RW_SESSION) != 0) {
        return user ? CKS_RW_USER_FUNCTIONS : CKS_RW_PUBLIC_SESSION;
    }
    return user ? CKS_RO_USER_FUNCTIONS : CKS_RO_PUBLIC_SESSION;
}

P11_API CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication,
                            CK_NOTIFY Notify, CK_SESSION_HANDLE_PTR phSession)
{
    (void)pApplication, (void)Notify; /* no callbacks: nothing here waits for the user */
    P11_ENTER(st);
    CK_RV rv = slot_check(slotID, phSession != NULL);
    if (rv != CKR_OK) {
        return rv;
    }
    if ((flags & CKF_SERIAL_SESSION) == 0) {
        return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
    }
    struct p11_session *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return CKR_HOST_MEMORY;
    }
    s->flags = flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION);
    rv = p11_lock_init(&s->lock);
    if (rv != CKR_OK) {
        free(s);
        return rv;
    }
    p11_lock(&st->lock);
    if (st->nsess >= P11_MAX_SESSIONS) {
        p11_unlock(&st->lock);
        session_free(s);
        return CKR_SESSION_COUNT;
    }
    struct p11_session **n = p11_grow(st->sess, &st->sess_cap, st->nsess, sizeof *n, 16);
    if (n == NULL) {
        p11_unlock(&st->lock);
        session_free(s);
        return CKR_HOST_MEMORY;
    }
    st->sess = n;
    s->h = st->next_sess++;
    st->sess[st->nsess++] = s;
    if ((s->flags & CKF_RW_SESSION) != 0) {
        st->rw_sessions++;
    }
    *phSession = s->h;
    p11_unlock(&st->lock);
    return CKR_OK;
}

/* Takes s out of the table (state lock held); the caller frees it through the references. */
static void unlink_locked(struct p11_state *st, struct p11_session *s)
{
    for (size_t i = 0; i < st->nsess; i++) {
        if (st->sess[i] == s) {
            st->sess[i] = st->sess[--st->nsess];
            break;
        }
    }
    if ((s->flags & CKF_RW_SESSION) != 0) {
        st->rw_sessions--;
    }
    s->closed = true;
}

static void close_one(struct p11_state *st, struct p11_session *s, bool destroy)
{
    CK_SESSION_HANDLE h = s->h;
    /* Wait for a call running on it, then end it. */
    p11_lock(&s->lock);
    p11_op_end(&s->op[0]);
    p11_op_end(&s->op[1]);
    p11_unlock(&s->lock);
    if (destroy) {
        p11_sobj_destroy_of(st, h);
    }
    p11_lock(&st->lock);
    s->refs++;
    unref_locked(s);
    p11_unlock(&st->lock);
}

P11_API CK_RV C_CloseSession(CK_SESSION_HANDLE hSession)
{
    P11_ENTER(st);
    p11_lock(&st->lock);
    struct p11_session *s = find_locked(st, hSession);
    if (s == NULL) {
        p11_unlock(&st->lock);
        return CKR_SESSION_HANDLE_INVALID;
    }
    unlink_locked(st, s);
    bool last = st->nsess == 0;
    s->refs++; /* keep it while we close it */
    p11_unlock(&st->lock);
    close_one(st, s, true);
    p11_lock(&st->lock);
    unref_locked(s);
    p11_unlock(&st->lock);
    /* PKCS#11: when the last session closes, the user is logged out. */
    if (last && p11_pool_logged_in(&st->pool)) {
        (void)p11_pool_logout(&st->pool);
    }
    return CKR_OK;
}

void p11_sessions_close_all(struct p11_state *st, bool destroy)
{
    for (;;) {
        p11_lock(&st->lock);
        if (st->nsess == 0) {
            p11_unlock(&st->lock);
            break;
        }
        struct p11_session *s = st->sess[st->nsess - 1];
        unlink_locked(st, s);
        s->refs++;
        p11_unlock(&st->lock);
        close_one(st, s, destroy);
        p11_lock(&st->lock);
        unref_locked(s);
        p11_unlock(&st->lock);
    }
    if (destroy) {
        p11_sobj_destroy_of(st, 0);
    }
    if (p11_pool_logged_in(&st->pool)) {
        (void)p11_pool_logout(&st->pool);
    }
}

P11_API CK_RV C_CloseAllSessions(CK_SLOT_ID slotID)
{
    P11_ENTER(st);
    CK_RV rv = slot_check(slotID, true);
    if (rv != CKR_OK) {
        return rv;
    }
    p11_sessions_close_all(st, true);
    return CKR_OK;
}

P11_API CK_RV C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
    P11_ENTER(st);
    struct p11_session *s = NULL;
    CK_RV rv = p11_session_acquire(st, hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    if (pInfo == NULL) {
        p11_session_release(st, s);
        return CKR_ARGUMENTS_BAD;
    }
    memset(pInfo, 0, sizeof *pInfo);
    pInfo->slotID = P11_SLOT_ID;
    pInfo->state = p11_session_state(st, s);
    pInfo->flags = s->flags;
    pInfo->ulDeviceError = 0;
    p11_session_release(st, s);
    return CKR_OK;
}

/* ---- login ---- */

P11_API CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
                      CK_ULONG ulPinLen)
{
    P11_ENTER(st);
    /* The session lock is not needed for a login (it is the application's): let go of it so a
     * login that waits on the network does not hold the session. */
    CK_RV rv = p11_session_check(st, hSession);
    if (rv != CKR_OK) {
        return rv;
    }
    if (userType == CKU_CONTEXT_SPECIFIC) {
        return CKR_OPERATION_NOT_INITIALIZED; /* no operation here needs it */
    }
    if (userType == CKU_SO) {
        /* CloudHSM's library logs in crypto users only; admins use the CLI tools. */
        p11_log(P11_LOG_WARN, "C_Login: CKU_SO is not offered; log in as a crypto user "
                              "(CKU_USER, PIN <user>:<password>)");
        return CKR_USER_TYPE_INVALID;
    }
    if (userType != CKU_USER) {
        return CKR_USER_TYPE_INVALID;
    }
    if (pPin == NULL || ulPinLen == 0) {
        return CKR_ARGUMENTS_BAD;
    }
    if (p11_pool_logged_in(&st->pool)) {
        return CKR_USER_ALREADY_LOGGED_IN;
    }
    /* "<user>:<password>" */
    const char *pin = (const char *)pPin;
    const char *colon = memchr(pin, ':', ulPinLen);
    size_t ulen = colon != NULL ? (size_t)(colon - pin) : 0;
    if (colon == NULL || ulen == 0 || ulen > OHSM_USERNAME_MAX || ulPinLen - ulen - 1 > 32 ||
        memchr(pin, '\0', ulPinLen) != NULL) {
        p11_log(P11_LOG_WARN, "C_Login: the PIN must be <crypto user>:<password>");
        return CKR_PIN_INCORRECT;
    }
    char user[OHSM_USERNAME_MAX + 1];
    memcpy(user, pin, ulen);
    user[ulen] = '\0';
    size_t pw_len = ulPinLen - ulen - 1;
    char pw[33];
    memcpy(pw, colon + 1, pw_len);
    pw[pw_len] = '\0';
    rv = p11_pool_login(&st->pool, user, pw, pw_len);
    OPENSSL_cleanse(pw, sizeof pw);
    if (rv == CKR_USER_ALREADY_LOGGED_IN) {
        rv = CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
    }
    if (rv != CKR_OK) {
        p11_log(P11_LOG_INFO, "C_Login as %s refused: 0x%lx", user, (unsigned long)rv);
    }
    return rv;
}

P11_API CK_RV C_Logout(CK_SESSION_HANDLE hSession)
{
    P11_ENTER(st);
    CK_RV rv = p11_session_check(st, hSession);
    if (rv != CKR_OK) {
        return rv;
    }
    if (!p11_pool_logged_in(&st->pool)) {
        return CKR_USER_NOT_LOGGED_IN;
    }
    /* Session objects were the user's: they go with the login (private objects, PKCS#11). */
    p11_sobj_destroy_of(st, 0);
    return p11_pool_logout(&st->pool);
}
