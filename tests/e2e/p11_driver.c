/* SPDX-License-Identifier: Apache-2.0
 *
 * p11_driver: drives a PKCS#11 module (loaded by path with dlopen) the way C applications do, for
 * the e2e tests of what Python bindings cannot show: real threads, fork(), the application's own
 * mutex functions, the C_Initialize rules and the v3.0 interface list. Prints one JSON object.
 *
 *   p11_driver MODULE init
 *   p11_driver MODULE iface
 *   p11_driver MODULE threads PIN LABEL NTHREADS OPS STOPFILE
 *       each thread signs (and verifies) at least OPS times and until STOPFILE exists (at most
 *       120 s); prints "started" once every thread has done one
 *   p11_driver MODULE crosswrap PIN NTHREADS
 *       NTHREADS threads, each in a session of its own, make a session AES key at the same moment
 *       (so on different connection sets of the pool); then each wraps the next thread's key with
 *       its own, unwraps it again and checks the copy decrypts what the original encrypted
 *   p11_driver MODULE destroyrace PIN NTHREADS ROUNDS
 *       NTHREADS threads, each in a session of its own, ROUNDS times: make a session AES key,
 *       encrypt with it, destroy it, and at once name it in every call that takes a handle, and
 *       name the key another thread destroyed last: each such call must fail with the handle's
 *       CKR, and a search must not find it
 *   p11_driver MODULE fork PIN LABEL
 *   p11_driver MODULE mutexes PIN LABEL
 *
 * LABEL names a private signing key (RSA: CKM_SHA256_RSA_PKCS, EC: CKM_ECDSA_SHA256); every
 * signature is checked with C_Verify on the public key of the same label.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pkcs11/ck.h"

static CK_FUNCTION_LIST_PTR F;
static void *G_MOD;

static void load(const char *path)
{
    G_MOD = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (G_MOD == NULL) {
        printf("{\"error\": \"dlopen: %s\"}\n", dlerror());
        exit(2);
    }
    CK_C_GetFunctionList gfl = NULL;
    *(void **)&gfl = dlsym(G_MOD, "C_GetFunctionList"); /* POSIX: how a function is fetched */
    if (gfl == NULL || gfl(&F) != CKR_OK) {
        printf("{\"error\": \"C_GetFunctionList\"}\n");
        exit(2);
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static CK_SLOT_ID first_slot(void)
{
    CK_SLOT_ID s[4];
    CK_ULONG n = 4;
    if (F->C_GetSlotList(CK_TRUE, s, &n) != CKR_OK || n == 0) {
        printf("{\"error\": \"no slot\"}\n");
        exit(2);
    }
    return s[0];
}

static CK_RV login(CK_SESSION_HANDLE s, const char *pin)
{
    return F->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
}

static CK_OBJECT_HANDLE find_key(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *label)
{
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG n = 0;
    if (F->C_FindObjectsInit(s, t, 2) != CKR_OK) {
        return CK_INVALID_HANDLE;
    }
    if (F->C_FindObjects(s, &h, 1, &n) != CKR_OK || n != 1) {
        h = CK_INVALID_HANDLE;
    }
    (void)F->C_FindObjectsFinal(s);
    return h;
}

static CK_MECHANISM_TYPE sign_mech(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv)
{
    CK_KEY_TYPE kt = 0;
    CK_ATTRIBUTE a = {CKA_KEY_TYPE, &kt, sizeof kt};
    if (F->C_GetAttributeValue(s, priv, &a, 1) != CKR_OK) {
        return CKM_VENDOR_DEFINED;
    }
    return kt == CKK_EC ? CKM_ECDSA_SHA256 : CKM_SHA256_RSA_PKCS;
}

/* One signature of msg and its verification; returns the first failing CK_RV. */
static CK_RV sign_verify(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE mt, CK_OBJECT_HANDLE priv,
                         CK_OBJECT_HANDLE pub, unsigned long n)
{
    char msg[64];
    int ml = snprintf(msg, sizeof msg, "message %lu", n);
    CK_MECHANISM m = {mt, NULL, 0};
    CK_BYTE sig[1024];
    CK_ULONG sl = sizeof sig;
    CK_RV rv = F->C_SignInit(s, &m, priv);
    if (rv == CKR_OK) {
        rv = F->C_Sign(s, (CK_BYTE_PTR)msg, (CK_ULONG)ml, sig, &sl);
    }
    if (rv == CKR_OK) {
        rv = F->C_VerifyInit(s, &m, pub);
    }
    if (rv == CKR_OK) {
        rv = F->C_Verify(s, (CK_BYTE_PTR)msg, (CK_ULONG)ml, sig, sl);
    }
    return rv;
}

/* ---- init: the C_Initialize / C_Finalize rules ---- */

static CK_RV dummy_create(CK_VOID_PTR_PTR m)
{
    *m = NULL;
    return CKR_OK;
}

static int mode_init(void)
{
    CK_C_INITIALIZE_ARGS a;
    memset(&a, 0, sizeof a);
    CK_RV before = F->C_GetSlotList(CK_TRUE, NULL, &(CK_ULONG){0});
    a.CreateMutex = dummy_create; /* only one of the four */
    CK_RV partial = F->C_Initialize(&a);
    memset(&a, 0, sizeof a);
    a.pReserved = &a;
    CK_RV reserved = F->C_Initialize(&a);
    memset(&a, 0, sizeof a);
    a.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS; /* fine: the library then starts no thread */
    CK_RV nothreads = F->C_Initialize(&a);
    CK_RV nothreads_fin = F->C_Finalize(NULL);
    memset(&a, 0, sizeof a);
    a.flags = CKF_OS_LOCKING_OK;
    CK_RV first = F->C_Initialize(&a);
    CK_RV again = F->C_Initialize(NULL);
    CK_RV fin_arg = F->C_Finalize(&a);
    CK_RV fin = F->C_Finalize(NULL);
    CK_RV fin2 = F->C_Finalize(NULL);
    CK_RV reinit = F->C_Initialize(NULL);
    CK_RV fin3 = F->C_Finalize(NULL);
    printf("{\"before\": %lu, \"partial\": %lu, \"reserved\": %lu, \"nothreads\": %lu, "
           "\"nothreads_fin\": %lu, \"first\": %lu, \"again\": %lu, \"fin_arg\": %lu, \"fin\": "
           "%lu, \"fin2\": %lu, "
           "\"reinit\": %lu, \"fin3\": %lu}\n",
           before, partial, reserved, nothreads, nothreads_fin, first, again, fin_arg, fin, fin2,
           reinit, fin3);
    return 0;
}

/* ---- iface: the v3.0 interface list ---- */

typedef CK_RV (*get_iface_list_fn)(CK_INTERFACE_PTR, CK_ULONG_PTR);
typedef CK_RV (*get_iface_fn)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, CK_INTERFACE_PTR_PTR, CK_FLAGS);

static int mode_iface(void)
{
    get_iface_list_fn gl = NULL;
    *(void **)&gl = dlsym(G_MOD, "C_GetInterfaceList");
    get_iface_fn gi = NULL;
    *(void **)&gi = dlsym(G_MOD, "C_GetInterface");
    if (gl == NULL || gi == NULL) {
        printf("{\"error\": \"no C_GetInterfaceList/C_GetInterface\"}\n");
        return 1;
    }
    CK_ULONG n = 0;
    CK_RV count = gl(NULL, &n);
    CK_INTERFACE list[8];
    CK_ULONG cap = 8;
    CK_RV got = gl(list, &cap);
    CK_INTERFACE_PTR def = NULL, v30 = NULL, v240 = NULL;
    CK_VERSION want30 = {3, 0}, want240 = {2, 40}, want99 = {9, 9};
    CK_RV r_def = gi(NULL, NULL, &def, 0);
    CK_RV r_30 = gi((CK_UTF8CHAR_PTR) "PKCS 11", &want30, &v30, 0);
    CK_RV r_240 = gi((CK_UTF8CHAR_PTR) "PKCS 11", &want240, &v240, 0);
    CK_INTERFACE_PTR none = NULL;
    CK_RV r_99 = gi(NULL, &want99, &none, 0);
    CK_RV r_other = gi((CK_UTF8CHAR_PTR) "Vendor X", NULL, &none, 0);
    /* Use the 3.0 list for a whole session. */
    CK_FUNCTION_LIST_3_0 *f3 = v30 != NULL ? v30->pFunctionList : NULL;
    CK_RV init = f3 != NULL ? f3->C_Initialize(NULL) : CKR_GENERAL_ERROR;
    CK_INFO info;
    CK_RV inf = f3 != NULL ? f3->C_GetInfo(&info) : CKR_GENERAL_ERROR;
    CK_RV login_user =
        f3 != NULL ? f3->C_LoginUser(1, CKU_USER, NULL, 0, NULL, 0) : CKR_GENERAL_ERROR;
    CK_RV fin = f3 != NULL ? f3->C_Finalize(NULL) : CKR_GENERAL_ERROR;
    printf("{\"count\": %lu, \"n\": %lu, \"list\": %lu, \"names\": [\"%s\", \"%s\"], "
           "\"versions\": [\"%u.%u\", \"%u.%u\"], \"default\": %lu, \"default_version\": "
           "\"%u.%u\", \"v30\": %lu, \"v240\": %lu, \"v99\": %lu, \"other\": %lu, "
           "\"init\": %lu, \"info\": %lu, \"info_version\": \"%u.%u\", \"login_user\": %lu, "
           "\"fin\": %lu, \"fork_safe\": %lu}\n",
           count, n, got, cap > 0 ? (char *)list[0].pInterfaceName : "",
           cap > 1 ? (char *)list[1].pInterfaceName : "",
           cap > 0 ? ((CK_VERSION *)list[0].pFunctionList)->major : 0,
           cap > 0 ? ((CK_VERSION *)list[0].pFunctionList)->minor : 0,
           cap > 1 ? ((CK_VERSION *)list[1].pFunctionList)->major : 0,
           cap > 1 ? ((CK_VERSION *)list[1].pFunctionList)->minor : 0, r_def,
           def != NULL ? ((CK_VERSION *)def->pFunctionList)->major : 0,
           def != NULL ? ((CK_VERSION *)def->pFunctionList)->minor : 0, r_30, r_240, r_99, r_other,
           init, inf, inf == CKR_OK ? info.cryptokiVersion.major : 0,
           inf == CKR_OK ? info.cryptokiVersion.minor : 0, login_user, fin,
           v30 != NULL ? v30->flags : 0);
    return 0;
}

/* ---- the functions the module does not offer: each answers its documented code ---- */

static int mode_unoffered(void)
{
    get_iface_fn gi = NULL;
    *(void **)&gi = dlsym(G_MOD, "C_GetInterface");
    CK_VERSION want30 = {3, 0};
    CK_INTERFACE_PTR v30 = NULL;
    if (gi == NULL || gi((CK_UTF8CHAR_PTR) "PKCS 11", &want30, &v30, 0) != CKR_OK) {
        printf("{\"error\": \"no 3.0 interface\"}\n");
        return 1;
    }
    CK_FUNCTION_LIST_3_0 *f = v30->pFunctionList;
    CK_BYTE b[64] = {0};
    CK_ULONG n = sizeof b;
    CK_SLOT_ID slot = 0;
    CK_SESSION_HANDLE s = 0;
    CK_RV before = f->C_GetOperationState(1, b, &n);
    CK_RV init = f->C_Initialize(NULL);
    CK_ULONG ns = 1;
    CK_RV sl = f->C_GetSlotList(CK_TRUE, &slot, &ns);
    CK_RV os = f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
    CK_MECHANISM m = {CKM_RSA_PKCS, NULL, 0};
    printf("{\"before\": %lu, \"init\": %lu, \"slots\": %lu, \"open\": %lu", before, init,
           sl, os);
#define RV(name, call) printf(", \"%s\": %lu", name, (unsigned long)(call))
    RV("GetOperationState", f->C_GetOperationState(s, b, &n));
    RV("SetOperationState", f->C_SetOperationState(s, b, sizeof b, 0, 0));
    RV("SignRecoverInit", f->C_SignRecoverInit(s, &m, 1));
    RV("SignRecover", f->C_SignRecover(s, b, 8, b, &n));
    RV("VerifyRecoverInit", f->C_VerifyRecoverInit(s, &m, 1));
    RV("VerifyRecover", f->C_VerifyRecover(s, b, 8, b, &n));
    RV("DigestEncryptUpdate", f->C_DigestEncryptUpdate(s, b, 8, b, &n));
    RV("DecryptDigestUpdate", f->C_DecryptDigestUpdate(s, b, 8, b, &n));
    RV("SignEncryptUpdate", f->C_SignEncryptUpdate(s, b, 8, b, &n));
    RV("DecryptVerifyUpdate", f->C_DecryptVerifyUpdate(s, b, 8, b, &n));
    RV("WaitForSlotEvent", f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL));
    RV("SeedRandom", f->C_SeedRandom(s, b, 8));
    RV("InitToken", f->C_InitToken(slot, (CK_UTF8CHAR_PTR) "so:pin", 6, b));
    RV("InitToken_badslot", f->C_InitToken(slot + 999, (CK_UTF8CHAR_PTR) "so:pin", 6, b));
    RV("InitPIN", f->C_InitPIN(s, (CK_UTF8CHAR_PTR) "u:p", 3));
    RV("SetPIN", f->C_SetPIN(s, (CK_UTF8CHAR_PTR) "u:p", 3, (CK_UTF8CHAR_PTR) "u:q", 3));
    RV("SetPIN_badsession", f->C_SetPIN(s + 999, (CK_UTF8CHAR_PTR) "u:p", 3,
                                         (CK_UTF8CHAR_PTR) "u:q", 3));
    RV("GetFunctionStatus", f->C_GetFunctionStatus(s));
    RV("CancelFunction", f->C_CancelFunction(s));
    RV("LoginUser", f->C_LoginUser(s, CKU_USER, (CK_UTF8CHAR_PTR) "x", 1,
                                   (CK_UTF8CHAR_PTR) "u", 1));
    RV("SessionCancel", f->C_SessionCancel(s, 0));
    RV("MessageEncryptInit", f->C_MessageEncryptInit(s, &m, 1));
    RV("EncryptMessage", f->C_EncryptMessage(s, b, 8, b, 8, b, 8, b, &n));
    RV("EncryptMessageBegin", f->C_EncryptMessageBegin(s, b, 8, b, 8));
    RV("EncryptMessageNext", f->C_EncryptMessageNext(s, b, 8, b, 8, b, &n, 0));
    RV("MessageEncryptFinal", f->C_MessageEncryptFinal(s));
    RV("MessageDecryptInit", f->C_MessageDecryptInit(s, &m, 1));
    RV("DecryptMessage", f->C_DecryptMessage(s, b, 8, b, 8, b, 8, b, &n));
    RV("DecryptMessageBegin", f->C_DecryptMessageBegin(s, b, 8, b, 8));
    RV("DecryptMessageNext", f->C_DecryptMessageNext(s, b, 8, b, 8, b, &n, 0));
    RV("MessageDecryptFinal", f->C_MessageDecryptFinal(s));
    RV("MessageSignInit", f->C_MessageSignInit(s, &m, 1));
    RV("SignMessage", f->C_SignMessage(s, b, 8, b, 8, b, &n));
    RV("SignMessageBegin", f->C_SignMessageBegin(s, b, 8));
    RV("SignMessageNext", f->C_SignMessageNext(s, b, 8, b, 8, b, &n));
    RV("MessageSignFinal", f->C_MessageSignFinal(s));
    RV("MessageVerifyInit", f->C_MessageVerifyInit(s, &m, 1));
    RV("VerifyMessage", f->C_VerifyMessage(s, b, 8, b, 8, b, 8));
    RV("VerifyMessageBegin", f->C_VerifyMessageBegin(s, b, 8));
    RV("VerifyMessageNext", f->C_VerifyMessageNext(s, b, 8, b, 8, b, 8));
    RV("MessageVerifyFinal", f->C_MessageVerifyFinal(s));
#undef RV
    CK_SESSION_INFO si;
    CK_RV still = f->C_GetSessionInfo(s, &si);
    CK_RV fin = f->C_Finalize(NULL);
    printf(", \"session_after\": %lu, \"fin\": %lu}\n", still, fin);
    return 0;
}

/* ---- threads: signing from many threads, each with its own session ---- */

struct worker {
    pthread_t t;
    const char *pin, *label, *stop;
    unsigned long ops;
    unsigned long ok, fail;
    CK_RV first_err;
    atomic_int *started;
    /* label "@session": session keys of the logging-in session, shared by every thread */
    CK_OBJECT_HANDLE spriv, spub, saes;
};

/* An AES-GCM encryption (the module draws the IV) and its decryption, compared with msg. */
static CK_RV gcm_round_trip(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE aes, unsigned long n)
{
    CK_BYTE msg[300], ct[400], pt[400], iv[12] = {0};
    for (size_t i = 0; i < sizeof msg; i++) {
        msg[i] = (CK_BYTE)(n * 31u + i);
    }
    CK_GCM_PARAMS g = {iv, sizeof iv, 96, NULL, 0, 128};
    CK_MECHANISM m = {CKM_AES_GCM, &g, sizeof g};
    CK_ULONG cl = sizeof ct, pl = sizeof pt;
    CK_RV rv = F->C_EncryptInit(s, &m, aes);
    if (rv == CKR_OK) {
        rv = F->C_Encrypt(s, msg, sizeof msg, ct, &cl);
    }
    if (rv == CKR_OK) {
        rv = F->C_DecryptInit(s, &m, aes);
    }
    if (rv == CKR_OK) {
        rv = F->C_Decrypt(s, ct, cl, pt, &pl);
    }
    if (rv == CKR_OK && (pl != sizeof msg || memcmp(pt, msg, pl) != 0)) {
        rv = CKR_GENERAL_ERROR; /* a plaintext that is not the message: someone else's answer */
    }
    return rv;
}

/* An EC P-256 pair and an AES-256 key, all session objects of s. */
static CK_RV session_keys(CK_SESSION_HANDLE s, struct worker *tmpl)
{
    static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
    CK_ULONG len = 32;
    CK_ATTRIBUTE pub[] = {{CKA_TOKEN, &no, sizeof no},
                          {CKA_EC_PARAMS, p256, sizeof p256},
                          {CKA_VERIFY, &yes, sizeof yes}};
    CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &no, sizeof no}, {CKA_SIGN, &yes, sizeof yes}};
    CK_ATTRIBUTE aes[] = {{CKA_TOKEN, &no, sizeof no},
                          {CKA_VALUE_LEN, &len, sizeof len},
                          {CKA_ENCRYPT, &yes, sizeof yes},
                          {CKA_DECRYPT, &yes, sizeof yes}};
    CK_MECHANISM ec = {CKM_EC_KEY_PAIR_GEN, NULL, 0}, ak = {CKM_AES_KEY_GEN, NULL, 0};
    CK_RV rv = F->C_GenerateKeyPair(s, &ec, pub, 3, priv, 2, &tmpl->spub, &tmpl->spriv);
    if (rv == CKR_OK) {
        rv = F->C_GenerateKey(s, &ak, aes, 4, &tmpl->saes);
    }
    return rv;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    CK_SESSION_HANDLE s;
    CK_RV rv = F->C_OpenSession(first_slot(), CKF_SERIAL_SESSION, NULL, NULL, &s);
    if (rv != CKR_OK) {
        w->first_err = rv;
        w->fail++;
        atomic_fetch_add(w->started, 1);
        return NULL;
    }
    CK_OBJECT_HANDLE priv = w->spriv != 0 ? w->spriv : find_key(s, CKO_PRIVATE_KEY, w->label);
    CK_OBJECT_HANDLE pub = w->spub != 0 ? w->spub : find_key(s, CKO_PUBLIC_KEY, w->label);
    CK_MECHANISM_TYPE mt = sign_mech(s, priv);
    bool counted = false;
    double end = now() + 120.0;
    for (unsigned long i = 0; now() < end; i++) {
        rv = sign_verify(s, mt, priv, pub, i);
        if (rv == CKR_OK && w->saes != 0) {
            rv = gcm_round_trip(s, w->saes, i);
        }
        if (rv == CKR_OK) {
            w->ok++;
        } else {
            if (w->first_err == CKR_OK) {
                w->first_err = rv;
            }
            w->fail++;
        }
        if (!counted) {
            counted = true;
            atomic_fetch_add(w->started, 1);
        }
        struct stat sb;
        if (i + 1 >= w->ops && stat(w->stop, &sb) == 0) {
            break;
        }
    }
    (void)F->C_CloseSession(s);
    return NULL;
}

static int run_threads(const char *pin, const char *label, int n, unsigned long ops,
                       const char *stop)
{
    CK_SESSION_HANDLE s0;
    CK_RV rv = F->C_OpenSession(first_slot(), CKF_SERIAL_SESSION, NULL, NULL, &s0);
    if (rv == CKR_OK) {
        rv = login(s0, pin);
    }
    if (rv != CKR_OK) {
        printf("{\"error\": \"login\", \"rv\": %lu}\n", rv);
        return 1;
    }
    struct worker keys = {0};
    if (strcmp(label, "@session") == 0 && (rv = session_keys(s0, &keys)) != CKR_OK) {
        printf("{\"error\": \"session keys\", \"rv\": %lu}\n", rv);
        return 1;
    }
    atomic_int started = 0;
    struct worker *w = calloc((size_t)n, sizeof *w);
    for (int i = 0; i < n; i++) {
        w[i] = (struct worker){.pin = pin,
                               .label = label,
                               .stop = stop,
                               .ops = ops,
                               .started = &started,
                               .spriv = keys.spriv,
                               .spub = keys.spub,
                               .saes = keys.saes};
        pthread_create(&w[i].t, NULL, worker_main, &w[i]);
    }
    double t0 = now();
    while (atomic_load(&started) < n && now() - t0 < 60) {
        usleep(1000);
    }
    printf("started\n");
    fflush(stdout);
    unsigned long ok = 0, fail = 0;
    CK_RV first = CKR_OK;
    for (int i = 0; i < n; i++) {
        pthread_join(w[i].t, NULL);
        ok += w[i].ok;
        fail += w[i].fail;
        if (first == CKR_OK) {
            first = w[i].first_err;
        }
    }
    printf("{\"threads\": %d, \"ok\": %lu, \"fail\": %lu, \"first_error\": %lu, \"per_thread\": [",
           n, ok, fail, first);
    for (int i = 0; i < n; i++) {
        printf("%s%lu", i ? ", " : "", w[i].ok);
    }
    printf("]}\n");
    free(w);
    (void)F->C_CloseSession(s0);
    return 0;
}

static int mode_threads(const char *pin, const char *label, int n, unsigned long ops,
                        const char *stop)
{
    CK_C_INITIALIZE_ARGS a;
    memset(&a, 0, sizeof a);
    a.flags = CKF_OS_LOCKING_OK;
    if (F->C_Initialize(&a) != CKR_OK) {
        printf("{\"error\": \"C_Initialize\"}\n");
        return 1;
    }
    int r = run_threads(pin, label, n, ops, stop);
    (void)F->C_Finalize(NULL);
    return r;
}

/* ---- crosswrap: session keys made at once by many threads, used with each other ---- */

struct xw {
    pthread_t t;
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE key;
    CK_RV rv;
    pthread_barrier_t *bar;
    struct xw *next;
    unsigned long ok;
};

static CK_RV xw_gen(struct xw *w)
{
    CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
    CK_ULONG len = 32;
    CK_ATTRIBUTE t[] = {{CKA_TOKEN, &no, sizeof no},         {CKA_VALUE_LEN, &len, sizeof len},
                        {CKA_WRAP, &yes, sizeof yes},        {CKA_UNWRAP, &yes, sizeof yes},
                        {CKA_EXTRACTABLE, &yes, sizeof yes}, {CKA_SENSITIVE, &no, sizeof no}};
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    return F->C_GenerateKey(w->s, &m, t, sizeof t / sizeof t[0], &w->key);
}

/* Wraps `what` with `by` (RFC 3394): wrapping-class keys cannot encrypt, so keys are compared by
 * what they wrap. */
static CK_RV xw_wrap(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE by, CK_OBJECT_HANDLE what, CK_BYTE *out,
                     CK_ULONG *len)
{
    CK_MECHANISM m = {CKM_AES_KEY_WRAP, NULL, 0};
    return F->C_WrapKey(s, &m, by, what, out, len);
}

static void *xw_main(void *arg)
{
    struct xw *w = arg;
    w->rv = F->C_OpenSession(first_slot(), CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &w->s);
    pthread_barrier_wait(w->bar);
    if (w->rv == CKR_OK) {
        w->rv = xw_gen(w);
    }
    pthread_barrier_wait(w->bar); /* every key made */
    CK_BYTE a[64], b[64];
    CK_ULONG la = sizeof a, lb = sizeof b;
    CK_OBJECT_HANDLE copy = 0;
    CK_BBOOL no = CK_FALSE, yes = CK_TRUE; /* an unwrapped copy stays sensitive (Tookan rules) */
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ATTRIBUTE ut[] = {{CKA_CLASS, &cls, sizeof cls},       {CKA_KEY_TYPE, &kt, sizeof kt},
                         {CKA_TOKEN, &no, sizeof no},         {CKA_WRAP, &yes, sizeof yes},
                         {CKA_EXTRACTABLE, &yes, sizeof yes}, {CKA_SENSITIVE, &yes, sizeof yes}};
    CK_MECHANISM m = {CKM_AES_KEY_WRAP, NULL, 0};
    for (int i = 0; i < 20 && w->rv == CKR_OK && w->next->rv == CKR_OK; i++) {
        /* my key wraps the next thread's; the unwrapped copy must wrap my key to the same bytes
         * as the next thread's key does */
        la = sizeof a;
        lb = sizeof b;
        w->rv = xw_wrap(w->s, w->key, w->next->key, a, &la);
        if (w->rv == CKR_OK) {
            w->rv = F->C_UnwrapKey(w->s, &m, w->key, a, la, ut, sizeof ut / sizeof ut[0], &copy);
        }
        if (w->rv == CKR_OK) {
            la = sizeof a;
            w->rv = xw_wrap(w->s, copy, w->key, a, &la);
        }
        if (w->rv == CKR_OK) {
            w->rv = xw_wrap(w->s, w->next->key, w->key, b, &lb);
        }
        if (w->rv == CKR_OK && (la != lb || memcmp(a, b, la) != 0)) {
            w->rv = CKR_GENERAL_ERROR; /* the copy is not the same key */
        }
        if (copy != 0) {
            CK_RV d = F->C_DestroyObject(w->s, copy);
            w->rv = w->rv == CKR_OK ? d : w->rv;
            copy = 0;
        }
        w->ok += w->rv == CKR_OK;
    }
    pthread_barrier_wait(w->bar); /* nobody closes a session whose key another still uses */
    return NULL;
}

/* C_Initialize and a login in a session of its own (*s0) when the arguments are good; prints the
 * error and returns false otherwise. */
static bool init_login(bool args_ok, const char *pin, CK_SESSION_HANDLE *s0)
{
    if (!args_ok || F->C_Initialize(NULL) != CKR_OK) {
        printf("{\"error\": \"C_Initialize or arguments\"}\n");
        return false;
    }
    CK_RV rv = F->C_OpenSession(first_slot(), CKF_SERIAL_SESSION, NULL, NULL, s0);
    rv = rv == CKR_OK ? login(*s0, pin) : rv;
    if (rv != CKR_OK) {
        printf("{\"error\": \"login\", \"rv\": %lu}\n", rv);
        return false;
    }
    return true;
}

static int mode_crosswrap(const char *pin, int n)
{
    CK_SESSION_HANDLE s0;
    if (!init_login(n >= 2 && n <= 64, pin, &s0)) {
        return 1;
    }
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)n);
    struct xw *w = calloc((size_t)n, sizeof *w);
    for (int i = 0; i < n; i++) {
        w[i].bar = &bar;
        w[i].next = &w[(i + 1) % n];
    }
    for (int i = 0; i < n; i++) {
        pthread_create(&w[i].t, NULL, xw_main, &w[i]);
    }
    CK_RV first = CKR_OK;
    unsigned long ok = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(w[i].t, NULL);
        first = first == CKR_OK ? w[i].rv : first;
        ok += w[i].ok;
    }
    for (int i = 0; i < n; i++) {
        (void)F->C_CloseSession(w[i].s);
    }
    pthread_barrier_destroy(&bar);
    free(w);
    (void)F->C_CloseSession(s0);
    (void)F->C_Finalize(NULL);
    printf("{\"threads\": %d, \"ok\": %lu, \"first_error\": %lu}\n", n, ok, first);
    return 0;
}

/* ---- destroyrace: a destroyed session key is dead at once, for every session ---- */

#define DR_MAX 32

struct dr {
    pthread_t t;
    int id, rounds;
    CK_SESSION_HANDLE s;
    unsigned long ok, bad;
    char first_bad[160];
};

static _Atomic CK_OBJECT_HANDLE dr_last[DR_MAX]; /* each thread's last destroyed key */
static int dr_n;

static void dr_expect(struct dr *w, const char *what, CK_RV got, CK_RV want)
{
    if (got != want) {
        if (w->bad++ == 0) {
            snprintf(w->first_bad, sizeof w->first_bad, "thread %d: %s gave 0x%lx, not 0x%lx",
                     w->id, what, got, want);
        }
    }
}

static CK_RV dr_encrypt(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k)
{
    CK_MECHANISM m = {CKM_AES_ECB, NULL, 0};
    CK_BYTE in[16] = {1}, out[16];
    CK_ULONG ol = sizeof out;
    CK_RV rv = F->C_EncryptInit(s, &m, k);
    return rv == CKR_OK ? F->C_Encrypt(s, in, sizeof in, out, &ol) : rv;
}

static void *dr_main(void *arg)
{
    struct dr *w = arg;
    char label[32];
    snprintf(label, sizeof label, "destroyrace-%d", w->id);
    CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
    CK_ULONG len = 32;
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE t[] = {{CKA_TOKEN, &no, sizeof no},     {CKA_VALUE_LEN, &len, sizeof len},
                        {CKA_ENCRYPT, &yes, sizeof yes}, {CKA_DECRYPT, &yes, sizeof yes},
                        {CKA_LABEL, label, strlen(label)}};
    CK_ATTRIBUTE ft[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, label, strlen(label)}};
    CK_MECHANISM gm = {CKM_AES_KEY_GEN, NULL, 0};
    for (int r = 0; r < w->rounds; r++) {
        CK_OBJECT_HANDLE k = CK_INVALID_HANDLE, copy = CK_INVALID_HANDLE;
        CK_RV rv = F->C_GenerateKey(w->s, &gm, t, sizeof t / sizeof t[0], &k);
        dr_expect(w, "C_GenerateKey", rv, CKR_OK);
        dr_expect(w, "C_Encrypt before the destroy", dr_encrypt(w->s, k), CKR_OK);
        dr_expect(w, "C_DestroyObject", F->C_DestroyObject(w->s, k), CKR_OK);
        if (rv != CKR_OK) {
            break;
        }
        /* Dead at once, in this session and in the next thread's. */
        dr_expect(w, "C_EncryptInit after the destroy", dr_encrypt(w->s, k),
                  CKR_KEY_HANDLE_INVALID);
        CK_ATTRIBUTE a = {CKA_VALUE_LEN, &len, sizeof len};
        dr_expect(w, "C_GetAttributeValue after the destroy", F->C_GetAttributeValue(w->s, k, &a, 1),
                  CKR_OBJECT_HANDLE_INVALID);
        CK_ATTRIBUTE ca[] = {{CKA_LABEL, "copy", 4}};
        dr_expect(w, "C_CopyObject after the destroy", F->C_CopyObject(w->s, k, ca, 1, &copy),
                  CKR_OBJECT_HANDLE_INVALID);
        dr_expect(w, "C_DestroyObject again", F->C_DestroyObject(w->s, k),
                  CKR_OBJECT_HANDLE_INVALID);
        CK_OBJECT_HANDLE found[4];
        CK_ULONG nf = 0;
        rv = F->C_FindObjectsInit(w->s, ft, 2);
        if (rv == CKR_OK) {
            rv = F->C_FindObjects(w->s, found, 4, &nf);
            (void)F->C_FindObjectsFinal(w->s);
        }
        dr_expect(w, "C_FindObjects", rv, CKR_OK);
        dr_expect(w, "keys found by label after the destroy", nf, 0);
        atomic_store(&dr_last[w->id], k);
        /* Another thread's last destroyed key, through this session (another connection set). */
        CK_OBJECT_HANDLE o = atomic_load(&dr_last[(w->id + 1 + r) % dr_n]);
        if (o != CK_INVALID_HANDLE) {
            dr_expect(w, "C_EncryptInit of another thread's destroyed key", dr_encrypt(w->s, o),
                      CKR_KEY_HANDLE_INVALID);
        }
        w->ok++;
    }
    return NULL;
}

static int mode_destroyrace(const char *pin, int n, int rounds)
{
    CK_SESSION_HANDLE s0;
    if (!init_login(n >= 1 && n <= DR_MAX && rounds >= 1, pin, &s0)) {
        return 1;
    }
    dr_n = n;
    struct dr *w = calloc((size_t)n, sizeof *w);
    for (int i = 0; i < n; i++) {
        w[i].id = i;
        w[i].rounds = rounds;
        if (F->C_OpenSession(first_slot(), CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
                             &w[i].s) != CKR_OK) {
            printf("{\"error\": \"C_OpenSession\"}\n");
            return 1;
        }
    }
    for (int i = 0; i < n; i++) {
        pthread_create(&w[i].t, NULL, dr_main, &w[i]);
    }
    unsigned long ok = 0, bad = 0;
    const char *first = "";
    for (int i = 0; i < n; i++) {
        pthread_join(w[i].t, NULL);
        ok += w[i].ok;
        bad += w[i].bad;
        if (*first == '\0') {
            first = w[i].first_bad;
        }
    }
    for (int i = 0; i < n; i++) {
        (void)F->C_CloseSession(w[i].s);
    }
    (void)F->C_CloseSession(s0);
    CK_RV fin = F->C_Finalize(NULL);
    printf("{\"threads\": %d, \"ok\": %lu, \"bad\": %lu, \"first_bad\": \"%s\", \"fin\": %lu}\n",
           n, ok, bad, first, fin);
    free(w);
    return 0;
}

/* ---- fork ---- */

static CK_RV one_signature(const char *pin, const char *label, bool do_login)
{
    CK_SESSION_HANDLE s;
    CK_RV rv = F->C_OpenSession(first_slot(), CKF_SERIAL_SESSION, NULL, NULL, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    if (do_login && (rv = login(s, pin)) != CKR_OK) {
        return rv;
    }
    CK_OBJECT_HANDLE priv = find_key(s, CKO_PRIVATE_KEY, label);
    CK_OBJECT_HANDLE pub = find_key(s, CKO_PUBLIC_KEY, label);
    rv = sign_verify(s, sign_mech(s, priv), priv, pub, 7);
    (void)F->C_CloseSession(s);
    return rv;
}

static int mode_fork(const char *pin, const char *label)
{
    CK_RV init = F->C_Initialize(NULL);
    CK_SESSION_HANDLE keep;
    CK_RV rv = F->C_OpenSession(first_slot(), CKF_SERIAL_SESSION, NULL, NULL, &keep);
    CK_RV parent_before = rv == CKR_OK ? login(keep, pin) : rv;
    if (parent_before == CKR_OK) {
        parent_before = one_signature(pin, label, false);
    }
    int pfd[2];
    if (pipe(pfd) != 0) {
        return 2;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        CK_ULONG n = 0;
        CK_RV no_init = F->C_GetSlotList(CK_TRUE, NULL, &n);
        CK_RV no_init_sess = F->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &(CK_ULONG){0});
        CK_RV child_init = F->C_Initialize(NULL);
        CK_RV child_sign = child_init == CKR_OK ? one_signature(pin, label, true) : child_init;
        CK_RV child_fin = F->C_Finalize(NULL);
        char buf[256];
        int l = snprintf(buf, sizeof buf,
                         "\"child_no_init\": %lu, \"child_no_init_session\": %lu, "
                         "\"child_init\": %lu, \"child_sign\": %lu, \"child_fin\": %lu",
                         no_init, no_init_sess, child_init, child_sign, child_fin);
        if (write(pfd[1], buf, (size_t)l) != l) {
            _exit(3);
        }
        _exit(0);
    }
    close(pfd[1]);
    char cbuf[256] = "";
    ssize_t got = read(pfd[0], cbuf, sizeof cbuf - 1);
    cbuf[got > 0 ? got : 0] = '\0';
    int status = 0;
    waitpid(pid, &status, 0);
    /* The parent's sessions and login are untouched by the child. */
    CK_RV parent_after = one_signature(pin, label, false);
    (void)F->C_Finalize(NULL);
    printf("{\"init\": %lu, \"parent_before\": %lu, %s, \"child_exit\": %d, "
           "\"parent_after\": %lu}\n",
           init, parent_before, cbuf, WIFEXITED(status) ? WEXITSTATUS(status) : -1, parent_after);
    return 0;
}

/* ---- mutexes: the application's locking functions ---- */

static atomic_long n_create, n_destroy, n_lock, n_unlock;

static CK_RV app_create(CK_VOID_PTR_PTR m)
{
    pthread_mutex_t *mu = malloc(sizeof *mu);
    if (mu == NULL) {
        return CKR_HOST_MEMORY;
    }
    pthread_mutex_init(mu, NULL);
    *m = mu;
    atomic_fetch_add(&n_create, 1);
    return CKR_OK;
}
static CK_RV app_destroy(CK_VOID_PTR m)
{
    pthread_mutex_destroy(m);
    free(m);
    atomic_fetch_add(&n_destroy, 1);
    return CKR_OK;
}
static CK_RV app_lock(CK_VOID_PTR m)
{
    atomic_fetch_add(&n_lock, 1);
    return pthread_mutex_lock(m) == 0 ? CKR_OK : CKR_MUTEX_BAD;
}
static CK_RV app_unlock(CK_VOID_PTR m)
{
    atomic_fetch_add(&n_unlock, 1);
    return pthread_mutex_unlock(m) == 0 ? CKR_OK : CKR_MUTEX_NOT_LOCKED;
}

static int mode_mutexes(const char *pin, const char *label)
{
    CK_C_INITIALIZE_ARGS a;
    memset(&a, 0, sizeof a);
    a.CreateMutex = app_create;
    a.DestroyMutex = app_destroy;
    a.LockMutex = app_lock;
    a.UnlockMutex = app_unlock;
    CK_RV init = F->C_Initialize(&a);
    if (init != CKR_OK) {
        printf("{\"init\": %lu}\n", init);
        return 1;
    }
    /* A few sessions' worth of work; what matters is that the library locked with these. */
    CK_SESSION_HANDLE s0;
    CK_RV rv = F->C_OpenSession(first_slot(), CKF_SERIAL_SESSION, NULL, NULL, &s0);
    rv = rv == CKR_OK ? login(s0, pin) : rv;
    unsigned long ok = 0;
    for (int i = 0; i < 20 && rv == CKR_OK; i++) {
        CK_OBJECT_HANDLE priv = find_key(s0, CKO_PRIVATE_KEY, label);
        CK_OBJECT_HANDLE pub = find_key(s0, CKO_PUBLIC_KEY, label);
        rv = sign_verify(s0, sign_mech(s0, priv), priv, pub, (unsigned long)i);
        ok += rv == CKR_OK;
    }
    long created = atomic_load(&n_create);
    (void)F->C_CloseSession(s0);
    CK_RV fin = F->C_Finalize(NULL);
    printf("{\"init\": %lu, \"rv\": %lu, \"ok\": %lu, \"created\": %ld, \"destroyed\": %ld, "
           "\"locks\": %ld, \"unlocks\": %ld, \"fin\": %lu}\n",
           init, rv, ok, created, atomic_load(&n_destroy), atomic_load(&n_lock),
           atomic_load(&n_unlock), fin);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: p11_driver MODULE init|iface|unoffered|threads|crosswrap|destroyrace|fork|mutexes ...\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    load(argv[1]);
    const char *mode = argv[2];
    if (strcmp(mode, "init") == 0) {
        return mode_init();
    }
    if (strcmp(mode, "iface") == 0) {
        return mode_iface();
    }
    if (strcmp(mode, "unoffered") == 0) {
        return mode_unoffered();
    }
    if (strcmp(mode, "threads") == 0 && argc == 8) {
        return mode_threads(argv[3], argv[4], atoi(argv[5]), strtoul(argv[6], NULL, 10), argv[7]);
    }
    if (strcmp(mode, "crosswrap") == 0 && argc == 5) {
        return mode_crosswrap(argv[3], atoi(argv[4]));
    }
    if (strcmp(mode, "destroyrace") == 0 && argc == 6) {
        return mode_destroyrace(argv[3], atoi(argv[4]), atoi(argv[5]));
    }
    if (strcmp(mode, "fork") == 0 && argc == 5) {
        return mode_fork(argv[3], argv[4]);
    }
    if (strcmp(mode, "mutexes") == 0 && argc == 5) {
        return mode_mutexes(argv[3], argv[4]);
    }
    fprintf(stderr, "p11_driver: bad arguments\n");
    return 2;
}
