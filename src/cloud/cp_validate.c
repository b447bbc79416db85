/* SPDX-License-Identifier: Apache-2.0
 *
 * The control plane's validation hook: CloudHSM v2 input checked against botocore's model.
 */
#include "cloud/cp_int.h"
#include "model/model.h"

int ohsm_cp_validate(const char *op, json_t *in, char *msg, size_t cap)
{
    return ohsm_model_cloudhsmv2_validate(op, in, msg, cap);
}
