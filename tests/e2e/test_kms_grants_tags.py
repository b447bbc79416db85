# SPDX-License-Identifier: Apache-2.0
"""KMS grants, key policies, tags, descriptions and pagination in openhsmd, end to end through
boto3 and Debian's aws CLI (split from test_kms_life.py, whose helpers it uses; one openhsmd for
the module: none of these tests moves the clock)."""
import json
import uuid

import pytest

from cloud import Cloud, signed_call
from conftest import Cluster
from test_kms_life import GRANTEE, fails, meta


@pytest.fixture(scope="module")
def kms(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("kms-grants") / "data", hsms=1)
    try:
        yield Cloud(c)
    finally:
        c.stop()


# ---- grants ----

def test_grants(kms):
    c = kms
    kc = c.boto3("kms")
    kid = kc.create_key()["KeyMetadata"]["KeyId"]
    arn = meta(kc, kid)["Arn"]
    sign_key = kc.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    g1 = kc.create_grant(KeyId=kid, GranteePrincipal=GRANTEE,
                         RetiringPrincipal="arn:aws:iam::111122223333:role/retirer",
                         Operations=["Encrypt", "Decrypt"], Name="first")
    g2 = kc.create_grant(KeyId=kid, GranteePrincipal="arn:aws:iam::111122223333:role/other",
                         Operations=["GenerateDataKey"],
                         Constraints={"EncryptionContextSubset": {"app": "x"}})
    g3 = kc.create_grant(KeyId=sign_key["KeyId"], GranteePrincipal=GRANTEE,
                         Operations=["Sign", "Verify"])
    assert len({g1["GrantId"], g2["GrantId"], g3["GrantId"]}) == 3
    # The same named grant again: the same grant back.
    again = kc.create_grant(KeyId=kid, GranteePrincipal=GRANTEE,
                            RetiringPrincipal="arn:aws:iam::111122223333:role/retirer",
                            Operations=["Encrypt", "Decrypt"], Name="first")
    assert again["GrantId"] == g1["GrantId"]
    # Operations that do not fit the key: refused, nothing added.
    code, _ = fails(kc.create_grant, KeyId=kid, GranteePrincipal=GRANTEE, Operations=["Sign"])
    assert code == "ValidationException"
    code, _ = fails(kc.create_grant, KeyId=sign_key["KeyId"], GranteePrincipal=GRANTEE,
                    Operations=["Encrypt"])
    assert code == "ValidationException"
    grants = kc.list_grants(KeyId=kid)["Grants"]
    assert sorted(g["GrantId"] for g in grants) == sorted([g1["GrantId"], g2["GrantId"]])
    by = {g["GrantId"]: g for g in grants}
    assert by[g1["GrantId"]]["Operations"] == ["Encrypt", "Decrypt"]
    assert by[g1["GrantId"]]["Name"] == "first" and by[g1["GrantId"]]["KeyId"] == arn
    assert by[g2["GrantId"]]["Constraints"] == {"EncryptionContextSubset": {"app": "x"}}
    # Filters.
    out = kc.list_grants(KeyId=kid, GrantId=g2["GrantId"])["Grants"]
    assert [g["GrantId"] for g in out] == [g2["GrantId"]]
    out = kc.list_grants(KeyId=kid, GranteePrincipal=GRANTEE)["Grants"]
    assert [g["GrantId"] for g in out] == [g1["GrantId"]]
    out = c.aws("kms", "list-grants", "--key-id", kid, "--grantee-principal", GRANTEE)
    assert [g["GrantId"] for g in out["Grants"]] == [g1["GrantId"]]
    ret = kc.list_retirable_grants(RetiringPrincipal="arn:aws:iam::111122223333:role/retirer")
    assert [g["GrantId"] for g in ret["Grants"]] == [g1["GrantId"]]
    # Another region's grants with the same retiring principal are not listed here.
    west = c.boto3("kms", region="us-west-2")
    wk = west.create_key()["KeyMetadata"]["KeyId"]
    wg = west.create_grant(KeyId=wk, GranteePrincipal=GRANTEE, Operations=["Decrypt"],
                           RetiringPrincipal="arn:aws:iam::111122223333:role/retirer")
    ret = kc.list_retirable_grants(RetiringPrincipal="arn:aws:iam::111122223333:role/retirer")
    assert [g["GrantId"] for g in ret["Grants"]] == [g1["GrantId"]]
    ret = west.list_retirable_grants(RetiringPrincipal="arn:aws:iam::111122223333:role/retirer")
    assert [g["GrantId"] for g in ret["Grants"]] == [wg["GrantId"]]
    # Grant tokens are accepted on Encrypt.
    blob = kc.encrypt(KeyId=kid, Plaintext=b"g", GrantTokens=[g1["GrantToken"]])
    assert kc.decrypt(CiphertextBlob=blob["CiphertextBlob"],
                      GrantTokens=[g1["GrantToken"]])["Plaintext"] == b"g"
    # Bad grant ids.
    for fn, kw in ((kc.revoke_grant, {"KeyId": kid, "GrantId": "nope"}),
                   (kc.retire_grant, {"KeyId": kid, "GrantId": "nope"}),
                   (kc.list_grants, {"KeyId": kid, "GrantId": "nope"})):
        code, _ = fails(fn, **kw)
        assert code == "InvalidGrantIdException", fn
    code, _ = fails(kc.revoke_grant, KeyId=kid, GrantId="0" * 64)
    assert code == "NotFoundException"
    assert len(kc.list_grants(KeyId=kid)["Grants"]) == 2
    # Retire by token, by KeyId+GrantId; revoke.
    kc.retire_grant(GrantToken=g1["GrantToken"])
    assert [g["GrantId"] for g in kc.list_grants(KeyId=kid)["Grants"]] == [g2["GrantId"]]
    code, _ = fails(kc.retire_grant, GrantToken=g1["GrantToken"])
    assert code == "InvalidGrantTokenException"
    kc.retire_grant(KeyId=kid, GrantId=g2["GrantId"])
    assert kc.list_grants(KeyId=kid)["Grants"] == []
    c.aws("kms", "revoke-grant", "--key-id", sign_key["KeyId"], "--grant-id", g3["GrantId"])
    assert kc.list_grants(KeyId=sign_key["KeyId"])["Grants"] == []


# ---- policies, tags, descriptions ----

def test_policies(kms):
    c = kms
    kc = c.boto3("kms")
    kid = kc.create_key()["KeyMetadata"]["KeyId"]
    pol = json.loads(kc.get_key_policy(KeyId=kid, PolicyName="default")["Policy"])
    st = pol["Statement"]
    assert pol["Version"] == "2012-10-17" and len(st) == 1
    assert st[0]["Effect"] == "Allow" and st[0]["Action"] == "kms:*"
    assert st[0]["Principal"] == {"AWS": "arn:aws:iam::" + meta(kc, kid)["AWSAccountId"] +
                                  ":root"}
    assert kc.list_key_policies(KeyId=kid)["PolicyNames"] == ["default"]
    new = {"Version": "2012-10-17", "Id": "mine", "Statement": [
        {"Sid": "a", "Effect": "Allow", "Principal": {"AWS": GRANTEE}, "Action": "kms:Decrypt",
         "Resource": "*"}]}
    kc.put_key_policy(KeyId=kid, PolicyName="default", Policy=json.dumps(new))
    assert json.loads(kc.get_key_policy(KeyId=kid, PolicyName="default")["Policy"]) == new
    for bad in ("not json", "[]", json.dumps({"Version": "2012-10-17"}),
                json.dumps({"Version": "2012-10-17", "Statement": []}),
                json.dumps({"Version": "2012-10-17", "Statement": ["x"]}),
                '{"Version": "2012-10-17", "Statement": [], "Statement": []}'):
        code, _ = fails(kc.put_key_policy, KeyId=kid, PolicyName="default", Policy=bad)
        assert code == "MalformedPolicyDocumentException", bad
    assert json.loads(kc.get_key_policy(KeyId=kid, PolicyName="default")["Policy"]) == new
    # The IAM grammar lets Statement be a single statement.
    single = {"Version": "2012-10-17", "Statement": new["Statement"][0]}
    kc.put_key_policy(KeyId=kid, PolicyName="default", Policy=json.dumps(single))
    assert json.loads(kc.get_key_policy(KeyId=kid, PolicyName="default")["Policy"]) == single
    kc.put_key_policy(KeyId=kid, PolicyName="default", Policy=json.dumps(new))
    code, _ = fails(kc.get_key_policy, KeyId=kid, PolicyName="other")
    assert code == "NotFoundException"
    assert json.loads(kc.get_key_policy(KeyId=kid, PolicyName="default")["Policy"]) == new
    out = c.aws("kms", "get-key-policy", "--key-id", kid, "--policy-name", "default")
    assert json.loads(out["Policy"]) == new


def test_tags_and_description(kms):
    c = kms
    kc = c.boto3("kms")
    kid = kc.create_key(Tags=[{"TagKey": "team", "TagValue": "a"}])["KeyMetadata"]["KeyId"]
    kc.tag_resource(KeyId=kid, Tags=[{"TagKey": "env", "TagValue": "dev"},
                                     {"TagKey": "team", "TagValue": "b"}])
    tags = {t["TagKey"]: t["TagValue"] for t in kc.list_resource_tags(KeyId=kid)["Tags"]}
    assert tags == {"team": "b", "env": "dev"}
    kc.untag_resource(KeyId=kid, TagKeys=["env"])
    assert kc.list_resource_tags(KeyId=kid)["Tags"] == [{"TagKey": "team", "TagValue": "b"}]
    code, _ = fails(kc.tag_resource, KeyId=kid, Tags=[{"TagKey": "aws:x", "TagValue": "v"}])
    assert code == "TagException"
    code, _ = fails(kc.untag_resource, KeyId=kid, TagKeys=["aws:x"])
    assert code == "TagException"
    kc.tag_resource(KeyId=kid, Tags=[{"TagKey": f"t{i:02}", "TagValue": str(i)}
                                     for i in range(49)])
    assert len(kc.list_resource_tags(KeyId=kid)["Tags"]) == 50
    code, _ = fails(kc.tag_resource, KeyId=kid, Tags=[{"TagKey": "51st", "TagValue": "v"}])
    assert code == "LimitExceededException"
    kc.tag_resource(KeyId=kid, Tags=[{"TagKey": "t00", "TagValue": "changed"}])  # no new key
    tags = {t["TagKey"]: t["TagValue"] for t in kc.list_resource_tags(KeyId=kid)["Tags"]}
    assert len(tags) == 50 and tags["t00"] == "changed" and "51st" not in tags
    # Pagination over tags; a bad marker.
    seen, marker = [], None
    for _ in range(10):
        kw = {"Marker": marker} if marker else {}
        out = kc.list_resource_tags(KeyId=kid, Limit=15, **kw)
        seen += [t["TagKey"] for t in out["Tags"]]
        if not out["Truncated"]:
            break
        marker = out["NextMarker"]
    assert sorted(seen) == sorted(tags) and len(seen) == 50
    code, _ = fails(kc.list_resource_tags, KeyId=kid, Marker="not-a-marker")
    assert code == "InvalidMarkerException"
    # Multibyte tags are kept whole (they used to be cut, even inside a character).
    k2 = kc.create_key()["KeyMetadata"]["KeyId"]
    kc.tag_resource(KeyId=k2, Tags=[{"TagKey": "\u00e9" * 64, "TagValue": "\u00e9" * 128}])
    # AWS counts characters: 128 three-byte characters in a key and 256 in a value fit, one more
    # does not (botocore's signer: boto3 checks lengths itself).
    kc.tag_resource(KeyId=k2, Tags=[{"TagKey": "\u20ac" * 128, "TagValue": "\u20ac" * 256}])
    got = {t["TagKey"]: t["TagValue"] for t in kc.list_resource_tags(KeyId=k2)["Tags"]}
    assert got["\u20ac" * 128] == "\u20ac" * 256 and got["\u00e9" * 64] == "\u00e9" * 128
    for tag in ({"TagKey": "\u20ac" * 129, "TagValue": "v"},
                {"TagKey": "e", "TagValue": "\u20ac" * 257}):
        st, body = signed_call(c, "TrentService.TagResource", {"KeyId": k2, "Tags": [tag]},
                               signing_name="kms")
        assert st == 400 and body["__type"] == "ValidationException", body
    assert len(kc.list_resource_tags(KeyId=k2)["Tags"]) == 2
    # UpdateKeyDescription.
    kc.update_key_description(KeyId=kid, Description="described")
    assert meta(kc, kid)["Description"] == "described"
    c.aws("kms", "update-key-description", "--key-id", kid, "--description", "")
    assert meta(kc, kid)["Description"] == ""


def test_pagination(kms):
    """Limit/Marker/Truncated on ListKeys, ListAliases, ListGrants; a bad marker:
    InvalidMarkerException."""
    kc = kms.boto3("kms")
    made = [kc.create_key()["KeyMetadata"]["KeyId"] for _ in range(5)]
    tag = uuid.uuid4().hex[:8]
    for i, kid in enumerate(made):
        kc.create_alias(AliasName=f"alias/page-{tag}-{i}", TargetKeyId=kid)
    for i in range(5):
        kc.create_grant(KeyId=made[0], GranteePrincipal=f"{GRANTEE}{i}", Operations=["Encrypt"])

    def walk(fn, field, limit, **kw):
        got, marker, pages = [], None, 0
        for _ in range(1000):
            extra = {"Marker": marker} if marker else {}
            out = fn(Limit=limit, **kw, **extra)
            assert len(out[field]) <= limit
            got += out[field]
            pages += 1
            if not out["Truncated"]:
                assert "NextMarker" not in out
                return got, pages
            marker = out["NextMarker"]
        raise AssertionError("pagination did not end")

    keys, pages = walk(kc.list_keys, "Keys", 2)
    ids = [k["KeyId"] for k in keys]
    assert len(ids) == len(set(ids)) and set(made) <= set(ids) and pages >= 3
    assert ids == [k["KeyId"] for k in kc.list_keys(Limit=1000)["Keys"]]
    aliases, _ = walk(kc.list_aliases, "Aliases", 2, KeyId=made[0])
    assert [a["AliasName"] for a in aliases] == [f"alias/page-{tag}-0"]
    aliases, _ = walk(kc.list_aliases, "Aliases", 3)
    names = [a["AliasName"] for a in aliases]
    assert all(f"alias/page-{tag}-{i}" in names for i in range(5)) and len(names) == len(set(names))
    grants, pages = walk(kc.list_grants, "Grants", 2, KeyId=made[0])
    assert len(grants) == 5 and pages == 3
    out = kms.aws("kms", "list-keys", "--max-items", "2")
    assert len(out["Keys"]) == 2 and "NextToken" in out
    for fn, kw in ((kc.list_keys, {}), (kc.list_aliases, {}),
                   (kc.list_grants, {"KeyId": made[0]}),
                   (kc.list_resource_tags, {"KeyId": made[0]})):
        code, _ = fails(fn, Marker="garbage!", **kw)
        assert code == "InvalidMarkerException", fn
    code, _ = fails(kc.list_keys, Limit=1001)
    assert code == "ValidationException"
