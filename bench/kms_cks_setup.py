#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""bench/kms --cks helper: makes openhsmd's first cluster (two HSMs in two AZs) ready for an AWS
CloudHSM key store, as a user would with the AWS CLI's KMS calls and openhsm-cmu: activates it,
creates the crypto user kmsuser, creates the key store, connects it, waits for CONNECTED and makes
one KMS key in it. Prints that key's id on stdout (progress on stderr).

Usage: kms_cks_setup.py BIN_DIR DATA_DIR ENDPOINT ACCESS_KEY SECRET_KEY
Not a test: run by bench/kms.
"""
import pathlib
import re
import secrets
import subprocess
import sys
import time

import boto3


def main():
    bin_dir, data, endpoint, akid, secret = sys.argv[1:6]
    cfgs = sorted(pathlib.Path(data).glob("clusters/*/client.json"))
    if len(cfgs) != 1:
        raise SystemExit(f"kms_cks_setup: expected one cluster, found {cfgs}")
    cfg = cfgs[0]
    admin_pw, ku_pw = "A" + secrets.token_hex(8), "K" + secrets.token_hex(8)
    p = subprocess.run([f"{bin_dir}/openhsm-cmu", str(cfg)], capture_output=True, text=True,
                       timeout=120,
                       input="loginHSM PRECO admin password\n"
                       f"changePswd PRECO admin {admin_pw}\ny\nlogoutHSM\n"
                       f"loginHSM CO admin {admin_pw}\ncreateUser CU kmsuser {ku_pw}\ny\nquit\n")
    out = p.stdout + p.stderr
    if len(re.findall(r"createUser success on server \d+\(", out)) != 2:
        raise SystemExit("kms_cks_setup: could not set up the cluster:\n" + out)
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=akid,
              aws_secret_access_key=secret)
    hsm2 = boto3.client("cloudhsmv2", **kw)
    kms = boto3.client("kms", **kw)
    cid = cfg.parent.name
    deadline = time.monotonic() + 120
    while hsm2.describe_clusters(Filters={"clusterIds": [cid]})["Clusters"][0]["State"] != \
            "ACTIVE":
        if time.monotonic() > deadline:
            raise SystemExit("kms_cks_setup: the cluster did not become ACTIVE")
        time.sleep(0.2)
    sid = kms.create_custom_key_store(
        CustomKeyStoreName="bench", CloudHsmClusterId=cid,
        TrustAnchorCertificate=(cfg.parent / "customerCA.crt").read_text(),
        KeyStorePassword=ku_pw)["CustomKeyStoreId"]
    kms.connect_custom_key_store(CustomKeyStoreId=sid)
    while True:
        st = kms.describe_custom_key_stores(CustomKeyStoreId=sid)["CustomKeyStores"][0]
        if st["ConnectionState"] == "CONNECTED":
            break
        if st["ConnectionState"] == "FAILED" or time.monotonic() > deadline:
            raise SystemExit(f"kms_cks_setup: the key store did not connect: {st}")
        time.sleep(0.2)
    kid = kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=sid)["KeyMetadata"]["KeyId"]
    print(f"key store {sid} on {cid} CONNECTED; key {kid}", file=sys.stderr)
    print(kid)


if __name__ == "__main__":
    main()
