#!/usr/bin/env python3
"""test_trust_posix - the POSIX details of issue 9, item 12, checked through
a real crrfs mount: st_ino survives renames (of the file and of a folder
above it, open or not, and a remount); a folder's mtime and ctime move when
entries come and go; a folder's link count is 2 + its subfolders; a size
past the documented maximum (5 TiB) is EFBIG, not a huge allocation.

Design choice: each test gets its own fresh mount (MountTestCase); in the
'nocache' variant every stat reaches the daemon, so a stale number there is
the daemon's, not the kernel's cache.
"""

import errno
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crrfs_harness as h  # noqa: E402

TiB = 1 << 40
MAX_FILE = 5 * TiB	# docs/user-guide.md: the largest file (S3's limit)


def tick():
    """Let the clock move past a folder's last change (ns timestamps, but
    a coarse clock could give the same value twice)."""
    time.sleep(0.02)


class TrustPosix(h.MountTestCase):

    # -- st_ino ------------------------------------------------------------

    def test_ino_survives_file_rename(self):
        p = self.m.p("a")
        h.write_file(p, b"x")
        ino = os.stat(p).st_ino
        os.rename(p, self.m.p("b"))
        self.assertEqual(os.stat(self.m.p("b")).st_ino, ino)
        os.mkdir(self.m.p("d"))
        os.rename(self.m.p("b"), self.m.p("d", "c"))
        self.assertEqual(os.stat(self.m.p("d", "c")).st_ino, ino)
        # and back onto the name it left (a dead key of its own)
        os.rename(self.m.p("d", "c"), p)
        self.assertEqual(os.stat(p).st_ino, ino)
        # a file made again under the old name is another file
        h.write_file(self.m.p("b"), b"new")
        self.assertNotEqual(os.stat(self.m.p("b")).st_ino, ino)

    def test_ino_survives_rename_while_open(self):
        p = self.m.p("open")
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            os.write(fd, b"abc")
            ino = os.fstat(fd).st_ino
            os.rename(p, self.m.p("moved"))
            self.assertEqual(os.fstat(fd).st_ino, ino)
            self.assertEqual(os.stat(self.m.p("moved")).st_ino, ino)
        finally:
            os.close(fd)
        self.assertEqual(os.stat(self.m.p("moved")).st_ino, ino)

    def test_ino_survives_folder_rename_and_remount(self):
        os.makedirs(self.m.p("top", "sub"))
        h.write_file(self.m.p("top", "sub", "f"), b"data")
        want = {k: os.stat(self.m.p(*k)).st_ino
                for k in [("top",), ("top", "sub"), ("top", "sub", "f")]}
        fd = os.open(self.m.p("top", "sub", "f"), os.O_RDONLY)
        try:
            os.rename(self.m.p("top"), self.m.p("top2"))
            self.assertEqual(os.fstat(fd).st_ino, want[("top", "sub", "f")])
        finally:
            os.close(fd)
        got = {k: os.stat(self.m.p("top2", *k[1:])).st_ino for k in want}
        self.assertEqual(got, want)
        # unique: no other entry shares a number
        h.write_file(self.m.p("other"), b"")
        inos = list(want.values()) + [os.stat(self.m.p("other")).st_ino,
                                      os.stat(self.m.mnt).st_ino]
        self.assertEqual(len(set(inos)), len(inos))
        self.m.stop()
        self.m.start()
        got = {k: os.stat(self.m.p("top2", *k[1:])).st_ino for k in want}
        self.assertEqual(got, want)

    def test_ino_exchange_swaps(self):
        if tuple(int(x) for x in os.uname().release.split(".")[:2]) < (4, 0):
            self.skipTest("no renameat2 through FUSE before Linux 4.0")
        a, b = self.m.p("a"), self.m.p("b")
        h.write_file(a, b"A")
        h.write_file(b, b"B")
        ia, ib = os.stat(a).st_ino, os.stat(b).st_ino
        h.renameat2(a, b, 2)	# RENAME_EXCHANGE
        self.assertEqual(h.read_file(a), b"B")
        self.assertEqual((os.stat(a).st_ino, os.stat(b).st_ino), (ib, ia))

    def test_readdir_ino_matches_stat(self):
        h.write_file(self.m.p("f"), b"1")
        os.rename(self.m.p("f"), self.m.p("g"))
        os.mkdir(self.m.p("d"))
        with os.scandir(self.m.mnt) as it:
            listed = {e.name: e.inode() for e in it}
        for name in ("g", "d"):
            self.assertEqual(listed[name], os.stat(self.m.p(name)).st_ino,
                             name)

    # -- folder times --------------------------------------------------------

    def assertMoved(self, d, before, what):
        st = os.stat(d)
        self.assertGreater(st.st_mtime_ns, before.st_mtime_ns,
                           "mtime of %s after %s" % (d, what))
        self.assertGreater(st.st_ctime_ns, before.st_ctime_ns,
                           "ctime of %s after %s" % (d, what))
        return st

    def test_dir_times_change_with_entries(self):
        d = self.m.p("d")
        os.mkdir(d)
        st = os.stat(d)
        steps = [
            ("create", lambda: h.write_file(os.path.join(d, "f"), b"x")),
            ("mkdir", lambda: os.mkdir(os.path.join(d, "s"))),
            ("symlink", lambda: os.symlink("f", os.path.join(d, "l"))),
            ("rename within", lambda: os.rename(os.path.join(d, "f"),
                                                os.path.join(d, "g"))),
            ("unlink", lambda: os.unlink(os.path.join(d, "l"))),
            ("rmdir", lambda: os.rmdir(os.path.join(d, "s"))),
        ]
        for what, fn in steps:
            tick()
            fn()
            st = self.assertMoved(d, st, what)

    def test_rename_touches_both_dirs_and_entry_ctime(self):
        a, b = self.m.p("a"), self.m.p("b")
        os.mkdir(a)
        os.mkdir(b)
        f = os.path.join(a, "f")
        h.write_file(f, b"x")
        h.write_file(os.path.join(b, "old"), b"y")
        sa, sb, sf = os.stat(a), os.stat(b), os.stat(f)
        tick()
        os.rename(f, os.path.join(b, "f"))
        self.assertMoved(a, sa, "rename out")
        sb = self.assertMoved(b, sb, "rename in")
        st = os.stat(os.path.join(b, "f"))
        self.assertGreater(st.st_ctime_ns, sf.st_ctime_ns, "renamed ctime")
        self.assertEqual(st.st_mtime_ns, sf.st_mtime_ns, "renamed mtime")
        # replacing an entry is a change of the target folder too
        h.write_file(os.path.join(a, "n"), b"z")
        sa = os.stat(a)
        tick()
        os.rename(os.path.join(a, "n"), os.path.join(b, "old"))
        self.assertMoved(a, sa, "rename out (replace)")
        self.assertMoved(b, sb, "rename over an entry")

    def test_rename_open_file_ctime(self):
        # unsealed writes keep their times in the daemon's node: the
        # rename's ctime must reach them too (new file and old one)
        p = self.m.p("new")
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
        h.write_file(self.m.p("old"), b"1")
        fd2 = os.open(self.m.p("old"), os.O_RDWR)
        try:
            os.write(fd, b"x")
            os.write(fd2, b"2")
            c0, c2 = os.fstat(fd).st_ctime_ns, os.fstat(fd2).st_ctime_ns
            tick()
            os.rename(p, self.m.p("new2"))
            os.rename(self.m.p("old"), self.m.p("old2"))
            self.assertGreater(os.fstat(fd).st_ctime_ns, c0)
            self.assertGreater(os.fstat(fd2).st_ctime_ns, c2)
        finally:
            os.close(fd)
            os.close(fd2)
        self.assertGreater(os.stat(self.m.p("new2")).st_ctime_ns, c0)
        self.assertGreater(os.stat(self.m.p("old2")).st_ctime_ns, c2)

    def test_dir_rename_keeps_its_mtime(self):
        os.makedirs(self.m.p("p", "d", "sub"))
        h.write_file(self.m.p("p", "d", "f"), b"x")
        sd = os.stat(self.m.p("p", "d"))
        tick()
        os.rename(self.m.p("p", "d"), self.m.p("p", "e"))
        st = os.stat(self.m.p("p", "e"))
        self.assertEqual(st.st_mtime_ns, sd.st_mtime_ns)
        self.assertGreater(st.st_ctime_ns, sd.st_ctime_ns)

    def test_dir_times_persist_and_utime_wins(self):
        d = self.m.p("d")
        os.mkdir(d)
        tick()
        h.write_file(os.path.join(d, "f"), b"x")
        st = os.stat(d)
        self.m.stop()
        self.m.start()
        self.assertEqual(os.stat(d).st_mtime_ns, st.st_mtime_ns)
        os.utime(d, ns=(1000000000, 2000000000))
        self.assertEqual(os.stat(d).st_mtime_ns, 2000000000)
        os.chmod(d, 0o700)
        self.assertEqual(os.stat(d).st_mtime_ns, 2000000000)
        tick()
        os.unlink(os.path.join(d, "f"))
        self.assertGreater(os.stat(d).st_mtime_ns, 2000000000)

    # -- link counts -----------------------------------------------------------

    def test_dir_nlink_counts_subdirs(self):
        d = self.m.p("d")
        os.mkdir(d)
        self.assertEqual(os.stat(d).st_nlink, 2)
        os.mkdir(os.path.join(d, "a"))
        os.mkdir(os.path.join(d, "b"))
        h.write_file(os.path.join(d, "f"), b"")
        self.assertEqual(os.stat(d).st_nlink, 4)
        root = os.stat(self.m.mnt).st_nlink
        os.rename(os.path.join(d, "a"), self.m.p("a"))
        self.assertEqual(os.stat(d).st_nlink, 3)
        self.assertEqual(os.stat(self.m.mnt).st_nlink, root + 1)
        os.rmdir(os.path.join(d, "b"))
        self.assertEqual(os.stat(d).st_nlink, 2)
        os.makedirs(os.path.join(d, "x", "y"))
        os.rename(d, self.m.p("e"))
        self.assertEqual(os.stat(self.m.p("e")).st_nlink, 3)
        self.assertEqual(os.stat(self.m.p("e", "x")).st_nlink, 3)
        self.m.stop()
        self.m.start()
        self.assertEqual(os.stat(self.m.p("e")).st_nlink, 3)
        self.assertEqual(os.stat(self.m.p("e", "x", "y")).st_nlink, 2)
        self.assertEqual(os.stat(self.m.p("e", "f")).st_nlink, 1)

    # -- the largest file --------------------------------------------------------

    def test_truncate_huge_is_efbig(self):
        p = self.m.p("big")
        h.write_file(p, b"x")
        self.assertErrno(errno.EFBIG, os.truncate, p, 999999999999999)
        fd = os.open(p, os.O_RDWR)
        try:
            self.assertErrno(errno.EFBIG, os.ftruncate, fd, MAX_FILE + 1)
            self.assertErrno(errno.EFBIG, os.pwrite, fd, b"y", MAX_FILE)
            self.assertEqual(os.fstat(fd).st_size, 1)
            # the maximum itself is a hole, costing no memory to make
            os.ftruncate(fd, MAX_FILE)
            self.assertEqual(os.fstat(fd).st_size, MAX_FILE)
            self.assertEqual(os.pread(fd, 4, MAX_FILE - 2), b"\0\0")
        finally:
            os.close(fd)
        self.assertEqual(os.stat(p).st_size, MAX_FILE)
        fd = os.open(p, os.O_RDONLY)
        try:
            self.assertEqual(os.pread(fd, 2, MAX_FILE - 2), b"\0\0")
            self.assertEqual(os.pread(fd, 2, 0), b"x\0")
        finally:
            os.close(fd)
        os.truncate(p, 0)
        self.assertEqual(os.stat(p).st_size, 0)

    def daemon_peak_rss(self):
        with open("/proc/%d/status" % self.m.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return 0

    def test_far_write_costs_no_map_of_its_offset(self):
        # the chunk map was one 24-byte entry per 128 KiB up to the offset:
        # about 1 GiB of daemon memory for a write near 5 TiB
        p = self.m.p("far")
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            os.pwrite(fd, b"begin", 0)
            self.assertEqual(os.pwrite(fd, b"end", MAX_FILE - 3), 3)
            # a write across the limit is cut at it
            self.assertEqual(os.pwrite(fd, b"abcd", MAX_FILE - 2), 2)
        finally:
            os.close(fd)
        self.assertLess(self.daemon_peak_rss(), 256 << 20)
        self.assertEqual(os.stat(p).st_size, MAX_FILE)
        fd = os.open(p, os.O_RDONLY)
        try:
            self.assertEqual(os.pread(fd, 5, MAX_FILE - 5), b"\0\0eab")
            self.assertEqual(os.pread(fd, 6, 0), b"begin\0")
            self.assertEqual(os.pread(fd, 4, 3 * TiB), b"\0" * 4)
        finally:
            os.close(fd)
        # shrink it back: the far chunks go, the first stays
        os.truncate(p, 4)
        self.assertEqual(h.read_file(p), b"begi")
        self.assertLess(os.stat(p).st_blocks, 1024)


if __name__ == "__main__":
    h.main()
