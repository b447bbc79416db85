"""Driving openhsmd's AWS APIs the way users do: Debian's aws CLI (/usr/bin/aws) and boto3.

Cloud(cluster) wraps a running conftest.Cluster (which starts openhsmd with --listen 127.0.0.1:0
and reads the endpoint from its banner). The CLI runs with dummy keys and empty config files in a
temp HOME, so nothing of the tester's own AWS setup is read; the pyenv `aws` shim that may come
first on PATH is never used.
"""
import json
import os
import pathlib
import re
import subprocess
import tempfile

import pytest

AWS = "/usr/bin/aws"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


class AwsError(Exception):
    """A failed aws CLI call: the AWS error code it printed, and its stderr."""

    def __init__(self, code, stderr, rc):
        super().__init__(f"{code}: {stderr.strip()}")
        self.code = code
        self.stderr = stderr
        self.rc = rc


def aws_env(home, key_id=KEY_ID, secret=SECRET):
    home = pathlib.Path(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / "config").write_text("")
    (home / "credentials").write_text("")
    e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    e.update(HOME=str(home), AWS_CONFIG_FILE=str(home / "config"),
             AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
             AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret, AWS_PAGER="",
             AWS_DEFAULT_OUTPUT="json", AWS_EC2_METADATA_DISABLED="true",
             AWS_MAX_ATTEMPTS="1", AWS_RETRY_MODE="standard")
    return e


class Cloud:
    def __init__(self, cluster, region="us-east-1"):
        assert cluster.endpoint, "openhsmd printed no endpoint:\n" + cluster.output
        self.cluster = cluster
        self.endpoint = cluster.endpoint
        self.region = region
        self.home = tempfile.mkdtemp(prefix="awshome-", dir=str(cluster.data.parent))
        self.env = aws_env(self.home)

    def aws(self, *args, region=None, check=True, timeout=60):
        """Runs `aws --endpoint-url E --region R ARGS...`; returns the parsed JSON output ({} when
        empty), or raises AwsError with the code from 'An error occurred (Code) ...'."""
        r = subprocess.run([AWS, "--endpoint-url", self.endpoint, "--region",
                            region or self.region, *map(str, args)],
                           capture_output=True, text=True, env=self.env, timeout=timeout)
        if r.returncode != 0:
            m = re.search(r"An error occurred \(([^)]+)\)", r.stderr)
            err = AwsError(m.group(1) if m else None, r.stderr, r.returncode)
            if check:
                raise err
            return err
        return json.loads(r.stdout) if r.stdout.strip() else {}

    def boto3(self, service, region=None, **kw):
        import boto3
        import botocore.config
        return boto3.client(service, endpoint_url=self.endpoint, region_name=region or self.region,
                            aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                            config=botocore.config.Config(retries={"max_attempts": 1}), **kw)

    def cluster_desc(self, cid, region=None):
        out = self.aws("cloudhsmv2", "describe-clusters", "--filters", f"clusterIds={cid}",
                       region=region)
        assert len(out["Clusters"]) == 1, out
        return out["Clusters"][0]


def ctl(cluster, *args):
    """`openhsmd ctl ARGS --endpoint E` against cluster's openhsmd."""
    from conftest import BIN
    return subprocess.run([str(BIN / "openhsmd"), "ctl", *args, "--endpoint", cluster.endpoint],
                          capture_output=True, text=True, timeout=90)


@pytest.fixture
def cloud(cluster):
    return Cloud(cluster)


def signed_call(cloud, target, body, signing_name="cloudhsm", region=None, raw=None,
                key_id=KEY_ID, secret=SECRET, headers=None):
    """POSTs an AWS JSON 1.1 request signed with botocore's SigV4 signer, for what Debian's CLI
    and boto3 (late 2022) cannot send: newer fields and deliberately bad bodies. Returns (HTTP
    status, parsed JSON body or None)."""
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    data = raw if raw is not None else json.dumps(body).encode()
    h = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target}
    h.update(headers or {})
    req = AWSRequest(method="POST", url=cloud.endpoint + "/", data=data, headers=h)
    SigV4Auth(Credentials(key_id, secret), signing_name, region or cloud.region).add_auth(req)
    r = urllib.request.Request(cloud.endpoint + "/", data=data, method="POST",
                               headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            text = resp.read()
            return resp.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, None
