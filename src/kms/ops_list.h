/* SPDX-License-Identifier: Apache-2.0
 *
 * The TrentService operations: OP(AWS name, handler, read-only). svc.c includes this list twice,
 * once for the dispatch wrappers and once for the routing table, so the operations served and the
 * table that routes them cannot drift apart. No include guard on purpose.
 */
OP("CreateKey", ohsm_kms_op_create_key, false)
OP("DescribeKey", ohsm_kms_op_describe_key, true)
OP("ListKeys", ohsm_kms_op_list_keys, true)
OP("EnableKey", ohsm_kms_op_enable_key, false)
OP("DisableKey", ohsm_kms_op_disable_key, false)
OP("ScheduleKeyDeletion", ohsm_kms_op_schedule_key_deletion, false)
OP("CancelKeyDeletion", ohsm_kms_op_cancel_key_deletion, false)
OP("UpdateKeyDescription", ohsm_kms_op_update_key_description, false)
OP("CreateAlias", ohsm_kms_op_create_alias, false)
OP("UpdateAlias", ohsm_kms_op_update_alias, false)
OP("DeleteAlias", ohsm_kms_op_delete_alias, false)
OP("ListAliases", ohsm_kms_op_list_aliases, true)
OP("Encrypt", ohsm_kms_op_encrypt, true)
OP("Decrypt", ohsm_kms_op_decrypt, true)
OP("ReEncrypt", ohsm_kms_op_re_encrypt, true)
OP("GenerateDataKey", ohsm_kms_op_generate_data_key, true)
OP("GenerateDataKeyWithoutPlaintext", ohsm_kms_op_generate_data_key_without_plaintext, true)
OP("GenerateRandom", ohsm_kms_op_generate_random, true)
OP("EnableKeyRotation", ohsm_kms_op_enable_key_rotation, false)
OP("DisableKeyRotation", ohsm_kms_op_disable_key_rotation, false)
OP("GetKeyRotationStatus", ohsm_kms_op_get_key_rotation_status, true)
OP("RotateKeyOnDemand", ohsm_kms_op_rotate_key_on_demand, false)
OP("ListKeyRotations", ohsm_kms_op_list_key_rotations, true)
