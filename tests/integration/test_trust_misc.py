#!/usr/bin/env python3
"""test_trust_misc - replication odds and ends of issue 9 that need no
RGW: `crrfs replicate DEST` takes in the replicas waiting in DEST/inbox
(docs/user-guide.md), tags S3 would refuse are refused when set, and a
mount daemon without syslog keeps a log the user can find
(docs/user-guide.md, STORE/crrfs.log).

Design choice: the inbox is filled the way it is in real life, by a
source mount shipping to a destination held by someone else (here this
test, holding DEST's flock), so the records are what a shipper writes;
results are read from the destination store with `crrfs versions
--store`.
"""

import errno
import fcntl
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crrfs_harness as h  # noqa: E402


class TrustMisc(h.MountsTestCase):
    TMP_PREFIX = "crrfs-trust-misc-"

    def test_replicate_takes_in_the_inbox(self):
        """Records delivered while DEST was held stay in DEST/inbox;
        `crrfs replicate DEST` (no rules of its own) applies them."""
        dest = h.make_store(self.path("dest"))
        rules = h.write_rules(self.path("rules.ini"),
                              h.dir_dest("d", dest) + h.rule("r", "d"))
        lock = open(os.path.join(dest, "lock"), "a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            src = self.mount(rules=rules)
            h.write_file(src.p("f"), b"to the inbox")
            h.wait_status(src.p("f"), "COMPLETED")
            src.stop()
        finally:
            lock.close()
        recs = [n for n in os.listdir(os.path.join(dest, "inbox"))
                if n.endswith(".rec")]
        self.assertEqual(len(recs), 1, recs)
        self.assertEqual(h.store_keys_versions(dest, "f"), [])
        rc, out, err = h.crrfs("replicate", dest, "--timeout", "30")
        self.assertEqual(rc, 0, out + err)
        vs = h.store_keys_versions(dest, "f")
        self.assertEqual(len(vs), 1, "replicate left the inbox alone: "
                         "%s; inbox %s" % (vs, os.listdir(
                             os.path.join(dest, "inbox"))))
        self.assertIn("applied 1 replica", out + err)

    def test_invalid_tags_refused(self):
        """Tags S3 would refuse are refused when set (EINVAL): not UTF-8,
        too long, a character S3 does not allow, an 11th tag."""
        m = self.mount()
        p = m.p("f")
        h.write_file(p, b"x")
        T = b"user.crrfs.tag."
        bad = [(T + b"ok", b"\xff\xfe"), (T + b"\xc3(", b"v"),
               (T + b"k" * 129, b"v"), (T + b"k", b"v" * 257),
               (T + b"semi;colon", b"v"), (T + b"k", b"a\x01b"),
               (T + b"aws:x", b"v"), (T + b"k", b"a&b")]
        for name, val in bad:
            with self.assertRaises(OSError, msg=name) as cm:
                os.setxattr(p, name, val)
            self.assertEqual(cm.exception.errno, errno.EINVAL, name)
        # 128 characters in 228 bytes, 256 in 768 bytes: fine
        os.setxattr(p, T + "\u00e9".encode() * 100 + b"k" * 28, b"v")
        os.setxattr(p, T + b"long", "\u65e5".encode() * 256)
        for i in range(8):
            os.setxattr(p, T + b"t%d" % i, b"v +-=._:/@")
        with self.assertRaises(OSError) as cm:
            os.setxattr(p, T + b"t10", b"v")
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        self.assertEqual(len([n for n in os.listxattr(p)
                              if n.startswith("user.crrfs.tag.")]), 10)

    @unittest.skipIf(os.path.exists("/dev/log"), "this machine has syslog")
    def test_daemon_without_syslog_logs_to_store(self):
        """A daemon (no -f) on a machine without /dev/log writes its log
        to STORE/crrfs.log, with times, rather than to /dev/null."""
        store, mnt = self.path("store"), self.path("mnt")
        os.mkdir(mnt)
        h.add_cleanup(lambda: h._fusermount(mnt, lazy=True))
        rc, out, err = h.run_files([h.BIN, "mount", store, mnt] + (
            ["-o", "attr_timeout=0,entry_timeout=0"] if h.NOCACHE else []))
        self.assertEqual(rc, 0, out + err)
        try:
            rc, out, err = h.crrfs("mount", store, "--reload")
            self.assertEqual(rc, 0, out + err)
            logf = os.path.join(store, "crrfs.log")
            h.wait_for(lambda: os.path.exists(logf) and "replication "
                       "rules reloaded" in open(logf).read(),
                       "the reload in %s" % logf)
            line = [ln for ln in open(logf) if "reloaded" in ln][0]
            self.assertRegex(line, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:"
                             r"\d\d(\.\d+)?Z crrfs\[\d+\]: info: ")
        finally:
            self.assertEqual(h._fusermount(mnt), 0)
        lock = open(os.path.join(store, "lock"), "a")
        try:
            h.wait_for(lambda: self._free(lock), "the daemon to exit")
        finally:
            lock.close()

    @staticmethod
    def _free(f):
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(f, fcntl.LOCK_UN)
            return True
        except OSError:
            return False


if __name__ == "__main__":
    h.main()
