/* SPDX-License-Identifier: Apache-2.0
 *
 * Backups and certificates of the control plane as the cluster handlers see them.
 */
#include <string.h>

#include <jansson.h>

#include "cloud/cp_int.h"
#include "model/model.h"

#define NOT_FOUND "CloudHsmResourceNotFoundException"

bool ohsm_cp_backup_exists(struct ohsm_cloud *c, const char *region, const char *id)
{
    (void)c;
    (void)region;
    (void)id;
    return false;
}

int ohsm_cp_source_backup(struct ohsm_cloud *c, const char *region, const char *id,
                          struct ohsm_aws_err *err)
{
    if (!ohsm_cp_backup_exists(c, region, id)) {
        ohsm_aws_errf(err, 400, NOT_FOUND, "Backup %s not found.", id);
        return -1;
    }
    return 0;
}

int ohsm_cp_validate(const char *op, json_t *in, char *msg, size_t cap)
{
    return ohsm_model_cloudhsmv2_validate(op, in, msg, cap);
}
