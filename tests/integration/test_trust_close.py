#!/usr/bin/env python3
"""test_trust_close - what a close(2) promises (issue 9): every close that
returned success left its bytes as a version of the file, wherever a
concurrent rename moved the file or one of its folders, and no rename
target is left as a key with no version; and the last close of an open
file, not each close of a dup'd or inherited descriptor, makes the version.

Design choice: the rename storms are bounded in time and count, and their
check reads the store directly after the unmount (`crrfs versions --store`
hashes every version of every name the file could have had), so neither
the daemon's node table nor the kernel's caches can vouch for themselves.
"""

import errno
import hashlib
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crrfs_harness as h  # noqa: E402

STORM_SECONDS = 4.0 if not h.SANITIZER else 8.0
MAX_WRITES = 1500


def _sha(data):
    return hashlib.sha256(data).hexdigest()


class RenameStorm(h.MountTestCase):
    """A writer rewrites files while another thread renames them (or their
    folder) back and forth."""

    def _storm(self, writer_paths, renames, create):
        """Run the writer and the renamer at once. writer_paths(i) gives
        the paths to try (in order) for write i; renames is the cycle of
        (src, dst) pairs. Returns [(relative path tried, content)] of every
        close that succeeded."""
        stop = threading.Event()
        done = []
        errors = []

        def renamer():
            k = 0
            while not stop.is_set():
                src, dst = renames[k % len(renames)]
                try:
                    os.rename(self.m.p(src), self.m.p(dst))
                    k += 1
                except OSError as e:
                    errors.append(("rename", src, dst, e))
                    return

        def writer():
            flags = os.O_WRONLY | os.O_TRUNC | (os.O_CREAT if create else 0)
            for i in range(MAX_WRITES):
                if stop.is_set():
                    return
                data = b"write %06d %s\n" % (i, b"x" * (i % 97))
                for rel in writer_paths(i):
                    try:
                        fd = os.open(self.m.p(rel), flags, 0o644)
                    except OSError as e:
                        if e.errno == errno.ENOENT:
                            continue	# moved away under us: try the next
                        errors.append(("open", rel, e))
                        return
                    try:
                        os.write(fd, data)
                    except OSError as e:
                        # the file stays ours through a rename: no error
                        errors.append(("write", rel, e))
                        os.close(fd)
                        return
                    os.close(fd)	# raises on failure: the test fails
                    done.append((rel, data))
                    break

        threads = [threading.Thread(target=renamer),
                   threading.Thread(target=writer)]
        for t in threads:
            t.start()
        threads[1].join(STORM_SECONDS)
        stop.set()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertGreater(len(done), 20, "the writer hardly ran")
        return done

    def _no_ghosts(self, dirs):
        """Every name listed has a version once the kernel released every
        handle: a key with no version would be an empty ghost file."""
        def ghosts():
            found = []
            for d in dirs:
                if not os.path.isdir(self.m.p(d)):
                    continue
                for name in os.listdir(self.m.p(d)):
                    r, err = h.raw_getxattr(self.m.p(d, name),
                                            "user.crrfs.version-id", 64)
                    if r < 0:
                        found.append((d, name, errno.errorcode.get(err)))
            return found
        h.poll(lambda: not ghosts(), timeout=10)
        self.assertEqual(ghosts(), [], "keys with no version")

    def _check_store(self, done, candidates):
        """After the unmount: each successful close's bytes are a version
        of one of the names the file could have had, and fsck is clean."""
        self.m.stop()
        have = set()
        for key in sorted(set(candidates)):
            rc, out, err = h.crrfs("versions", "--store", self.m.store, key,
                                   "--json")
            if rc != 0:
                continue	# that name never existed
            for v in __import__("json").loads(out):
                if v.get("sha256"):
                    have.add(v["sha256"])
        lost = [(rel, data[:12]) for rel, data in done
                if _sha(data) not in have]
        self.assertEqual(lost, [], "%d of %d successful closes left no "
                         "version" % (len(lost), len(done)))
        rc, out, err = h.crrfs("fsck", self.m.store)
        self.assertEqual(rc, 0, "fsck not clean:\n" + out + err)

    def test_folder_renamed_during_close(self):
        """C -> Cx -> C while files in it are rewritten (and created)."""
        os.mkdir(self.m.p("C"))

        def paths(i):
            name = "f%d" % (i // 5)		# every fifth write creates
            return ["C/" + name, "Cx/" + name, "C/" + name]
        done = self._storm(paths, [("C", "Cx"), ("Cx", "C")], create=True)
        self._no_ghosts(["C", "Cx"])
        names = set(rel.split("/")[1] for rel, _ in done)
        self._check_store(done, [d + "/" + n for d in ("C", "Cx")
                                 for n in names])

    def test_file_renamed_during_close(self):
        """d/f -> d/g -> d/f while f is opened O_TRUNC and rewritten."""
        os.mkdir(self.m.p("d"))
        h.write_file(self.m.p("d", "f"), b"first\n")

        def paths(i):
            return ["d/f", "d/g", "d/f"]
        done = self._storm(paths, [("d/f", "d/g"), ("d/g", "d/f")],
                           create=False)
        self._no_ghosts(["d"])
        self._check_store(done, ["d/f", "d/g"])

    def test_xattr_and_unlink_during_folder_rename(self):
        """Setting a tag through an open descriptor, and making and
        unlinking files through a descriptor of their folder, while that
        folder is renamed back and forth: the descriptors' files are there
        all along, so none of it may fail as if they were not."""
        os.mkdir(self.m.p("C"))
        h.write_file(self.m.p("C", "f"), b"tagged\n")
        fd = os.open(self.m.p("C", "f"), os.O_RDONLY)
        dfd = os.open(self.m.p("C"), os.O_RDONLY | os.O_DIRECTORY)
        stop = threading.Event()
        errors = []

        def renamer():
            k = 0
            while not stop.is_set():
                src, dst = ("C", "Cx") if k % 2 == 0 else ("Cx", "C")
                os.rename(self.m.p(src), self.m.p(dst))
                k += 1

        t = threading.Thread(target=renamer)
        t.start()
        i = 0
        try:
            deadline = time.monotonic() + STORM_SECONDS
            while time.monotonic() < deadline and not errors:
                step = "setxattr"
                try:
                    os.setxattr(fd, "user.crrfs.tag.n", b"%d" % i)
                    step = "create"
                    os.close(os.open("g%d" % i, os.O_WRONLY | os.O_CREAT,
                                     0o644, dir_fd=dfd))
                    step = "unlink"
                    os.unlink("g%d" % i, dir_fd=dfd)
                except OSError as e:
                    errors.append((step, i, e))
                i += 1
        finally:
            stop.set()
            t.join(60)
            os.close(fd)
            os.close(dfd)
        self.assertEqual(errors, [])
        self.assertGreater(i, 20, "the loop hardly ran")
        d = "C" if os.path.isdir(self.m.p("C")) else "Cx"
        self.assertEqual(os.getxattr(self.m.p(d, "f"), "user.crrfs.tag.n"),
                         b"%d" % (i - 1))
        self.assertEqual(sorted(os.listdir(self.m.p(d))), ["f"])

class LastClose(h.MountTestCase):
    """Each close(2) of a dup'd or inherited descriptor flushes; only the
    last close of the open file makes the version, yet that version is
    there (id and digest) as soon as the last close(2) returns."""

    def _settled(self, key, want):
        """Entries of key once the kernel's asynchronous releases are in
        (a late release must not add one either)."""
        h.poll(lambda: len(self.m.entries(key)) > want, timeout=1.0)
        return self.m.entries(key)

    def _check_head(self, key, data):
        """Right after the last close: the id and digest are the new
        content's, and the content is the last entry's."""
        p = self.m.p(key)
        self.assertEqual(os.getxattr(p, "user.crrfs.sha256").decode(),
                         _sha(data))
        vid = os.getxattr(p, "user.crrfs.version-id").decode()
        names = self._settled(key, 1)
        self.assertEqual(len(names), 1, names)
        self.assertTrue(names[-1].endswith(vid), (names, vid))
        self.assertEqual(h.read_file(self.m.vp(key, names[-1])), data)

    def test_shell_exec_redirect(self):
        """`exec >f; cmd1; cmd2; cmd3`: each command's exit closes its
        inherited stdout (a FLUSH each); the shell's exit is the last."""
        rc, out, err = h.run(["sh", "-c", "exec >f; /bin/echo a; "
                              "/bin/echo b; /bin/echo c"], cwd=self.m.mnt)
        self.assertEqual(rc, 0, err)
        self.assertEqual(h.read_file(self.m.p("f")), b"a\nb\nc\n")
        self._check_head("f", b"a\nb\nc\n")

    def test_shell_exec_append_existing(self):
        h.write_file(self.m.p("log"), b"old\n")
        rc, out, err = h.run(["sh", "-c", "exec >>log; /bin/echo a; "
                              "/bin/echo b"], cwd=self.m.mnt)
        self.assertEqual(rc, 0, err)
        names = self._settled("log", 2)
        self.assertEqual([h.read_file(self.m.vp("log", n)) for n in names],
                         [b"old\n", b"old\na\nb\n"])

    def test_python_dup(self):
        p = self.m.p("d")
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        fd2 = os.dup(fd)
        os.write(fd, b"one ")
        os.close(fd)
        os.write(fd2, b"two ")
        fd3 = os.dup(fd2)
        os.close(fd2)
        os.write(fd3, b"three")
        os.close(fd3)
        self._check_head("d", b"one two three")

    def test_fork_inherited(self):
        p = self.m.p("k")
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        for i in range(3):
            pid = os.fork()
            if pid == 0:
                os.write(fd, b"child %d\n" % i)
                os._exit(0)	# closes the inherited fd: a FLUSH
            os.waitpid(pid, 0)
        os.write(fd, b"parent\n")
        os.close(fd)
        self._check_head("k", b"child 0\nchild 1\nchild 2\nparent\n")

    def test_seen_version_stays(self):
        """A version whose id was read between two closes is never changed:
        the later close makes a new one."""
        p = self.m.p("s")
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        fd2 = os.dup(fd)
        os.write(fd, b"first")
        os.close(fd)
        vid = os.getxattr(p, "user.crrfs.version-id").decode()
        os.write(fd2, b" second")
        os.close(fd2)
        names = self._settled("s", 2)
        self.assertEqual(len(names), 2, names)
        self.assertTrue(names[0].endswith(vid))
        self.assertEqual(h.read_file(self.m.vp("s", names[0])), b"first")
        self.assertEqual(h.read_file(self.m.vp("s", names[1])),
                         b"first second")

    def test_read_version_stays(self):
        """Reading a version's bytes through .versions makes them final
        too (the kernel keeps an entry's pages cached)."""
        p = self.m.p("r")
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        fd2 = os.dup(fd)
        os.write(fd, b"first")
        os.close(fd)
        names = self.m.entries("r")
        self.assertEqual(h.read_file(self.m.vp("r", names[0])), b"first")
        os.write(fd2, b" second")
        os.close(fd2)
        names = self._settled("r", 2)
        self.assertEqual([h.read_file(self.m.vp("r", n)) for n in names],
                         [b"first", b"first second"])

    def test_separate_opens_still_one_version_each(self):
        p = self.m.p("t")
        for c in (b"1", b"22", b"333"):
            h.write_file(p, c)
        names = self._settled("t", 3)
        self.assertEqual([h.read_file(self.m.vp("t", n)) for n in names],
                         [b"1", b"22", b"333"])


if __name__ == "__main__":
    h.main()
