/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target for the model validator (src/model): the bytes are parsed as JSON the way the
 * front door parses a body (jansson, duplicate keys refused) and the value goes to every
 * operation of the CloudHSM v2 and KMS models, with a message buffer whose size the first byte
 * picks. Checked besides memory safety: the result is 0 or -1, a pass leaves the message empty,
 * and the message is always terminated inside its buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run(const struct ohsm_model_service *svc, json_t *in, size_t cap)
{
    static char msg[4096];
    for (size_t i = 0; i < svc->n_ops; i++) {
        memset(msg, 'X', sizeof(msg));
        int rc = ohsm_model_validate(svc, svc->ops[i].name, in, cap > 0 ? msg : NULL, cap);
        if (rc != 0 && rc != -1) {
            abort();
        }
        if (cap == 0) {
            continue;
        }
        if (memchr(msg, '\0', cap) == NULL || (rc == 0 && msg[0] != '\0')) {
            abort();
        }
        if (rc == -1 && cap > 1 && msg[0] == '\0') {
            abort(); /* a refusal always says something */
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t caps[] = {0, 1, 2, 16, 64, 512, 4096};
    json_error_t err;
    if (size < 1) {
        return 0;
    }
    size_t cap = caps[data[0] % (sizeof(caps) / sizeof(caps[0]))];
    json_t *in = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &err);
    if (in == NULL) {
        return 0;
    }
    run(&ohsm_model_cloudhsmv2, in, cap);
    run(&ohsm_model_kms, in, cap);
    json_decref(in);
    return 0;
}
