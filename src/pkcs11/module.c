/* SPDX-License-Identifier: Apache-2.0
 *
 * libopenhsm-pkcs11.so: the entry points that manage the library itself — C_GetFunctionList,
 * C_GetInterfaceList / C_GetInterface (v3.0), C_Initialize / C_Finalize with their locking and
 * fork rules, C_GetInfo — the configuration, the log, and the functions this library does not
 * offer (each answers CKR_FUNCTION_NOT_SUPPORTED, as PKCS#11 allows).
 *
 * Configuration: the cluster configuration (libopenhsm's client.json, written by openhsmd) is
 * named by OPENHSM_CLUSTER_CONFIG; else by "cluster_config" in the library's own JSON config file,
 * OPENHSM_PKCS11_CONFIG or /etc/openhsm/pkcs11.json (as CloudHSM's library reads
 * /opt/cloudhsm/etc/cloudhsm-pkcs11.cfg), which may also give "log_file", "log_level"
 * (error|warn|info|debug) and "connections" (the pool's limit). OPENHSM_PKCS11_LOG and
 * OPENHSM_PKCS11_CONNECTIONS override those.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "p11.h"

#define P11_CONFIG_DEFAULT "/etc/openhsm/pkcs11.json"

/* The library's one piece of global data: the state of the process that initialized it. */
static pthread_mutex_t g_init_mu = PTHREAD_MUTEX_INITIALIZER;
static struct p11_state *g_state;
/* Forks seen by this process's copy of the library: a child's atfork handler counts one. A state
 * made before the last fork belongs to the parent. Asking the kernel (getpid) on every call cost
 * a system call per call, two per crypto call, which on a virtual machine is a microsecond each. */
static unsigned g_forks;
static pthread_once_t g_fork_once = PTHREAD_ONCE_INIT;

static void fork_child(void)
{
    __atomic_add_fetch(&g_forks, 1u, __ATOMIC_RELAXED);
}

static void fork_watch(void)
{
    (void)pthread_atfork(NULL, NULL, fork_child);
}

/* Log destination (set at C_Initialize; stderr by default). */
static FILE *g_log;
static int g_log_level = P11_LOG_WARN;
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;

struct p11_state *p11_state_get(void)
{
    struct p11_state *st = __atomic_load_n(&g_state, __ATOMIC_ACQUIRE);
    if (st == NULL || st->forks != __atomic_load_n(&g_forks, __ATOMIC_RELAXED)) {
        return NULL;
    }
    return st;
}

void p11_log(enum p11_log_level lvl, const char *fmt, ...)
{
    if ((int)lvl > g_log_level) {
        return;
    }
    static const char *names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    pthread_mutex_lock(&g_log_mu);
    FILE *f = g_log != NULL ? g_log : stderr;
    fprintf(f, "%04d-%02d-%02dT%02d:%02d:%02dZ openhsm-pkcs11[%d] %s: %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)getpid(),
            names[lvl], line);
    fflush(f);
    pthread_mutex_unlock(&g_log_mu);
}

/* ---- locks ---- */

static struct p11_state *g_lock_owner; /* whose mutex functions p11_lock_* use */

CK_RV p11_lock_init(struct p11_lock *l)
{
    struct p11_state *st = g_lock_owner;
    l->app = NULL;
    if (st != NULL && st->app_locks) {
        return st->create_mutex(&l->app);
    }
    return pthread_mutex_init(&l->mu, NULL) == 0 ? CKR_OK : CKR_HOST_MEMORY;
}

void p11_lock_destroy(struct p11_lock *l)
{
    struct p11_state *st = g_lock_owner;
    if (l->app != NULL) {
        if (st != NULL) {
            (void)st->destroy_mutex(l->app);
        }
        l->app = NULL;
        return;
    }
    pthread_mutex_destroy(&l->mu);
}

void p11_lock(struct p11_lock *l)
{
    if (l->app != NULL) {
        (void)g_lock_owner->lock_mutex(l->app);
        return;
    }
    pthread_mutex_lock(&l->mu);
}

void p11_unlock(struct p11_lock *l)
{
    if (l->app != NULL) {
        (void)g_lock_owner->unlock_mutex(l->app);
        return;
    }
    pthread_mutex_unlock(&l->mu);
}

/* ---- configuration ---- */

struct p11_conf {
    char cluster[PATH_MAX];
    char log_file[PATH_MAX];
    int log_level;
    size_t connections;
};

static int level_from(const char *s)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (s != NULL && strcmp(s, names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static bool conf_file(const char *path, bool required, struct p11_conf *c)
{
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        if (required || access(path, F_OK) == 0) {
            p11_log(P11_LOG_ERROR, "configuration %s: %s (line %d)", path, je.text, je.line);
            return false;
        }
        return true; /* no file: the environment must say it */
    }
    bool ok = json_is_object(j);
    const char *cl = json_string_value(json_object_get(j, "cluster_config"));
    const char *lf = json_string_value(json_object_get(j, "log_file"));
    const char *ll = json_string_value(json_object_get(j, "log_level"));
    json_t *cn = json_object_get(j, "connections");
    if (cl != NULL && snprintf(c->cluster, sizeof c->cluster, "%s", cl) >= (int)sizeof c->cluster) {
        ok = false;
    }
    if (lf != NULL && snprintf(c->log_file, sizeof c->log_file, "%s", lf) >=
                          (int)sizeof c->log_file) {
        ok = false;
    }
    if (ll != NULL) {
        c->log_level = level_from(ll);
        ok = ok && c->log_level >= 0;
    }
    if (cn != NULL) {
        json_int_t v = json_integer_value(cn);
        ok = ok && json_is_integer(cn) && v >= 1 && v <= P11_POOL_MAX_LIMIT;
        c->connections = (size_t)v;
    }
    if (!ok) {
        p11_log(P11_LOG_ERROR, "configuration %s: bad value (cluster_config, log_file, log_level "
                               "error|warn|info|debug, connections 1..%d)",
                path, P11_POOL_MAX_LIMIT);
    }
    json_decref(j);
    return ok;
}

/* A count 1..P11_POOL_MAX_LIMIT from the environment variable name, when it is set. */
static bool env_count(const char *name, size_t *out)
{
    const char *e = getenv(name);
    if (e == NULL) {
        return true;
    }
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(e, &end, 10);
    if (errno != 0 || end == e || *end != '\0' || v < 1 || v > P11_POOL_MAX_LIMIT) {
        p11_log(P11_LOG_ERROR, "%s must be 1..%d", name, P11_POOL_MAX_LIMIT);
        return false;
    }
    *out = v;
    return true;
}

static CK_RV conf_load(struct p11_conf *c)
{
    memset(c, 0, sizeof *c);
    c->log_level = P11_LOG_WARN;
    c->connections = P11_POOL_MAX_DEFAULT;
    const char *file = getenv("OPENHSM_PKCS11_CONFIG");
    if (!conf_file(file != NULL ? file : P11_CONFIG_DEFAULT, file != NULL, c)) {
        return CKR_GENERAL_ERROR;
    }
    const char *env = getenv(OHSM_CLUSTER_CONFIG_ENV);
    if (env != NULL && env[0] != '\0') {
        snprintf(c->cluster, sizeof c->cluster, "%s", env);
    }
    const char *lg = getenv("OPENHSM_PKCS11_LOG");
    if (lg != NULL) {
        snprintf(c->log_file, sizeof c->log_file, "%s", lg);
    }
    if (!env_count("OPENHSM_PKCS11_CONNECTIONS", &c->connections)) {
        return CKR_GENERAL_ERROR;
    }
    if (c->cluster[0] == '\0') {
        p11_log(P11_LOG_ERROR, "no cluster configuration: set %s to the cluster's client config "
                               "(or cluster_config in %s)",
                OHSM_CLUSTER_CONFIG_ENV, file != NULL ? file : P11_CONFIG_DEFAULT);
        return CKR_GENERAL_ERROR;
    }
    return CKR_OK;
}

static void log_open(const struct p11_conf *c)
{
    g_log_level = c->log_level;
    if (c->log_file[0] != '\0' && strcmp(c->log_file, "stderr") != 0) {
        FILE *f = fopen(c->log_file, "ae");
        if (f == NULL) {
            p11_log(P11_LOG_WARN, "cannot open log file %s: %s; logging to stderr", c->log_file,
                    strerror(errno));
            return;
        }
        pthread_mutex_lock(&g_log_mu);
        g_log = f;
        pthread_mutex_unlock(&g_log_mu);
    }
}

static void log_close(void)
{
    pthread_mutex_lock(&g_log_mu);
    if (g_log != NULL) {
        fclose(g_log);
        g_log = NULL;
    }
    pthread_mutex_unlock(&g_log_mu);
}

/* ---- C_Initialize / C_Finalize ---- */

static CK_RV check_args(const CK_C_INITIALIZE_ARGS *a, bool *app_locks, bool *no_threads)
{
    *app_locks = false;
    *no_threads = false;
    if (a == NULL) {
        return CKR_OK;
    }
    if (a->pReserved != NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    int given = (a->CreateMutex != NULL) + (a->DestroyMutex != NULL) + (a->LockMutex != NULL) +
                (a->UnlockMutex != NULL);
    if (given != 0 && given != 4) {
        return CKR_ARGUMENTS_BAD;
    }
    /* CKF_LIBRARY_CANT_CREATE_OS_THREADS (p11-kit sets it): libopenhsm then opens the connections
     * to the HSMs one after the other instead of on threads of its own. */
    *no_threads = (a->flags & CKF_LIBRARY_CANT_CREATE_OS_THREADS) != 0;
    /* With the application's functions and no CKF_OS_LOCKING_OK, PKCS#11 says the library must
     * lock with those functions: ours do (state and sessions); libopenhsm's own connection locks
     * stay pthread mutexes. */
    *app_locks = given == 4 && (a->flags & CKF_OS_LOCKING_OK) == 0;
    return CKR_OK;
}

static void state_free(struct p11_state *st)
{
    if (st == NULL) {
        return;
    }
    p11_sessions_close_all(st, true);
    p11_pool_fini(&st->pool);
    ohsm_cfg_free(st->cfg);
    p11_lock_destroy(&st->lock);
    free(st->sess);
    free(st->sobj);
    free(st->facts);
    free(st);
}

P11_API CK_RV C_Initialize(CK_VOID_PTR pInitArgs)
{
    const CK_C_INITIALIZE_ARGS *a = pInitArgs;
    bool app_locks = false, no_threads = false;
    CK_RV rv = check_args(a, &app_locks, &no_threads);
    if (rv != CKR_OK) {
        return rv;
    }
    (void)pthread_once(&g_fork_once, fork_watch);
    pthread_mutex_lock(&g_init_mu);
    if (g_state != NULL && g_state->forks == __atomic_load_n(&g_forks, __ATOMIC_RELAXED)) {
        pthread_mutex_unlock(&g_init_mu);
        return CKR_CRYPTOKI_ALREADY_INITIALIZED;
    }
    if (g_state != NULL) {
        /* A forked child: the parent's connections, locks and threads are not ours. Leave them
         * alone (closing a TLS connection here would end the parent's session). */
        g_state = NULL;
        g_lock_owner = NULL;
        g_log = NULL;
        pthread_mutex_init(&g_log_mu, NULL);
    }
    struct p11_conf conf;
    rv = conf_load(&conf);
    if (rv != CKR_OK) {
        pthread_mutex_unlock(&g_init_mu);
        return rv;
    }
    log_open(&conf);
    struct p11_state *st = calloc(1, sizeof *st);
    if (st == NULL) {
        pthread_mutex_unlock(&g_init_mu);
        return CKR_HOST_MEMORY;
    }
    st->forks = __atomic_load_n(&g_forks, __ATOMIC_RELAXED);
    st->next_sess = 1;
    st->app_locks = app_locks;
    if (app_locks) {
        st->create_mutex = a->CreateMutex;
        st->destroy_mutex = a->DestroyMutex;
        st->lock_mutex = a->LockMutex;
        st->unlock_mutex = a->UnlockMutex;
    }
    g_lock_owner = st;
    rv = p11_lock_init(&st->lock);
    if (rv != CKR_OK) {
        free(st);
        g_lock_owner = NULL;
        pthread_mutex_unlock(&g_init_mu);
        return rv;
    }
    char err[256] = "";
    ohsm_rv orv = ohsm_cfg_load(conf.cluster, &st->cfg, err, sizeof err);
    if (orv != OHSM_OK) {
        p11_log(P11_LOG_ERROR, "cluster configuration %s: %s", conf.cluster,
                err[0] != '\0' ? err : ohsm_rv_str(orv));
        p11_lock_destroy(&st->lock);
        free(st);
        g_lock_owner = NULL;
        log_close();
        pthread_mutex_unlock(&g_init_mu);
        return orv == OHSM_HOST_MEMORY ? CKR_HOST_MEMORY : CKR_GENERAL_ERROR;
    }
    rv = p11_pool_init(&st->pool, st->cfg, conf.connections,
                       no_threads ? OHSM_CLIENT_NO_THREADS : 0u);
    if (rv != CKR_OK) {
        ohsm_cfg_free(st->cfg);
        p11_lock_destroy(&st->lock);
        free(st);
        g_lock_owner = NULL;
        log_close();
        pthread_mutex_unlock(&g_init_mu);
        return rv;
    }
    p11_log(P11_LOG_INFO, "initialized: cluster %s, %zu HSM(s), up to %zu connection sets",
            ohsm_cfg_cluster_id(st->cfg), ohsm_cfg_hsm_count(st->cfg), conf.connections);
    __atomic_store_n(&g_state, st, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&g_init_mu);
    return CKR_OK;
}

P11_API CK_RV C_Finalize(CK_VOID_PTR pReserved)
{
    if (pReserved != NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    pthread_mutex_lock(&g_init_mu);
    struct p11_state *st = p11_state_get();
    if (st == NULL) {
        pthread_mutex_unlock(&g_init_mu);
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    __atomic_store_n(&g_state, NULL, __ATOMIC_RELEASE);
    state_free(st);
    g_lock_owner = NULL;
    log_close();
    pthread_mutex_unlock(&g_init_mu);
    return CKR_OK;
}

P11_API CK_RV C_GetInfo(CK_INFO_PTR pInfo)
{
    P11_ENTER(st);
    (void)st;
    if (pInfo == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    memset(pInfo, 0, sizeof *pInfo);
    pInfo->cryptokiVersion.major = 2;
    pInfo->cryptokiVersion.minor = 40;
    p11_pad(pInfo->manufacturerID, sizeof pInfo->manufacturerID, "openhsm");
    p11_pad(pInfo->libraryDescription, sizeof pInfo->libraryDescription,
            "openhsm PKCS#11 library");
    pInfo->libraryVersion.major = 0;
    pInfo->libraryVersion.minor = 1;
    return CKR_OK;
}

void p11_pad(CK_UTF8CHAR *dst, size_t n, const char *src)
{
    memset(dst, ' ', n);
    size_t l = strlen(src);
    memcpy(dst, src, l < n ? l : n);
}

/* ---- what this library does not offer ---- */

P11_API CK_RV C_GetOperationState(CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG_PTR n)
{
    (void)h, (void)p, (void)n;
    P11_ENTER(st);
    (void)st;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
P11_API CK_RV C_SetOperationState(CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG n,
                                  CK_OBJECT_HANDLE e, CK_OBJECT_HANDLE a)
{
    (void)h, (void)p, (void)n, (void)e, (void)a;
    P11_ENTER(st);
    (void)st;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
P11_API CK_RV C_SignRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
    (void)h, (void)m, (void)k;
    P11_ENTER(st);
    (void)st;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
P11_API CK_RV C_SignRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR s,
                            CK_ULONG_PTR sn)
{
    (void)h, (void)d, (void)dn, (void)s, (void)sn;
    P11_ENTER(st);
    (void)st;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
P11_API CK_RV C_VerifyRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
    (void)h, (void)m, (void)k;
    P11_ENTER(st);
    (void)st;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
P11_API CK_RV C_VerifyRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG sn, CK_BYTE_PTR d,
                              CK_ULONG_PTR dn)
{
    (void)h, (void)s, (void)sn, (void)d, (void)dn;
    P11_ENTER(st);
    (void)st;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
#define P11_DUAL(name)                                                                             \
    P11_API CK_RV name(CK_SESSION_HANDLE h, CK_BYTE_PTR i, CK_ULONG in, CK_BYTE_PTR o,             \
                       CK_ULONG_PTR on)                                                            \
    {                                                                                              \
        (void)h, (void)i, (void)in, (void)o, (void)on;                                             \
        P11_ENTER(st);                                                                             \
        (void)st;                                                                                  \
        return CKR_FUNCTION_NOT_SUPPORTED;                                                         \
    }
P11_DUAL(C_DigestEncryptUpdate)
P11_DUAL(C_DecryptDigestUpdate)
P11_DUAL(C_SignEncryptUpdate)
P11_DUAL(C_DecryptVerifyUpdate)

P11_API CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE h)
{
    (void)h;
    P11_ENTER(st);
    (void)st;
    return CKR_FUNCTION_NOT_PARALLEL;
}
P11_API CK_RV C_CancelFunction(CK_SESSION_HANDLE h)
{
    (void)h;
    P11_ENTER(st);
    (void)st;
    return CKR_FUNCTION_NOT_PARALLEL;
}
P11_API CK_RV C_WaitForSlotEvent(CK_FLAGS f, CK_SLOT_ID_PTR s, CK_VOID_PTR r)
{
    (void)f, (void)s, (void)r;
    P11_ENTER(st);
    (void)st;
    return CKR_FUNCTION_NOT_SUPPORTED;
}

/* v3.0 additions this library does not offer: user names at login and message-based crypto. */
static CK_RV v3_login_user(CK_SESSION_HANDLE h, CK_USER_TYPE t, CK_UTF8CHAR_PTR p, CK_ULONG pn,
                           CK_UTF8CHAR_PTR u, CK_ULONG un)
{
    (void)h, (void)t, (void)p, (void)pn, (void)u, (void)un;
    P11_ENTER(st);
    (void)st;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
static CK_RV v3_session_cancel(CK_SESSION_HANDLE h, CK_FLAGS f)
{
    (void)h, (void)f;
    P11_ENTER(st);
    (void)st;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
static CK_RV v3_msg_init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
    (void)h, (void)m, (void)k;
    P11_ENTER(st);
    (void)st;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
static CK_RV v3_msg_crypt(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pn, CK_BYTE_PTR a,
                          CK_ULONG an, CK_BYTE_PTR i, CK_ULONG in, CK_BYTE_PTR o,
                          CK_ULONG_PTR on)
{
    (void)h, (void)p, (void)pn, (void)a, (void)an, (void)i, (void)in, (void)o, (void)on;
    P11_ENTER(st);
    (void)st;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
static CK_RV v3_msg_begin(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pn, CK_BYTE_PTR a,
                          CK_ULONG an)
{
    (void)h, (void)p, (void)pn, (void)a, (void)an;
    P11_ENTER(st);
    (void)st;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
static CK_RV v3_msg_next(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pn, CK_BYTE_PTR i,
                         CK_ULONG in, CK_BYTE_PTR o, CK_ULONG_PTR on, CK_FLAGS f)
{
    (void)h, (void)p, (void)pn, (void)i, (void)in, (void)o, (void)on, (void)f;
    P11_ENTER(st);
    (void)st;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
static CK_RV v3_msg_final(CK_SESSION_HANDLE h)
{
    (void)h;
    P11_ENTER(st);
    (void)st;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
static CK_RV v3_sign_msg(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pn, CK_BYTE_PTR d,
                         CK_ULONG dn, CK_BYTE_PTR s, CK_ULONG_PTR sn)
{
    (void)h, (void)p, (void)pn, (void)d, (void)dn, (void)s, (void)sn;
    P11_ENTER(st);
    (void)st;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
static CK_RV v3_sign_begin(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pn)
{
    (void)h, (void)p, (void)pn;
    P11_ENTER(st);
    (void)st;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
static CK_RV v3_verify_msg(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pn, CK_BYTE_PTR d,
                           CK_ULONG dn, CK_BYTE_PTR s, CK_ULONG sn)
{
    (void)h, (void)p, (void)pn, (void)d, (void)dn, (void)s, (void)sn;
    P11_ENTER(st);
    (void)st;
    return CKR_FUNCTION_NOT_SUPPORTED;
}

/* ---- the function lists ---- */

/* The other entry points are declared by pkcs11.h and defined in the other modules. */
P11_API CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList);
static CK_RV get_interface_list(CK_INTERFACE_PTR list, CK_ULONG_PTR count);
static CK_RV get_interface(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version,
                           CK_INTERFACE_PTR_PTR iface, CK_FLAGS flags);

#define P11_FUNCS_240                                                                              \
    C_Initialize, C_Finalize, C_GetInfo, C_GetFunctionList, C_GetSlotList, C_GetSlotInfo,         \
        C_GetTokenInfo, C_GetMechanismList, C_GetMechanismInfo, C_InitToken, C_InitPIN, C_SetPIN, \
        C_OpenSession, C_CloseSession, C_CloseAllSessions, C_GetSessionInfo,                      \
        C_GetOperationState, C_SetOperationState, C_Login, C_Logout, C_CreateObject,              \
        C_CopyObject, C_DestroyObject, C_GetObjectSize, C_GetAttributeValue,                      \
        C_SetAttributeValue, C_FindObjectsInit, C_FindObjects, C_FindObjectsFinal,                \
        C_EncryptInit, C_Encrypt, C_EncryptUpdate, C_EncryptFinal, C_DecryptInit, C_Decrypt,      \
        C_DecryptUpdate, C_DecryptFinal, C_DigestInit, C_Digest, C_DigestUpdate, C_DigestKey,     \
        C_DigestFinal, C_SignInit, C_Sign, C_SignUpdate, C_SignFinal, C_SignRecoverInit,          \
        C_SignRecover, C_VerifyInit, C_Verify, C_VerifyUpdate, C_VerifyFinal,                     \
        C_VerifyRecoverInit, C_VerifyRecover, C_DigestEncryptUpdate, C_DecryptDigestUpdate,       \
        C_SignEncryptUpdate, C_DecryptVerifyUpdate, C_GenerateKey, C_GenerateKeyPair, C_WrapKey,  \
        C_UnwrapKey, C_DeriveKey, C_SeedRandom, C_GenerateRandom, C_GetFunctionStatus,            \
        C_CancelFunction, C_WaitForSlotEvent

static CK_FUNCTION_LIST g_funcs_240 = {{2, 40}, P11_FUNCS_240};

static CK_FUNCTION_LIST_3_0 g_funcs_300 = {
    {3, 0},           P11_FUNCS_240,    get_interface_list, get_interface,  v3_login_user,
    v3_session_cancel, v3_msg_init,     v3_msg_crypt,       v3_msg_begin,   v3_msg_next,
    v3_msg_final,     v3_msg_init,      v3_msg_crypt,       v3_msg_begin,   v3_msg_next,
    v3_msg_final,     v3_msg_init,      v3_sign_msg,        v3_sign_begin,  v3_sign_msg,
    v3_msg_final,     v3_msg_init,      v3_verify_msg,      v3_sign_begin,  v3_verify_msg,
    v3_msg_final,
};

static CK_CHAR g_iface_name[] = "PKCS 11";
static CK_INTERFACE g_ifaces[] = {
    {g_iface_name, &g_funcs_300, CKF_INTERFACE_FORK_SAFE},
    {g_iface_name, &g_funcs_240, CKF_INTERFACE_FORK_SAFE},
};

P11_API CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
    if (ppFunctionList == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    *ppFunctionList = &g_funcs_240;
    return CKR_OK;
}

static CK_RV get_interface_list(CK_INTERFACE_PTR list, CK_ULONG_PTR count)
{
    if (count == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    CK_ULONG n = sizeof g_ifaces / sizeof g_ifaces[0];
    if (list == NULL) {
        *count = n;
        return CKR_OK;
    }
    if (*count < n) {
        *count = n;
        return CKR_BUFFER_TOO_SMALL;
    }
    memcpy(list, g_ifaces, sizeof g_ifaces);
    *count = n;
    return CKR_OK;
}

static CK_RV get_interface(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version,
                           CK_INTERFACE_PTR_PTR iface, CK_FLAGS flags)
{
    if (iface == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if (name != NULL && strcmp((const char *)name, (const char *)g_iface_name) != 0) {
        return CKR_ARGUMENTS_BAD;
    }
    for (size_t i = 0; i < sizeof g_ifaces / sizeof g_ifaces[0]; i++) {
        const CK_VERSION *v = g_ifaces[i].pFunctionList;
        if (version != NULL && (v->major != version->major || v->minor != version->minor)) {
            continue;
        }
        if ((g_ifaces[i].flags & flags) != flags) {
            continue;
        }
        *iface = &g_ifaces[i];
        return CKR_OK;
    }
    return CKR_ARGUMENTS_BAD;
}

P11_API CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount)
{
    return get_interface_list(pInterfacesList, pulCount);
}

P11_API CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                             CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
    return get_interface(pInterfaceName, pVersion, ppInterface, flags);
}
