#!/usr/bin/env python3
"""test_versions - what makes a version and what does not (SPEC section 1),
and the hidden .versions directory (SPEC section 2), checked through the
mount and directly in the store (`crrfs versions --store`), so a bug that
the kernel's view hides still shows.

Design choice: the no-bloat cases use the real tools (tar, cp -a, rsync -a,
sh) rather than imitating their system calls, because their exact call
sequences are what the store has to absorb.
"""

import errno
import os
import stat
import subprocess
import sys
import tarfile
import tempfile
import shutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crrfs_harness as h  # noqa: E402

N = 50
MiB = 1 << 20
OLD_MTIME = 1000000000		# 2001-09-09


def vids(vs):
    return [v["version_id"] for v in vs]


def markers(vs):
    return [bool(v["delete_marker"]) for v in vs]


def entry_vid(name):
    m = h.ENTRY_RE.match(name)
    assert m, "bad .versions entry name %r" % name
    return m.group(2)


class SourceTree:
    """N files in a local directory, with modes, owners and old mtimes the
    copy tools must carry over."""

    def __init__(self, n=N):
        self.dir = tempfile.mkdtemp(prefix="crrfs-src-")
        self.files = {}
        for i in range(n):
            rel = os.path.join("sub%d" % (i % 3), "file-%03d.dat" % i)
            data = (b"payload %d " % i) * (i * 37 % 500 + 1)
            p = os.path.join(self.dir, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            h.write_file(p, data)
            mode = (0o640, 0o755, 0o600)[i % 3]
            os.chmod(p, mode)
            if h.need_root():
                os.chown(p, 1000 + i % 2, 2000)
            os.utime(p, (OLD_MTIME + i, OLD_MTIME + i))
            self.files[rel] = (data, mode, OLD_MTIME + i)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Versions(h.MountTestCase):

    def check_copied_tree(self, src, dst):
        """Every file of src under MNT/dst: right bytes, mode, mtime, owner,
        exactly one version in the store, no delete marker, and no other
        names (temporary files) in the history of its folder."""
        by_dir = {}
        for rel, (data, mode, mtime) in sorted(src.files.items()):
            p = self.m.p(dst, rel)
            self.assertEqual(h.read_file(p), data, rel)
            st = os.stat(p)
            self.assertEqual(stat.S_IMODE(st.st_mode), mode, rel)
            self.assertEqual(int(st.st_mtime), mtime, rel)
            if h.need_root():
                self.assertEqual(st.st_uid, 1000 + int(rel.split("-")[1][:3])
                                 % 2, rel)
            key = dst + "/" + rel
            vs = h.versions_store(self.m.store, key)
            self.assertEqual(len(vs), 1, "%s: %d versions: %r"
                             % (key, len(vs), vs))
            self.assertEqual(markers(vs), [False], key)
            self.assertEqual(len(self.m.entries(os.path.join(dst, rel))), 1,
                             rel)
            d, b = os.path.split(rel)
            by_dir.setdefault(d, set()).add(b)
        for d, names in by_dir.items():
            self.assertEqual(set(os.listdir(self.m.vp(dst, d))), names,
                             "history of %s/%s has extra names" % (dst, d))
        self.assertEqual(set(os.listdir(self.m.vp(dst))), set(by_dir))

    def test_three_writes_three_versions(self):
        p = self.m.p("f")
        contents = [b"first", b"second version", b"3"]
        for c in contents:
            h.write_file(p, c)
        names = self.m.entries("f")
        self.assertEqual(len(names), 3, names)
        for n in names:
            self.assertRegex(n, h.ENTRY_RE)
            self.assertFalse(n.endswith(".deleted"))
        # oldest first, and each entry reads that version's bytes
        for n, c in zip(names, contents):
            self.assertEqual(h.read_file(self.m.vp("f", n)), c)
            st = os.stat(self.m.vp("f", n))
            self.assertEqual(st.st_size, len(c))
            self.assertTrue(stat.S_ISREG(st.st_mode))
            self.assertEqual(st.st_mode & 0o222, 0, "write bits on %s" % n)
        vs = h.versions_store(self.m.store, "f")
        self.assertEqual(vids(vs), [entry_vid(n) for n in names])
        self.assertEqual(vids(vs), sorted(vids(vs)), "vids not sortable")
        self.assertEqual(markers(vs), [False] * 3)
        self.assertEqual([v["size"] for v in vs], [len(c) for c in contents])
        # the CLI through the mount agrees
        self.assertEqual(vids(h.versions(p)), vids(vs))
        self.assertTrue(h.versions(p)[-1]["current"])

    def test_rapid_overwrites(self):
        """open(O_TRUNC), write, close in a tight loop: one version per
        close, never an extra empty one (the kernel sends RELEASE after
        close(2) returns, so the next open can race the last release)."""
        for i in range(100):
            p = self.m.p("r%03d" % i)
            for c in (b"first", b"second version", b"3"):
                h.write_file(p, c)
        bad = {}
        for i in range(100):
            k = "r%03d" % i
            got = [h.read_file(self.m.vp(k, n)) for n in self.m.entries(k)]
            if got != [b"first", b"second version", b"3"]:
                bad[k] = got
        self.assertFalse(bad, "%d of 100 files have wrong versions, e.g. %r"
                         % (len(bad), sorted(bad.items())[:2]))

    def test_many_versions_listing(self):
        """.versions/<key>/ with more entries than one readdir buffer."""
        p = self.m.p("f")
        for i in range(300):
            h.write_file(p, b"%d" % i)
        names = os.listdir(self.m.vp("f"))
        self.assertEqual(len(names), 300)
        self.assertEqual(len(set(names)), 300)
        names.sort()
        self.assertEqual(h.read_file(self.m.vp("f", names[0])), b"0")
        self.assertEqual(h.read_file(self.m.vp("f", names[299])), b"299")
        self.assertEqual(h.read_file(self.m.vp("f", names[150])), b"150")
        vs = h.versions_store(self.m.store, "f")
        self.assertEqual([v["version_id"] for v in vs],
                         [entry_vid(n) for n in names])

    def test_metadata_change_after_exposure(self):
        """Once a version's id was seen, chmod/xattr changes make a new
        version that shares the data (no copy)."""
        p = self.m.p("f")
        h.write_file(p, os.urandom(4 * MiB))
        os.chmod(p, 0o640)			# amends: still one version
        self.assertEqual(len(self.m.entries("f")), 1)
        os.getxattr(p, "user.crrfs.version-id")
        before = h.du_k(os.path.join(self.m.store, "data"))
        os.chmod(p, 0o600)
        names = self.m.entries("f")
        self.assertEqual(len(names), 2)
        self.assertEqual(os.stat(self.m.vp("f", names[0])).st_mode & 0o777,
                         0o440)
        self.assertEqual(os.stat(self.m.vp("f", names[1])).st_mode & 0o777,
                         0o400)
        self.assertEqual(h.read_file(self.m.vp("f", names[0])),
                         h.read_file(self.m.vp("f", names[1])))
        self.assertLess(h.du_k(os.path.join(self.m.store, "data")) - before,
                        256, "a chmod copied data")

    def test_shell_redirect_one_version(self):
        rc, out, err = h.run(["sh", "-c", "echo hello > f; cp f g; "
                              "printf x > h2; : > empty"], cwd=self.m.mnt)
        self.assertEqual(rc, 0, err)
        self.assertEqual(h.read_file(self.m.p("f")), b"hello\n")
        for k in ("f", "g", "h2", "empty"):
            vs = h.versions_store(self.m.store, k)
            self.assertEqual(len(vs), 1, "%s: %r" % (k, vs))
            self.assertEqual(len(self.m.entries(k)), 1, k)
        self.assertEqual(h.versions_store(self.m.store, "empty")[0]["size"],
                         0)

    def test_shell_overwrite_and_append(self):
        """A shell redirect dup2()s the file onto stdout and closes the
        original fd before writing: the flushes of those closes must not
        seal an empty (truncated) version of an existing file."""
        script = ("echo one > f; echo two > f; echo three >> f; "
                  "cat f > g; cat g > g2; cat g > g2; truncate -s 2 f")
        rc, out, err = h.run(["bash", "-c", script], cwd=self.m.mnt)
        self.assertEqual(rc, 0, err)
        self.assertEqual(h.read_file(self.m.p("f")), b"tw")
        got = [h.read_file(self.m.vp("f", n)) for n in self.m.entries("f")]
        self.assertEqual(got, [b"one\n", b"two\n", b"two\nthree\n", b"tw"],
                         "versions of f")
        self.assertEqual(len(self.m.entries("g")), 1)
        self.assertEqual(len(self.m.entries("g2")), 2)
        self.assertEqual(len(h.versions_store(self.m.store, "f")), 4)

    def test_tar_x(self):
        src = SourceTree()
        try:
            tpath = os.path.join(self.m.dir, "in.tar")
            with tarfile.open(tpath, "w") as t:
                t.add(src.dir, arcname="dst")
            rc, out, err = h.run(["tar", "-xf", tpath, "-C", self.m.mnt])
            self.assertEqual(rc, 0, err)
            self.check_copied_tree(src, "dst")
        finally:
            src.close()

    def test_cp_a(self):
        src = SourceTree()
        try:
            rc, out, err = h.run(["cp", "-a", src.dir, self.m.p("dst")])
            self.assertEqual(rc, 0, err)
            self.check_copied_tree(src, "dst")
        finally:
            src.close()

    def test_rsync_a(self):
        src = SourceTree()
        try:
            rc, out, err = h.run(["rsync", "-a", src.dir + "/",
                                  self.m.p("dst") + "/"])
            self.assertEqual(rc, 0, err)
            self.check_copied_tree(src, "dst")
            # a second rsync with one file changed: exactly one new version
            rel = sorted(src.files)[0]
            h.write_file(os.path.join(src.dir, rel), b"changed")
            rc, out, err = h.run(["rsync", "-a", src.dir + "/",
                                  self.m.p("dst") + "/"])
            self.assertEqual(rc, 0, err)
            self.assertEqual(h.read_file(self.m.p("dst", rel)), b"changed")
            vs = h.versions_store(self.m.store, "dst/" + rel)
            self.assertEqual(len(vs), 2, vs)
            self.assertEqual(markers(vs), [False, False])
            other = sorted(src.files)[1]
            self.assertEqual(len(h.versions_store(self.m.store,
                                                  "dst/" + other)), 1)
        finally:
            src.close()

    def test_rm_delete_marker(self):
        os.mkdir(self.m.p("d"))
        p = self.m.p("d", "f")
        h.write_file(p, b"v1")
        h.write_file(p, b"v2")
        os.unlink(p)
        self.assertFalse(os.path.exists(p))
        self.assertNotIn("f", os.listdir(self.m.p("d")))
        # still findable in the history
        self.assertIn("f", os.listdir(self.m.vp("d")))
        names = self.m.entries("d/f")
        self.assertEqual(len(names), 3, names)
        self.assertTrue(names[-1].endswith(".deleted"), names)
        self.assertFalse(any(n.endswith(".deleted") for n in names[:2]))
        st = os.stat(self.m.vp("d", "f", names[-1]))
        self.assertEqual(st.st_size, 0)
        self.assertEqual(h.read_file(self.m.vp("d", "f", names[-1])), b"")
        self.assertEqual(h.read_file(self.m.vp("d", "f", names[1])), b"v2")
        vs = h.versions_store(self.m.store, "d/f")
        self.assertEqual(markers(vs), [False, False, True])
        self.assertEqual(vids(vs), [entry_vid(n) for n in names])
        # rmdir puts a marker on the folder key, its history stays listed
        os.rmdir(self.m.p("d"))
        self.assertFalse(os.path.exists(self.m.p("d")))
        self.assertIn("d", os.listdir(self.m.vp()))
        self.assertIn("f", os.listdir(self.m.vp("d")))

    def test_rename_new_key_and_marker(self):
        a = self.m.p("a")
        h.write_file(a, b"one")
        h.write_file(a, b"two")
        os.rename(a, self.m.p("b"))
        vb = h.versions_store(self.m.store, "b")
        self.assertEqual(len(vb), 1, vb)
        self.assertEqual(h.read_file(self.m.vp("b", self.m.entries("b")[0])),
                         b"two")
        va = h.versions_store(self.m.store, "a")
        self.assertEqual(markers(va), [False, False, True])
        self.assertIn("a", os.listdir(self.m.vp()))
        # one version whose id was seen has left the machine: marker too
        c = self.m.p("c")
        h.write_file(c, b"seen")
        os.getxattr(c, "user.crrfs.version-id")
        os.rename(c, self.m.p("d"))
        self.assertEqual(markers(h.versions_store(self.m.store, "c")),
                         [False, True])
        self.assertEqual(len(h.versions_store(self.m.store, "d")), 1)

    def test_rename_fresh_temp_leaves_no_trace(self):
        tmp = self.m.p(".final.Ab12Cd")
        h.write_file(tmp, b"payload")
        os.chmod(tmp, 0o640)
        os.rename(tmp, self.m.p("final"))
        self.assertEqual(h.read_file(self.m.p("final")), b"payload")
        hist = os.listdir(self.m.vp())
        self.assertIn("final", hist)
        self.assertNotIn(".final.Ab12Cd", hist)
        self.assertEqual(len(h.versions_store(self.m.store, "final")), 1)

    def test_dir_rename_moves_everything(self):
        os.makedirs(self.m.p("d", "s"))
        files = {"d/a": b"A", "d/s/b": b"B"}
        for k, v in files.items():
            h.write_file(self.m.p(k), v + b"0")
            h.write_file(self.m.p(k), v)		# two versions each
        os.rename(self.m.p("d"), self.m.p("e"))
        for k, v in files.items():
            nk = "e" + k[1:]
            self.assertEqual(h.read_file(self.m.p(nk)), v)
            vs = h.versions_store(self.m.store, nk)
            self.assertEqual(len(vs), 1, "%s: %r" % (nk, vs))
            old = h.versions_store(self.m.store, k)
            self.assertEqual(markers(old), [False, False, True], k)
        self.assertFalse(os.path.exists(self.m.p("d")))
        self.assertEqual(sorted(os.listdir(self.m.vp("d"))), ["a", "s"])
        self.assertEqual(sorted(os.listdir(self.m.vp("e"))), ["a", "s"])

    def test_versions_dir_hidden(self):
        h.write_file(self.m.p("f"), b"x")
        os.mkdir(self.m.p("sub"))
        self.assertNotIn(".versions", os.listdir(self.m.mnt))
        rc, out, err = h.run(["find", self.m.mnt])
        self.assertEqual(rc, 0, err)
        self.assertNotIn(".versions", out)
        rc, out, err = h.run(["ls", "-a", self.m.mnt])
        self.assertNotIn(".versions", out.split())
        st = os.stat(self.m.vp())
        self.assertTrue(stat.S_ISDIR(st.st_mode))
        self.assertEqual(sorted(os.listdir(self.m.vp())), ["f", "sub"])
        # only the root hides it: no such name below
        self.assertFalse(os.path.exists(self.m.p("sub", ".versions")))

    def test_versions_read_only(self):
        h.write_file(self.m.p("f"), b"x")
        e = self.m.vp("f", self.m.entries("f")[0])
        self.assertErrno(errno.EROFS, h.write_file, self.m.vp("new"), b"x")
        self.assertErrno(errno.EROFS, h.write_file, self.m.vp("f", "new"),
                         b"x")
        self.assertErrno(errno.EROFS, os.mkdir, self.m.vp("f", "dir"))
        self.assertErrno((errno.EROFS, errno.EACCES), os.open, e,
                         os.O_WRONLY)
        self.assertErrno(errno.EROFS, os.chmod, e, 0o777)
        self.assertErrno(errno.EROFS, os.truncate, e, 0)
        self.assertErrno((errno.EROFS, errno.EXDEV), os.rename, e,
                         self.m.vp("f", "x"))
        self.assertErrno(errno.EPERM, os.unlink, e)
        self.assertEqual(len(self.m.entries("f")), 1)
        self.assertEqual(h.read_file(self.m.p("f")), b"x")

    def test_append_and_edit_share_data(self):
        p = self.m.p("big")
        block = os.urandom(MiB)
        with open(p, "wb") as f:
            for _ in range(64):
                f.write(block)
        data_dir = os.path.join(self.m.store, "data")
        before = h.du_k(data_dir)
        self.assertGreaterEqual(before, 60 * 1024, "64 MiB not stored?")
        with open(p, "ab") as f:
            f.write(b"A" * 1024)
        after_append = h.du_k(data_dir)
        self.assertLess(after_append - before, 1024,
                        "append of 1 KiB to 64 MiB grew the store by %d KiB"
                        % (after_append - before))
        fd = os.open(p, os.O_WRONLY)
        try:
            os.pwrite(fd, b"E" * 4096, 32 * MiB + 100)
        finally:
            os.close(fd)
        after_edit = h.du_k(data_dir)
        self.assertLess(after_edit - after_append, 1024,
                        "4 KiB edit of 64 MiB grew the store by %d KiB"
                        % (after_edit - after_append))
        self.assertEqual(len(h.versions_store(self.m.store, "big")), 3)
        # every version still reads its own bytes
        names = self.m.entries("big")
        with open(self.m.vp("big", names[0]), "rb") as f:
            f.seek(32 * MiB + 100)
            self.assertEqual(f.read(4096), block[100:4196])
            f.seek(0, 2)
            self.assertEqual(f.tell(), 64 * MiB)
        with open(self.m.vp("big", names[2]), "rb") as f:
            f.seek(32 * MiB + 100)
            self.assertEqual(f.read(4096), b"E" * 4096)
            f.seek(64 * MiB)
            self.assertEqual(f.read(), b"A" * 1024)


class Purge(h.MountTestCase):
    MOUNT_OPTS = ("allow_purge",)

    def test_rm_entry_with_allow_purge(self):
        p = self.m.p("f")
        for c in (b"1", b"2", b"3"):
            h.write_file(p, c)
        names = self.m.entries("f")
        os.unlink(self.m.vp("f", names[0]))
        self.assertEqual(self.m.entries("f"), names[1:])
        vs = h.versions_store(self.m.store, "f")
        self.assertEqual(vids(vs), [entry_vid(n) for n in names[1:]])
        self.assertEqual(h.read_file(p), b"3")
        self.assertEqual(h.read_file(self.m.vp("f", names[1])), b"2")


if __name__ == "__main__":
    h.main()
