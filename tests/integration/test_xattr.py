#!/usr/bin/env python3
"""test_xattr - the user.crrfs.* scripting interface (SPEC section 3) and the
`crrfs versions` / `crrfs restore` commands built on it.

Design choice: most checks use os.*xattr for exact errnos; the attr
package's getfattr/setfattr are used too, since they are what the README
and users type. Errnos follow include/versions/versions.h: unknown
user.crrfs.* name -> EINVAL on set, read-only name -> EPERM, malformed
version id -> EINVAL, well-formed id the key does not have -> ENODATA
(ENOENT also accepted: both say "no such version").
"""

import errno
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crrfs_harness as h  # noqa: E402

NO_SUCH_VERSION = (errno.ENODATA, errno.ENOENT)
FAKE_VID = "0" * 10 + "ZZZZZZZZZZZZZZZZ"	# well formed, never issued


def xget(p, name):
    return os.getxattr(p, name).decode("ascii")


class Xattr(h.MountTestCase):

    def three_versions(self, name="f"):
        p = self.m.p(name)
        ids = []
        for c in (b"one", b"two!", b"three"):
            h.write_file(p, c)
            ids.append(xget(p, "user.crrfs.version-id"))
        return p, ids

    def test_version_id(self):
        p, ids = self.three_versions()
        for v in ids:
            self.assertRegex(v, h.VID_RE)
        self.assertEqual(len(set(ids)), 3)
        self.assertEqual(ids, sorted(ids))
        names = self.m.entries("f")
        self.assertEqual([h.ENTRY_RE.match(n).group(2) for n in names], ids)
        for n, v in zip(names, ids):
            self.assertEqual(xget(self.m.vp("f", n), "user.crrfs.version-id"),
                             v)
        vs = h.versions_store(self.m.store, "f")
        self.assertEqual([x["version_id"] for x in vs], ids)
        # getfattr (package attr) shows the same, with no newline added
        rc, out, err = h.run(["getfattr", "--only-values", "-n",
                              "user.crrfs.version-id", p])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, ids[-1])
        # a folder has one too
        os.mkdir(self.m.p("d"))
        self.assertRegex(xget(self.m.p("d"), "user.crrfs.version-id"),
                         h.VID_RE)

    def test_sha256(self):
        p = self.m.p("f")
        data = os.urandom(300 * 1024)
        h.write_file(p, data)
        self.assertEqual(xget(p, "user.crrfs.sha256"),
                         hashlib.sha256(data).hexdigest())
        # Truncated by its O_TRUNC open and never written: the version is
        # made at release, which the kernel sends after close(2) returns
        # (docs/design-fs.md, "Known limits").
        h.write_file(p, b"")
        empty = hashlib.sha256(b"").hexdigest()
        h.poll(lambda: xget(p, "user.crrfs.sha256") == empty)
        self.assertEqual(xget(p, "user.crrfs.sha256"), empty)
        first = self.m.vp("f", self.m.entries("f")[0])
        self.assertEqual(xget(first, "user.crrfs.sha256"),
                         hashlib.sha256(data).hexdigest())

    def test_read_only_and_unknown_names(self):
        p = self.m.p("f")
        h.write_file(p, b"x")
        self.assertErrno(errno.EPERM, os.setxattr, p,
                         "user.crrfs.version-id", b"0" * 26)
        self.assertErrno(errno.EPERM, os.setxattr, p, "user.crrfs.sha256",
                         b"00")
        self.assertErrno(errno.EINVAL, os.setxattr, p, "user.crrfs.foo",
                         b"bar")
        self.assertErrno(errno.ENODATA, os.getxattr, p, "user.crrfs.foo")
        # nothing changed: still one version, same bytes
        self.assertEqual(len(self.m.entries("f")), 1)
        self.assertEqual(h.read_file(p), b"x")

    def test_delete_marker_xattr_and_removal(self):
        p = self.m.p("f")
        h.write_file(p, b"last bytes")
        os.unlink(p)
        names = self.m.entries("f")
        self.assertEqual(len(names), 2)
        dm = self.m.vp("f", names[1])
        self.assertTrue(dm.endswith(".deleted"))
        self.assertEqual(xget(dm, "user.crrfs.delete-marker"), "1")
        self.assertErrno(errno.ENODATA, os.getxattr, self.m.vp("f", names[0]),
                         "user.crrfs.delete-marker")
        # setfattr -x removes that marker: the file is back
        rc, out, err = h.run(["setfattr", "-x", "user.crrfs.delete-marker",
                              dm])
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.m.entries("f"), names[:1])
        self.assertTrue(os.path.exists(p))
        self.assertEqual(h.read_file(p), b"last bytes")
        self.assertIn("f", os.listdir(self.m.mnt))
        vs = h.versions_store(self.m.store, "f")
        self.assertEqual([x["delete_marker"] for x in vs], [False])

    def test_deleted_xattr_undelete(self):
        p = self.m.p("f")
        h.write_file(p, b"old")
        h.write_file(p, b"newest")
        self.assertEqual(xget(self.m.vp("f"), "user.crrfs.deleted"), "0")
        os.unlink(p)
        self.assertEqual(xget(self.m.vp("f"), "user.crrfs.deleted"), "1")
        os.removexattr(self.m.vp("f"), "user.crrfs.deleted")
        self.assertEqual(h.read_file(p), b"newest")
        self.assertEqual(os.stat(p).st_size, 6)
        self.assertEqual(xget(self.m.vp("f"), "user.crrfs.deleted"), "0")
        self.assertEqual(len(self.m.entries("f")), 2)
        # on a live key there is nothing to undelete
        self.assertErrno((errno.ENODATA, errno.ENOENT, errno.EINVAL),
                         os.removexattr, self.m.vp("f"), "user.crrfs.deleted")
        self.assertEqual(h.read_file(p), b"newest")

    def test_restore_live(self):
        p, ids = self.three_versions()
        os.setxattr(p, "user.crrfs.restore", ids[0].encode())
        self.assertEqual(h.read_file(p), b"one")
        self.assertEqual(os.stat(p).st_size, 3)
        vs = h.versions_store(self.m.store, "f")
        self.assertEqual(len(vs), 4)
        self.assertEqual([x["version_id"] for x in vs[:3]], ids)
        self.assertNotIn(vs[3]["version_id"], ids)
        self.assertEqual(xget(p, "user.crrfs.version-id"), vs[3]["version_id"])
        # with setfattr too
        rc, out, err = h.run(["setfattr", "-n", "user.crrfs.restore", "-v",
                              ids[1], p])
        self.assertEqual(rc, 0, err)
        self.assertEqual(h.read_file(p), b"two!")
        self.assertEqual(len(self.m.entries("f")), 5)

    def test_restore_brings_metadata(self):
        p = self.m.p("f")
        h.write_file(p, b"v1 bytes")
        os.chmod(p, 0o600)
        os.setxattr(p, "user.color", b"red")
        v1 = xget(p, "user.crrfs.version-id")	# ends the amend window
        h.write_file(p, b"v2")
        os.chmod(p, 0o644)
        os.setxattr(p, "user.color", b"blue")
        self.assertEqual(os.stat(p).st_mode & 0o777, 0o644)
        os.setxattr(p, "user.crrfs.restore", v1.encode())
        st = os.stat(p)
        self.assertEqual(st.st_size, 8)
        self.assertEqual(st.st_mode & 0o777, 0o600)
        self.assertEqual(os.getxattr(p, "user.color"), b"red")
        self.assertEqual(h.read_file(p), b"v1 bytes")
        self.assertEqual(xget(p, "user.crrfs.sha256"),
                         hashlib.sha256(b"v1 bytes").hexdigest())

    def test_restore_with_open_handle(self):
        p, ids = self.three_versions()
        fd = os.open(p, os.O_RDONLY)
        try:
            self.assertEqual(os.pread(fd, 100, 0), b"three")
            os.setxattr(p, "user.crrfs.restore", ids[0].encode())
            # a new open sees the restored bytes
            self.assertEqual(h.read_file(p), b"one")
        finally:
            os.close(fd)
        self.assertEqual(h.read_file(p), b"one")
        self.assertEqual(len(self.m.entries("f")), 4)

    def test_restore_deleted_via_versions_dir(self):
        p, ids = self.three_versions()
        os.unlink(p)
        os.setxattr(self.m.vp("f"), "user.crrfs.restore", ids[1].encode())
        self.assertTrue(os.path.exists(p))
        self.assertEqual(h.read_file(p), b"two!")
        vs = h.versions_store(self.m.store, "f")
        self.assertEqual([x["delete_marker"] for x in vs],
                         [False, False, False, True, False])

    def test_recreate_continues_history(self):
        """A key is its path (S3): writing a deleted name again adds to the
        same history, and restore by id works across the delete."""
        p = self.m.p("b")
        h.write_file(p, b"v1")
        v1 = xget(p, "user.crrfs.version-id")
        os.unlink(p)
        h.write_file(p, b"v2")
        names = self.m.entries("b")
        self.assertEqual(len(names), 3)
        self.assertTrue(names[1].endswith(".deleted"))
        os.setxattr(p, "user.crrfs.restore", v1.encode())
        self.assertEqual(h.read_file(p), b"v1")
        self.assertEqual(len(h.versions_store(self.m.store, "b")), 4)

    def test_undelete_inside_deleted_folder(self):
        """Undeleting d/f after `rm -r d` must make d/f reachable again (a
        folder is a prefix in S3: a live key below it makes it exist), or
        fail with an errno: never report success and leave it hidden."""
        os.mkdir(self.m.p("d"))
        h.write_file(self.m.p("d", "f"), b"inner")
        os.unlink(self.m.p("d", "f"))
        os.rmdir(self.m.p("d"))
        try:
            os.removexattr(self.m.vp("d", "f"), "user.crrfs.deleted")
        except OSError:
            self.assertFalse(os.path.exists(self.m.p("d", "f")))
            return
        self.assertTrue(os.path.exists(self.m.p("d", "f")),
                        "undelete reported success but d/f is not there")
        self.assertEqual(h.read_file(self.m.p("d", "f")), b"inner")
        self.assertIn("d", os.listdir(self.m.mnt))

    def test_restore_bad_ids(self):
        p, ids = self.three_versions()
        self.assertErrno(NO_SUCH_VERSION, os.setxattr, p,
                         "user.crrfs.restore", FAKE_VID.encode())
        for bad in (b"", b"nonsense", ids[0].encode() + b"\n",
                    ids[0].lower().encode(), ids[0][:-1].encode(),
                    b"\xff" * 26):
            self.assertErrno(errno.EINVAL, os.setxattr, p,
                             "user.crrfs.restore", bad)
        # a version id of another key is not one of this key's
        h.write_file(self.m.p("g"), b"g")
        gid = xget(self.m.p("g"), "user.crrfs.version-id")
        self.assertErrno(NO_SUCH_VERSION, os.setxattr, p,
                         "user.crrfs.restore", gid.encode())
        # a delete marker's id
        os.unlink(self.m.p("g"))
        dm = h.ENTRY_RE.match(self.m.entries("g")[-1]).group(2)
        self.assertErrno(errno.EINVAL, os.setxattr, self.m.vp("g"),
                         "user.crrfs.restore", dm.encode())
        self.assertFalse(os.path.exists(self.m.p("g")))
        # nothing changed
        self.assertEqual(h.read_file(p), b"three")
        self.assertEqual(len(self.m.entries("f")), 3)

    def test_tags(self):
        p = self.m.p("f")
        h.write_file(p, b"tagged")
        os.setxattr(p, "user.crrfs.tag.project", b"alpha")
        self.assertEqual(xget(p, "user.crrfs.tag.project"), "alpha")
        self.assertIn("user.crrfs.tag.project", os.listxattr(p))
        os.setxattr(p, "user.crrfs.tag.project", b"beta")
        self.assertEqual(xget(p, "user.crrfs.tag.project"), "beta")
        # the tag belongs to the versions made from now on
        h.write_file(p, b"tagged 2")
        self.assertEqual(xget(p, "user.crrfs.tag.project"), "beta")
        os.removexattr(p, "user.crrfs.tag.project")
        self.assertErrno(errno.ENODATA, os.getxattr, p,
                         "user.crrfs.tag.project")
        self.assertNotIn("user.crrfs.tag.project", os.listxattr(p))
        # S3 limits: key up to 128 chars, value up to 256
        self.assertErrno(errno.EINVAL, os.setxattr, p,
                         "user.crrfs.tag." + "k" * 129, b"v")
        self.assertErrno(errno.EINVAL, os.setxattr, p, "user.crrfs.tag.k",
                         b"v" * 257)

    def test_cli_versions_and_restore(self):
        p, ids = self.three_versions("doc.txt")
        vs = h.versions(p)
        self.assertEqual([v["version_id"] for v in vs], ids)
        self.assertEqual([v["size"] for v in vs], [3, 4, 5])
        self.assertEqual([bool(v["current"]) for v in vs],
                         [False, False, True])
        rc, out, err = h.crrfs("versions", p)
        self.assertEqual(rc, 0, err)
        for v in ids:
            self.assertIn(v, out)
        # restore a given version
        rc, out, err = h.crrfs("restore", p, "--version", ids[0])
        self.assertEqual(rc, 0, err)
        self.assertEqual(h.read_file(p), b"one")
        # without --version: the previous version comes back
        rc, out, err = h.crrfs("restore", p)
        self.assertEqual(rc, 0, err)
        self.assertEqual(h.read_file(p), b"three")
        self.assertEqual(len(h.versions(p)), 5)
        # a deleted file: versions still listed, restore undeletes it
        os.unlink(p)
        vs = h.versions(p)
        self.assertTrue(vs[-1]["delete_marker"])
        rc, out, err = h.crrfs("restore", p)
        self.assertEqual(rc, 0, err)
        self.assertEqual(h.read_file(p), b"three")
        # an unknown id fails, names the path, and changes nothing
        rc, out, err = h.crrfs("restore", p, "--version", FAKE_VID)
        self.assertEqual(rc, 1)
        self.assertIn("doc.txt", err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertEqual(h.read_file(p), b"three")
        # not in a crrfs mount
        rc, out, err = h.crrfs("versions", "/etc/hostname")
        self.assertEqual(rc, 1, out)
        self.assertTrue(err.strip())

    def test_user_metadata_per_version(self):
        p = self.m.p("f")
        h.write_file(p, b"a")
        os.setxattr(p, "user.color", b"red")
        h.write_file(p, b"b")
        os.setxattr(p, "user.color", b"blue")
        os.getxattr(p, "user.crrfs.version-id")	# end the amend window
        names = self.m.entries("f")
        self.assertGreaterEqual(len(names), 2)
        self.assertEqual(os.getxattr(self.m.vp("f", names[0]), "user.color"),
                         b"red")
        self.assertEqual(os.getxattr(p, "user.color"), b"blue")
        self.assertErrno(errno.EROFS, os.setxattr, self.m.vp("f", names[0]),
                         "user.color", b"green")


if __name__ == "__main__":
    h.main()
