"""The two network faults of a CloudHSM key store that users provoke with EC2 (KMS's
SUBNET_NOT_FOUND and INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET), done with Debian's aws CLI against
openhsmd as the troubleshooting guide has users do them on AWS: `aws ec2 delete-subnet` of a
cluster subnet that holds no ENI (allowed while the cluster exists; the cluster keeps naming the
subnet), and `aws ec2 create-network-interface --subnet-id` until a small cluster subnet is full.
What KMS makes of them is tested with the KMS handlers; here, that the cloud lets users cause them
and reports them truthfully. Every wait is a condition with a deadline.
"""
from cloud import cloud  # noqa: F401 (a fixture)
from test_cloudhsmv2 import CSV2, default_subnets, wait_cluster_state


def subnet_gone(c, sid):
    e = c.aws("ec2", "describe-subnets", "--subnet-ids", sid, check=False)
    return getattr(e, "code", None) == "InvalidSubnetID.NotFound"


def test_delete_subnet_of_the_first_cluster(cloud):
    """The first cluster has a default subnet in each of 3 AZs and HSMs in 2: the subnet without
    an HSM can be deleted while the cluster is in use, the others cannot; describe-clusters still
    maps the deleted one (what KMS reads as SUBNET_NOT_FOUND)."""
    cid = cloud.cluster.cluster_id
    cl = cloud.cluster_desc(cid)
    subnets = default_subnets(cloud)
    assert cl["SubnetMapping"] == subnets
    used = {h["SubnetId"] for h in cl["Hsms"]}
    assert len(used) == 2
    (free_az,) = [az for az, sid in subnets.items() if sid not in used]
    for sid in used:
        e = cloud.aws("ec2", "delete-subnet", "--subnet-id", sid, check=False)
        assert e.code == "DependencyViolation"
    cloud.aws("ec2", "delete-subnet", "--subnet-id", subnets[free_az])
    assert subnet_gone(cloud, subnets[free_az])
    after = cloud.cluster_desc(cid)
    assert after["SubnetMapping"] == subnets
    assert after["State"] == cl["State"]
    assert [h["HsmId"] for h in after["Hsms"]] == [h["HsmId"] for h in cl["Hsms"]]
    for sid in used:
        assert not subnet_gone(cloud, sid)
    # Deleted once: a second delete is the EC2 error, and nothing else changes.
    e = cloud.aws("ec2", "delete-subnet", "--subnet-id", subnets[free_az], check=False)
    assert e.code == "InvalidSubnetID.NotFound"
    assert cloud.cluster_desc(cid)["SubnetMapping"] == subnets


def test_fill_a_cluster_subnet(cloud):
    """A cluster on two /28 subnets of its own VPC: 11 ENIs fill one (AWS keeps 5 of 16
    addresses), the 12th is InsufficientFreeAddressesInSubnet and changes nothing; the other
    subnet keeps its 11; deleting one ENI frees exactly one address again."""
    vpc = cloud.aws("ec2", "create-vpc", "--cidr-block", "10.77.0.0/16")["Vpc"]["VpcId"]
    sa = cloud.aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.77.1.0/28",
                   "--availability-zone", "us-east-1a")["Subnet"]["SubnetId"]
    sb = cloud.aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.77.2.0/28",
                   "--availability-zone", "us-east-1b")["Subnet"]["SubnetId"]
    cid = cloud.aws(CSV2, "create-cluster", "--hsm-type", "hsm1.medium", "--subnet-ids", sa,
                    sb)["Cluster"]["ClusterId"]
    wait_cluster_state(cloud, cid, "UNINITIALIZED")
    assert cloud.cluster_desc(cid)["SubnetMapping"] == {"us-east-1a": sa, "us-east-1b": sb}

    def free(sid):
        return cloud.aws("ec2", "describe-subnets", "--subnet-ids",
                         sid)["Subnets"][0]["AvailableIpAddressCount"]

    made = []
    try:
        for i in range(11):
            e = cloud.aws("ec2", "create-network-interface", "--subnet-id", sb)
            eni = e["NetworkInterface"]
            assert eni["PrivateIpAddress"] == f"10.77.2.{4 + i}"
            made.append(eni["NetworkInterfaceId"])
        assert free(sb) == 0 and free(sa) == 11
        e = cloud.aws("ec2", "create-network-interface", "--subnet-id", sb, check=False)
        assert e.code == "InsufficientFreeAddressesInSubnet"
        assert "does not have enough free addresses" in e.stderr
        ids = {n["NetworkInterfaceId"] for n in cloud.aws(
            "ec2", "describe-network-interfaces", "--filters",
            f"Name=subnet-id,Values={sb}")["NetworkInterfaces"]}
        assert ids == set(made)
        # A full subnet cannot be deleted either (it has ENIs).
        e = cloud.aws("ec2", "delete-subnet", "--subnet-id", sb, check=False)
        assert e.code == "DependencyViolation"
        cloud.aws("ec2", "delete-network-interface", "--network-interface-id", made.pop())
        assert free(sb) == 1
    finally:
        for eni in made:
            cloud.aws("ec2", "delete-network-interface", "--network-interface-id", eni)
    assert free(sb) == 11
    cloud.aws(CSV2, "delete-cluster", "--cluster-id", cid)
