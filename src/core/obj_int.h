/* SPDX-License-Identifier: Apache-2.0
 *
 * Internals shared by the key object modules (the attribute table, templates and record codec in
 * obj.c; the attribute rules, defaults and derived attributes in obj_rules.c). Not for use
 * outside src/core. Pure functions of their arguments: thread-safe.
 */
#ifndef OHSM_OBJ_INT_H
#define OHSM_OBJ_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "openhsm/obj.h"

/* Big-endian stores of 4 and 8 bytes at p (the byte order of templates and records). */
void ohsm_obj_put32(uint8_t *p, uint32_t v);
void ohsm_obj_put64(uint8_t *p, uint64_t v);

/* Is any of the OHSM_F_ flags f set on o? */
bool ohsm_obj_has(const struct ohsm_obj *o, uint32_t f);

/* Does this value (len bytes at v, from the wire) have the shape attribute d needs? Enum values
 * must be known ones; strings and byte strings must fit their attribute's maximum. */
bool ohsm_obj_value_ok(const struct ohsm_attr_def *d, uint32_t len, const uint8_t *v);

/* Issue 15: is o's role class known, and are its flags within it (obj_rules.c)? */
bool ohsm_obj_roles_ok(const struct ohsm_obj *o);

#endif
