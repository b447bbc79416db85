/* SPDX-License-Identifier: Apache-2.0
 *
 * -attest on key creation (attest.c): what openhsm proves about a key it has just made, from the
 * client, over channels authenticated against the cluster's trust anchor.
 */
#ifndef OHSM_KMU_ATTEST_H
#define OHSM_KMU_ATTEST_H

#include <stdbool.h>
#include <stddef.h>

#include "kmu/attrs.h"
#include "openhsm/client.h"

/* True when the key(s) objs[0..nobj) (a secret key, or a private key then its public key, as
 * ohsm_client_key_generate returns them) pass: every answering HSM of the n holds the same record,
 * the record is what `want` asked (made in the HSM when `generated`, else imported), and a pair's
 * private key signs a random challenge that verifies locally with the pair's public key. Sends only
 * reads and one signature; changes nothing. */
bool ohsm_kmu_attest(struct ohsm_client *c, size_t n, const struct ohsm_obj *objs, size_t nobj,
                     const struct ohsm_kmu_keyopts *want, bool generated);

#endif
