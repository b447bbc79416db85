/* SPDX-License-Identifier: Apache-2.0
 * Cluster creation: the files layout and modes, certificates chaining to the cluster CA, the
 * appliance user's password file, distinct ports, client.json's exact shape, metadata rows, and
 * that a failed creation leaves neither rows nor a cluster directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cloud/files.h"
#include "cloud/ids.h"
#include "cloud/meta.h"
#include "cloud/provision.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/ohsm-prov-XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return ohsm_files_remove_tree(dir) == OHSM_OK ? 0 : -1;
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & 07777;
}

static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

static struct ohsm_meta *open_meta(void)
{
    char db[128];
    struct ohsm_meta *m = NULL;
    snprintf(db, sizeof(db), "%s/openhsmd.db", dir);
    assert_int_equal(ohsm_meta_open(db, &m), OHSM_OK);
    return m;
}

/* Out-of-range HSM counts and lockouts are refused and create nothing. */
static void test_provision_bad_args(void **state)
{
    (void)state;
    struct ohsm_meta *m = open_meta();
    char cid[OHSM_IDS_MAX], err[256], path[128];
    assert_int_equal(ohsm_provision_cluster(m, dir, 0, 5, cid, err, sizeof(err)),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_provision_cluster(m, dir, 29, 5, cid, err, sizeof(err)),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_provision_cluster(m, dir, 2, 0, cid, err, sizeof(err)),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_provision_cluster(m, dir, 2, 101, cid, err, sizeof(err)),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_provision_cluster(NULL, dir, 2, 5, cid, err, sizeof(err)),
                     OHSM_ARGUMENTS_BAD);
    snprintf(path, sizeof(path), "%s/clusters", dir);
    assert_int_equal(access(path, F_OK), -1);
    ohsm_meta_close(m);
}

/* A 3-HSM cluster: every file where the layout says, with its mode; every HSM certificate
 * verifies against customerCA.crt for 127.0.0.1; ports distinct; rows match. */
static void test_provision_layout(void **state)
{
    (void)state;
    struct ohsm_meta *m = open_meta();
    char cid[OHSM_IDS_MAX], err[256], cdir[256], p[512];
    struct ohsm_meta_cluster *cs = NULL;
    struct ohsm_meta_hsm *hs = NULL;
    size_t nc = 0, nh = 0;

    assert_int_equal(ohsm_provision_cluster(m, dir, 3, 7, cid, err, sizeof(err)), OHSM_OK);
    assert_true(ohsm_ids_valid(OHSM_IDS_CLUSTER_PREFIX, cid));
    assert_int_equal(ohsm_provision_cluster_dir(dir, cid, cdir, sizeof(cdir)), OHSM_OK);
    assert_int_equal(mode_of(cdir), 0700);
    /* The CA key is openhsmd's alone: in DIR/private/<cid>, never in the cluster directory. */
    snprintf(p, sizeof(p), "%s/customerCA.key", cdir);
    assert_int_equal(access(p, F_OK), -1);
    snprintf(p, sizeof(p), "%s/private", dir);
    assert_int_equal(mode_of(p), 0700);
    snprintf(p, sizeof(p), "%s/private/%s", dir, cid);
    assert_int_equal(mode_of(p), 0700);
    snprintf(p, sizeof(p), "%s/private/%s/customerCA.key", dir, cid);
    assert_int_equal(mode_of(p), 0600);
    snprintf(p, sizeof(p), "%s/app_user.secret", cdir);
    assert_int_equal(mode_of(p), 0600);
    char pw[64] = "";
    FILE *f = fopen(p, "r");
    assert_non_null(fgets(pw, sizeof(pw), f));
    assert_null(fgets(pw + 40, 8, f)); /* a single line */
    fclose(f);
    assert_int_equal(strlen(pw), 25);
    assert_int_equal(pw[24], '\n');
    /* The cluster masking key: 32 bytes, private; a second call keeps it. */
    snprintf(p, sizeof(p), "%s/masking.key", cdir);
    assert_int_equal(mode_of(p), 0600);
    struct stat mst;
    assert_int_equal(stat(p, &mst), 0);
    assert_int_equal(mst.st_size, 32);
    assert_int_equal(ohsm_provision_masking_key(cdir), OHSM_OK);
    assert_int_equal(stat(p, &mst), 0);
    assert_int_equal(mst.st_size, 32);

    snprintf(p, sizeof(p), "%s/customerCA.crt", cdir);
    X509 *ca = read_cert(p);
    X509_STORE *store = X509_STORE_new();
    assert_int_equal(X509_STORE_add_cert(store, ca), 1);

    assert_int_equal(ohsm_meta_cluster_list(m, &cs, &nc), OHSM_OK);
    assert_int_equal(nc, 1);
    assert_string_equal(cs[0].id, cid);
    assert_int_equal(cs[0].lockout_attempts, 7);
    assert_int_equal(cs[0].state, OHSM_CS_INITIALIZED);
    assert_int_equal(ohsm_meta_hsm_list(m, cid, &hs, &nh), OHSM_OK);
    assert_int_equal(nh, 3);
    for (size_t i = 0; i < nh; i++) {
        char hdir[256];
        assert_int_equal(hs[i].seq, i);
        assert_string_equal(hs[i].host, "127.0.0.1");
        for (size_t k = 0; k < i; k++) {
            assert_int_not_equal(hs[i].port, hs[k].port);
        }
        assert_int_equal(ohsm_provision_hsm_dir(dir, cid, hs[i].id, hdir, sizeof(hdir)), OHSM_OK);
        snprintf(p, sizeof(p), "%s/hsm.key", hdir);
        assert_int_equal(mode_of(p), 0600);
        snprintf(p, sizeof(p), "%s/hsm.crt", hdir);
        X509 *x = read_cert(p);
        X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        assert_int_equal(X509_STORE_CTX_init(ctx, store, x, NULL), 1);
        X509_VERIFY_PARAM_set1_ip_asc(X509_STORE_CTX_get0_param(ctx), "127.0.0.1");
        assert_int_equal(X509_verify_cert(ctx), 1);
        X509_STORE_CTX_free(ctx);
        X509_free(x);
    }
    X509_STORE_free(store);
    X509_free(ca);
    free(cs);
    free(hs);
    ohsm_meta_close(m);
}

/* client.json has exactly the keys of the spec, in order, and the HSMs in seq order. */
static void test_provision_client_json(void **state)
{
    (void)state;
    struct ohsm_meta *m = open_meta();
    char cid[OHSM_IDS_MAX], err[256], path[512];
    struct ohsm_meta_hsm *hs = NULL;
    size_t nh = 0;
    json_error_t je;

    assert_int_equal(ohsm_provision_cluster(m, dir, 2, 5, cid, err, sizeof(err)), OHSM_OK);
    assert_int_equal(ohsm_provision_client_json(m, dir, cid, path, sizeof(path)), OHSM_OK);
    assert_int_equal(mode_of(path), 0644);
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    assert_non_null(root);
    assert_int_equal(json_object_size(root), 4);
    const char *keys[] = {"cluster_id", "trust_anchor", "timeout_ms", "hsms"};
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        assert_string_equal(key, keys[k++]);
    }
    assert_string_equal(json_string_value(json_object_get(root, "cluster_id")), cid);
    assert_string_equal(json_string_value(json_object_get(root, "trust_anchor")), "customerCA.crt");
    assert_int_equal(json_integer_value(json_object_get(root, "timeout_ms")), 5000);
    json_t *arr = json_object_get(root, "hsms");
    assert_int_equal(ohsm_meta_hsm_list(m, cid, &hs, &nh), OHSM_OK);
    assert_int_equal(json_array_size(arr), nh);
    for (size_t i = 0; i < nh; i++) {
        json_t *h = json_array_get(arr, i);
        assert_int_equal(json_object_size(h), 3);
        assert_string_equal(json_string_value(json_object_get(h, "id")), hs[i].id);
        assert_string_equal(json_string_value(json_object_get(h, "host")), "127.0.0.1");
        assert_int_equal(json_integer_value(json_object_get(h, "port")), hs[i].port);
    }
    json_decref(root);
    /* 2-space indentation, one trailing newline. */
    char text[2048];
    FILE *f = fopen(path, "r");
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_true(strncmp(text, "{\n  \"cluster_id\": \"", 19) == 0);
    assert_non_null(strstr(text, "\n    {\n      \"id\": \"hsm-"));
    assert_string_equal(text + n - 2, "}\n");
    free(hs);
    ohsm_meta_close(m);
}

/* When creation fails half-way (DIR/clusters/<id>/hsms cannot be made because "clusters" is
 * unusable here), no rows exist and no cluster directory is left. */
static void test_provision_failure_leaves_nothing(void **state)
{
    (void)state;
    struct ohsm_meta *m = open_meta();
    char cid[OHSM_IDS_MAX] = "", err[256], path[128];
    struct ohsm_meta_cluster *cs = NULL;
    size_t nc = 9;
    snprintf(path, sizeof(path), "%s/clusters", dir);
    assert_int_equal(ohsm_files_write_new(path, "x", 1, 0600), OHSM_OK);
    assert_int_not_equal(ohsm_provision_cluster(m, dir, 2, 5, cid, err, sizeof(err)), OHSM_OK);
    assert_non_null(strstr(err, "clusters"));
    assert_string_equal(cid, "");
    assert_int_equal(ohsm_meta_cluster_list(m, &cs, &nc), OHSM_OK);
    assert_int_equal(nc, 0);
    ohsm_meta_close(m);
}

/* A CA key left in the cluster directory by an older openhsmd moves to DIR/private/<cid> (0700)
 * with its content; nothing to do the second time; a key in both places is refused and both are
 * left as they were. */
static void test_provision_move_ca_key(void **state)
{
    (void)state;
    struct ohsm_meta *m = open_meta();
    char cid[OHSM_IDS_MAX], err[1024], old[512], new[512], pdir[256], buf[64];
    assert_int_equal(ohsm_provision_cluster(m, dir, 1, 5, cid, err, sizeof(err)), OHSM_OK);
    snprintf(old, sizeof(old), "%s/clusters/%s/customerCA.key", dir, cid);
    snprintf(new, sizeof(new), "%s/private/%s/customerCA.key", dir, cid);
    snprintf(pdir, sizeof(pdir), "%s/private", dir);
    /* The old layout: the key in the cluster directory, no private directory. */
    assert_int_equal(rename(new, old), 0);
    assert_int_equal(ohsm_files_remove_tree(pdir), OHSM_OK);
    assert_int_equal(ohsm_provision_move_ca_key(dir, cid, err, sizeof(err)), OHSM_OK);
    assert_int_equal(access(old, F_OK), -1);
    assert_int_equal(mode_of(new), 0600);
    assert_int_equal(mode_of(pdir), 0700);
    assert_int_equal(ohsm_provision_move_ca_key(dir, cid, err, sizeof(err)), OHSM_OK);
    assert_int_equal(mode_of(new), 0600);
    /* Both: refused, named, nothing moved. */
    assert_int_equal(ohsm_files_write_new(old, "other", 5, 0600), OHSM_OK);
    assert_int_equal(ohsm_provision_move_ca_key(dir, cid, err, sizeof(err)), OHSM_IO);
    assert_non_null(strstr(err, old));
    assert_non_null(strstr(err, new));
    FILE *f = fopen(old, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "other");
    f = fopen(new, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_non_null(strstr(buf, "BEGIN PRIVATE KEY"));
    ohsm_meta_close(m);
}

/* A second cluster in the same metadata gets ports no HSM of the first uses. */
static void test_provision_ports_unique_across_clusters(void **state)
{
    (void)state;
    struct ohsm_meta *m = open_meta();
    char a[OHSM_IDS_MAX], b[OHSM_IDS_MAX], err[256];
    struct ohsm_meta_hsm *hs = NULL;
    size_t nh = 0;
    assert_int_equal(ohsm_provision_cluster(m, dir, 4, 5, a, err, sizeof(err)), OHSM_OK);
    assert_int_equal(ohsm_provision_cluster(m, dir, 4, 5, b, err, sizeof(err)), OHSM_OK);
    assert_string_not_equal(a, b);
    assert_int_equal(ohsm_meta_hsm_list(m, NULL, &hs, &nh), OHSM_OK);
    assert_int_equal(nh, 8);
    for (size_t i = 0; i < nh; i++) {
        for (size_t k = 0; k < i; k++) {
            assert_int_not_equal(hs[i].port, hs[k].port);
            assert_string_not_equal(hs[i].id, hs[k].id);
        }
    }
    free(hs);
    ohsm_meta_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_provision_bad_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_provision_failure_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_provision_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_provision_client_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_provision_move_ca_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_provision_ports_unique_across_clusters, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
