#!/usr/bin/env python3
"""test_trust_data - data the store holds is checked, never trusted blindly
(issue 9, items 4 and 5), through the real mount and the real CLI.

Design choice: damage is done the way a disk or a stray program would do
it, to the segment files in STORE/data while the store is unmounted; then
the mount must refuse to serve wrong bytes (EIO, with one log line naming
key, version and segment) and fsck / fsck --deep must report the damage.
"""

import errno
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crrfs_harness as h  # noqa: E402

KiB = 1 << 10


def segments(store):
    """Segment files of store, largest first."""
    out = []
    for d, _, files in os.walk(os.path.join(store, "data")):
        out += [os.path.join(d, f) for f in files]
    return sorted(out, key=lambda p: -os.path.getsize(p))


class TruncateLeak(h.MountTestCase):

    def test_overwrite_truncate_leaves_no_orphan(self):
        """Write, reopen, overwrite a middle chunk, truncate below it: the
        segment that held the overwrite must not outlive the unmount."""
        p = self.m.p("f")
        data = os.urandom(256 * KiB)
        h.write_file(p, data)
        fd = os.open(p, os.O_RDWR)
        try:
            os.pwrite(fd, b"x" * 5000, 200000)
            os.ftruncate(fd, 120551)
        finally:
            os.close(fd)
        self.assertEqual(h.read_file(p), data[:120551])
        self.m.stop()
        rc, out, err = h.crrfs("fsck", self.m.store)
        self.assertEqual(rc, 0, "fsck not clean:\n" + out + err)
        self.assertIn("clean", out)
        self.m.start()
        self.assertEqual(h.read_file(p), data[:120551])

    def test_fsck_without_repair_never_says_repaired(self):
        # a file just created, still open: a key with no version yet
        fd = os.open(self.m.p("open"), os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                     0o644)
        try:
            rc, out, err = h.crrfs("fsck", self.m.store)
        finally:
            os.close(fd)
        self.assertEqual(rc, 0, out + err)
        self.assertNotIn("repaired", out)
        self.assertIn("clean", out)
        h.write_file(self.m.p("a"), b"a" * 300000)
        self.m.stop()
        orphan = os.path.join(self.m.store, "data", "ab", "%016x" % 0xab000)
        os.makedirs(os.path.dirname(orphan), exist_ok=True)
        h.write_file(orphan, b"stray")
        rc, out, err = h.crrfs("fsck", self.m.store)
        self.assertEqual(rc, 1, out + err)
        self.assertNotIn("repaired", out)
        self.assertIn("orphan segments: 1", out)
        self.assertIn("--repair", out)
        rc, out, err = h.crrfs("fsck", "--repair", self.m.store)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("repaired", out)
        rc, out, err = h.crrfs("fsck", self.m.store)
        self.assertEqual(rc, 0, out + err)
        self.assertNotIn("repaired", out)
        self.m.start()


def sha_of(path):
    """Make the store record the version's sha256 (as replication does)."""
    return os.getxattr(path, "user.crrfs.sha256").decode()


class DamageBase(h.MountTestCase):
    """Damage a segment while unmounted, then read through a new mount."""

    def setUp(self):
        super().setUp()
        self.data = os.urandom(300 * KiB)
        self.p = self.m.p("f")
        h.write_file(self.p, self.data)
        self.sha = sha_of(self.p)
        self.m.stop()
        segs = segments(self.m.store)
        self.assertEqual(len(segs), 1, segs)
        self.seg = segs[0]

    def remount(self, *opts):
        self.m.expect_errors = True	# the damage is logged as an error
        self.m.start(extra_opts=opts)

    def read_fails(self):
        with self.assertRaises(OSError) as cm:
            h.read_file(self.p)
        self.assertEqual(cm.exception.errno, errno.EIO)

    def logged(self):
        # the line that names the segment; marking it adds its own line
        lines = [ln for ln in self.m.log_text().splitlines()
                 if "is damaged" in ln and ": marked;" not in ln]
        self.assertEqual(len(lines), 1, self.m.log_text())
        self.assertIn("key 'f'", lines[0])
        self.assertIn(os.path.basename(self.seg), lines[0])
        self.assertRegex(lines[0], r"version [0-9A-Z]{26}")

    def fsck(self, *args):
        return h.crrfs("fsck", *args, self.m.store)



class Damage(DamageBase):

    def test_truncated_segment(self):
        os.truncate(self.seg, 200 * KiB)
        rc, out, err = self.fsck()
        self.assertEqual(rc, 1, out + err)
        self.assertIn("versions with data cut short: 1", out)
        self.assertIn(os.path.basename(self.seg), err)
        self.assertNotIn("repaired", out)
        rc, out, err = self.fsck("--repair")
        self.assertEqual(rc, 1, out + err)
        self.assertNotIn("repaired", out)
        self.remount()
        # what lies before the cut still reads; the rest is EIO, not zeros
        with open(self.p, "rb") as f:
            self.assertEqual(f.read(128 * KiB), self.data[:128 * KiB])
        self.read_fails()
        self.logged()

    def test_overwritten_bytes(self):
        with open(self.seg, "r+b") as f:
            f.seek(150 * KiB)
            f.write(b"\0" * 100)
        rc, out, err = self.fsck()
        self.assertEqual(rc, 0, out + err)	# plain fsck does not read
        rc, out, err = self.fsck("--deep")
        self.assertEqual(rc, 1, out + err)
        self.assertIn("versions whose bytes are damaged: 1", out)
        self.assertIn("is damaged", err)
        self.assertIn(os.path.basename(self.seg), err)
        self.remount("verify")
        self.read_fails()
        self.read_fails()
        self.logged()

    def test_deep_clean(self):
        rc, out, err = self.fsck("--deep")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("1 matched their sha256", out)
        self.m.start()
        self.assertEqual(h.read_file(self.p), self.data)
        self.assertEqual(sha_of(self.p), self.sha)


class KnownDamage(DamageBase):
    """A mismatch once found is kept in the store: reads through any later
    mount fail with EIO, with or without -o verify (issue 9 item 4)."""

    def damage(self):
        with open(self.seg, "r+b") as f:
            f.seek(150 * KiB)
            f.write(b"\0" * 100)

    def test_fsck_repair_marks(self):
        self.damage()
        rc, out, err = self.fsck("--deep")
        self.assertEqual(rc, 1, out + err)
        self.assertIn("would mark 1 damaged versions", out)
        rc, out, err = self.fsck("--deep", "--repair")
        self.assertEqual(rc, 1, out + err)	# the bytes are still wrong
        self.assertIn("1 versions marked damaged", out)
        self.assertIn("key 'f'", err)
        self.assertIn(": marked; reads fail with EIO", err)
        rc, out, err = self.fsck("--deep", "--repair")
        self.assertNotIn("marked damaged", out)	# once
        self.remount()
        self.read_fails()
        self.assertIn("is damaged", self.m.log_text())
        self.assertIn("key 'f'", self.m.log_text())
        self.assertEqual(sha_of(self.p), self.sha)
        [old] = os.listdir(self.m.vp("f"))
        # appending would keep the bad bytes; O_TRUNC starts clean
        with self.assertRaises(OSError) as cm:
            with open(self.p, "ab") as f:
                f.write(b"more")
        self.assertEqual(cm.exception.errno, errno.EIO)
        with open(self.p, "wb") as f:
            f.write(b"new\n")
        self.assertEqual(h.read_file(self.p), b"new\n")
        with self.assertRaises(OSError) as cm:
            h.read_file(self.m.vp("f", old))
        self.assertEqual(cm.exception.errno, errno.EIO)
        self.m.stop()
        self.m.start()
        self.assertEqual(h.read_file(self.p), b"new\n")

    def test_verify_mismatch_persists(self):
        self.damage()
        self.remount("verify")
        self.read_fails()
        self.m.stop()
        self.remount()			# no -o verify now
        self.read_fails()
        self.assertIn("is damaged", self.m.log_text())


class VerifyBig(h.MountTestCase):
    MOUNT_OPTS = ("verify",)

    def test_big_file_read_to_end(self):
        """Reads of many MiB, as readahead sends them, are still checked."""
        p = self.m.p("big")
        data = os.urandom(24 << 20)
        h.write_file(p, data)
        sha_of(p)
        self.m.stop()
        self.m.start()
        self.assertEqual(h.read_file(p), data)	# a clean file passes
        self.m.stop()
        seg = segments(self.m.store)[0]
        with open(seg, "r+b") as f:
            f.seek(17 << 20)
            f.write(b"\xff" * 10)
        self.m.expect_errors = True
        self.m.start()
        with self.assertRaises(OSError) as cm:
            h.read_file(p)
        self.assertEqual(cm.exception.errno, errno.EIO)
        self.assertIn("do not match its sha256", self.m.log_text())


class NoFalseAlarm(h.MountTestCase):

    def test_truncate_up_then_read(self):
        """A truncate up leaves the segment shorter than the file: the seal
        must extend it, or the next mount would call the tail damaged."""
        p = self.m.p("g")
        data = os.urandom(100000)
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            os.write(fd, data)
            os.ftruncate(fd, 120000)
        finally:
            os.close(fd)
        sha_of(p)
        self.m.stop()
        rc, out, err = h.crrfs("fsck", "--deep", self.m.store)
        self.assertEqual(rc, 0, out + err)
        self.m.start()
        self.assertEqual(h.read_file(p), data + b"\0" * 20000)


if __name__ == "__main__":
    h.main()
