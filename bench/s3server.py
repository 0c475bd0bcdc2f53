"""s3server.py - the S3 server the S3 peers (rclone mount, s3fs) talk to.

A throw-away Ceph RGW on 127.0.0.1 started by tests/rgw/rgw-ctl (beast with
tcp_nodelay=1, the same for every peer), stopped and removed when the bench
ends, even on failure. Buckets are made and listed with `curl --aws-sigv4`
rather than the AWS CLI: a curl call takes milliseconds, the CLI about 0.8 s
to start, and the visibility polls call it many times. Every URL is checked
to be on 127.0.0.0/8 so no bench traffic ever leaves the machine.
"""
import hashlib
import ipaddress
import os
import shutil
import subprocess
import urllib.parse
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
RGW_CTL = os.path.join(os.path.dirname(HERE), "tests", "rgw", "rgw-ctl")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def rgw_install():
    subprocess.run([RGW_CTL, "install"], check=True)


class S3Server:
    """One RGW for the whole run; key, secret and endpoint for the peers."""

    def __init__(self, base, memstore_gib):
        self.dir = os.path.join(base, "rgw")
        self.memstore_gib = memstore_gib
        self.endpoint = None
        self.key = self.secret = None
        self.buckets = 0

    def start(self):
        if os.path.exists(self.dir):  # a leftover of a killed run
            subprocess.run([RGW_CTL, "stop", self.dir, "--clean"],
                           stderr=subprocess.DEVNULL)
            shutil.rmtree(self.dir, ignore_errors=True)
        subprocess.run([RGW_CTL, "start", self.dir, "--port", "0",
                        "--memstore-gib", str(self.memstore_gib)],
                       check=True, stdout=subprocess.DEVNULL)
        env = {}
        with open(os.path.join(self.dir, "env")) as f:
            for line in f:
                if line.startswith("export ") and "=" in line:
                    k, v = line[7:].strip().split("=", 1)
                    env[k] = v.strip("'")
        self.endpoint = env["RGW_ENDPOINT"]
        self.key = env["AWS_ACCESS_KEY_ID"]
        self.secret = env["AWS_SECRET_ACCESS_KEY"]
        host = urllib.parse.urlsplit(self.endpoint).hostname
        if not ipaddress.ip_address(host).is_loopback:
            self.stop()
            raise RuntimeError("RGW endpoint %s is not on loopback"
                               % self.endpoint)

    def stop(self):
        subprocess.run([RGW_CTL, "stop", self.dir, "--clean"],
                       stderr=subprocess.DEVNULL)

    def request(self, method, path, query="", body=b""):
        """One signed S3 request; returns the response body, raises on
        an HTTP error. Every query key needs its '=' (curl 7.88 signs
        'versioning' and RGW checks 'versioning=')."""
        url = self.endpoint + path + ("?" + query if query else "")
        args = ["curl", "-sS", "--noproxy", "*", "-f", "-m", "60",
                "-X", method, "--aws-sigv4", "aws:amz:us-east-1:s3",
                "--user", "%s:%s" % (self.key, self.secret),
                "-H", "x-amz-content-sha256: "
                + hashlib.sha256(body).hexdigest(), url]
        if body:
            args[1:1] = ["--data-binary", "@-"]
        r = subprocess.run(args, input=body, capture_output=True)
        if r.returncode != 0:
            raise RuntimeError("S3 %s %s failed: %s" % (
                method, url, r.stderr.decode(errors="replace").strip()))
        return r.stdout

    def new_bucket(self, prefix, versioning):
        """A fresh, empty bucket per peer set-up: buckets are never reused,
        so no run sees the objects of the one before."""
        self.buckets += 1
        name = "%s-%d" % (prefix, self.buckets)
        self.make_bucket(name, versioning)
        return name

    def make_bucket(self, name, versioning):
        self.request("PUT", "/" + name)
        if versioning:
            self.request("PUT", "/" + name, "versioning=", (
                b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/'
                b'doc/2006-03-01/"><Status>Enabled</Status>'
                b'</VersioningConfiguration>'))

    def count(self, bucket, prefix=""):
        """Number of current objects under prefix (ListObjectsV2, paged)."""
        n, token = 0, None
        while True:
            q = {"list-type": "2", "prefix": prefix, "max-keys": "1000"}
            if token:
                q["continuation-token"] = token
            root = ET.fromstring(self.request(
                "GET", "/" + bucket, urllib.parse.urlencode(
                    sorted(q.items()), quote_via=urllib.parse.quote)))
            n += len(root.findall(NS + "Contents"))
            token = root.findtext(NS + "NextContinuationToken")
            if root.findtext(NS + "IsTruncated") != "true" or not token:
                return n

    def stored_bytes(self, bucket):
        """Bytes of every version of every object in the bucket: what a
        versioned bucket keeps on the server's disks."""
        total, km, vm = 0, None, None
        while True:
            q = {"versions": "", "max-keys": "1000"}
            if km is not None:
                q["key-marker"] = km
                q["version-id-marker"] = vm
            root = ET.fromstring(self.request(
                "GET", "/" + bucket, urllib.parse.urlencode(
                    sorted(q.items()), quote_via=urllib.parse.quote)))
            for v in root.findall(NS + "Version"):
                total += int(v.findtext(NS + "Size") or 0)
            if root.findtext(NS + "IsTruncated") != "true":
                return total
            km = root.findtext(NS + "NextKeyMarker")
            vm = root.findtext(NS + "NextVersionIdMarker")
