"""openhsmd's VPC subset of EC2 through Debian's aws CLI and boto3: the default VPC and its
subnets, CreateVpc/CreateSubnet, a /28 that holds exactly 11 network interfaces, DeleteSubnet's
dependency rule, a second region, filters, paging, DryRun and bad input (the AWS error code, and
nothing changed). Every openhsmd binds 127.0.0.1 on a free port (the cloud fixture); nothing here
waits on time.
"""
import botocore.config
import botocore.exceptions
import pytest

from cloud import AwsError, cloud  # noqa: F401 (cloud is a fixture)

ACCOUNT = "111122223333"


def snapshot(c, region=None):
    """Everything the EC2 subset holds in a region, as sorted ids with their key facts."""
    vpcs = c.aws("ec2", "describe-vpcs", region=region)["Vpcs"]
    subs = c.aws("ec2", "describe-subnets", region=region)["Subnets"]
    enis = c.aws("ec2", "describe-network-interfaces", region=region)["NetworkInterfaces"]
    return (sorted((v["VpcId"], v["CidrBlock"]) for v in vpcs),
            sorted((s["SubnetId"], s["CidrBlock"], s["AvailableIpAddressCount"]) for s in subs),
            sorted((e["NetworkInterfaceId"], e["PrivateIpAddress"]) for e in enis))


def code_of(fn, *args, **kw):
    """The AWS error code fn raised through the aws CLI (the test fails if it succeeded)."""
    with pytest.raises(AwsError) as ei:
        fn(*args, **kw)
    return ei.value.code


def unvalidated_ec2(c):
    """A boto3 EC2 client that sends what botocore's own checks would stop (to test the
    server's)."""
    import boto3
    from cloud import KEY_ID, SECRET
    return boto3.client("ec2", endpoint_url=c.endpoint, region_name="us-east-1",
                        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                        config=botocore.config.Config(retries={"max_attempts": 1},
                                                      parameter_validation=False))


def new_vpc(c, cidr, region=None):
    return c.aws("ec2", "create-vpc", "--cidr-block", cidr, region=region)["Vpc"]["VpcId"]


def test_default_vpc_and_subnets(cloud):
    """A region starts with a default VPC 172.31.0.0/16 and a default /20 in each of its 3 AZs;
    each subnet's free count is 4091 less the ENIs in it."""
    vpcs = cloud.aws("ec2", "describe-vpcs", "--filters", "Name=is-default,Values=true")["Vpcs"]
    assert len(vpcs) == 1
    v = vpcs[0]
    assert v["CidrBlock"] == "172.31.0.0/16" and v["IsDefault"] is True
    assert v["State"] == "available" and v["OwnerId"] == ACCOUNT
    assert v["VpcId"].startswith("vpc-") and len(v["VpcId"]) == 4 + 17
    assert v["CidrBlockAssociationSet"][0]["CidrBlock"] == "172.31.0.0/16"
    assert v["CidrBlockAssociationSet"][0]["CidrBlockState"]["State"] == "associated"

    subs = cloud.aws("ec2", "describe-subnets", "--filters",
                     f"Name=vpc-id,Values={v['VpcId']}")["Subnets"]
    got = sorted((s["AvailabilityZone"], s["AvailabilityZoneId"], s["CidrBlock"]) for s in subs)
    assert got == [("us-east-1a", "use1-az1", "172.31.0.0/20"),
                   ("us-east-1b", "use1-az2", "172.31.16.0/20"),
                   ("us-east-1c", "use1-az3", "172.31.32.0/20")]
    for s in subs:
        assert s["DefaultForAz"] is True and s["State"] == "available"
        assert s["OwnerId"] == ACCOUNT and s["VpcId"] == v["VpcId"]
        assert s["SubnetArn"] == f"arn:aws:ec2:us-east-1:{ACCOUNT}:subnet/{s['SubnetId']}"
        enis = cloud.aws("ec2", "describe-network-interfaces", "--filters",
                         f"Name=subnet-id,Values={s['SubnetId']}")["NetworkInterfaces"]
        assert s["AvailableIpAddressCount"] == 4096 - 5 - len(enis)

    azs = cloud.aws("ec2", "describe-availability-zones")["AvailabilityZones"]
    assert [(z["ZoneName"], z["ZoneId"], z["State"], z["RegionName"]) for z in azs] == [
        ("us-east-1a", "use1-az1", "available", "us-east-1"),
        ("us-east-1b", "use1-az2", "available", "us-east-1"),
        ("us-east-1c", "use1-az3", "available", "us-east-1")]


def test_slash28_holds_11_enis_and_delete_subnet(cloud):
    """A /28 gives exactly 11 ENIs (addresses .4 to .14), the 12th fails as AWS fails it;
    DeleteSubnet is refused while ENIs remain, then the subnet is gone."""
    vpc = new_vpc(cloud, "10.20.0.0/16")
    sub = cloud.aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.20.1.0/28",
                    "--availability-zone", "us-east-1b")["Subnet"]
    sid = sub["SubnetId"]
    assert sub["AvailableIpAddressCount"] == 11 and sub["CidrBlock"] == "10.20.1.0/28"
    assert sub["AvailabilityZone"] == "us-east-1b" and sub["DefaultForAz"] is False
    enis = []
    for i in range(11):
        e = cloud.aws("ec2", "create-network-interface", "--subnet-id", sid,
                      "--description", f"eni {i}")["NetworkInterface"]
        assert e["PrivateIpAddress"] == f"10.20.1.{4 + i}"
        assert e["SubnetId"] == sid and e["VpcId"] == vpc and e["Description"] == f"eni {i}"
        assert e["RequesterManaged"] is False and e["MacAddress"].startswith("02:")
        enis.append(e["NetworkInterfaceId"])
    assert code_of(cloud.aws, "ec2", "create-network-interface", "--subnet-id",
                   sid) == "InsufficientFreeAddressesInSubnet"
    (s,) = cloud.aws("ec2", "describe-subnets", "--subnet-ids", sid)["Subnets"]
    assert s["AvailableIpAddressCount"] == 0
    listed = cloud.aws("ec2", "describe-network-interfaces", "--filters",
                       f"Name=subnet-id,Values={sid}")["NetworkInterfaces"]
    assert sorted(e["NetworkInterfaceId"] for e in listed) == sorted(enis)

    assert code_of(cloud.aws, "ec2", "delete-subnet", "--subnet-id", sid) == "DependencyViolation"
    assert len(cloud.aws("ec2", "describe-subnets", "--subnet-ids", sid)["Subnets"]) == 1
    # deleting one frees its address for the next ENI
    cloud.aws("ec2", "delete-network-interface", "--network-interface-id", enis[5])
    e = cloud.aws("ec2", "create-network-interface", "--subnet-id", sid)["NetworkInterface"]
    assert e["PrivateIpAddress"] == "10.20.1.9"
    enis[5] = e["NetworkInterfaceId"]
    for eni in enis:
        cloud.aws("ec2", "delete-network-interface", "--network-interface-id", eni)
    assert code_of(cloud.aws, "ec2", "delete-network-interface", "--network-interface-id",
                   enis[0]) == "InvalidNetworkInterfaceID.NotFound"
    cloud.aws("ec2", "delete-subnet", "--subnet-id", sid)
    assert code_of(cloud.aws, "ec2", "describe-subnets", "--subnet-ids",
                   sid) == "InvalidSubnetID.NotFound"
    assert code_of(cloud.aws, "ec2", "delete-subnet", "--subnet-id",
                   sid) == "InvalidSubnetID.NotFound"


def test_second_region_has_its_own_default_vpc(cloud):
    """Regions are separate: eu-west-1 has its own default VPC and AZs; ids of one region are
    not found in another."""
    east = cloud.aws("ec2", "describe-vpcs")["Vpcs"]
    west = cloud.aws("ec2", "describe-vpcs", region="eu-west-1")["Vpcs"]
    assert len(west) == 1 and west[0]["IsDefault"] is True
    assert west[0]["CidrBlock"] == "172.31.0.0/16"
    assert west[0]["VpcId"] not in {v["VpcId"] for v in east}
    subs = cloud.aws("ec2", "describe-subnets", region="eu-west-1")["Subnets"]
    assert sorted((s["AvailabilityZone"], s["AvailabilityZoneId"]) for s in subs) == [
        ("eu-west-1a", "euw1-az1"), ("eu-west-1b", "euw1-az2"), ("eu-west-1c", "euw1-az3")]
    assert all(s["AvailableIpAddressCount"] == 4091 for s in subs)
    assert code_of(cloud.aws, "ec2", "describe-vpcs", "--vpc-ids", west[0]["VpcId"],
                   region="us-east-1") == "InvalidVpcID.NotFound"
    vpc = new_vpc(cloud, "10.9.0.0/16", region="eu-west-1")
    assert code_of(cloud.aws, "ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block",
                   "10.9.0.0/24") == "InvalidVpcID.NotFound"
    sub = cloud.aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.9.0.0/24",
                    "--availability-zone-id", "euw1-az3", region="eu-west-1")["Subnet"]
    assert sub["AvailabilityZone"] == "eu-west-1c" and sub["AvailableIpAddressCount"] == 251


def test_bad_input_gets_the_aws_code_and_changes_nothing(cloud):
    """Malformed CIDRs, ranges, conflicts, unknown ids and filters, unknown AZs, taken or
    reserved addresses and DryRun: each the AWS code, and the region unchanged."""
    vpc = new_vpc(cloud, "10.30.0.0/16")
    sid = cloud.aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block",
                    "10.30.0.0/24")["Subnet"]["SubnetId"]
    cloud.aws("ec2", "create-network-interface", "--subnet-id", sid, "--private-ip-address",
              "10.30.0.50")
    before = snapshot(cloud)
    bad = [
        (("create-vpc", "--cidr-block", "10.0.0.0/33"), "InvalidParameterValue"),
        (("create-vpc", "--cidr-block", "10.0.0/24"), "InvalidParameterValue"),
        (("create-vpc", "--cidr-block", "256.0.0.0/24"), "InvalidParameterValue"),
        (("create-vpc", "--cidr-block", "010.0.0.0/16"), "InvalidParameterValue"),
        (("create-vpc", "--cidr-block", "10.0.0.0/8"), "InvalidVpc.Range"),
        (("create-vpc", "--cidr-block", "10.0.0.0/16", "--dry-run"), "DryRunOperation"),
        (("create-subnet", "--vpc-id", vpc, "--cidr-block", "10.31.0.0/24"),
         "InvalidSubnet.Range"),
        (("create-subnet", "--vpc-id", vpc, "--cidr-block", "10.30.0.0/29"),
         "InvalidSubnet.Range"),
        (("create-subnet", "--vpc-id", vpc, "--cidr-block", "10.30.0.128/25"),
         "InvalidSubnet.Conflict"),
        (("create-subnet", "--vpc-id", vpc, "--cidr-block", "10.30.1.0/24",
          "--availability-zone", "us-east-1z"), "InvalidParameterValue"),
        (("create-subnet", "--vpc-id", "vpc-0123456789abcdef0", "--cidr-block", "10.30.1.0/24"),
         "InvalidVpcID.NotFound"),
        (("create-subnet", "--vpc-id", vpc, "--cidr-block", "10.30.1.0/24", "--dry-run"),
         "DryRunOperation"),
        (("describe-subnets", "--subnet-ids", "subnet-0123456789abcdef0"),
         "InvalidSubnetID.NotFound"),
        (("describe-vpcs", "--vpc-ids", "vpc-0123456789abcdef0"), "InvalidVpcID.NotFound"),
        (("describe-network-interfaces", "--network-interface-ids", "eni-0123456789abcdef0"),
         "InvalidNetworkInterfaceID.NotFound"),
        (("describe-vpcs", "--filters", "Name=colour,Values=blue"), "InvalidParameterValue"),
        (("describe-subnets", "--filters", "Name=zone-name,Values=x"), "InvalidParameterValue"),
        (("describe-availability-zones", "--zone-names", "us-east-1z"), "InvalidParameterValue"),
        (("create-network-interface", "--subnet-id", sid, "--private-ip-address", "10.30.0.50"),
         "InvalidIPAddress.InUse"),
        (("create-network-interface", "--subnet-id", sid, "--private-ip-address", "10.30.0.1"),
         "InvalidParameterValue"),
        (("create-network-interface", "--subnet-id", sid, "--private-ip-address", "10.30.1.9"),
         "InvalidParameterValue"),
        (("create-network-interface", "--subnet-id", "subnet-0123456789abcdef0"),
         "InvalidSubnetID.NotFound"),
        (("delete-network-interface", "--network-interface-id", "eni-0123456789abcdef0"),
         "InvalidNetworkInterfaceID.NotFound"),
        (("delete-subnet", "--subnet-id", sid, "--dry-run"), "DependencyViolation"),
    ]
    for args, want in bad:
        assert code_of(cloud.aws, "ec2", *args) == want, args
    err = cloud.aws("ec2", "describe-vpcs", "--filters", "Name=colour,Values=blue", check=False)
    assert "The filter 'colour' is invalid" in err.stderr
    assert snapshot(cloud) == before


def test_service_enis_are_not_the_users_to_delete(cloud):
    """The HSMs' ENIs are requester-managed: a user's DeleteNetworkInterface gets AWS's 'in use'
    answer and the ENI stays."""
    enis = cloud.aws("ec2", "describe-network-interfaces", "--filters",
                     "Name=requester-managed,Values=true")["NetworkInterfaces"]
    assert len(enis) >= 1  # the HSMs of the cluster openhsmd starts with
    e = enis[0]
    assert e["RequesterManaged"] is True and e["Status"] == "in-use"
    err = cloud.aws("ec2", "delete-network-interface", "--network-interface-id",
                    e["NetworkInterfaceId"], check=False)
    assert isinstance(err, AwsError) and err.code == "InvalidParameterValue"
    assert f"Network interface '{e['NetworkInterfaceId']}' is currently in use." in err.stderr
    again = cloud.aws("ec2", "describe-network-interfaces", "--network-interface-ids",
                      e["NetworkInterfaceId"])["NetworkInterfaces"]
    assert len(again) == 1


def test_boto3_paging_filters_and_dry_run(cloud):
    """boto3: paging by MaxResults/NextToken (paginator and CLI --page-size), wildcard filters,
    DryRun as HTTP 412 DryRunOperation, bad MaxResults refused."""
    ec2 = cloud.boto3("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    made = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{i}.0/24")["Subnet"]["SubnetId"]
            for i in range(7)]
    filt = [{"Name": "vpc-id", "Values": [vpc]}]
    first = ec2.describe_subnets(Filters=filt, MaxResults=5)
    assert len(first["Subnets"]) == 5 and first["NextToken"]
    rest = ec2.describe_subnets(Filters=filt, MaxResults=5, NextToken=first["NextToken"])
    assert len(rest["Subnets"]) == 2 and not rest.get("NextToken")
    pages = list(ec2.get_paginator("describe_subnets").paginate(
        Filters=filt, PaginationConfig={"PageSize": 5}))
    assert [len(p["Subnets"]) for p in pages] == [5, 2]
    assert sorted(s["SubnetId"] for p in pages for s in p["Subnets"]) == sorted(made)
    cli = cloud.aws("ec2", "describe-subnets", "--page-size", "5", "--filters",
                    f"Name=vpc-id,Values={vpc}")["Subnets"]
    assert sorted(s["SubnetId"] for s in cli) == sorted(made)
    # wildcards: ? one character, * any run; values OR'd, filters AND'd
    got = ec2.describe_subnets(Filters=filt + [
        {"Name": "cidr-block", "Values": ["10.40.?.0/24"]},
        {"Name": "availability-zone", "Values": ["*a", "*c"]}])["Subnets"]
    assert got and all(s["AvailabilityZone"] in ("us-east-1a", "us-east-1c") for s in got)
    assert ec2.describe_subnets(Filters=filt + [{"Name": "tag:Name", "Values": ["*"]}])[
        "Subnets"] == []

    with pytest.raises(botocore.exceptions.ClientError) as ei:
        ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.100.0/24", DryRun=True)
    assert ei.value.response["Error"]["Code"] == "DryRunOperation"
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    # what botocore would refuse itself, sent anyway: the server refuses it too
    raw = unvalidated_ec2(cloud)
    for bad in (4, 1001):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            raw.describe_subnets(MaxResults=bad)
        assert ei.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        ec2.describe_subnets(NextToken="not-ours")
    assert ei.value.response["Error"]["Code"] == "InvalidPaginationToken"
    assert len(ec2.describe_subnets(Filters=filt)["Subnets"]) == 7
