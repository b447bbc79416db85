/* SPDX-License-Identifier: Apache-2.0
 * The local PKI: the CA and HSM certificate profiles, chain verification for 127.0.0.1 and
 * localhost, validity periods, and key files (0600, never over an existing file or a symlink).
 * Issue 12: the identity roots, the first HSM's CSR and identity certificates (both chains, with
 * `openssl verify` as the guide runs it), InitializeCluster's checks (accepted and refused, each
 * reason), and TLS with the owner-signed v1 cluster certificate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cloud/files.h"
#include "cloud/pki.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/ohsm-pki-XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return ohsm_files_remove_tree(dir) == OHSM_OK ? 0 : -1;
}

/* Days between notBefore and notAfter. */
static int valid_days(X509 *x)
{
    int days = 0, secs = 0;
    assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)),
                     1);
    return days;
}

static int verify(X509 *ca, X509 *leaf, const char *ip, const char *host)
{
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_int_equal(X509_STORE_add_cert(st, ca), 1);
    assert_int_equal(X509_STORE_CTX_init(ctx, st, leaf, NULL), 1);
    X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_purpose(p, X509_PURPOSE_SSL_SERVER);
    if (ip != NULL) {
        X509_VERIFY_PARAM_set1_ip_asc(p, ip);
    }
    if (host != NULL) {
        X509_VERIFY_PARAM_set1_host(p, host, 0);
    }
    int ok = X509_verify_cert(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    return ok;
}

static void cn_of(X509 *x, char *out, int cap)
{
    assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, cap) > 0);
}

/* NULL inputs are refused. */
static void test_pki_null_args(void **state)
{
    (void)state;
    EVP_PKEY *k = NULL;
    X509 *x = NULL;
    assert_int_equal(ohsm_pki_keygen(NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_pki_keygen(&k), OHSM_OK);
    assert_int_equal(ohsm_pki_ca_cert(NULL, "cluster-aaaaaaaaaaa", &x), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_pki_ca_cert(k, NULL, &x), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_pki_ca_cert(k, "cluster-aaaaaaaaaaa", NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_pki_hsm_cert(k, "hsm-aaaaaaaaaaa", NULL, k, &x), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_pki_write_key(NULL, k), OHSM_ARGUMENTS_BAD);
    assert_null(x);
    EVP_PKEY_free(k);
}

/* The CA: P-256, self-signed, CN names the cluster, CA:TRUE critical, certSign+cRLSign only, an
 * SKI, ten years. */
static void test_pki_ca_profile(void **state)
{
    (void)state;
    EVP_PKEY *k = NULL;
    X509 *ca = NULL;
    char cn[128];
    assert_int_equal(ohsm_pki_keygen(&k), OHSM_OK);
    assert_true(EVP_PKEY_is_a(k, "EC"));
    char group[32];
    size_t glen = 0;
    assert_int_equal(EVP_PKEY_get_group_name(k, group, sizeof(group), &glen), 1);
    assert_string_equal(group, "prime256v1");
    assert_int_equal(ohsm_pki_ca_cert(k, "cluster-aaaaaaaaaaa", &ca), OHSM_OK);
    cn_of(ca, cn, sizeof(cn));
    assert_string_equal(cn, "openhsm local CA for cluster-aaaaaaaaaaa");
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(ca), X509_get_issuer_name(ca)), 0);
    assert_int_equal(X509_verify(ca, k), 1);
    assert_int_equal(X509_get_version(ca), X509_VERSION_3);
    assert_int_equal(X509_check_ca(ca), 1);
    int crit = -1;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(ca, NID_basic_constraints, &crit, NULL);
    assert_non_null(bc);
    assert_true(bc->ca);
    assert_int_equal(crit, 1);
    BASIC_CONSTRAINTS_free(bc);
    assert_int_equal(X509_get_key_usage(ca), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    assert_non_null(X509_get0_subject_key_id(ca));
    assert_true(valid_days(ca) >= 3650 && valid_days(ca) <= 3653);
    assert_true(ASN1_INTEGER_get(X509_get0_serialNumber(ca)) != 0);
    X509_free(ca);
    EVP_PKEY_free(k);
}

/* An HSM certificate verifies against its CA as a TLS server for 127.0.0.1 and localhost, not
 * for other names, not against another CA; CN is the HSM id; 2 years; AKI = CA's SKI. */
static void test_pki_hsm_profile(void **state)
{
    (void)state;
    EVP_PKEY *cak = NULL, *k = NULL, *otherk = NULL;
    X509 *ca = NULL, *x = NULL, *other = NULL;
    char cn[64];
    assert_int_equal(ohsm_pki_keygen(&cak), OHSM_OK);
    assert_int_equal(ohsm_pki_keygen(&k), OHSM_OK);
    assert_int_equal(ohsm_pki_keygen(&otherk), OHSM_OK);
    assert_int_equal(ohsm_pki_ca_cert(cak, "cluster-aaaaaaaaaaa", &ca), OHSM_OK);
    assert_int_equal(ohsm_pki_ca_cert(otherk, "cluster-bbbbbbbbbbb", &other), OHSM_OK);
    assert_int_equal(ohsm_pki_hsm_cert(k, "hsm-aaaaaaaaaaa", ca, cak, &x), OHSM_OK);
    cn_of(x, cn, sizeof(cn));
    assert_string_equal(cn, "hsm-aaaaaaaaaaa");
    assert_int_equal(verify(ca, x, "127.0.0.1", NULL), 1);
    assert_int_equal(verify(ca, x, NULL, "localhost"), 1);
    assert_int_equal(verify(ca, x, "127.0.0.2", NULL), 0);
    assert_int_equal(verify(ca, x, NULL, "example.com"), 0);
    assert_int_equal(verify(other, x, "127.0.0.1", NULL), 0);
    assert_int_equal(X509_check_ca(x), 0);
    assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
    assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER);
    assert_int_equal(
        ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x), X509_get0_subject_key_id(ca)), 0);
    assert_true(valid_days(x) >= 730 && valid_days(x) <= 731);
    EVP_PKEY *pub = X509_get0_pubkey(x);
    assert_int_equal(EVP_PKEY_eq(pub, k), 1);
    assert_int_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(x), X509_get0_serialNumber(ca)) != 0,
                     1);
    X509_free(x);
    X509_free(ca);
    X509_free(other);
    EVP_PKEY_free(k);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(otherk);
}

/* A key file is 0600 whatever the umask, reads back as the same key, and is never written over
 * an existing file or through a symlink. */
static void test_pki_key_file(void **state)
{
    (void)state;
    EVP_PKEY *k = NULL, *back = NULL;
    char path[128], link[128];
    struct stat st;
    snprintf(path, sizeof(path), "%s/hsm.key", dir);
    snprintf(link, sizeof(link), "%s/link.key", dir);
    assert_int_equal(ohsm_pki_keygen(&k), OHSM_OK);
    mode_t old = umask(0);
    assert_int_equal(ohsm_pki_write_key(path, k), OHSM_OK);
    umask(old);
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    back = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(back);
    assert_int_equal(EVP_PKEY_eq(k, back), 1);
    assert_int_equal(ohsm_pki_write_key(path, k), OHSM_IO);
    assert_int_equal(errno, EEXIST);
    assert_int_equal(symlink("/tmp/ohsm-pki-should-not-exist", link), 0);
    assert_int_equal(ohsm_pki_write_key(link, k), OHSM_IO);
    assert_int_equal(access("/tmp/ohsm-pki-should-not-exist", F_OK), -1);
    EVP_PKEY_free(back);
    EVP_PKEY_free(k);
}

/* A certificate file holds exactly the certificate, with the mode asked for. */
static void test_pki_cert_file(void **state)
{
    (void)state;
    EVP_PKEY *k = NULL;
    X509 *ca = NULL, *back = NULL;
    char path[128];
    struct stat st;
    snprintf(path, sizeof(path), "%s/customerCA.crt", dir);
    assert_int_equal(ohsm_pki_keygen(&k), OHSM_OK);
    assert_int_equal(ohsm_pki_ca_cert(k, "cluster-aaaaaaaaaaa", &ca), OHSM_OK);
    assert_int_equal(ohsm_pki_write_cert(path, ca, 0644), OHSM_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    FILE *f = fopen(path, "r");
    back = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(back);
    assert_int_equal(X509_cmp(ca, back), 0);
    assert_int_equal(ohsm_pki_write_cert(path, ca, 0644), OHSM_IO);
    X509_free(back);
    X509_free(ca);
    EVP_PKEY_free(k);
}

/* ==== issue 12: the identity certificates and InitializeCluster's checks ==== */

static EVP_PKEY *rsa(int bits)
{
    EVP_PKEY *k = EVP_RSA_gen((unsigned)bits);
    assert_non_null(k);
    return k;
}

static EVP_PKEY *ec(const char *curve)
{
    EVP_PKEY *k = EVP_EC_gen(curve);
    assert_non_null(k);
    return k;
}

static void rand_serial(X509 *x)
{
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0x7fffffff) + 1),
                     1);
}

/* A self-signed CA like `openssl req -new -x509 -days 3652` makes (OpenSSL 3's v3_ca section:
 * SKI, AKI, basicConstraints critical CA:TRUE), or with the given extensions only (exts NULL:
 * a v1 certificate without extensions). */
static X509 *make_ca(EVP_PKEY *k, const char *cn, const char *const *exts)
{
    static const char *const v3_ca[] = {"subjectKeyIdentifier",
                                        "hash",
                                        "authorityKeyIdentifier",
                                        "keyid:always",
                                        "basicConstraints",
                                        "critical,CA:true",
                                        NULL};
    X509 *x = X509_new();
    X509V3_CTX ctx;
    if (exts == (const char *const *)1) {
        exts = v3_ca;
    }
    assert_int_equal(X509_set_version(x, exts != NULL ? X509_VERSION_3 : X509_VERSION_1), 1);
    rand_serial(x);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 3652, 0, NULL));
    assert_int_equal(X509_set_pubkey(x, k), 1);
    X509_NAME *n = X509_get_subject_name(x);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0),
        1);
    assert_int_equal(X509_set_issuer_name(x, n), 1);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    for (size_t i = 0; exts != NULL && exts[i] != NULL; i += 2) {
        X509_EXTENSION *e = X509V3_EXT_conf(NULL, &ctx, exts[i], exts[i + 1]);
        assert_non_null(e);
        assert_int_equal(X509_add_ext(x, e, -1), 1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    return x;
}
#define V3_CA ((const char *const *)1)

/* What `openssl x509 -req -days N -in csr -CA ca -CAkey key` does on OpenSSL 3.0: a v1
 * certificate of the CSR's subject and key, no extensions, issued by ca; validity from
 * `from_days` (relative to now) for `days`. */
static X509 *sign_req(X509_REQ *req, X509 *ca, EVP_PKEY *ca_key, long from_days, int days)
{
    X509 *x = X509_new();
    assert_int_equal(X509_set_version(x, X509_VERSION_1), 1);
    rand_serial(x);
    assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), (int)from_days, 0, NULL));
    assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), (int)from_days + days, 0, NULL));
    assert_int_equal(X509_set_subject_name(x, X509_REQ_get_subject_name(req)), 1);
    assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(ca)), 1);
    assert_int_equal(X509_set_pubkey(x, X509_REQ_get0_pubkey(req)), 1);
    assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
    return x;
}

static char *pem_of(X509 *x)
{
    char *s = NULL;
    assert_int_equal(ohsm_pki_cert_pem(x, &s), OHSM_OK);
    return s;
}

static void write_pem(const char *name, const char *a, const char *b)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(a, f);
    if (b != NULL) {
        fputs(b, f);
    }
    fclose(f);
}

static int openssl_verify(const char *chain, const char *leaf)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "openssl verify -CAfile %s/%s %s/%s >/dev/null 2>&1", dir, chain,
             dir, leaf);
    return system(cmd);
}

/* Loads (making when missing) the roots in dir/private and dir/pki. */
static void roots_open(struct ohsm_pki_roots *r)
{
    char kd[96], cd[96];
    snprintf(kd, sizeof(kd), "%s/private", dir);
    snprintf(cd, sizeof(cd), "%s/pki", dir);
    (void)mkdir(kd, 0700);
    (void)mkdir(cd, 0700);
    assert_int_equal(ohsm_pki_roots_open(kd, cd, r), OHSM_OK);
}

/* The roots are made once (keys 0600 in the private dir, certificates 0644) and loaded as they
 * are afterwards; a lost key means a new root; a key others can read is refused. */
static void test_pki_roots(void **state)
{
    (void)state;
    struct ohsm_pki_roots a, b;
    struct stat st;
    char p[128];

    roots_open(&a);
    snprintf(p, sizeof(p), "%s/private/" OHSM_PKI_MFR_ROOT ".key", dir);
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(p, sizeof(p), "%s/pki/" OHSM_PKI_HW_ROOT ".crt", dir);
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(X509_check_ca(a.mfr), 1);
    assert_int_equal(X509_verify(a.hw, a.hw_key), 1);
    assert_int_not_equal(X509_NAME_cmp(X509_get_subject_name(a.mfr), X509_get_subject_name(a.hw)),
                         0);
    roots_open(&b);
    assert_int_equal(X509_cmp(a.mfr, b.mfr), 0);
    assert_int_equal(X509_cmp(a.hw, b.hw), 0);
    assert_int_equal(EVP_PKEY_eq(a.hw_key, b.hw_key), 1);
    ohsm_pki_roots_clear(&b);

    snprintf(p, sizeof(p), "%s/private/" OHSM_PKI_HW_ROOT ".key", dir);
    assert_int_equal(unlink(p), 0);
    roots_open(&b);
    assert_int_not_equal(X509_cmp(a.hw, b.hw), 0); /* new key, new certificate */
    assert_int_equal(X509_cmp(a.mfr, b.mfr), 0);
    assert_int_equal(X509_verify(b.hw, b.hw_key), 1);
    ohsm_pki_roots_clear(&b);
    assert_int_equal(chmod(p, 0644), 0);
    char kd[96], cd[96];
    snprintf(kd, sizeof(kd), "%s/private", dir);
    snprintf(cd, sizeof(cd), "%s/pki", dir);
    assert_int_equal(ohsm_pki_roots_open(kd, cd, &b), OHSM_ACCESS_DENIED);
    assert_null(b.hw_key);
    ohsm_pki_roots_clear(&a);
    ohsm_pki_roots_clear(NULL);
}

/* The first HSM's identity: an RSA-2048 cluster key, a CSR with CloudHSM's subject signed by it,
 * and HsmCertificate (the same key) verifying through both hardware certificates to their roots,
 * with the guide's `openssl verify -CAfile <root + hardware cert>` too; not through the other
 * root. */
static void test_pki_identity(void **state)
{
    (void)state;
    struct ohsm_pki_roots r;
    struct ohsm_pki_identity id;
    char subj[256];
    char *csr = NULL;

    roots_open(&r);
    assert_int_equal(ohsm_pki_hsm_identity(&r, "has space", 1, &id), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_pki_hsm_identity(&r, "", 1, &id), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_pki_hsm_identity(NULL, "hsm-abc", 1, &id), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_pki_hsm_identity(&r, "hsm-abcdefghijk", 1, &id), OHSM_OK);
    assert_true(EVP_PKEY_is_a(id.cluster_key, "RSA"));
    assert_int_equal(EVP_PKEY_get_bits(id.cluster_key), 2048);
    assert_int_equal(X509_REQ_verify(id.csr, id.cluster_key), 1);
    assert_int_equal(X509_REQ_get_version(id.csr), X509_REQ_VERSION_1);
    BIO *b = BIO_new(BIO_s_mem());
    X509_NAME_print_ex(b, X509_REQ_get_subject_name(id.csr), 0,
                       XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
    int n = BIO_read(b, subj, sizeof(subj) - 1);
    subj[n > 0 ? n : 0] = '\0';
    BIO_free(b);
    assert_string_equal(subj, "C = US, ST = CA, O = Cavium, OU = N3FIPS, L = SanJose, CN = "
                              "\"HSM:hsm-abcdefghijk:PARTN:1, for FIPS mode\"");
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(id.hsm_cert), X509_REQ_get0_pubkey(id.csr)), 1);
    assert_int_equal(
        X509_NAME_cmp(X509_get_subject_name(id.hsm_cert), X509_REQ_get_subject_name(id.csr)), 0);
    assert_int_equal(
        EVP_PKEY_eq(X509_get0_pubkey(id.aws_hw_cert), X509_get0_pubkey(id.mfr_hw_cert)), 1);
    assert_int_equal(X509_verify(id.aws_hw_cert, r.hw_key), 1);
    assert_int_equal(X509_verify(id.mfr_hw_cert, r.mfr_key), 1);

    char *root_hw = pem_of(r.hw), *root_mfr = pem_of(r.mfr), *aws = pem_of(id.aws_hw_cert),
         *mfr = pem_of(id.mfr_hw_cert), *hsm = pem_of(id.hsm_cert);
    write_pem("aws_chain.crt", root_hw, aws);
    write_pem("mfr_chain.crt", root_mfr, mfr);
    write_pem("wrong_chain.crt", root_hw, mfr);
    write_pem("HsmCertificate.crt", hsm, NULL);
    assert_int_equal(openssl_verify("aws_chain.crt", "HsmCertificate.crt"), 0);
    assert_int_equal(openssl_verify("mfr_chain.crt", "HsmCertificate.crt"), 0);
    assert_int_not_equal(openssl_verify("wrong_chain.crt", "HsmCertificate.crt"), 0);
    assert_int_equal(ohsm_pki_csr_pem(id.csr, &csr), OHSM_OK);
    assert_non_null(strstr(csr, "-----BEGIN CERTIFICATE REQUEST-----"));
    free(csr);
    free(root_hw);
    free(root_mfr);
    free(aws);
    free(mfr);
    free(hsm);
    ohsm_pki_identity_clear(&id);
    assert_null(id.cluster_key);
    ohsm_pki_roots_clear(&r);
}

/* A cluster's CSR (and key) for the checks, without the roots' cost each time. */
static void cluster_csr(EVP_PKEY **key, X509_REQ **req, char **pem)
{
    *key = rsa(2048);
    *req = X509_REQ_new();
    X509_NAME *n = X509_REQ_get_subject_name(*req);
    assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                                                (const unsigned char *)"HSM:hsm-x:PARTN:1", -1, -1,
                                                0),
                     1);
    assert_int_equal(X509_REQ_set_pubkey(*req, *key), 1);
    assert_true(X509_REQ_sign(*req, *key, EVP_sha256()) > 0);
    assert_int_equal(ohsm_pki_csr_pem(*req, pem), OHSM_OK);
}

static void expect(const char *csr, X509 *sc, X509 *ta, ohsm_rv want, const char *reason)
{
    char why[256];
    char *a = pem_of(sc), *b = pem_of(ta);
    assert_int_equal(ohsm_pki_check_init(csr, a, b, why, sizeof(why)), want);
    if (reason != NULL && strstr(why, reason) == NULL) {
        fail_msg("reason \"%s\" lacks \"%s\"", why, reason);
    }
    free(a);
    free(b);
}

/* The guide's way: a CA made like `openssl req -new -x509` signs the CSR like `openssl x509
 * -req` (v1, no extensions): accepted; so are a v1 anchor without extensions and RSA 4096 /
 * EC P-256 / EC P-384 anchors. */
static void test_pki_check_init_accepts(void **state)
{
    (void)state;
    EVP_PKEY *ck = NULL;
    X509_REQ *req = NULL;
    char *csr = NULL;
    cluster_csr(&ck, &req, &csr);

    EVP_PKEY *keys[] = {rsa(2048), rsa(4096), ec("P-256"), ec("P-384")};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        X509 *ca = make_ca(keys[i], "customerCA", V3_CA);
        X509 *sc = sign_req(req, ca, keys[i], 0, 3652);
        assert_int_equal(X509_get_version(sc), X509_VERSION_1);
        assert_int_equal(X509_get_ext_count(sc), 0);
        expect(csr, sc, ca, OHSM_OK, "");
        X509_free(sc);
        X509_free(ca);
    }
    X509 *v1 = make_ca(keys[0], "customerCA v1", NULL);
    X509 *sc = sign_req(req, v1, keys[0], 0, 3652);
    expect(csr, sc, v1, OHSM_OK, "");
    X509_free(sc);
    X509_free(v1);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        EVP_PKEY_free(keys[i]);
    }
    X509_REQ_free(req);
    EVP_PKEY_free(ck);
    free(csr);
}

/* Refused, each with its reason: another CA's signature, a certificate of another key, an anchor
 * that is not self-signed, an anchor with extensions but no basicConstraints or with CA:FALSE or
 * with a keyUsage without keyCertSign, an RSA-1024 anchor, an expired or not yet valid
 * certificate or anchor, garbage, empty and oversize PEM. */
static void test_pki_check_init_refusals(void **state)
{
    (void)state;
    EVP_PKEY *ck = NULL, *ck2 = NULL;
    X509_REQ *req = NULL, *req2 = NULL;
    char *csr = NULL, *csr2 = NULL;
    char why[256];
    cluster_csr(&ck, &req, &csr);
    cluster_csr(&ck2, &req2, &csr2);
    EVP_PKEY *k1 = rsa(2048), *k2 = rsa(2048);
    X509 *ca = make_ca(k1, "customerCA", V3_CA);
    X509 *other = make_ca(k2, "otherCA", V3_CA);
    X509 *good = sign_req(req, ca, k1, 0, 3652);

    X509 *by_other = sign_req(req, other, k2, 0, 3652);
    expect(csr, by_other, ca, OHSM_DATA_INVALID, "SignedCert does not verify against TrustAnchor");
    X509 *other_key = sign_req(req2, ca, k1, 0, 3652);
    expect(csr, other_key, ca, OHSM_DATA_INVALID, "public key differs");
    /* An intermediate (issued by ca) as the anchor: not self-signed. */
    X509_REQ *ireq = X509_REQ_new();
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(ireq), "CN", MBSTRING_UTF8,
                               (const unsigned char *)"intermediate", -1, -1, 0);
    X509_REQ_set_pubkey(ireq, k2);
    X509 *inter = sign_req(ireq, ca, k1, 0, 3652);
    X509 *by_inter = sign_req(req, inter, k2, 0, 3652);
    expect(csr, by_inter, inter, OHSM_DATA_INVALID, "TrustAnchor is not self-signed");
    /* Same name as its subject but signed by another key: not self-signed either. */
    X509 *forged = make_ca(k1, "customerCA", V3_CA);
    assert_true(X509_sign(forged, k2, EVP_sha256()) > 0);
    expect(csr, good, forged, OHSM_DATA_INVALID, "TrustAnchor is not self-signed");

    static const char *const no_bc[] = {"subjectKeyIdentifier", "hash", NULL};
    static const char *const bc_false[] = {"basicConstraints", "critical,CA:false", NULL};
    static const char *const ku_conflict[] = {"basicConstraints", "critical,CA:true", "keyUsage",
                                              "digitalSignature", NULL};
    X509 *a1 = make_ca(k1, "customerCA", no_bc), *s1 = sign_req(req, a1, k1, 0, 3652);
    expect(csr, s1, a1, OHSM_DATA_INVALID, "no basicConstraints");
    X509 *a2 = make_ca(k1, "customerCA", bc_false), *s2 = sign_req(req, a2, k1, 0, 3652);
    expect(csr, s2, a2, OHSM_DATA_INVALID, "basicConstraints is not CA:TRUE");
    X509 *a3 = make_ca(k1, "customerCA", ku_conflict), *s3 = sign_req(req, a3, k1, 0, 3652);
    expect(csr, s3, a3, OHSM_DATA_INVALID, "keyCertSign");
    EVP_PKEY *small = rsa(1024);
    X509 *a4 = make_ca(small, "customerCA", V3_CA), *s4 = sign_req(req, a4, small, 0, 3652);
    expect(csr, s4, a4, OHSM_DATA_INVALID, "TrustAnchor's key is RSA 1024");

    X509 *expired = sign_req(req, ca, k1, -30, 10);
    expect(csr, expired, ca, OHSM_DATA_INVALID, "SignedCert has expired");
    X509 *future = sign_req(req, ca, k1, 2, 10);
    expect(csr, future, ca, OHSM_DATA_INVALID, "SignedCert is not yet valid");
    X509 *old_ca = make_ca(k1, "customerCA", V3_CA);
    assert_non_null(X509_time_adj_ex(X509_getm_notBefore(old_ca), -30, 0, NULL));
    assert_non_null(X509_time_adj_ex(X509_getm_notAfter(old_ca), -1, 0, NULL));
    assert_true(X509_sign(old_ca, k1, EVP_sha256()) > 0);
    expect(csr, good, old_ca, OHSM_DATA_INVALID, "TrustAnchor has expired");
    expect(csr, good, ca, OHSM_OK, "");

    char *g = pem_of(good), *t = pem_of(ca);
    const char *garbage =
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n";
    assert_int_equal(ohsm_pki_check_init(csr, garbage, t, why, sizeof(why)), OHSM_DATA_INVALID);
    assert_string_equal(why, "SignedCert is not a PEM certificate");
    assert_int_equal(ohsm_pki_check_init(csr, g, "hello", why, sizeof(why)), OHSM_DATA_INVALID);
    assert_string_equal(why, "TrustAnchor is not a PEM certificate");
    assert_int_equal(ohsm_pki_check_init(csr, "", t, why, sizeof(why)), OHSM_DATA_INVALID);
    assert_string_equal(why, "SignedCert must be 1 to 20000 characters");
    char *big = malloc(OHSM_PKI_CERT_MAX + 2);
    memset(big, 'A', OHSM_PKI_CERT_MAX + 1);
    big[OHSM_PKI_CERT_MAX + 1] = '\0';
    assert_int_equal(ohsm_pki_check_init(csr, g, big, why, sizeof(why)), OHSM_DATA_INVALID);
    assert_string_equal(why, "TrustAnchor must be 1 to 20000 characters");
    assert_int_equal(ohsm_pki_check_init(NULL, g, t, why, sizeof(why)), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_pki_check_init(csr, g, t, NULL, 0), OHSM_OK);
    free(big);
    free(g);
    free(t);

    X509 *certs[] = {ca, other, good, by_other, other_key, inter, by_inter, forged, a1,    s1,
                     a2, s2,    a3,   s3,       a4,        s4,    expired,  future, old_ca};
    for (size_t i = 0; i < sizeof(certs) / sizeof(certs[0]); i++) {
        X509_free(certs[i]);
    }
    X509_REQ_free(ireq);
    X509_REQ_free(req);
    X509_REQ_free(req2);
    EVP_PKEY_free(ck);
    EVP_PKEY_free(ck2);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    EVP_PKEY_free(small);
    free(csr);
    free(csr2);
}

/* Drives a handshake over a BIO pair, at most 100 rounds. 1 when both ends finished. */
static int handshake(SSL *c, SSL *s)
{
    int cdone = 0, sdone = 0;
    for (int i = 0; i < 100 && !(cdone && sdone); i++) {
        if (!cdone) {
            int r = SSL_do_handshake(c);
            if (r == 1) {
                cdone = 1;
            } else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ) {
                return 0;
            }
        }
        if (!sdone) {
            int r = SSL_do_handshake(s);
            if (r == 1) {
                sdone = 1;
            } else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ) {
                return 0;
            }
        }
    }
    return cdone && sdone;
}

static int tls_with(EVP_PKEY *key, X509 *cert, X509 *trusted, long *verify)
{
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    assert_int_equal(SSL_CTX_use_certificate(sctx, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(sctx, key), 1);
    assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), trusted), 1);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
    SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
    BIO *cb = NULL, *sb = NULL;
    assert_int_equal(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    int ok = handshake(c, s);
    *verify = SSL_get_verify_result(c);
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    ERR_clear_error();
    return ok;
}

/* After InitializeCluster: an HSM presenting the cluster key and the owner-signed v1 certificate
 * is verified by a client that trusts only the trust anchor; a client trusting another CA
 * refuses it. */
static void test_pki_tls_with_cluster_cert(void **state)
{
    (void)state;
    EVP_PKEY *ck = NULL;
    X509_REQ *req = NULL;
    char *csr = NULL;
    long verify = -1;
    cluster_csr(&ck, &req, &csr);
    EVP_PKEY *k1 = rsa(2048), *k2 = ec("P-256");
    X509 *ca = make_ca(k1, "customerCA", V3_CA);
    X509 *other = make_ca(k2, "otherCA", V3_CA);
    X509 *sc = sign_req(req, ca, k1, 0, 3652);
    expect(csr, sc, ca, OHSM_OK, "");
    assert_int_equal(tls_with(ck, sc, ca, &verify), 1);
    assert_int_equal(verify, X509_V_OK);
    assert_int_equal(tls_with(ck, sc, other, &verify), 0);
    assert_int_not_equal(verify, X509_V_OK);
    X509_free(ca);
    X509_free(other);
    X509_free(sc);
    X509_REQ_free(req);
    EVP_PKEY_free(ck);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    free(csr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pki_null_args),
        cmocka_unit_test(test_pki_ca_profile),
        cmocka_unit_test(test_pki_hsm_profile),
        cmocka_unit_test_setup_teardown(test_pki_key_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pki_cert_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pki_roots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pki_identity, setup, teardown),
        cmocka_unit_test(test_pki_check_init_accepts),
        cmocka_unit_test(test_pki_check_init_refusals),
        cmocka_unit_test(test_pki_tls_with_cluster_cert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
