#!/usr/bin/env python3
"""test_scale - big directories list correctly: 20,000 files in one
folder, a small folder next to a huge subtree, and readdir while files are
being created.

Design choice: correctness only, no timed assertions (a loaded CI machine
would make them flaky); the creation rate is printed for the report.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crrfs_harness as h  # noqa: E402

# Under a sanitizer every request costs ~10x: a smaller directory still
# spans many readdir buffers, and the plain build checks the full size.
BIG = 5000 if h.SANITIZER else 20000
NEW = 1000 if h.SANITIZER else 3000	# created while listing


def create_empty(d, names):
    for n in names:
        fd = os.open(os.path.join(d, n), os.O_CREAT | os.O_WRONLY, 0o644)
        os.close(fd)


class Scale(h.MountTestCase):

    def test_big_dir_and_small_neighbour(self):
        big = self.m.p("big")
        os.mkdir(big)
        names = ["n%06d" % i for i in range(BIG)]
        t0 = time.monotonic()
        create_empty(big, names)
        dt = time.monotonic() - t0
        sys.stdout.write("(%d files in %.1f s: %.0f/s) "
                         % (BIG, dt, BIG / dt))
        os.makedirs(self.m.p("small", "sub"))
        for n in ("a", "b", "c"):
            h.write_file(self.m.p("small", n), n.encode())
        listed = os.listdir(big)
        self.assertEqual(len(listed), BIG, "duplicates or missing entries")
        self.assertEqual(set(listed), set(names))
        self.assertEqual(sorted(os.listdir(self.m.p("small"))),
                         ["a", "b", "c", "sub"])
        self.assertEqual(sorted(os.listdir(self.m.mnt)), ["big", "small"])
        # readdirplus attributes are right for all of them
        sizes = {e.name: e.stat().st_size for e in os.scandir(big)}
        self.assertEqual(len(sizes), BIG)
        self.assertEqual(set(sizes.values()), {0})
        # the history view lists them all too
        hist = os.listdir(self.m.vp("big"))
        self.assertEqual(len(hist), BIG)
        self.assertEqual(set(hist), set(names))
        # deleting a third keeps the listing exact
        for n in names[::3]:
            os.unlink(os.path.join(big, n))
        left = set(names) - set(names[::3])
        listed = os.listdir(big)
        self.assertEqual(len(listed), len(left))
        self.assertEqual(set(listed), left)
        self.assertEqual(len(os.listdir(self.m.vp("big"))), BIG)

    def test_readdir_while_creating(self):
        d = self.m.p("busy")
        os.mkdir(d)
        create_empty(d, ["pre%04d" % i for i in range(500)])
        done = []
        errors = []

        def creator():
            try:
                for i in range(NEW):
                    n = "new%05d" % i
                    create_empty(d, [n])
                    done.append(n)
            except OSError as e:
                errors.append(e)

        t = threading.Thread(target=creator)
        t.start()
        passes = 0
        try:
            while t.is_alive() or passes < 3:
                finished = set(done)		# created before we list
                listed = os.listdir(d)
                passes += 1
                self.assertEqual(len(listed), len(set(listed)),
                                 "duplicate names in a listing")
                missing = (finished | {"pre%04d" % i for i in range(500)}) \
                    - set(listed)
                self.assertFalse(missing, "%d created names missing, e.g. %s"
                                 % (len(missing), sorted(missing)[:3]))
        finally:
            t.join()
        self.assertFalse(errors)
        listed = os.listdir(d)
        self.assertEqual(len(listed), 500 + NEW)
        sys.stdout.write("(%d listings while creating) " % passes)


if __name__ == "__main__":
    h.main()
