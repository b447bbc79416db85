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

/* attest_rec.c (pure). Are a and b the same record of one key: handle, class, type, every flag,
 * owner and shares, label, id, sizes, curve, key check value, public key and quorum values? */
bool ohsm_kmu_attest_same(const struct ohsm_obj *a, const struct ohsm_obj *b);
/* Does record o say what was asked: label, id, token or session, extractable (secret and private
 * keys), and made in the HSM (OBJ_ATTR_LOCAL) exactly when `local`? */
bool ohsm_kmu_attest_as_asked(const struct ohsm_obj *o, const struct ohsm_kmu_keyopts *want,
                              bool local);

#endif
