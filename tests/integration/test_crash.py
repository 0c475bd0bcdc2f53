#!/usr/bin/env python3
"""test_crash - durability: kill -9 of the daemon in the middle of
concurrent writes loses nothing whose close(2) (or fsync(2)) returned, and
the store is consistent afterwards (`crrfs fsck` finds it clean).

Design choice: writer threads record a file only after its close returned
0, so the record is exactly the set of promises the mount made. The
writers are joined while the dead mount is still in place (they get
ENOTCONN), before it is cleared, so no write can fall through to the
directory below the mount point.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crrfs_harness as h  # noqa: E402

THREADS = 4


def content(tid, i):
    return (b"thread %d file %d;" % (tid, i)) * (1 + (i * 7 + tid) % 300)


def save_content(i):
    return b"saved version %d\n" % i * (1 + i % 50)


def big_content(i):
    return (b"%07d" % i) * (2 * 1024 * 1024 // 7)


class Writers:
    def __init__(self, mnt):
        self.mnt = mnt
        self.stop = threading.Event()
        self.done = []			# (rel, bytes) whose close returned 0
        self.lock = threading.Lock()
        self.threads = []
        for tid in range(THREADS):
            os.mkdir(os.path.join(mnt, "t%d" % tid))
            t = threading.Thread(target=self.run, args=(tid,), daemon=True)
            self.threads.append(t)

        # an editor's atomic save (write a temp name, rename over the
        # target) and big fsync'ed files, alongside the small files
        self.saved = -1			# last save whose rename returned
        self.saving = -1		# last save attempted
        self.threads.append(threading.Thread(target=self.saver, daemon=True))
        self.threads.append(threading.Thread(target=self.big, daemon=True))

    def start(self):
        for t in self.threads:
            t.start()

    def saver(self):
        i = 0
        tmp = os.path.join(self.mnt, ".target.swp")
        target = os.path.join(self.mnt, "target")
        while not self.stop.is_set():
            self.saving = i
            try:
                h.write_file(tmp, save_content(i))
                os.rename(tmp, target)
            except OSError:
                return
            self.saved = i
            i += 1

    def big(self):
        i = 0
        while not self.stop.is_set():
            rel = "big%03d" % i
            try:
                fd = os.open(os.path.join(self.mnt, rel),
                             os.O_CREAT | os.O_WRONLY, 0o644)
                try:
                    os.write(fd, big_content(i))
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError:
                return
            with self.lock:
                self.done.append((rel, big_content(i)))
            i += 1

    def run(self, tid):
        i = 0
        while not self.stop.is_set():
            rel = "t%d/f%05d" % (tid, i)
            data = content(tid, i)
            try:
                fd = os.open(os.path.join(self.mnt, rel),
                             os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)
            except OSError:
                return			# the daemon is gone
            with self.lock:
                self.done.append((rel, data))
            i += 1

    def count(self):
        with self.lock:
            return len(self.done)

    def join(self):
        for t in self.threads:
            t.join(30)
            if t.is_alive():
                raise AssertionError("writer thread stuck after kill -9")


class Crash(h.MountTestCase):

    def crash_round(self, round_no):
        m = self.m
        top = os.path.join(m.mnt, "r%d" % round_no)
        os.mkdir(top)
        w = Writers(top)
        # fsync'ed but never closed: must survive as a version
        held = os.path.join(top, "held")
        held_data = b"fsynced but open %d\n" % round_no * 1000
        fd = os.open(held, os.O_CREAT | os.O_WRONLY, 0o600)
        os.write(fd, held_data)
        os.fsync(fd)
        # an overwritten file: the second close must win after the crash
        h.write_file(os.path.join(top, "over"), b"old")
        h.write_file(os.path.join(top, "over"), b"new")
        w.start()
        h.poll(lambda: w.count() >= 1000, timeout=5)
        w.stop.set()
        m.kill9(clear=False)
        w.join()
        try:
            os.close(fd)
        except OSError:
            pass
        m.clear_dead_mount()
        done = list(w.done)
        self.assertGreater(len(done), 20, "writers made almost no files")

        m.start()
        for rel, data in done:
            p = os.path.join(top, rel)
            self.assertEqual(h.read_file(p), data, "lost after kill -9: "
                             + rel)
            ents = m.entries("r%d/%s" % (round_no, rel))
            self.assertEqual(len(ents), 1, rel)
        self.assertEqual(h.read_file(held), held_data,
                         "fsync'ed data lost after kill -9")
        self.assertEqual(h.read_file(os.path.join(top, "over")), b"new")
        if w.saved >= 0:
            got = h.read_file(os.path.join(top, "target"))
            ok = [save_content(i) for i in range(w.saved, w.saving + 1)]
            self.assertIn(got, ok, "atomic save lost: want save %d..%d"
                          % (w.saved, w.saving))
        self.assertFalse(os.path.exists(os.path.join(top, ".target.swp"))
                         and w.saving == w.saved,
                         "temp file of a finished save reappeared")
        self.assertEqual(len(m.entries("r%d/over" % round_no)), 2)
        # the store, directly
        rel, data = done[len(done) // 2]
        vs = h.versions_store(m.store, "r%d/%s" % (round_no, rel))
        self.assertEqual(len(vs), 1)
        self.assertEqual(vs[0]["size"], len(data))
        return len(done)

    def fsck_clean(self):
        rc, out, err = h.crrfs("fsck", self.m.store)
        self.assertEqual(rc, 0, "fsck not clean:\n" + out + err)

    def test_fsck_can_fail(self):
        """fsck must see damage, or its 'clean' above proves nothing."""
        h.write_file(self.m.p("a"), b"a" * 300000)
        h.write_file(self.m.p("b"), b"b" * 300000)
        self.m.stop()
        self.fsck_clean()
        segs = []
        for d, _, files in os.walk(os.path.join(self.m.store, "data")):
            segs += [os.path.join(d, f) for f in files]
        self.assertGreaterEqual(len(segs), 2, segs)
        # an orphan: a well-named segment file no version uses
        # (STORE/data/<2 hex>/<16 hex>, the 2 hex taken from the name)
        name = "%016x" % 0xabcdef
        seg0 = os.path.basename(segs[0])
        sub = name[-2:] if os.path.basename(os.path.dirname(segs[0])) \
            == seg0[-2:] else name[:2]
        orphan = os.path.join(self.m.store, "data", sub, name)
        os.makedirs(os.path.dirname(orphan), exist_ok=True)
        h.write_file(orphan, b"stray")
        rc, out, err = h.crrfs("fsck", self.m.store)
        self.assertEqual(rc, 1, "fsck missed an orphan segment:\n" + out + err)
        os.unlink(orphan)
        # missing data: a segment some version needs
        os.unlink(segs[0])
        rc, out, err = h.crrfs("fsck", self.m.store)
        self.assertEqual(rc, 1, "fsck missed a missing segment:\n" + out + err)
        self.m.start()

    def test_kill9_during_writes(self):
        n1 = self.crash_round(1)
        # fsck reads alongside the mount (no lock), then after unmount
        self.fsck_clean()
        n2 = self.crash_round(2)
        self.m.stop()
        self.fsck_clean()
        self.m.start()
        self.assertEqual(len(os.listdir(self.m.p("r1", "t0"))) > 0, True)
        sys.stdout.write("(%d + %d files closed before kill -9) "
                         % (n1, n2))


if __name__ == "__main__":
    h.main()
