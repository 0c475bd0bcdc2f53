#!/usr/bin/env python3
"""test_badinput - bad input gets a clear errno, the daemon keeps running,
and nothing already written is lost (issue 2, "Bad input"): a full disk
under STORE, over-long and non-UTF-8 names, writes into .versions,
malformed xattrs, restore to a version that does not exist.

Design choice: every case ends with the same check (check_intact): the
daemon is alive, the mount answers, and a file written before the bad
input still has its bytes and its history. The full-disk case puts STORE
on a 16 MiB tmpfs; only if that mount cannot be made is it skipped.
"""

import errno
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crrfs_harness as h  # noqa: E402

MiB = 1 << 20


class BadInput(h.MountTestCase):

    def setUp(self):
        super().setUp()
        h.write_file(self.m.p("keep"), b"keep v1")
        h.write_file(self.m.p("keep"), b"keep v2")

    def check_intact(self):
        self.assertTrue(self.m.alive(), "daemon died")
        self.assertTrue(h._mounted(self.m.mnt))
        self.assertEqual(h.read_file(self.m.p("keep")), b"keep v2")
        names = self.m.entries("keep")
        self.assertEqual(len(names), 2)
        self.assertEqual(h.read_file(self.m.vp("keep", names[0])), b"keep v1")

    def test_long_names(self):
        os.mkdir(self.m.p("d"))
        for n in ("a" * 255, "\u00e9" * 127 + "x"):	# 255 bytes
            self.assertEqual(len(os.fsencode(n)), 255)
            h.write_file(self.m.p("d", n), n.encode())
            self.assertEqual(h.read_file(self.m.p("d", n)), n.encode())
            self.assertIn(n, os.listdir(self.m.p("d")))
            os.unlink(self.m.p("d", n))
            self.assertIn(n, os.listdir(self.m.vp("d")))
            self.assertEqual(len(self.m.entries(os.path.join("d", n))), 2)
        for n in ("b" * 256, "\u00e9" * 128, "c" * 1000):
            self.assertErrno(errno.ENAMETOOLONG, h.write_file,
                             self.m.p("d", n), b"x")
            self.assertErrno(errno.ENAMETOOLONG, os.mkdir, self.m.p("d", n))
            self.assertErrno(errno.ENAMETOOLONG, os.symlink, "t",
                             self.m.p("d", n))
            self.assertErrno(errno.ENAMETOOLONG, os.stat, self.m.p("d", n))
        self.check_intact()

    def test_non_utf8_names_and_history(self):
        root = os.fsencode(self.m.mnt)
        n = b"\xff\xfebad\x80name"
        p = os.path.join(root, n)
        h.write_file(p, b"one")
        h.write_file(p, b"two")
        os.unlink(p)
        vroot = os.path.join(root, b".versions")
        self.assertIn(n, os.listdir(vroot))
        ents = sorted(os.listdir(os.path.join(vroot, n)))
        self.assertEqual(len(ents), 3)
        self.assertEqual(h.read_file(os.path.join(vroot, n, ents[1])), b"two")
        vs = h.versions_store(self.m.store, os.fsdecode(n))
        self.assertEqual([v["delete_marker"] for v in vs],
                         [False, False, True])
        # the JSON escapes what is not UTF-8 instead of failing
        rc, out, err = h.crrfs("versions", "--store", self.m.store, n,
                               "--json")
        self.assertEqual(rc, 0, err)
        out.encode("utf-8")		# valid text
        self.check_intact()

    def test_writes_into_versions(self):
        e = self.m.vp("keep", self.m.entries("keep")[0])
        cases = [
            (errno.EROFS, h.write_file, self.m.vp("x"), b"x"),
            (errno.EROFS, h.write_file, self.m.vp("keep", "x"), b"x"),
            (errno.EROFS, os.mkdir, self.m.vp("newdir")),
            (errno.EROFS, os.symlink, "t", self.m.vp("keep", "ln")),
            ((errno.EROFS, errno.EACCES), os.open, e, os.O_RDWR),
            ((errno.EROFS, errno.EACCES), os.open, e,
             os.O_WRONLY | os.O_TRUNC),
            (errno.EROFS, os.truncate, e, 1),
            (errno.EROFS, os.utime, e, (1, 1)),
            (errno.EROFS, os.chmod, self.m.vp("keep"), 0o777),
            (errno.EROFS, os.setxattr, e, "user.x", b"1"),
            ((errno.EROFS, errno.EXDEV), os.rename, self.m.p("keep"),
             self.m.vp("keep2")),
            ((errno.EROFS, errno.EXDEV), os.rename, e, self.m.p("stolen")),
            ((errno.EROFS, errno.EPERM, errno.ENOTEMPTY), os.rmdir,
             self.m.vp("keep")),
            (errno.EPERM, os.unlink, e),
            ((errno.EPERM, errno.EROFS), os.link, e, self.m.p("hl")),
        ]
        for want, fn, *args in cases:
            with self.subTest(fn=fn.__name__, args=args):
                self.assertErrno(want, fn, *args)
        self.assertFalse(os.path.exists(self.m.p("stolen")))
        self.assertFalse(os.path.exists(self.m.vp("x")))
        self.assertNotIn("x", os.listdir(self.m.vp()))
        # and the root name itself is reserved in the live tree
        self.assertErrno((errno.EPERM, errno.EEXIST, errno.EINVAL, errno.EROFS,
                          errno.EISDIR),
                         os.rename, self.m.p("keep"), self.m.p(".versions"))
        self.check_intact()

    def test_malformed_xattrs(self):
        p = self.m.p("keep")
        vid = os.getxattr(p, "user.crrfs.version-id")
        cases = [
            (errno.EINVAL, "user.crrfs.restore", b"not-a-version-id"),
            (errno.EINVAL, "user.crrfs.restore", vid + b"\n"),
            (errno.EINVAL, "user.crrfs.restore", b""),
            (errno.EINVAL, "user.crrfs.restore", b"\0" * 26),
            (errno.EINVAL, "user.crrfs.nonsense", b"1"),
            (errno.EINVAL, "user.crrfs.", b"1"),
            (errno.EINVAL, "user.crrfs.tag.", b"empty tag name"),
            (errno.EPERM, "user.crrfs.version-id", vid),
            (errno.EPERM, "user.crrfs.sha256", b"0" * 64),
            ((errno.EPERM, errno.EINVAL), "user.crrfs.deleted", b"0"),
            ((errno.EPERM, errno.EINVAL), "user.crrfs.delete-marker", b"1"),
            ((errno.ENOTSUP, errno.EPERM), "trusted.crrfs", b"1"),
        ]
        for want, name, value in cases:
            with self.subTest(name=name, value=value):
                self.assertErrno(want, os.setxattr, p, name, value)
        self.assertErrno((errno.E2BIG, errno.ENOSPC, errno.ERANGE),
                         os.setxattr, p, "user.big", b"x" * (70 * 1024))
        self.assertErrno(errno.EINVAL, os.removexattr, p, "user.crrfs.foo")
        self.assertErrno((errno.EPERM, errno.ENODATA), os.removexattr, p,
                         "user.crrfs.version-id")
        # removing a delete marker from an entry that is not one
        e = self.m.vp("keep", self.m.entries("keep")[0])
        self.assertErrno((errno.ENODATA, errno.EINVAL, errno.EPERM),
                         os.removexattr, e, "user.crrfs.delete-marker")
        self.assertEqual(os.getxattr(p, "user.crrfs.version-id"), vid)
        self.check_intact()

    def test_restore_nonexistent_version(self):
        p = self.m.p("keep")
        for fake in ("0" * 26, "7" * 26, "ZZZZZZZZZZZZZZZZZZZZZZZZZZ"):
            self.assertErrno((errno.ENODATA, errno.ENOENT), os.setxattr, p,
                             "user.crrfs.restore", fake.encode())
            self.assertErrno((errno.ENODATA, errno.ENOENT), os.setxattr,
                             self.m.vp("keep"), "user.crrfs.restore",
                             fake.encode())
        rc, out, err = h.crrfs("restore", p, "--version", "0" * 26)
        self.assertEqual(rc, 1, out)
        self.assertTrue(err.strip())
        self.check_intact()


class FullDisk(unittest.TestCase):
    """STORE on a 16 MiB tmpfs, written until it is full."""

    def setUp(self):
        if not h.need_root():
            self.skipTest("mounting a tmpfs needs root")
        self.base = tempfile.mkdtemp(prefix="crrfs-tmpfs-")
        rc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m",
                             "tmpfs", self.base],
                            capture_output=True).returncode
        if rc != 0:
            os.rmdir(self.base)
            self.skipTest("cannot mount a tmpfs here")
        h.add_cleanup(self.umount)

    def umount(self):
        subprocess.run(["umount", "-l", self.base], capture_output=True)
        try:
            os.rmdir(self.base)
        except OSError:
            pass

    def tearDown(self):
        h.remove_cleanup(self.umount)
        self.umount()

    def test_full_disk(self):
        store = os.path.join(self.base, "store")
        with h.Mount(store=store, expect_errors=True) as m:
            written = {}
            err = None
            for i in range(200):
                data = (b"%04d" % i) * (MiB // 4)
                p = m.p("f%03d" % i)
                try:
                    with open(p, "wb") as f:
                        f.write(data)
                except OSError as e:
                    err = e
                    break
                written[p] = data
            self.assertIsNotNone(err, "16 MiB tmpfs never filled up")
            self.assertEqual(err.errno, errno.ENOSPC,
                             "full disk gave %s, not ENOSPC" % err)
            self.assertGreater(len(written), 3)
            self.assertTrue(m.alive(), "daemon died on a full disk")
            # the mount still serves reads and metadata
            for p, data in written.items():
                self.assertEqual(h.read_file(p), data, p)
                key = os.path.basename(p)
                self.assertEqual(len(m.entries(key)), 1, key)
            listed = set(os.listdir(m.mnt))
            self.assertTrue(set(map(os.path.basename, written)) <= listed)
            os.statvfs(m.mnt)
            for p in list(written)[:3]:
                os.stat(p)
                os.getxattr(p, "user.crrfs.sha256")
            # a second failure is still an errno, not a crash
            try:
                h.write_file(m.p("more"), b"y" * MiB)
            except OSError as e:
                self.assertIn(e.errno, (errno.ENOSPC, errno.EDQUOT))
            self.assertTrue(m.alive())
            # after a clean unmount and remount, all of it is still there
            m.stop()
            m.start()
            for p, data in written.items():
                self.assertEqual(h.read_file(p), data, p)
            self.assertTrue(m.alive())


if __name__ == "__main__":
    h.main()
