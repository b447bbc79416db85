# SPDX-License-Identifier: Apache-2.0
"""The HTTP front door (src/http) through the real clients: Debian's aws CLI (/usr/bin/aws) and
boto3 against ohsm-http-testd, a test-only daemon with toy services behind the real server:
  BaldrApiService (JSON 1.1, signing name cloudhsm): DescribeClusters echoes NextToken,
    DeleteCluster always fails with CloudHsmResourceNotFoundException, DescribeBackups fails
    without saying why (the server must answer InternalFailure);
  EC2 Query: DescribeAvailabilityZones returns one zone of the call's region, DescribeVpcs
    overflows the reply bound (InternalError).
Cases the clients cannot produce (malformed JSON, other content types, changed actions) are made
by changing the real client's request in its before-sign hook, so it is still signed and parsed by
botocore; the body bound is also checked with raw http.client. Each error is checked as boto3
reports it (Error.Code and the HTTP status).

Every daemon binds 127.0.0.1 on a free port; every wait has a deadline; every daemon is stopped.
The user's AWS configuration is never read (AWS_CONFIG_FILE/AWS_SHARED_CREDENTIALS_FILE point
at /dev/null, HOME at a temp dir).
"""
import datetime
import http.client
import importlib
import json
import os
import pathlib
import re
import select
import socket
import subprocess
import time
import types
import uuid
from unittest import mock

import boto3
import botocore
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.parsers
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("OHSM_BIN", ROOT / "build" / "bin"))
AWS = "/usr/bin/aws"
AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


class Daemon:
    """One ohsm-http-testd process; stop() (or the fixture) ends it."""

    def __init__(self, tmp, *args):
        self.log = open(tmp / f"testd-{uuid.uuid4().hex[:8]}.log", "wb")
        self.proc = subprocess.Popen([str(BIN / "ohsm-http-testd"), "--listen", "127.0.0.1:0",
                                      *args], stdout=subprocess.PIPE, stderr=self.log)
        line = self._readline(10.0)
        m = re.fullmatch(rb"listening on 127\.0\.0\.1:(\d+)\n", line)
        if m is None:
            self.stop()
            raise RuntimeError(f"ohsm-http-testd did not start: {line!r}")
        self.port = int(m.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def _readline(self, timeout):
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return buf
            chunk = os.read(fd, 256)
            if not chunk:
                return buf
            buf += chunk
        return buf

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.log.close()


@pytest.fixture(autouse=True)
def isolated_aws_env(tmp_path, monkeypatch):
    """Keeps the user's AWS files and any metadata service out of every client."""
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def daemons(tmp_path):
    started = []

    def start(*args):
        d = Daemon(tmp_path, *args)
        started.append(d)
        return d
    yield start
    for d in started:
        d.stop()


@pytest.fixture
def plain(daemons):
    """A daemon without credentials (any key accepted), body bound 1024 bytes."""
    return daemons("--region", "us-east-1", "--max-body", "1024")


@pytest.fixture
def creds_file(tmp_path):
    p = tmp_path / "credentials"
    p.write_text(f"[default]\naws_access_key_id = {AKID}\naws_secret_access_key = {SECRET}\n")
    p.chmod(0o600)
    return p


@pytest.fixture
def signed(daemons, creds_file):
    """A daemon that verifies SigV4 against creds_file."""
    return daemons("--credentials", str(creds_file), "--region", "us-east-1")


def client(d, service, region="us-east-1", akid=AKID, secret=SECRET, **cfg):
    session = boto3.session.Session(aws_access_key_id=akid, aws_secret_access_key=secret,
                                    region_name=region)
    return session.client(service, endpoint_url=d.url,
                          config=Config(retries={"max_attempts": 1, "mode": "standard"}, **cfg))


def aws(d, region, *args, akid=AKID, secret=SECRET):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=akid, AWS_SECRET_ACCESS_KEY=secret, AWS_PAGER="",
               AWS_MAX_ATTEMPTS="1", AWS_RETRY_MODE="standard")
    return subprocess.run([AWS, "--endpoint-url", d.url, "--region", region, "--output", "json",
                           *args], env=env, capture_output=True, text=True, timeout=120)


def error_of(call):
    """(Error.Code, HTTP status) of the ClientError call() raises, as boto3 reports them."""
    with pytest.raises(ClientError) as e:
        call()
    return (e.value.response["Error"]["Code"],
            e.value.response["ResponseMetadata"]["HTTPStatusCode"])


def mangle(c, op, data=None, headers=None):
    """Changes the body and/or headers of c's next op request just before it is signed."""
    def hook(request, **kwargs):
        if data is not None:
            request.data = data
        for k, v in (headers or {}).items():
            del request.headers[k]
            request.headers[k] = v
    c.meta.events.register(f"before-sign.{c.meta.service_model.endpoint_prefix}.{op}", hook)
    return c


def raw(d, method, path, headers, body=b""):
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        if body and not any(k.lower() == "content-length" for k in headers):
            headers = dict(headers, **{"Content-Length": str(len(body))})
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            try:
                conn.send(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer and close before the whole body is sent
        r = conn.getresponse()
        return r.status, botocore.awsrequest.HeadersDict(r.getheaders()), r.read()
    finally:
        conn.close()


def boto_code(service, op, status, headers, body):
    """The Error.Code botocore's own parser finds in a raw reply (what boto3 would report)."""
    model = botocore.session.get_session().get_service_model(service)
    parser = botocore.parsers.create_parser(model.metadata["protocol"])
    parsed = parser.parse({"status_code": status, "headers": headers, "body": body},
                          model.operation_model(op).output_shape)
    return parsed["Error"]["Code"]


# ---- without credentials: envelopes, routing, errors ----

def test_cli_success_paths(plain):
    r = aws(plain, "eu-west-2", "cloudhsmv2", "describe-clusters")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"Clusters": []}
    r = aws(plain, "eu-west-2", "ec2", "describe-availability-zones")
    assert r.returncode == 0, r.stderr
    zones = json.loads(r.stdout)["AvailabilityZones"]
    assert zones == [{"ZoneName": "eu-west-2a", "State": "available", "RegionName": "eu-west-2",
                      "ZoneId": "toy-az1"}]


def test_cli_service_error(plain):
    r = aws(plain, "us-east-1", "cloudhsmv2", "delete-cluster", "--cluster-id",
            "cluster-abcdefghijk")
    assert r.returncode == 254
    assert re.search(r"An error occurred \(CloudHsmResourceNotFoundException\) when calling the "
                     r"DeleteCluster operation( \(reached max retries: 0\))?: Cluster "
                     r"cluster-abcdefghijk not found", r.stderr), r.stderr


def test_boto3_success_and_request_ids(plain):
    c = client(plain, "cloudhsmv2", region="ap-south-1")
    resp = c.describe_clusters(NextToken="page-2")
    assert resp["Clusters"] == [] and resp["NextToken"] == "page-2"
    meta = resp["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 200
    assert meta["HTTPHeaders"]["content-type"] == "application/x-amz-json-1.1"
    assert UUID4.match(meta["RequestId"])
    assert "NextToken" not in c.describe_clusters()
    ec2 = client(plain, "ec2", region="ap-south-1")
    resp = ec2.describe_availability_zones()
    assert [z["ZoneName"] for z in resp["AvailabilityZones"]] == ["ap-south-1a"]
    assert resp["AvailabilityZones"][0]["RegionName"] == "ap-south-1"
    meta = resp["ResponseMetadata"]
    assert UUID4.match(meta["RequestId"])  # from <requestId> in the body
    assert meta["HTTPHeaders"]["x-amzn-requestid"] == meta["RequestId"]
    assert meta["HTTPHeaders"]["content-type"] == "text/xml;charset=UTF-8"


def test_json_errors_through_boto3(plain):
    c = client(plain, "cloudhsmv2")
    assert error_of(lambda: c.delete_cluster(ClusterId="cluster-abcdefghijk")) == \
        ("CloudHsmResourceNotFoundException", 400)
    assert error_of(lambda: c.describe_backups()) == ("InternalFailure", 500)
    # An operation the service lacks: the same request under another operation name.
    c = mangle(client(plain, "cloudhsmv2"), "DescribeClusters",
               headers={"X-Amz-Target": "BaldrApiService.LaunchRockets"})
    assert error_of(c.describe_clusters) == ("UnknownOperationException", 400)
    # A target prefix nobody serves (KMS is not registered in the toy daemon).
    kms = client(plain, "kms")
    assert error_of(kms.list_keys) == ("UnknownOperationException", 400)
    c = mangle(client(plain, "cloudhsmv2"), "DescribeClusters", data=b'{"NextToken": ')
    assert error_of(c.describe_clusters) == ("SerializationException", 400)
    c = mangle(client(plain, "cloudhsmv2"), "DescribeClusters", data=b'["NextToken"]')
    assert error_of(c.describe_clusters) == ("SerializationException", 400)
    c = mangle(client(plain, "cloudhsmv2"), "DescribeClusters", data=b'{"a": 1, "a": 2}')
    assert error_of(c.describe_clusters) == ("SerializationException", 400)
    # The service's validation hook: a NextToken of the wrong type.
    c = mangle(client(plain, "cloudhsmv2"), "DescribeClusters", data=b'{"NextToken": 5}')
    assert error_of(c.describe_clusters) == ("CloudHsmInvalidRequestException", 400)
    c = mangle(client(plain, "cloudhsmv2"), "DescribeClusters",
               headers={"Content-Type": "application/json"})
    assert error_of(c.describe_clusters) == ("CloudHsmInvalidRequestException", 400)


def test_body_bound(plain):
    # Through boto3: botocore does not check NextToken's maximum length, so it sends it.
    c = client(plain, "cloudhsmv2")
    assert error_of(lambda: c.describe_clusters(NextToken="x" * 2000)) == \
        ("CloudHsmInvalidRequestException", 413)
    assert c.describe_clusters(NextToken="x" * 900)["NextToken"] == "x" * 900
    # Raw: refused on Content-Length, whether or not the body follows.
    hdrs = {"Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "BaldrApiService.DescribeClusters"}
    body = json.dumps({"NextToken": "y" * 1100}).encode()
    status, h, b = raw(plain, "POST", "/", dict(hdrs, **{"Content-Length": str(len(body))}), body)
    assert status == 413
    assert UUID4.match(h["x-amzn-RequestId"])
    assert boto_code("cloudhsmv2", "DescribeClusters", status, h, b) == \
        "CloudHsmInvalidRequestException"
    status, h, b = raw(plain, "POST", "/", dict(hdrs, **{"Content-Length": "1073741824"}))
    assert status == 413
    # An EC2 form body over the bound gets the EC2 envelope.
    form = b"Action=DescribeAvailabilityZones&Version=2016-11-15&Pad=" + b"z" * 1100
    status, h, b = raw(plain, "POST", "/", {"Content-Type": "application/x-www-form-urlencoded",
                                            "Content-Length": str(len(form))}, form)
    assert status == 413
    assert b.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>')
    assert f"<RequestID>{h['x-amzn-RequestId']}</RequestID>".encode() in b
    assert boto_code("ec2", "DescribeAvailabilityZones", status, h, b) == "InvalidParameterValue"
    # The daemon still serves after all that.
    assert c.describe_clusters()["Clusters"] == []


def test_ec2_errors_through_boto3(plain):
    ec2 = mangle(client(plain, "ec2"), "DescribeAvailabilityZones",
                 data=b"Action=DescribeTeleporters&Version=2016-11-15")
    assert error_of(ec2.describe_availability_zones) == ("InvalidAction", 400)
    ec2 = mangle(client(plain, "ec2"), "DescribeAvailabilityZones",
                 data=b"Version=2016-11-15")
    assert error_of(ec2.describe_availability_zones) == ("MissingAction", 400)
    ec2 = mangle(client(plain, "ec2"), "DescribeAvailabilityZones",
                 data=b"Action=DescribeAvailabilityZones&Version=2014-06-15")
    assert error_of(ec2.describe_availability_zones) == ("NoSuchVersion", 400)
    ec2 = mangle(client(plain, "ec2"), "DescribeAvailabilityZones",
                 data=b"Action=DescribeAvailabilityZones&Version=2016-11-15&A=%zz")
    assert error_of(ec2.describe_availability_zones) == ("InvalidParameterValue", 400)
    ec2 = mangle(client(plain, "ec2"), "DescribeAvailabilityZones",
                 data=b"Action=DescribeAvailabilityZones&Version=2016-11-15&A=1&A=2")
    assert error_of(ec2.describe_availability_zones) == ("InvalidParameterValue", 400)
    ec2 = client(plain, "ec2")
    assert error_of(ec2.describe_vpcs) == ("InternalError", 500)
    r = aws(plain, "us-east-1", "ec2", "describe-vpcs")
    assert r.returncode == 254 and "(InternalError)" in r.stderr


def test_raw_routes(plain):
    status, h, b = raw(plain, "GET", "/metrics", {})
    assert status == 404 and json.loads(b)["__type"] == "UnknownOperationException"
    assert UUID4.match(h["x-amzn-RequestId"])
    status, h, b = raw(plain, "DELETE", "/", {})
    assert status == 405 and "__type" in json.loads(b)
    status, h, b = raw(plain, "POST", "/", {"Content-Type": "text/plain", "Content-Length": "2"},
                       b"hi")
    assert status == 400 and json.loads(b)["__type"] == "UnknownOperationException"
    # EC2 allows GET with the parameters in the query string.
    status, h, b = raw(plain, "GET", "/?Action=DescribeAvailabilityZones&Version=2016-11-15", {})
    assert status == 200
    assert b.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n'
                        b'<DescribeAvailabilityZonesResponse '
                        b'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>')
    assert f"<requestId>{h['x-amzn-RequestId']}</requestId>".encode() in b
    assert b"<zoneName>us-east-1a</zoneName>" in b


# ---- with credentials: SigV4 verified ----

def test_signed_right_key(signed):
    r = aws(signed, "eu-central-1", "cloudhsmv2", "describe-clusters")
    assert r.returncode == 0, r.stderr
    r = aws(signed, "eu-central-1", "ec2", "describe-availability-zones")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["AvailabilityZones"][0]["ZoneName"] == "eu-central-1a"
    assert client(signed, "cloudhsmv2").describe_clusters(NextToken="n")["NextToken"] == "n"
    assert client(signed, "ec2").describe_availability_zones()["AvailabilityZones"]


def test_signed_wrong_secret(signed):
    r = aws(signed, "us-east-1", "cloudhsmv2", "describe-clusters", secret=SECRET[:-1] + "X")
    assert r.returncode == 254 and "(InvalidSignatureException)" in r.stderr
    c = client(signed, "cloudhsmv2", secret="not-the-secret")
    assert error_of(c.describe_clusters) == ("InvalidSignatureException", 400)
    ec2 = client(signed, "ec2", secret="not-the-secret")
    assert error_of(ec2.describe_availability_zones) == ("SignatureDoesNotMatch", 403)


def test_signed_unknown_key(signed):
    r = aws(signed, "us-east-1", "cloudhsmv2", "describe-clusters", akid="AKIAUNKNOWN000000000")
    assert r.returncode == 254 and "(UnrecognizedClientException)" in r.stderr
    c = client(signed, "cloudhsmv2", akid="AKIAUNKNOWN000000000")
    assert error_of(c.describe_clusters) == ("UnrecognizedClientException", 400)
    ec2 = client(signed, "ec2", akid="AKIAUNKNOWN000000000")
    assert error_of(ec2.describe_availability_zones) == ("AuthFailure", 401)


def test_signed_unsigned_request(signed):
    c = client(signed, "cloudhsmv2", signature_version=botocore.UNSIGNED)
    assert error_of(c.describe_clusters) == ("MissingAuthenticationTokenException", 403)
    ec2 = client(signed, "ec2", signature_version=botocore.UNSIGNED)
    assert error_of(ec2.describe_availability_zones) == ("MissingAuthenticationToken", 403)


class _OldClock(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return datetime.datetime.utcnow() - datetime.timedelta(minutes=20)


class old_clock:
    """Makes botocore's signers (its own SigV4Auth and, when awscrt is installed, the CRT one
    botocore prefers) date requests 20 minutes in the past."""

    def __enter__(self):
        fake = types.SimpleNamespace(datetime=_OldClock, timezone=datetime.timezone,
                                     timedelta=datetime.timedelta)
        self.patches = [mock.patch.object(botocore.auth, "datetime", fake)]
        try:
            crt_auth = importlib.import_module("botocore.crt.auth")
            self.patches.append(mock.patch.object(crt_auth, "datetime", fake))
        except ImportError:
            pass
        for p in self.patches:
            p.start()

    def __exit__(self, *exc):
        for p in self.patches:
            p.stop()


def test_signed_old_date(signed):
    c = client(signed, "cloudhsmv2")
    ec2 = client(signed, "ec2")
    sent = []
    c.meta.events.register("before-send.cloudhsmv2.DescribeClusters",
                           lambda request, **kw: sent.append(request.headers["X-Amz-Date"]))
    with old_clock():
        with pytest.raises(ClientError) as e:
            c.describe_clusters()
        assert error_of(ec2.describe_availability_zones) == ("RequestExpired", 400)
    assert (e.value.response["Error"]["Code"],
            e.value.response["ResponseMetadata"]["HTTPStatusCode"]) == \
        ("InvalidSignatureException", 400)
    assert e.value.response["Error"]["Message"].startswith("Signature expired: ")
    old = datetime.datetime.strptime(sent[0].decode(), "%Y%m%dT%H%M%SZ")
    assert datetime.datetime.utcnow() - old > datetime.timedelta(minutes=19)
    # The same client with the right clock works again.
    assert c.describe_clusters()["Clusters"] == []


def _signed_raw(d, service, body, target="BaldrApiService.DescribeClusters"):
    """A request signed by botocore's SigV4Auth for service; returns (headers, body)."""
    req = botocore.awsrequest.AWSRequest(
        method="POST", url=d.url + "/", data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target})
    creds = botocore.credentials.Credentials(AKID, SECRET)
    botocore.auth.SigV4Auth(creds, service, "us-east-1").add_auth(req)
    return dict(req.headers.items()), body


def test_signed_raw_scope_and_tamper(signed):
    hdrs, body = _signed_raw(signed, "cloudhsm", b"{}")
    status, h, b = raw(signed, "POST", "/", hdrs, body)
    assert status == 200 and json.loads(b) == {"Clusters": []}
    # Signed for another service (credential scope kms).
    hdrs, body = _signed_raw(signed, "kms", b"{}")
    status, h, b = raw(signed, "POST", "/", hdrs, body)
    assert (boto_code("cloudhsmv2", "DescribeClusters", status, h, b), status) == \
        ("InvalidSignatureException", 400)
    assert "Credential should be scoped to correct service" in json.loads(b)["message"]
    # The body changed after signing.
    hdrs, _ = _signed_raw(signed, "cloudhsm", b"{}")
    status, h, b = raw(signed, "POST", "/", dict(hdrs, **{"Content-Length": "2"}), b"[]")
    assert (boto_code("cloudhsmv2", "DescribeClusters", status, h, b), status) == \
        ("InvalidSignatureException", 400)
    # The target changed after signing.
    hdrs, body = _signed_raw(signed, "cloudhsm", b"{}")
    hdrs["X-Amz-Target"] = "BaldrApiService.DeleteCluster"
    status, h, b = raw(signed, "POST", "/", hdrs, body)
    assert (boto_code("cloudhsmv2", "DeleteCluster", status, h, b), status) == \
        ("InvalidSignatureException", 400)
    # A malformed Authorization header.
    hdrs["Authorization"] = "AWS4-HMAC-SHA256 Credential=x"
    status, h, b = raw(signed, "POST", "/", hdrs, body)
    assert (boto_code("cloudhsmv2", "DescribeClusters", status, h, b), status) == \
        ("IncompleteSignatureException", 400)


def test_credentials_file_refused(tmp_path, creds_file):
    creds_file.chmod(0o644)
    p = subprocess.run([str(BIN / "ohsm-http-testd"), "--listen", "127.0.0.1:0", "--credentials",
                        str(creds_file)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and p.stdout == ""
    assert "readable or writable by others" in p.stderr and SECRET not in p.stderr
    bad = tmp_path / "bad"
    bad.write_text("[default]\naws_access_key_id = A\n")
    bad.chmod(0o600)
    p = subprocess.run([str(BIN / "ohsm-http-testd"), "--listen", "127.0.0.1:0", "--credentials",
                        str(bad)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "aws_secret_access_key" in p.stderr


def test_slow_and_hostile_clients_do_not_hold_the_server(plain):
    # Twenty connections that sent half a request and stay silent...
    socks = []
    try:
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", plain.port), timeout=10)
            s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: BaldrApi")
            socks.append(s)
        # ...do not keep others out.
        c = client(plain, "cloudhsmv2")
        start = time.monotonic()
        assert c.describe_clusters()["Clusters"] == []
        assert time.monotonic() - start < 10
        # Headers far over the connection's memory pool are refused without a dispatch.
        try:
            status, _, _ = raw(plain, "POST", "/", {"X-Big": "a" * 200_000})
            assert 400 <= status < 500
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
            pass
        assert c.describe_clusters()["Clusters"] == []
    finally:
        for s in socks:
            s.close()


def _threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def _closed_by_server(s):
    """True once the server has closed s (a non-blocking socket): recv gives EOF or a reset."""
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def test_connection_flood_is_bounded(plain):
    """The server runs a thread per connection: 80 silent connections from one address get at
    most 64 (the per-address limit) and so at most 64 threads; the server closes the rest at once,
    and when the flood ends its threads end with it and the server answers again."""
    pid = plain.proc.pid
    c = client(plain, "cloudhsmv2")
    assert c.describe_clusters()["Clusters"] == []
    base = _threads(pid)
    socks = []
    try:
        for _ in range(80):
            s = socket.create_connection(("127.0.0.1", plain.port), timeout=10)
            s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: BaldrApi")
            s.setblocking(False)
            socks.append(s)
        deadline = time.monotonic() + 20
        while sum(_closed_by_server(s) for s in socks) < 16:
            assert time.monotonic() < deadline, "the server kept more than 64 connections"
            time.sleep(0.05)
        # The rest stay open (boto3's kept-alive connection may hold one of the 64).
        assert sum(not _closed_by_server(s) for s in socks) >= 63
        assert _threads(pid) <= base + 64
    finally:
        for s in socks:
            s.close()
    deadline = time.monotonic() + 30
    while _threads(pid) > base:
        assert time.monotonic() < deadline, f"{_threads(pid) - base} connection threads left"
        time.sleep(0.05)
    assert c.describe_clusters()["Clusters"] == []
