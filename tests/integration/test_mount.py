#!/usr/bin/env python3
"""test_mount - `crrfs mount` itself: refusing a second mount of a store,
daemonizing, read-only mounts, option errors, the mount.crrfs helper that
fstab uses, remounting, and --help of every subcommand.

Design choice: a daemonized crrfs has no child process we own, so the
tests find its pid in /proc by its mount point (by id, never by name) and
register an unmount-and-kill cleanup before asserting anything.
"""

import errno
import os
import sys
import shutil
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crrfs_harness as h  # noqa: E402


def pids_serving(mnt):
    """Pids of crrfs processes whose command line names mnt."""
    want = os.fsencode(mnt)
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if want in argv and any(b"crrfs" in a for a in argv[:1]):
            found.append(int(d))
    return found


class Daemon:
    """A crrfs mounted without -f (by crrfs mount or mount.crrfs)."""

    def __init__(self, test, mnt):
        self.mnt = mnt
        self.pids = []
        test.addCleanup(self.cleanup)

    def attach(self):
        self.pids = pids_serving(self.mnt)
        return self.pids

    def cleanup(self):
        if h._mounted(self.mnt):
            h._fusermount(self.mnt, lazy=True)
        for pid in self.pids:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass

    def unmount_and_wait(self):
        rc = h._fusermount(self.mnt)
        gone = h.poll(lambda: not any(os.path.exists("/proc/%d" % p)
                                      for p in self.pids), 20)
        return rc, gone


class MountCmd(h.MountTestCase):

    def test_second_mount_refused(self):
        h.write_file(self.m.p("f"), b"first mount")
        mnt2 = os.path.join(self.m.dir, "mnt2")
        os.mkdir(mnt2)
        rc, out = h.expect_mount_fails(
            [h.BIN, "mount", self.m.store, mnt2, "-f"], mnt2)
        self.assertEqual(rc, 1, out)
        self.assertIn("in use", out, "message should say the store is in "
                      "use: %r" % out)
        self.assertFalse(h._mounted(mnt2))
        # without -f too: the parent reports the child's failure
        rc, out = h.expect_mount_fails(
            [h.BIN, "mount", self.m.store, mnt2], mnt2)
        self.assertEqual(rc, 1, out)
        self.assertIn("in use", out)
        # the first mount still works
        self.assertTrue(self.m.alive())
        self.assertEqual(h.read_file(self.m.p("f")), b"first mount")
        h.write_file(self.m.p("g"), b"still writable")
        self.assertEqual(h.read_file(self.m.p("g")), b"still writable")

    def test_read_only(self):
        h.write_file(self.m.p("f"), b"kept")
        os.mkdir(self.m.p("d"))
        self.m.stop()
        self.m.start(extra_opts=["ro"])
        self.assertEqual(h.read_file(self.m.p("f")), b"kept")
        self.assertEqual(len(self.m.entries("f")), 1)
        self.assertErrno(errno.EROFS, h.write_file, self.m.p("new"), b"x")
        self.assertErrno(errno.EROFS, h.write_file, self.m.p("f"), b"x", "ab")
        self.assertErrno(errno.EROFS, os.mkdir, self.m.p("d2"))
        self.assertErrno(errno.EROFS, os.unlink, self.m.p("f"))
        self.assertErrno(errno.EROFS, os.rmdir, self.m.p("d"))
        self.assertErrno(errno.EROFS, os.rename, self.m.p("f"),
                         self.m.p("g"))
        self.assertErrno(errno.EROFS, os.chmod, self.m.p("f"), 0o600)
        self.assertErrno(errno.EROFS, os.setxattr, self.m.p("f"), "user.a",
                         b"1")
        self.assertEqual(h.read_file(self.m.p("f")), b"kept")

    def test_remount_same_data(self):
        h.write_file(self.m.p("f"), b"v1")
        h.write_file(self.m.p("f"), b"v2")
        os.makedirs(self.m.p("a", "b"))
        h.write_file(self.m.p("a", "b", "c"), b"deep")
        os.setxattr(self.m.p("a", "b", "c"), "user.k", b"v")
        os.symlink("a/b/c", self.m.p("ln"))
        h.write_file(self.m.p("gone"), b"deleted later")
        os.unlink(self.m.p("gone"))
        names = self.m.entries("f")
        self.m.stop()
        self.m.start()
        self.assertEqual(h.read_file(self.m.p("f")), b"v2")
        self.assertEqual(self.m.entries("f"), names)
        self.assertEqual(h.read_file(self.m.p("a", "b", "c")), b"deep")
        self.assertEqual(os.getxattr(self.m.p("a", "b", "c"), "user.k"),
                         b"v")
        self.assertEqual(os.readlink(self.m.p("ln")), "a/b/c")
        self.assertEqual(sorted(os.listdir(self.m.mnt)), ["a", "f", "ln"])
        self.assertIn("gone", os.listdir(self.m.vp()))
        self.assertEqual(len(self.m.entries("gone")), 2)


def as_user(uid, fn_src):
    """Run a tiny Python program as uid; (rc, stdout, stderr)."""
    return h.run([sys.executable, "-c",
                  "import os,sys\nos.setgroups([])\nos.setgid(%d)\n"
                  "os.setuid(%d)\n%s" % (uid, uid, fn_src)])


class Options(unittest.TestCase):

    @unittest.skipUnless(h.need_root(), "needs root to switch users")
    def test_allow_other_default_permissions(self):
        with h.Mount(opts=["allow_other,default_permissions"]) as m:
            h.write_file(m.p("private"), b"secret")
            os.chmod(m.p("private"), 0o600)
            h.write_file(m.p("public"), b"hello")
            os.chmod(m.p("public"), 0o644)
            os.chmod(m.dir, 0o755)
            uid = 65534
            rc, out, err = as_user(uid, "print(open(%r).read())"
                                   % m.p("public"))
            self.assertEqual((rc, out.strip()), (0, "hello"), err)
            rc, out, err = as_user(
                uid, "try:\n open(%r).read()\nexcept PermissionError:\n"
                " sys.exit(13)\n" % m.p("private"))
            self.assertEqual(rc, 13, "default_permissions not enforced: "
                             + out + err)
            rc, out, err = as_user(
                uid, "try:\n open(%r, 'w')\nexcept PermissionError:\n"
                " sys.exit(13)\n" % m.p("new"))
            self.assertEqual(rc, 13, out + err)
            self.assertFalse(os.path.exists(m.p("new")))

    def test_our_options(self):
        """sync, sync_interval, amend_window, threads are accepted (two
        -o flags) and a -o sync mount keeps what it acknowledged."""
        with h.Mount(opts=["sync,sync_interval=50,threads=4",
                           "amend_window=500"]) as m:
            h.write_file(m.p("f"), b"synced")
            os.chmod(m.p("f"), 0o600)
            m.kill9()
            m.start()
            self.assertEqual(h.read_file(m.p("f")), b"synced")
            self.assertEqual(os.stat(m.p("f")).st_mode & 0o777, 0o600)

    def test_sigterm_unmounts_cleanly(self):
        m = h.Mount()
        try:
            m.start()
            h.write_file(m.p("f"), b"before sigterm")
            # an empty file gets its version at RELEASE, which the kernel
            # may not have sent yet: shutdown must release it all the same
            open(m.p("empty"), "w").close()
            m.proc.terminate()
            self.assertEqual(m.proc.wait(timeout=30), 0,
                             "daemon exit status after SIGTERM")
            m.proc = None
            self.assertTrue(h.poll(lambda: not h._mounted(m.mnt), 10),
                            "still mounted after SIGTERM")
            self.assertEqual(m.log_problems(), [], m.log_text())
            m.start()
            self.assertEqual(h.read_file(m.p("f")), b"before sigterm")
            self.assertEqual(h.read_file(m.p("empty")), b"")
            m.stop()
        finally:
            m.destroy()


# Runs in a private mount namespace: /sbin gets mount.crrfs through a
# read-only overlay there only, so mount(8) finds the helper as it would
# for an installed crrfs, and nothing outside the namespace changes.
FSTAB_SCRIPT = r"""
set -eu
d=$1
# the daemon lives in this namespace: always unmount, so it exits
trap 'umount "$d/mnt" 2>/dev/null || fusermount3 -uz "$d/mnt" 2>/dev/null || :' EXIT
mount -t overlay overlay -o "lowerdir=$d/helper:/sbin" /sbin || exit 77
mount --fstab "$d/fstab" "$d/mnt"
grep -q " $d/mnt fuse.crrfs " /proc/self/mounts
printf 'via fstab' > "$d/mnt/f"
cat "$d/mnt/f"
"""


class Fstab(unittest.TestCase):

    def test_fstab_line_through_mount8(self):
        """An /etc/fstab line of type crrfs, mounted by mount(8), which
        runs /sbin/mount.crrfs with the line's options."""
        if not shutil.which("unshare"):
            self.skipTest("no unshare(1) on this machine")
        d = tempfile.mkdtemp(prefix="crrfs-test-")
        self.addCleanup(shutil.rmtree, d, True)
        for sub in ("helper", "mnt"):
            os.mkdir(os.path.join(d, sub))
        os.symlink(h.BIN, os.path.join(d, "helper", "mount.crrfs"))
        h.write_file(os.path.join(d, "fstab"),
                     ("%s/store %s/mnt crrfs rw,nosuid,nodev,noauto,_netdev"
                      " 0 0\n" % (d, d)).encode())
        script = os.path.join(d, "fstab.sh")
        h.write_file(script, FSTAB_SCRIPT.encode())
        rc, out, err = h.run_files(["unshare", "--mount", "--propagation",
                                    "private", "bash", script, d],
                                   timeout=60)
        if rc == 77:
            self.skipTest("no overlayfs here: " + err)
        self.assertEqual((rc, out), (0, "via fstab"), err)
        # the version is in the store, seen without any mount
        vs = h.versions_store(os.path.join(d, "store"), "f")
        self.assertEqual(len(vs), 1)


class MountErrors(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="crrfs-test-")
        self.store = os.path.join(self.dir, "store")
        self.mnt = os.path.join(self.dir, "mnt")
        os.mkdir(self.mnt)
        self.addCleanup(shutil.rmtree, self.dir, True)

    def test_unknown_option(self):
        rc, out = h.expect_mount_fails(
            [h.BIN, "mount", self.store, self.mnt, "-f", "-o",
             "no_such_option_xyz"], self.mnt)
        self.assertEqual(rc, 2, out)
        self.assertIn("no_such_option_xyz", out)
        self.assertEqual(len(out.strip().splitlines()), 1, out)

    def test_bad_mountpoint(self):
        rc, out = h.expect_mount_fails(
            [h.BIN, "mount", self.store, os.path.join(self.dir, "nope"),
             "-f"], os.path.join(self.dir, "nope"))
        self.assertEqual(rc, 1, out)
        self.assertIn("nope", out)
        rc, out = h.expect_mount_fails([h.BIN, "mount", self.store], self.mnt)
        self.assertEqual(rc, 2, out)

    def test_daemonize(self):
        d = Daemon(self, self.mnt)
        rc, out, err = h.run_files([h.BIN, "mount", self.store, self.mnt],
                                   timeout=30)
        # returns only once mounted: no polling here
        mounted_at_return = h._mounted(self.mnt)
        d.attach()
        self.assertEqual(rc, 0, err)
        self.assertTrue(mounted_at_return, "crrfs mount returned before "
                        "the mount was up")
        self.assertTrue(d.pids, "no daemon process found")
        h.write_file(os.path.join(self.mnt, "f"), b"daemon")
        self.assertEqual(h.read_file(os.path.join(self.mnt, "f")), b"daemon")
        rc, gone = d.unmount_and_wait()
        self.assertEqual(rc, 0)
        self.assertTrue(gone, "daemon did not exit after unmount")
        # the data is in the store
        vs = h.versions_store(self.store, "f")
        self.assertEqual(len(vs), 1)

    def test_mount_helper(self):
        """mount.crrfs as mount(8) runs it for an fstab line of type crrfs:
        STORE MNT -o OPTIONS (with fstab noise in OPTIONS)."""
        d = Daemon(self, self.mnt)
        opts = "rw,nosuid,nodev,_netdev,noauto"
        if os.path.exists("/sbin/mount.crrfs"):
            fstab = os.path.join(self.dir, "fstab")
            h.write_file(fstab, ("%s %s crrfs %s 0 0\n"
                                 % (self.store, self.mnt, opts)).encode())
            argv = ["mount", "--fstab", fstab, self.mnt]
        else:
            helper = os.path.join(self.dir, "mount.crrfs")
            os.symlink(h.BIN, helper)
            argv = [helper, self.store, self.mnt, "-o", opts]
        rc, out, err = h.run_files(argv, timeout=30)
        d.attach()
        self.assertEqual(rc, 0, err)
        self.assertTrue(h._mounted(self.mnt))
        h.write_file(os.path.join(self.mnt, "f"), b"via helper")
        self.assertEqual(h.read_file(os.path.join(self.mnt, "f")),
                         b"via helper")
        rc, gone = d.unmount_and_wait()
        self.assertEqual(rc, 0)
        self.assertTrue(gone)
        # unknown options are still refused through the helper
        if not os.path.exists("/sbin/mount.crrfs"):
            rc, out = h.expect_mount_fails(
                [helper, self.store, self.mnt, "-o", "bogus_opt"], self.mnt)
            self.assertEqual(rc, 2, out)


class Help(unittest.TestCase):

    def test_help(self):
        for sub in ("mount", "versions", "restore", "fsck"):
            rc, out, err = h.crrfs(sub, "--help")
            self.assertEqual(rc, 0, "%s --help: %s" % (sub, err))
            self.assertIn("usage", out.lower(), sub)
            self.assertIn(sub, out)
        for args in (["--help"], ["help"]):
            rc, out, err = h.crrfs(*args)
            self.assertEqual(rc, 0, args)
            self.assertIn("mount", out)
        rc, out, err = h.crrfs("--version")
        self.assertEqual(rc, 0)
        self.assertTrue(out.strip())

    def test_bad_usage(self):
        rc, out, err = h.crrfs("no-such-command")
        self.assertEqual(rc, 2)
        self.assertIn("no-such-command", err)
        rc, out, err = h.crrfs()
        self.assertEqual(rc, 2)
        rc, out, err = h.crrfs("versions")
        self.assertEqual(rc, 2)
        rc, out, err = h.crrfs("fsck", "/nonexistent/store/x")
        self.assertEqual(rc, 1)
        self.assertIn("/nonexistent/store/x", err)


if __name__ == "__main__":
    h.main()
