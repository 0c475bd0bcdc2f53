#!/usr/bin/env python3
"""test_repl_trust_damage - replication never ships bytes that do not
match the version's stored sha256 (issue 9, item 4, the replicator's
part): a segment overwritten or cut short while the store is unmounted
makes the version's job FAILED with a reason that says so, and the
destination gets nothing for that key.

Design choice: the files are written by a mount without rules, their
sha256 recorded (the user.crrfs.sha256 xattr), the store unmounted and
its segments damaged (found by content), then mounted again with a dir
rule (or an s3 one, against a real Ceph RGW started for the S3 class)
and `crrfs resync` queues the existing versions. resync waits until
nothing is pending, so a damaged job retried for ever would hang it (it
has a timeout); it must end with exit 1 and the versions FAILED. A clean
file written alongside must arrive, so the rule did work. For S3 the three
paths are damaged: a body in memory (up to 8 MiB), a streamed one, and a
multipart upload (64 MiB or more), which must be aborted, not completed.
"""

import errno
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crrfs_harness as h  # noqa: E402
from test_repl_dir import ReplCase  # noqa: E402

KiB = 1 << 10
MiB = 1 << 20
DAMAGED = "does not match its sha256: the store's copy is damaged " \
          "(run crrfs fsck --deep)"


def segments(store):
    out = []
    for d, _, files in os.walk(os.path.join(store, "data")):
        out += [os.path.join(d, f) for f in files]
    return out


def find_in_segments(store, needle):
    """(segment path, offset) of the bytes needle in store's data."""
    for seg in segments(store):
        with open(seg, "rb") as f:
            buf = f.read()
        at = buf.find(needle)
        if at >= 0:
            return seg, at
    raise AssertionError("bytes not found in the segments of %s" % store)


class TestReplDamage(ReplCase):

    def setUp(self):
        super().setUp()
        self.dest = self.path("replica")
        self.r = self.rules(h.dir_dest("dr", self.dest) + h.rule("all", "dr"))

    def setup_files(self, files):
        """A store with files (name -> bytes) and their sha256 recorded,
        unmounted."""
        m = self.mount()
        self.vid = {}
        for name, data in files.items():
            p = self.write(m, name, data)
            h.xattr(p, "user.crrfs.sha256")	# the store records it
            self.vid[name] = h.xattr(p, "user.crrfs.version-id")
        m.stop()
        return m

    def resync_fails(self, m, names):
        """Mount with the rule, resync: the damaged names end FAILED with
        the reason, one log line each, nothing of them in DEST."""
        m.rules = self.r
        m.env = self.env
        m.expect_errors = True
        m.start()
        rc, out, err = h.crrfs("resync", m.mnt, timeout=120)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("%d version%s FAILED" % (
            len(names), "s" if len(names) > 1 else ""), err)
        st = h.crrfs_status_json(m.mnt)
        fails = {f["key"]: f for ff in h.json_find(st, "last_errors")
                 for f in ff}
        log = m.log_text()
        for n in names:
            self.assertEqual(h.repl_status(m.p(n)), "FAILED", n)
            self.assertIn(n, fails, st)
            self.assertEqual(fails[n]["version_id"], self.vid[n])
            self.assertIn("data of '%s' version %s" % (n, self.vid[n]),
                          fails[n]["error"])
            self.assertIn("the store's copy is damaged (run crrfs fsck "
                          "--deep)", fails[n]["error"])
            lines = [ln for ln in log.splitlines()
                     if "replication of '%s'" % n in ln]
            self.assertEqual(len(lines), 1, log)
            self.assert_not_shipped(n)
        self.assert_nothing_left()
        return fails

    env = None

    def assert_not_shipped(self, key):
        self.assert_absent(self.dest, key)

    def assert_nothing_left(self):
        inbox = os.path.join(self.dest, "inbox")
        left = [e for e in os.listdir(inbox) if not e.startswith(".")] \
            if os.path.isdir(inbox) else []
        self.assertEqual(left, [], "records left in the inbox")

    def damage(self, m, files, where):
        """Overwrite 64 bytes of each named file at its offset."""
        for name, at in where.items():
            data = files[name]
            seg, off = find_in_segments(m.store, data[at:at + 64])
            with open(seg, "r+b") as f:
                f.seek(off)
                f.write(b"\0" * 64)

    def assert_marked(self, m, names):
        """The replicator marked each version damaged: reads through the
        mount (no -o verify) fail with EIO, in this mount and the next."""
        for restart in (False, True):
            if restart:
                m.stop()
                m.start()
            for n in names:
                with self.assertRaises(OSError, msg=n) as cm:
                    h.read_file(m.p(n))
                self.assertEqual(cm.exception.errno, errno.EIO, n)
        log = m.log_text()
        for n in names:
            self.assertIn("data of key '%s' version %s is damaged: marked; "
                          "reads fail with EIO" % (n, self.vid[n]), log)

    def test_overwritten_bytes_are_not_shipped(self):
        """Bytes overwritten inside the segments of a small and a large
        (several pieces) file: both FAILED as not matching their sha256;
        the clean file arrives."""
        files = {"small": os.urandom(300 * KiB),
                 "large": os.urandom(12 * MiB + 4321),
                 "clean": b"clean bytes\n"}
        m = self.setup_files(files)
        self.damage(m, files, {"small": 100 * KiB, "large": 11 * MiB})
        fails = self.resync_fails(m, ["small", "large"])
        for n in ("small", "large"):
            self.assertIn(DAMAGED, fails[n]["error"])
        self.wait_dest(self.dest, "clean", [(self.vid["clean"], False)])
        self.assert_marked(m, ["small", "large"])

    def test_cut_short_segment_fails_at_once(self):
        """A segment cut short reads as EIO: FAILED for good with a reason
        that names the damage, not retried for ever."""
        data = os.urandom(2 * MiB)
        m = self.setup_files({"cut": data})
        seg, off = find_in_segments(m.store, data[:64])
        os.truncate(seg, off + MiB)
        fails = self.resync_fails(m, ["cut"])
        self.assertIn("cannot be read (Input/output error)",
                      fails["cut"]["error"])


class TestReplDamageS3(TestReplDamage):
    """The same through an s3 destination on RGW."""

    rgw = None

    @classmethod
    def setUpClass(cls):
        missing = h.have_rgw()
        if missing:
            raise unittest.SkipTest("no RGW here: " + missing)
        cls.rgw = h.RGW().start()

    @classmethod
    def tearDownClass(cls):
        if cls.rgw is not None:
            cls.rgw.stop()

    def setUp(self):
        super().setUp()
        creds = self.rgw.credentials_file(self.path("credentials"))
        self.bucket = self.rgw.make_bucket("crrfs-damage-%d" % id(self))
        self.r = self.rules(self.rgw.dest("s3", self.bucket, creds)
                            + h.rule("all", "s3"), "s3.ini")
        self.env = h.daemon_env()

    def assert_not_shipped(self, key):
        got = [v for v in self.rgw.list_versions(self.bucket)
               if v["key"] == key]
        self.assertEqual(got, [], "%s should not be in the bucket" % key)

    def assert_nothing_left(self):
        rc, out, err = self.rgw.aws_raw("list-multipart-uploads",
                                        "--bucket", self.bucket)
        self.assertEqual(rc, 0, err)
        self.assertNotIn('"UploadId"', out, "an upload was left behind")

    def test_overwritten_bytes_are_not_shipped(self):
        """In memory, streamed and multipart: each FAILED as not matching
        its sha256, the multipart upload aborted; the clean file
        arrives."""
        files = {"small": os.urandom(300 * KiB),
                 "streamed": os.urandom(12 * MiB + 4321),
                 "multi": os.urandom(66 * MiB + 4321),
                 "clean": b"clean bytes\n"}
        m = self.setup_files(files)
        self.damage(m, files, {"small": 100 * KiB, "streamed": 11 * MiB,
                               "multi": 40 * MiB})
        fails = self.resync_fails(m, ["small", "streamed", "multi"])
        for n in ("small", "streamed", "multi"):
            self.assertIn(DAMAGED, fails[n]["error"])
        h.wait_status(m.p("clean"), "COMPLETED")
        self.assert_marked(m, ["small", "streamed", "multi"])


if __name__ == "__main__":
    h.main()
