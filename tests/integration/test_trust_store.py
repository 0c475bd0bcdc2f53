#!/usr/bin/env python3
"""test_trust_store - a damaged store is refused, never "repaired" into
an empty one (issue 9, items 2, 3 and 13): an index that is missing,
emptied, replaced by a fresh one or truncated, and a format file of an
unknown version. fsck, fsck --repair, versions --store and the mount
must each say what is wrong, exit non-zero (never by a signal), and
leave every data segment where it was.

Design choice: each case damages a copy of a store written through the
real mount, and the proof that nothing was deleted is the strongest one:
the original index put back, the store mounts and every file reads its
bytes again.
"""

import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crrfs_harness as h  # noqa: E402

FILES = {
    "small": b"small file\n",
    "dir/medium": b"m" * 70000,
    "dir/big": bytes(range(256)) * 4096,	# 1 MiB, a segment of its own
}


def segments(store):
    """Sorted relative paths of every file under STORE/data."""
    out = []
    top = os.path.join(store, "data")
    for d, _, files in os.walk(top):
        out += [os.path.relpath(os.path.join(d, f), top) for f in files]
    return sorted(out)


class TrustStore(unittest.TestCase):

    def setUp(self):
        self.m = h.Mount()
        try:
            self.m.start()
            for rel, data in FILES.items():
                os.makedirs(os.path.dirname(self.m.p(rel)), exist_ok=True)
                h.write_file(self.m.p(rel), data)
            h.write_file(self.m.p("small"), b"small file v2\n")
            self.m.stop()
        except BaseException:
            self.m.destroy()
            raise
        self.store = self.m.store
        self.index = os.path.join(self.store, "index")
        self.saved = os.path.join(self.m.dir, "index.saved")
        shutil.copytree(self.index, self.saved)
        self.segs = segments(self.store)
        self.assertGreaterEqual(len(self.segs), 2, self.segs)

    def tearDown(self):
        self.m.destroy()

    # -- helpers ------------------------------------------------------------
    def refused(self, args, *words):
        """Run crrfs args: it must fail with exit 1 (not a signal) and say
        each of words on stderr; the data must be untouched."""
        rc, out, err = h.crrfs(*args)
        self.assertEqual(rc, 1, "%s: exit %s (negative: a signal)\n%s%s"
                         % (" ".join(args), rc, out, err))
        self.assertIsNone(h.SANITIZER_LINE.search(err), err)
        for w in words:
            self.assertIn(w, err, "%s: message lacks %r: %r"
                          % (" ".join(args), w, err))
        self.assertEqual(segments(self.store), self.segs,
                         "%s deleted data" % " ".join(args))
        return err

    def mount_refused(self, *words):
        rc, out = h.expect_mount_fails(self.m.argv(), self.m.mnt)
        self.assertEqual(rc, 1, out)
        self.assertIsNone(h.SANITIZER_LINE.search(out), out)
        for w in words:
            self.assertIn(w, out, "mount: message lacks %r: %r" % (w, out))
        self.assertEqual(segments(self.store), self.segs, "mount deleted data")
        return out

    def all_refused(self, *words):
        self.refused(["fsck", self.store], *words)
        self.refused(["fsck", "--repair", self.store], *words)
        self.refused(["versions", "--store", self.store, "small"], *words)
        self.mount_refused(*words)

    def restore_and_check(self):
        """The saved index back: every file reads as written."""
        shutil.rmtree(self.index, ignore_errors=True)
        shutil.copytree(self.saved, self.index)
        rc, out, err = h.crrfs("fsck", self.store)
        self.assertEqual(rc, 0, "fsck after restore:\n" + out + err)
        self.m.start()
        try:
            for rel, data in FILES.items():
                want = b"small file v2\n" if rel == "small" else data
                self.assertEqual(h.read_file(self.m.p(rel)), want, rel)
            self.assertEqual(len(self.m.entries("small")), 2)
        finally:
            self.m.stop()

    # -- item 2: an index that is gone ---------------------------------------
    def test_index_missing(self):
        shutil.rmtree(self.index)
        self.all_refused("index is missing or empty",
                         "%d data segments" % len(self.segs))
        self.assertFalse(os.path.exists(os.path.join(self.index, "data.mdb")),
                         "a new index was made over the data")
        self.restore_and_check()

    def test_index_emptied(self):
        for name in os.listdir(self.index):
            os.truncate(os.path.join(self.index, name), 0)
        self.all_refused("index is missing or empty")
        self.restore_and_check()

    def test_index_replaced_by_fresh_one(self):
        # another store's brand-new index: valid LMDB, but not this one
        other = h.Mount()
        try:
            other.start()
            other.stop()
            shutil.rmtree(self.index)
            shutil.copytree(os.path.join(other.store, "index"), self.index)
        finally:
            other.destroy()
        self.all_refused("does not belong")
        self.restore_and_check()

    # -- item 3: a truncated index --------------------------------------------
    def test_index_truncated(self):
        data = os.path.join(self.index, "data.mdb")
        self.assertGreater(os.path.getsize(data), 8192)
        os.truncate(data, 8192)
        self.all_refused("truncated", "data.mdb")
        self.restore_and_check()

    def test_index_truncated_half(self):
        data = os.path.join(self.index, "data.mdb")
        size = os.path.getsize(data)
        os.truncate(data, (size // 2) & ~4095)
        rc, out, err = h.crrfs("fsck", self.store)
        self.assertGreaterEqual(rc, 0, "fsck killed by signal %d\n%s"
                                % (-rc, err))
        rc, out, err = h.crrfs("versions", "--store", self.store, "small")
        self.assertGreaterEqual(rc, 0, "versions killed by signal %d\n%s"
                                % (-rc, err))
        self.restore_and_check()

    # -- item 13: the format file ---------------------------------------------
    def test_format_unknown_version(self):
        fmt = os.path.join(self.store, "format")
        with open(fmt, "rb") as f:
            orig = f.read()
        self.assertTrue(orig.startswith(b"crrfs-store 1\n"), orig)
        h.write_file(fmt, b"crrfs-store 2\n")
        self.all_refused(fmt, "version 2")
        h.write_file(fmt, b"something else\n")
        self.all_refused(fmt)
        h.write_file(fmt, orig)
        self.restore_and_check()


if __name__ == "__main__":
    h.main()
