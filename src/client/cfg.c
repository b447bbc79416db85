/* SPDX-License-Identifier: Apache-2.0
 *
 * Cluster configuration (client.json): parsed with jansson and checked field by field, since the
 * file is user-editable. A relative trust anchor path is resolved against the file's directory.
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client/internal.h"
#include "core/errf.h"

#define MAX_HSMS 28

static int copy_str(json_t *o, const char *k, char *dst, size_t cap, bool required)
{
    json_t *v = json_object_get(o, k);
    if (v == NULL && !required) {
        dst[0] = '\0';
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= cap ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        return -1;
    }
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

ohsm_rv ohsm_cfg_load(const char *path, struct ohsm_cfg **out, char *err, size_t err_cap)
{
    json_error_t je;
    json_t *root = NULL;
    json_t *hsms = NULL;
    struct ohsm_cfg *cfg = NULL;
    char anchor[512];
    ohsm_rv rv = OHSM_CONFIG;

    OHSM_ENSURE(out != NULL, OHSM_ARGUMENTS_BAD);
    if (path == NULL || path[0] == '\0') {
        ohsm_errf(err, err_cap, "cluster config: no path given (use --cluster-config or %s)",
                  OHSM_CLUSTER_CONFIG_ENV);
        return OHSM_CONFIG;
    }
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        ohsm_errf(err, err_cap, "%s: %s", path, je.text);
        return OHSM_CONFIG;
    }
    cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    if (!json_is_object(root) ||
        copy_str(root, "cluster_id", cfg->cluster_id, sizeof(cfg->cluster_id), true) != 0) {
        ohsm_errf(err, err_cap, "%s: %s", path, "missing or bad \"cluster_id\"");
        goto out;
    }
    if (copy_str(root, "trust_anchor", anchor, sizeof(anchor), true) != 0) {
        ohsm_errf(err, err_cap, "%s: %s", path, "missing or bad \"trust_anchor\"");
        goto out;
    }
    if (anchor[0] == '/') {
        memcpy(cfg->trust_anchor, anchor, sizeof(anchor));
    } else {
        char *dup = strdup(path);
        int n = dup != NULL ? snprintf(cfg->trust_anchor, sizeof(cfg->trust_anchor), "%s/%s",
                                       dirname(dup), anchor)
                            : -1;
        free(dup);
        if (n < 0 || (size_t)n >= sizeof(cfg->trust_anchor)) {
            ohsm_errf(err, err_cap, "%s: %s", path, "trust anchor path too long");
            goto out;
        }
    }
    cfg->timeout_ms = 5000;
    json_t *t = json_object_get(root, "timeout_ms");
    if (t != NULL) {
        if (!json_is_integer(t) || json_integer_value(t) < 100 || json_integer_value(t) > 600000) {
            ohsm_errf(err, err_cap, "%s: %s", path, "\"timeout_ms\" must be 100..600000");
            goto out;
        }
        cfg->timeout_ms = (int)json_integer_value(t);
    }
    hsms = json_object_get(root, "hsms");
    if (!json_is_array(hsms) || json_array_size(hsms) < 1 || json_array_size(hsms) > MAX_HSMS) {
        ohsm_errf(err, err_cap, "%s: %s", path, "\"hsms\" must list 1 to 28 HSMs");
        goto out;
    }
    cfg->n = json_array_size(hsms);
    cfg->hsms = calloc(cfg->n, sizeof(*cfg->hsms));
    if (cfg->hsms == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    for (size_t i = 0; i < cfg->n; i++) {
        json_t *h = json_array_get(hsms, i);
        json_t *p = json_object_get(h, "port");
        struct ohsm_cfg_hsm *e = &cfg->hsms[i];
        if (!json_is_object(h) || copy_str(h, "id", e->id, sizeof(e->id), false) != 0 ||
            copy_str(h, "host", e->host, sizeof(e->host), true) != 0 || !json_is_integer(p) ||
            json_integer_value(p) < 1 || json_integer_value(p) > 65535) {
            ohsm_errf(err, err_cap, "%s: %s", path,
                      "each HSM needs \"host\" and \"port\" (1..65535)");
            goto out;
        }
        e->port = (uint16_t)json_integer_value(p);
    }
    *out = cfg;
    cfg = NULL;
    rv = OHSM_OK;
out:
    ohsm_cfg_free(cfg);
    json_decref(root);
    return rv;
}

void ohsm_cfg_free(struct ohsm_cfg *cfg)
{
    if (cfg != NULL) {
        free(cfg->hsms);
        free(cfg);
    }
}

const char *ohsm_cfg_cluster_id(const struct ohsm_cfg *cfg)
{
    return cfg->cluster_id;
}

size_t ohsm_cfg_hsm_count(const struct ohsm_cfg *cfg)
{
    return cfg->n;
}
