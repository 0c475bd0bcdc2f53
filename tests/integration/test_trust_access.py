#!/usr/bin/env python3
"""test_trust_access - who may do what on a shared mount and on the
control socket (issue 9, items 6 and 7).

Design choice: the tests run as root and act as another local user
through setpriv (uid/gid 65534, no groups), the way a second login on the
machine would: through the kernel, against a mount made with allow_other.
The temp dir above the mount is opened up (0755), so that what stops the
other user is the mount's own permissions and nothing around it.
"""

import errno
import os
import socket
import stat
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crrfs_harness as h  # noqa: E402

NOBODY = 65534
AS_NOBODY = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
             "--clear-groups"]


def nobody(*argv):
    """Run argv as the other user: (rc, stdout, stderr)."""
    p = subprocess.run(AS_NOBODY + list(argv), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                       timeout=60)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def mount_opts(mnt):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            if parts[4] == mnt:
                sep = parts.index("-")
                return set(parts[5].split(",")) | set(
                    parts[sep + 3].split(","))
    return set()


def vid(p):
    return os.getxattr(p, "user.crrfs.version-id").decode("ascii")


class Shared(h.MountTestCase):
    """A mount shared with other users (-o allow_other)."""

    MOUNT_OPTS = ("allow_other",)

    def setUp(self):
        super().setUp()
        os.chmod(self.m.dir, 0o755)

    def test_allow_other_implies_default_permissions(self):
        self.assertIn("default_permissions", mount_opts(self.m.mnt))
        secret = self.m.p("secret")
        h.write_file(secret, b"root's secret")
        os.chmod(secret, 0o600)
        pub = self.m.p("pub")
        h.write_file(pub, b"for everyone")
        os.chmod(pub, 0o644)
        rc, out, err = nobody("cat", pub)
        self.assertEqual((rc, out), (0, "for everyone"), err)
        rc, out, err = nobody("cat", secret)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("Permission denied", err)
        # the root folder is root's 0755: no deleting or creating in it
        rc, out, err = nobody("rm", "-f", pub)
        self.assertNotEqual(rc, 0)
        self.assertTrue(os.path.exists(pub))
        rc, out, err = nobody("touch", self.m.p("new"))
        self.assertNotEqual(rc, 0)
        # and no restoring a file one may not write
        first = vid(pub)
        h.write_file(pub, b"second")
        os.chmod(pub, 0o644)
        rc, out, err = nobody("setfattr", "-n", "user.crrfs.restore",
                              "-v", first, pub)
        self.assertNotEqual(rc, 0)
        self.assertEqual(h.read_file(pub), b"second")

    def test_store_is_private(self):
        # the store holds every version's bytes in plain files: another
        # user reading them there would skip every mode checked above
        secret = self.m.p("secret")
        h.write_file(secret, b"root's secret bytes")
        os.chmod(secret, 0o600)
        vid(secret)
        self.assertEqual(stat.S_IMODE(os.stat(self.m.store).st_mode), 0o700)
        rc, out, err = nobody("grep", "-rl", "root's secret", self.m.store)
        self.assertNotEqual(rc, 0, out)
        self.assertEqual(out, "")
        # a store made 0755 by an older crrfs is tightened at its next
        # read-write mount
        self.m.stop()
        os.chmod(self.m.store, 0o755)
        self.m.start()
        self.assertEqual(stat.S_IMODE(os.stat(self.m.store).st_mode), 0o700)
        self.assertEqual(h.read_file(secret), b"root's secret bytes")

    def test_versions_keep_modes(self):
        d = self.m.p("d")
        os.mkdir(d, 0o700)
        h.write_file(os.path.join(d, "f"), b"private")
        st = os.stat(self.m.vp("d"))
        self.assertEqual(stat.S_IMODE(st.st_mode) & 0o077, 0,
                         oct(st.st_mode))
        for p in (self.m.vp("d"), self.m.vp("d", "f")):
            rc, out, err = nobody("ls", p)
            self.assertNotEqual(rc, 0, "%s listed: %s" % (p, out))
        # a 0600 file's history stays its owner's, even after it was
        # opened up: each version keeps its own mode
        s = self.m.p("s")
        h.write_file(s, b"old secret")
        os.chmod(s, 0o600)
        vid(s)
        rc, out, err = nobody("ls", self.m.vp("s"))
        self.assertNotEqual(rc, 0, out)
        os.chmod(s, 0o644)
        h.write_file(s, b"public now")
        vid(s)
        rc, out, err = nobody("ls", self.m.vp("s"))
        self.assertEqual(rc, 0, err)
        names = sorted(out.split())
        self.assertGreaterEqual(len(names), 2, names)
        rc, out, err = nobody("cat", self.m.vp("s", names[0]))
        self.assertNotEqual(rc, 0, out)
        self.assertEqual(out, "")
        rc, out, err = nobody("cat", self.m.vp("s", names[-1]))
        self.assertEqual((rc, out), (0, "public now"), err)

    def test_undelete_needs_the_folder(self):
        # a file nobody may write, in a folder nobody may not write
        root_dir = self.m.p("rootdir")
        os.mkdir(root_dir, 0o755)
        f = os.path.join(root_dir, "f")
        h.write_file(f, b"theirs")
        os.chown(f, NOBODY, NOBODY)
        os.chmod(f, 0o666)
        old = vid(f)
        os.unlink(f)
        key = self.m.vp("rootdir", "f")
        rc, out, err = nobody("setfattr", "-x", "user.crrfs.deleted", key)
        self.assertNotEqual(rc, 0)
        rc, out, err = nobody("setfattr", "-n", "user.crrfs.restore",
                              "-v", old, key)
        self.assertNotEqual(rc, 0)
        self.assertFalse(os.path.exists(f))
        # in a folder of their own they may bring their file back
        mine = self.m.p("mine")
        os.mkdir(mine, 0o755)
        os.chown(mine, NOBODY, NOBODY)
        g = os.path.join(mine, "g")
        rc, out, err = nobody("sh", "-c", "echo hi > " + g)
        self.assertEqual(rc, 0, err)
        vid(g)
        rc, out, err = nobody("rm", g)
        self.assertEqual(rc, 0, err)
        rc, out, err = nobody("setfattr", "-x", "user.crrfs.deleted",
                              self.m.vp("mine", "g"))
        self.assertEqual(rc, 0, err)
        self.assertEqual(h.read_file(g), b"hi\n")


def abstract_name(store):
    st = os.stat(store)
    return "\0crrfs-ctl-%x-%x" % (st.st_dev, st.st_ino)


class Squatter:
    """Another user's process that listens on the store's old abstract
    control name and answers every request."""

    CODE = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1].replace("@", "\0", 1))
s.listen(8)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    try:
        c.recv(512)
        c.sendall(b"OK 0\nsquatted\n")
    except OSError:
        pass
    c.close()
"""

    def __init__(self, store=None, path=None):
        name = path or "@" + abstract_name(store)[1:]
        self.p = subprocess.Popen(AS_NOBODY + [sys.executable, "-c",
                                               self.CODE, name],
                                  stdout=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL)
        h.add_cleanup(self.stop)
        line = self.p.stdout.readline()
        assert line == b"ready\n", line

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


class ControlSocket(h.MountTestCase):

    def setUp(self):
        super().setUp()
        os.chmod(self.m.dir, 0o755)

    def test_nobody_cannot_ask(self):
        rc, out, err = h.crrfs("status", self.m.store)
        self.assertEqual(rc, 0, err)
        rc, out, err = nobody(h.BIN, "status", self.m.store)
        self.assertNotEqual(rc, 0, out)
        rc, out, err = nobody(h.BIN, "resync", self.m.store)
        self.assertNotEqual(rc, 0, out)
        sock = os.path.join(self.m.store, "ctl.sock")
        st = os.lstat(sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        # no abstract name is left for anyone to take
        with open("/proc/net/unix") as f:
            self.assertNotIn("@" + abstract_name(self.m.store)[1:], f.read())

    def test_squatter_is_not_heard(self):
        self.m.stop()
        sq = Squatter(self.m.store)
        try:
            rc, out, err = h.crrfs("status", self.m.store)
            self.assertNotIn("squatted", out + err)
            self.m.start()
            rc, out, err = h.crrfs("status", self.m.store)
            self.assertEqual(rc, 0, err)
            self.assertNotIn("squatted", out + err)
            rc, out, err = h.crrfs("mount", self.m.store, "--reload")
            self.assertEqual(rc, 0, err)
            self.assertNotIn("squatted", out + err)
        finally:
            sq.stop()

    def test_client_checks_the_daemon(self):
        # a careless store directory anyone may write: the socket there
        # is another user's, and root does not believe what it says
        self.m.stop()
        os.chmod(self.m.store, 0o777)
        sq = Squatter(path=os.path.join(self.m.store, "ctl.sock"))
        try:
            rc, out, err = h.crrfs("status", self.m.store)
            self.assertNotIn("squatted", out + err)
            self.assertNotEqual(rc, 0)
        finally:
            sq.stop()
            os.unlink(os.path.join(self.m.store, "ctl.sock"))
            os.chmod(self.m.store, 0o755)

    def test_stale_socket_after_crash(self):
        sock = os.path.join(self.m.store, "ctl.sock")
        self.m.kill9()
        self.assertTrue(stat.S_ISSOCK(os.lstat(sock).st_mode))
        rc, out, err = h.crrfs("status", self.m.store)
        self.assertEqual(rc, 0, err)	# read from the store, no daemon
        self.m.start()
        rc, out, err = h.crrfs("status", self.m.store)
        self.assertEqual(rc, 0, err)
        rc, out, err = h.crrfs("resync", self.m.store)
        self.assertEqual(rc, 0, err)
        self.m.stop()
        self.assertFalse(os.path.lexists(sock))
        rc, out, err = h.crrfs("status", self.m.store)
        self.assertEqual(rc, 0, err)


if __name__ == "__main__":
    h.main()
