#!/usr/bin/env python3
"""test_posix - what ordinary programs do in a directory must behave as on a
local disk (issue 2, second bullet), checked through a real crrfs mount.

Design choice: each test gets its own fresh mount (MountTestCase), so a
daemon error or crash is charged to the test that caused it, and in the
'nocache' variant the kernel asks the daemon for every attribute.
"""

import errno
import mmap
import os
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crrfs_harness as h  # noqa: E402

# FUSE passes renameat2 flags since Linux 4.0 (protocol 7.23); on such a
# kernel EINVAL for them can only come from the daemon: a failure.
KERNEL_HAS_RENAME2 = tuple(int(x) for x in
                           os.uname().release.split(".")[:2]) >= (4, 0)
GiB = 1 << 30
MiB = 1 << 20


class Posix(h.MountTestCase):

    def test_create_read_write(self):
        p = self.m.p("a.txt")
        h.write_file(p, b"hello world\n")
        self.assertEqual(h.read_file(p), b"hello world\n")
        st = os.stat(p)
        self.assertTrue(stat.S_ISREG(st.st_mode))
        self.assertEqual(st.st_size, 12)
        self.assertIn("a.txt", os.listdir(self.m.mnt))
        # overwrite in place without truncation
        fd = os.open(p, os.O_WRONLY)
        os.pwrite(fd, b"HELLO", 0)
        os.close(fd)
        self.assertEqual(h.read_file(p), b"HELLO world\n")

    def test_append_two_fds(self):
        p = self.m.p("log")
        h.write_file(p, b"start\n")
        a = os.open(p, os.O_WRONLY | os.O_APPEND)
        b = os.open(p, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(a, b"a1\n")
            os.write(b, b"b1\n")
            os.write(a, b"a2\n")
            os.write(b, b"b2\n")
        finally:
            os.close(a)
            os.close(b)
        self.assertEqual(h.read_file(p), b"start\na1\nb1\na2\nb2\n")

    def test_random_and_sparse_writes(self):
        p = self.m.p("sparse")
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            os.pwrite(fd, b"end", 10 * MiB)
            os.pwrite(fd, b"mid", 3 * MiB + 17)
            os.pwrite(fd, b"begin", 0)
            self.assertEqual(os.pread(fd, 5, 0), b"begin")
            self.assertEqual(os.pread(fd, 10, 3 * MiB + 12),
                             b"\0" * 5 + b"mid" + b"\0\0")
        finally:
            os.close(fd)
        st = os.stat(p)
        self.assertEqual(st.st_size, 10 * MiB + 3)
        self.assertLess(st.st_blocks * 512, st.st_size,
                        "sparse file should use fewer blocks than its size")
        data = h.read_file(p)
        self.assertEqual(len(data), 10 * MiB + 3)
        self.assertEqual(data[:5], b"begin")
        self.assertEqual(data[3 * MiB + 17:3 * MiB + 20], b"mid")
        self.assertEqual(data[-3:], b"end")
        self.assertEqual(data.count(b"\0"), len(data) - 11)

    def test_truncate_down_up(self):
        p = self.m.p("t")
        h.write_file(p, b"abcdefghij")
        os.truncate(p, 3)
        self.assertEqual(os.stat(p).st_size, 3)
        self.assertEqual(h.read_file(p), b"abc")
        os.truncate(p, 8)
        self.assertEqual(h.read_file(p), b"abc" + b"\0" * 5)
        # ftruncate through an open fd, crossing a 128 KiB chunk boundary
        fd = os.open(p, os.O_RDWR)
        try:
            os.pwrite(fd, b"x" * (300 * 1024), 0)
            os.ftruncate(fd, 200 * 1024 + 5)
            os.ftruncate(fd, 400 * 1024)
            self.assertEqual(os.fstat(fd).st_size, 400 * 1024)
            got = os.pread(fd, 400 * 1024, 0)
        finally:
            os.close(fd)
        self.assertEqual(got, b"x" * (200 * 1024 + 5)
                         + b"\0" * (200 * 1024 - 5))
        self.assertEqual(h.read_file(p), got)
        # O_TRUNC
        fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
        os.close(fd)
        self.assertEqual(os.stat(p).st_size, 0)

    def test_o_excl(self):
        p = self.m.p("excl")
        fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        self.assertErrno(errno.EEXIST, os.open, p,
                         os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o600)

    def test_over_4gib(self):
        p = self.m.p("big")
        off = 5 * GiB
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            os.pwrite(fd, b"far away", off)
            os.pwrite(fd, b"near 4G", 4 * GiB - 3)
        finally:
            os.close(fd)
        st = os.stat(p)
        self.assertEqual(st.st_size, off + 8)
        fd = os.open(p, os.O_RDONLY)
        try:
            self.assertEqual(os.pread(fd, 8, off), b"far away")
            self.assertEqual(os.pread(fd, 7, 4 * GiB - 3), b"near 4G")
            self.assertEqual(os.pread(fd, 16, 2 * GiB), b"\0" * 16)
            self.assertEqual(os.pread(fd, 100, off + 4), b"away")
        finally:
            os.close(fd)
        self.assertLess(st.st_blocks * 512, 64 * MiB)

    def test_mkdir_rmdir(self):
        d = self.m.p("d")
        os.mkdir(d, 0o750)
        st = os.stat(d)
        self.assertTrue(stat.S_ISDIR(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o750)
        self.assertErrno(errno.EEXIST, os.mkdir, d)
        os.mkdir(os.path.join(d, "sub"))
        h.write_file(os.path.join(d, "sub", "f"), b"x")
        self.assertErrno(errno.ENOTEMPTY, os.rmdir, d)
        self.assertErrno(errno.ENOTEMPTY, os.rmdir, os.path.join(d, "sub"))
        self.assertErrno(errno.ENOTDIR, os.rmdir, os.path.join(d, "sub", "f"))
        os.unlink(os.path.join(d, "sub", "f"))
        os.rmdir(os.path.join(d, "sub"))
        self.assertEqual(os.listdir(d), [])
        os.rmdir(d)
        self.assertFalse(os.path.exists(d))
        self.assertNotIn("d", os.listdir(self.m.mnt))
        # a folder can be made again after rmdir
        os.mkdir(d)
        self.assertTrue(os.path.isdir(d))

    def test_rename_file(self):
        a, b = self.m.p("a"), self.m.p("b")
        h.write_file(a, b"content a")
        os.rename(a, b)
        self.assertFalse(os.path.exists(a))
        self.assertEqual(h.read_file(b), b"content a")
        self.assertEqual(sorted(os.listdir(self.m.mnt)), ["b"])
        # over an existing target
        h.write_file(a, b"new a")
        os.rename(a, b)
        self.assertEqual(h.read_file(b), b"new a")
        self.assertEqual(sorted(os.listdir(self.m.mnt)), ["b"])
        # into another directory
        os.mkdir(self.m.p("d"))
        os.rename(b, self.m.p("d", "c"))
        self.assertEqual(h.read_file(self.m.p("d", "c")), b"new a")
        self.assertEqual(os.listdir(self.m.p("d")), ["c"])

    def test_rename_dir_with_contents(self):
        os.makedirs(self.m.p("src", "x", "y"))
        h.write_file(self.m.p("src", "top"), b"top")
        h.write_file(self.m.p("src", "x", "mid"), b"mid")
        h.write_file(self.m.p("src", "x", "y", "deep"), b"deep")
        os.rename(self.m.p("src"), self.m.p("dst"))
        self.assertFalse(os.path.exists(self.m.p("src")))
        self.assertEqual(h.read_file(self.m.p("dst", "top")), b"top")
        self.assertEqual(h.read_file(self.m.p("dst", "x", "mid")), b"mid")
        self.assertEqual(h.read_file(self.m.p("dst", "x", "y", "deep")),
                         b"deep")
        self.assertEqual(sorted(os.listdir(self.m.p("dst"))), ["top", "x"])
        self.assertEqual(sorted(os.listdir(self.m.p("dst", "x"))),
                         ["mid", "y"])
        # the old names are gone at every level
        self.assertFalse(os.path.exists(self.m.p("src", "x", "mid")))
        # write through the new path, and create where the old one was
        h.write_file(self.m.p("dst", "x", "y", "deep"), b"deeper")
        self.assertEqual(h.read_file(self.m.p("dst", "x", "y", "deep")),
                         b"deeper")
        os.mkdir(self.m.p("src"))
        self.assertEqual(os.listdir(self.m.p("src")), [])
        # over an existing empty dir; not over a non-empty one
        os.rename(self.m.p("dst"), self.m.p("src"))
        self.assertEqual(h.read_file(self.m.p("src", "top")), b"top")
        os.makedirs(self.m.p("full", "z"))
        self.assertErrno((errno.ENOTEMPTY, errno.EEXIST), os.rename,
                         self.m.p("src"), self.m.p("full"))
        # a folder into itself
        self.assertErrno(errno.EINVAL, os.rename, self.m.p("src"),
                         self.m.p("src", "x", "inside"))

    def test_rename_noreplace(self):
        a, b, c = self.m.p("a"), self.m.p("b"), self.m.p("c")
        h.write_file(a, b"A")
        h.write_file(b, b"B")
        try:
            h.renameat2(a, c, h.RENAME_NOREPLACE)
        except OSError as e:
            if e.errno == errno.EINVAL and not KERNEL_HAS_RENAME2:
                self.skipTest("kernel refuses RENAME_NOREPLACE on FUSE")
            raise
        self.assertEqual(h.read_file(c), b"A")
        self.assertFalse(os.path.exists(a))
        self.assertErrno(errno.EEXIST, h.renameat2, c, b, h.RENAME_NOREPLACE)
        self.assertEqual(h.read_file(b), b"B")
        self.assertEqual(h.read_file(c), b"A")

    def test_rename_exchange(self):
        a, b = self.m.p("a"), self.m.p("b")
        h.write_file(a, b"AAAA")
        h.write_file(b, b"BB")
        try:
            h.renameat2(a, b, h.RENAME_EXCHANGE)
        except OSError as e:
            if e.errno == errno.EINVAL and not KERNEL_HAS_RENAME2:
                self.skipTest("kernel refuses RENAME_EXCHANGE on FUSE")
            raise
        self.assertEqual(h.read_file(a), b"BB")
        self.assertEqual(h.read_file(b), b"AAAA")
        self.assertEqual(os.stat(a).st_size, 2)
        self.assertEqual(os.stat(b).st_size, 4)
        self.assertErrno(errno.ENOENT, h.renameat2, a, self.m.p("nope"),
                         h.RENAME_EXCHANGE)

    def test_unlink_open_file(self):
        p = self.m.p("victim")
        h.write_file(p, b"still here")
        fd = os.open(p, os.O_RDWR)
        try:
            os.unlink(p)
            self.assertFalse(os.path.exists(p))
            self.assertNotIn("victim", os.listdir(self.m.mnt))
            self.assertEqual(os.pread(fd, 100, 0), b"still here")
            os.pwrite(fd, b"STILL", 0)
            self.assertEqual(os.pread(fd, 100, 0), b"STILL here")
            self.assertEqual(os.fstat(fd).st_size, 10)
        finally:
            os.close(fd)
        # the close that sealed nothing must not resurrect it
        self.assertFalse(os.path.exists(p))
        self.assertNotIn("victim", os.listdir(self.m.mnt))
        # a new file of the same name is independent
        h.write_file(p, b"new")
        self.assertEqual(h.read_file(p), b"new")

    def test_symlink(self):
        os.symlink("target/of/link", self.m.p("ln"))
        self.assertEqual(os.readlink(self.m.p("ln")), "target/of/link")
        st = os.lstat(self.m.p("ln"))
        self.assertTrue(stat.S_ISLNK(st.st_mode))
        self.assertEqual(st.st_size, len("target/of/link"))
        h.write_file(self.m.p("real"), b"real bytes")
        os.symlink("real", self.m.p("ln2"))
        self.assertEqual(h.read_file(self.m.p("ln2")), b"real bytes")
        self.assertIn("ln", os.listdir(self.m.mnt))
        os.unlink(self.m.p("ln"))
        self.assertFalse(os.path.lexists(self.m.p("ln")))

    def test_chmod_chown_utime(self):
        p = self.m.p("f")
        h.write_file(p, b"x")
        os.chmod(p, 0o640)
        self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o640)
        os.chmod(p, 0o4755)
        self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o4755)
        if h.need_root():
            os.chown(p, 1234, 5678)
            st = os.stat(p)
            self.assertEqual((st.st_uid, st.st_gid), (1234, 5678))
        at, mt = 1000000000123456789, 1200000000987654321
        os.utime(p, ns=(at, mt))
        st = os.stat(p)
        self.assertEqual(st.st_mtime_ns, mt)
        self.assertEqual(st.st_atime_ns, at)
        # utime on a directory too
        os.mkdir(self.m.p("d"))
        os.utime(self.m.p("d"), ns=(at, mt))
        self.assertEqual(os.stat(self.m.p("d")).st_mtime_ns, mt)
        # a write updates mtime to about now
        h.write_file(p, b"y", "ab")
        self.assertGreater(os.stat(p).st_mtime_ns, mt)

    def test_statfs(self):
        sv = os.statvfs(self.m.mnt)
        self.assertGreater(sv.f_bsize, 0)
        self.assertGreater(sv.f_blocks, 0)
        self.assertLessEqual(sv.f_bavail, sv.f_blocks)
        self.assertLessEqual(sv.f_bfree, sv.f_blocks)
        self.assertGreaterEqual(sv.f_namemax, 255)

    def test_fsync_fdatasync(self):
        p = self.m.p("synced")
        fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
        try:
            os.write(fd, b"one")
            os.fsync(fd)
            os.write(fd, b"two")
            os.fdatasync(fd)
            self.assertEqual(h.read_file(p), b"onetwo")
        finally:
            os.close(fd)
        fd = os.open(self.m.mnt, os.O_RDONLY)
        try:
            os.fsync(fd)		# fsync of a directory
        finally:
            os.close(fd)
        self.assertEqual(h.read_file(p), b"onetwo")

    def test_mmap_read_write(self):
        p = self.m.p("mm")
        h.write_file(p, bytes(range(256)) * 64)	# 16 KiB
        fd = os.open(p, os.O_RDWR)
        try:
            mm = mmap.mmap(fd, 16384)
            self.assertEqual(mm[256:260], bytes([0, 1, 2, 3]))
            mm[100:105] = b"MMAP!"
            mm[9000:9004] = b"TAIL"
            mm.flush()
            mm.close()
        finally:
            os.close(fd)
        data = h.read_file(p)
        self.assertEqual(len(data), 16384)
        self.assertEqual(data[100:105], b"MMAP!")
        self.assertEqual(data[9000:9004], b"TAIL")
        self.assertEqual(data[0:100], (bytes(range(256)) * 64)[0:100])
        # read-only mapping of the result
        with open(p, "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
            self.assertEqual(mm[100:105], b"MMAP!")
            mm.close()

    def test_xattrs(self):
        p = self.m.p("x")
        h.write_file(p, b"data")
        os.setxattr(p, "user.foo", b"hello")
        self.assertEqual(os.getxattr(p, "user.foo"), b"hello")
        self.assertIn("user.foo", os.listxattr(p))
        os.setxattr(p, "user.bar", b"")
        self.assertEqual(os.getxattr(p, "user.bar"), b"")
        self.assertErrno(errno.EEXIST, os.setxattr, p, "user.foo", b"z",
                         os.XATTR_CREATE)
        self.assertErrno(errno.ENODATA, os.setxattr, p, "user.none", b"z",
                         os.XATTR_REPLACE)
        os.setxattr(p, "user.foo", b"hello2", os.XATTR_REPLACE)
        self.assertEqual(os.getxattr(p, "user.foo"), b"hello2")
        # ERANGE on a short buffer, and size 0 gives the length
        r, e = h.raw_getxattr(p, "user.foo", 1)
        self.assertEqual((r, e), (-1, errno.ERANGE))
        r, e = h.raw_getxattr(p, "user.foo", 0)
        self.assertEqual(r, 6)
        # listxattr with a short buffer: ERANGE too
        libc = h.libc
        libc.listxattr.argtypes = [h.ctypes.c_char_p, h.ctypes.c_void_p,
                                   h.ctypes.c_size_t]
        libc.listxattr.restype = h.ctypes.c_ssize_t
        need = libc.listxattr(os.fsencode(p), None, 0)
        self.assertGreaterEqual(need, len(b"user.foo\0user.bar\0"))
        buf = h.ctypes.create_string_buffer(4)
        self.assertEqual(libc.listxattr(os.fsencode(p), buf, 4), -1)
        self.assertEqual(h.ctypes.get_errno(), errno.ERANGE)
        # a value of the kernel's maximum size
        os.setxattr(p, "user.max", b"m" * 65536)
        self.assertEqual(os.getxattr(p, "user.max"), b"m" * 65536)
        os.removexattr(p, "user.max")
        os.removexattr(p, "user.foo")
        self.assertErrno(errno.ENODATA, os.getxattr, p, "user.foo")
        self.assertNotIn("user.foo", os.listxattr(p))
        self.assertErrno(errno.ENODATA, os.removexattr, p, "user.foo")
        # user xattrs on a directory
        os.mkdir(self.m.p("d"))
        os.setxattr(self.m.p("d"), "user.dirattr", b"1")
        self.assertEqual(os.getxattr(self.m.p("d"), "user.dirattr"), b"1")
        # they stay across a later write
        h.write_file(p, b"more", "ab")
        self.assertEqual(os.getxattr(p, "user.bar"), b"")

    def test_other_xattr_namespaces(self):
        """security.* is not supported (ls -l then stops asking every file
        for its SELinux label), and cp -a of files with user metadata is
        quiet in both directions."""
        p = self.m.p("sec")
        h.write_file(p, b"data")
        for name in ("security.selinux", "security.capability",
                     "trusted.x", "system.foo"):
            self.assertErrno(errno.ENOTSUP, os.getxattr, p, name)
        # (the kernel itself checks security.capability values: EINVAL)
        for name in ("security.selinux", "trusted.x", "system.foo"):
            self.assertErrno(errno.ENOTSUP, os.setxattr, p, name, b"v")
        src = os.path.join(self.m.dir, "cpsrc")
        os.mkdir(src)
        h.write_file(os.path.join(src, "f"), b"bytes")
        os.setxattr(os.path.join(src, "f"), "user.k", b"v")
        for a, b in ((src, self.m.p("cpdst")),
                     (self.m.p("cpdst"), os.path.join(self.m.dir, "back"))):
            r = subprocess.run(["cp", "-a", a, b], capture_output=True)
            self.assertEqual((r.returncode, r.stderr), (0, b""))
            self.assertEqual(os.getxattr(os.path.join(b, "f"), "user.k"),
                             b"v")

    def test_chunk_boundaries_and_old_versions(self):
        """Edits that straddle the store's 128 KiB chunks read back right,
        and the version before the edit still reads its own bytes."""
        p = self.m.p("cb")
        orig = os.urandom(3 * MiB + 12345)
        h.write_file(p, orig)
        st = os.stat(p)
        self.assertGreater(st.st_blocks, 0)
        self.assertGreaterEqual(st.st_blocks * 512, len(orig) // 2)
        edits = [(128 * 1024 - 10, os.urandom(20)),
                 (256 * 1024, os.urandom(128 * 1024)),	# exactly a chunk
                 (MiB - 1, b"\xaa\xbb"),
                 (len(orig) - 5, os.urandom(300))]	# extends the file
        want = bytearray(orig)
        fd = os.open(p, os.O_RDWR)
        try:
            for off, data in edits:
                os.pwrite(fd, data, off)
                end = off + len(data)
                if end > len(want):
                    want.extend(b"\0" * (end - len(want)))
                want[off:end] = data
            self.assertEqual(os.pread(fd, len(want) + 10, 0), bytes(want))
        finally:
            os.close(fd)
        self.assertEqual(h.read_file(p), bytes(want))
        names = self.m.entries("cb")
        self.assertEqual(len(names), 2)
        self.assertEqual(h.read_file(self.m.vp("cb", names[0])), orig)
        self.assertEqual(h.read_file(self.m.vp("cb", names[1])), bytes(want))

    def test_concurrent_appends(self):
        """O_APPEND writes from several threads land whole, none lost."""
        p = self.m.p("shared.log")
        h.write_file(p, b"")
        line_len, per_thread, nthreads = 64, 300, 4

        def appender(t):
            fd = os.open(p, os.O_WRONLY | os.O_APPEND)
            try:
                for i in range(per_thread):
                    s = b"thread %d line %d " % (t, i)
                    os.write(fd, s.ljust(line_len - 1, b".") + b"\n")
            finally:
                os.close(fd)

        ts = [h.threading.Thread(target=appender, args=(t,))
              for t in range(nthreads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        data = h.read_file(p)
        self.assertEqual(len(data), line_len * per_thread * nthreads)
        lines = data.split(b"\n")[:-1]
        self.assertEqual(len(lines), per_thread * nthreads)
        self.assertTrue(all(len(x) == line_len - 1 for x in lines))
        self.assertEqual(len(set(lines)), len(lines))

    def test_rename_while_open(self):
        # rename a file that is open for writing; the close seals the new name
        a, b = self.m.p("a"), self.m.p("b")
        fd = os.open(a, os.O_CREAT | os.O_WRONLY, 0o644)
        try:
            os.write(fd, b"before ")
            os.rename(a, b)
            os.write(fd, b"after")
        finally:
            os.close(fd)
        self.assertFalse(os.path.exists(a))
        self.assertEqual(h.read_file(b), b"before after")
        self.assertEqual(h.read_file(self.m.vp("b", self.m.entries("b")[-1])),
                         b"before after")
        # rename over a file that a reader holds open: it keeps the old bytes
        h.write_file(self.m.p("c"), b"new content")
        rfd = os.open(b, os.O_RDONLY)
        try:
            os.rename(self.m.p("c"), b)
            self.assertEqual(os.pread(rfd, 100, 0), b"before after")
        finally:
            os.close(rfd)
        self.assertEqual(h.read_file(b), b"new content")
        # a directory renamed while a file inside is being written
        os.mkdir(self.m.p("d"))
        fd = os.open(self.m.p("d", "f"), os.O_CREAT | os.O_WRONLY, 0o644)
        try:
            os.write(fd, b"one ")
            os.rename(self.m.p("d"), self.m.p("e"))
            os.write(fd, b"two")
        finally:
            os.close(fd)
        self.assertEqual(h.read_file(self.m.p("e", "f")), b"one two")
        self.assertFalse(os.path.exists(self.m.p("d")))
        self.assertEqual(len(h.versions_store(self.m.store, "e/f")), 1)

    def test_ctime_and_entry_times(self):
        p = self.m.p("t")
        h.write_file(p, b"1")
        os.utime(p, ns=(1500000000000000000, 1500000000000000000))
        st1 = os.stat(p)
        os.chmod(p, 0o600)
        st2 = os.stat(p)
        self.assertGreater(st2.st_ctime_ns, st1.st_mtime_ns)
        self.assertEqual(st2.st_mtime_ns, 1500000000000000000)
        h.write_file(p, b"2")
        # the chmod amended version 1, or (on a slow machine, after the
        # amend window) made version 2: either way the one before last
        names = self.m.entries("t")
        est = os.stat(self.m.vp("t", names[-2]))
        self.assertEqual(est.st_mtime_ns, 1500000000000000000,
                         ".versions entry should carry its version's mtime")
        self.assertEqual(stat.S_IMODE(est.st_mode), 0o400)

    def test_hard_link_refused(self):
        h.write_file(self.m.p("f"), b"x")
        self.assertErrno(errno.EPERM, os.link, self.m.p("f"), self.m.p("g"))
        self.assertFalse(os.path.exists(self.m.p("g")))

    def test_name_lengths(self):
        n255 = "n" * 255
        h.write_file(self.m.p(n255), b"long")
        self.assertEqual(h.read_file(self.m.p(n255)), b"long")
        self.assertIn(n255, os.listdir(self.m.mnt))
        os.mkdir(self.m.p("d" * 255))
        self.assertErrno(errno.ENAMETOOLONG, h.write_file,
                         self.m.p("n" * 256), b"x")
        self.assertErrno(errno.ENAMETOOLONG, os.mkdir, self.m.p("d" * 256))
        self.assertErrno(errno.ENAMETOOLONG, os.rename, self.m.p(n255),
                         self.m.p("r" * 256))
        self.assertTrue(os.path.exists(self.m.p(n255)))

    def test_non_utf8_names(self):
        names = [b"caf\xe9", b"\xff\xfe\xfd", b"ok-\x80-\xc3(", b"\x01ctl"]
        root = os.fsencode(self.m.mnt)
        for i, n in enumerate(names):
            h.write_file(os.path.join(root, n), b"n%d" % i)
        os.mkdir(os.path.join(root, b"dir\xaa"))
        h.write_file(os.path.join(root, b"dir\xaa", b"in\xbb"), b"inner")
        listed = sorted(os.listdir(root))
        self.assertEqual(listed, sorted(names + [b"dir\xaa"]))
        for i, n in enumerate(names):
            self.assertEqual(h.read_file(os.path.join(root, n)), b"n%d" % i)
        self.assertEqual(os.listdir(os.path.join(root, b"dir\xaa")),
                         [b"in\xbb"])
        os.rename(os.path.join(root, names[0]), os.path.join(root, b"z\xfe"))
        self.assertIn(b"z\xfe", os.listdir(root))

    def test_many_files_listing(self):
        d = self.m.p("many")
        os.mkdir(d)
        names = set("file-%04d-%s" % (i, "x" * (i % 50)) for i in range(1000))
        for n in names:
            fd = os.open(os.path.join(d, n), os.O_CREAT | os.O_WRONLY, 0o644)
            os.close(fd)
        listed = os.listdir(d)
        self.assertEqual(len(listed), len(names), "duplicates or missing")
        self.assertEqual(set(listed), names)
        # scandir gives the right types, and it is stable on a second pass
        kinds = {e.name: e.is_file() for e in os.scandir(d)}
        self.assertTrue(all(kinds.values()))
        self.assertEqual(sorted(os.listdir(d)), sorted(listed))


if __name__ == "__main__":
    h.main()
