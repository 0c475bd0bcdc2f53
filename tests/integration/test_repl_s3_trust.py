#!/usr/bin/env python3
"""test_repl_s3_trust - what an S3 destination must not hide (issue 9),
against a real Ceph RGW started for this file (tests/rgw/rgw-ctl):

- versioning suspended on the bucket after the mount checked it: every
  write that comes back without a version id (single PUT, multipart
  upload, delete marker, folder) is FAILED with a reason that says so and
  what versioning is now, never COMPLETED; later ships write nothing
  until versioning is Enabled again;
- an outage is logged once when it starts and once when it ends, not
  once per retry;
- tags in any script reach the bucket and read back (the tags S3 would
  refuse are refused when set: test_trust_misc.py).

Design choice: one RGW for the file, one bucket per test; results are read
with /usr/bin/aws and `crrfs status --json`, never from the daemon alone.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crrfs_harness as h  # noqa: E402

MiB = 1 << 20
RGW = None
_buckets = [0]


def setUpModule():
    global RGW
    RGW = h.RGW().start()


def tearDownModule():
    if RGW is not None:
        RGW.stop()


class S3Trust(h.MountsTestCase):

    TMP_PREFIX = "crrfs-s3-trust-"

    def setUp(self):
        super().setUp()
        self.creds = RGW.credentials_file(self.path("credentials"))

    def bucket(self):
        _buckets[0] += 1
        return RGW.make_bucket("crrfs-trust-%d" % _buckets[0])

    def mount(self, bucket, **kw):
        rules = h.write_rules(self.path("rules.ini"),
                              RGW.dest("s3", bucket, self.creds)
                              + h.rule("all", "s3", dm=True))
        return super().mount(rules=rules, env=h.daemon_env(), **kw)

    def versioning(self, bucket, status):
        RGW.aws("put-bucket-versioning", "--bucket", bucket,
                "--versioning-configuration", "Status=" + status)

    def status_text(self, m):
        rc, out, err = h.crrfs("status", m.mnt, "--json")
        self.assertEqual(rc, 0, err)
        return out

    def test_suspended_versioning_fails_every_write(self):
        b = self.bucket()
        m = self.mount(b)
        h.write_file(m.p("old"), b"kept")
        h.wait_status(m.p("old"), "COMPLETED")
        self.versioning(b, "Suspended")
        # a single PUT, a folder, a delete marker, a multipart upload
        h.write_file(m.p("small"), b"after suspend")
        h.wait_status(m.p("small"), "FAILED")
        os.mkdir(m.p("dir"))
        h.wait_status(m.p("dir"), "FAILED")
        os.unlink(m.p("old"))
        e = m.entries("old")[-1]
        h.wait_status(m.vp("old", e), "FAILED")
        with open(m.p("big"), "wb") as f:
            f.write(os.urandom(MiB) * 65)
        h.wait_status(m.p("big"), "FAILED", timeout=180)
        st = self.status_text(m)
        self.assertIn("returned no version id for 'small': bucket '%s' "
                      "versioning is Suspended" % b, st)
        # later ships ask first and write nothing
        RGW.aws("delete-object", "--bucket", b, "--key", "small")
        before = {(v["key"], v["vid"]) for v in RGW.list_versions(b)}
        h.write_file(m.p("later"), b"not sent")
        h.wait_status(m.p("later"), "FAILED")
        self.assertIn("not shipped, as it would replace", self.status_text(m))
        after = {(v["key"], v["vid"]) for v in RGW.list_versions(b)}
        self.assertEqual(after, before)
        # versioning back: ships succeed again
        self.versioning(b, "Enabled")
        h.write_file(m.p("again"), b"versioned")
        h.wait_status(m.p("again"), "COMPLETED")

    def test_outage_while_unversioned_is_retried(self):
        """Once a write came back unversioned, each ship asks for the
        bucket's versioning first; a server it cannot reach then is an
        outage to wait out, not a reason to fail the version."""
        b = self.bucket()
        m = self.mount(b, expect_errors=True)
        self.versioning(b, "Suspended")
        h.write_file(m.p("small"), b"after suspend")
        h.wait_status(m.p("small"), "FAILED")
        RGW.outage()
        try:
            h.write_file(m.p("k"), b"during the outage")
            h.wait_for(lambda: re.search(r"destination 's3' unreachable",
                                         m.log_text()),
                       "the outage in the log")
            self.assertNotEqual(h.repl_status(m.p("k")), "FAILED")
        finally:
            RGW.back()
        # back, but still Suspended until the line below: the retry may
        # fail k for that reason, which resync --failed then ships
        self.versioning(b, "Enabled")
        rc, out, err = h.crrfs("resync", m.store, "--failed")
        self.assertIn(rc, (0, 1), out + err)
        h.wait_status(m.p("k"), "COMPLETED", timeout=180)

    def test_outage_logged_once_each_way(self):
        b = self.bucket()
        m = self.mount(b, expect_errors=True)
        h.write_file(m.p("warm"), b"w")
        h.wait_status(m.p("warm"), "COMPLETED")
        RGW.outage()
        try:
            for i in range(3):
                h.write_file(m.p("k%d" % i), b"during the outage")
            down = re.compile(r"destination 's3' unreachable: .*; retrying")
            h.wait_for(lambda: down.search(m.log_text()),
                       "the outage in the log")
            time.sleep(6)	# several retries
        finally:
            RGW.back()
        for i in range(3):
            h.wait_status(m.p("k%d" % i), "COMPLETED", timeout=180)
        back = re.compile(r"destination 's3' reachable again after \d+ s, "
                          r"\d+ versions? waiting")
        h.wait_for(lambda: back.search(m.log_text()), "the end of the "
                   "outage in the log")
        log = m.log_text()
        self.assertEqual(len(down.findall(log)), 1, log)
        self.assertEqual(len(back.findall(log)), 1, log)

    def test_tags_shipped_stay_readable(self):
        """Ten tags, names and values in several scripts: the bucket's
        tagging of the replica reads back the same."""
        b = self.bucket()
        m = self.mount(b)
        p = m.p("f")
        h.write_file(p, b"x")
        want = {"t%d" % i: "v%d" % i for i in range(8)}
        want["caf\u00e9"] = "\u65e5\u672c +-=._:/@"
        want["k"] = ""
        for k, v in want.items():
            os.setxattr(p, "user.crrfs.tag." + k, v.encode())
        h.wait_status(p, "COMPLETED")
        self.assertEqual(RGW.tagging(b, "f"), want)


if __name__ == "__main__":
    h.main_rgw()
