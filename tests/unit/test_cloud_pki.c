/* SPDX-License-Identifier: Apache-2.0
 * The local PKI: the CA and HSM certificate profiles, chain verification for 127.0.0.1 and
 * localhost, validity periods, and key files (0600, never over an existing file or a symlink). */
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
#include <openssl/evp.h>
#include <openssl/pem.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pki_null_args),
        cmocka_unit_test(test_pki_ca_profile),
        cmocka_unit_test(test_pki_hsm_profile),
        cmocka_unit_test_setup_teardown(test_pki_key_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pki_cert_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
