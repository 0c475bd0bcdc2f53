#!/usr/bin/env python3
"""test_repl_trust_damage - replication never ships bytes that do not
match the version's stored sha256 (issue 9, item 4, the replicator's
part): a segment overwritten or cut short while the store is unmounted
makes the version's job FAILED with a reason that says so, and the
destination gets nothing for that key.

Design choice: the files are written by a mount without rules, their
sha256 recorded (the user.crrfs.sha256 xattr), the store unmounted and
its segments damaged (found by content), then mounted again with a dir
rule and `crrfs resync` queues the existing versions. resync waits until
nothing is pending, so a damaged job retried for ever would hang it (it
has a timeout); it must end with exit 1 and the versions FAILED. A clean
file written alongside must arrive, so the rule did work.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crrfs_harness as h  # noqa: E402
from test_repl_dir import ReplCase  # noqa: E402

KiB = 1 << 10
MiB = 1 << 20
DAMAGED = "does not match its sha256: the store's copy is damaged " \
          "(run crrfs fsck --deep)"


def segments(store):
    out = []
    for d, _, files in os.walk(os.path.join(store, "data")):
        out += [os.path.join(d, f) for f in files]
    return out


def find_in_segments(store, needle):
    """(segment path, offset) of the bytes needle in store's data."""
    for seg in segments(store):
        with open(seg, "rb") as f:
            buf = f.read()
        at = buf.find(needle)
        if at >= 0:
            return seg, at
    raise AssertionError("bytes not found in the segments of %s" % store)


class TestReplDamage(ReplCase):

    def setup_files(self, files):
        """A store with files (name -> bytes) and their sha256 recorded,
        unmounted; plus a dir destination's rule file."""
        self.dest = self.path("replica")
        self.r = self.rules(h.dir_dest("dr", self.dest) + h.rule("all", "dr"))
        m = self.mount()
        self.vid = {}
        for name, data in files.items():
            p = self.write(m, name, data)
            h.xattr(p, "user.crrfs.sha256")	# the store records it
            self.vid[name] = h.xattr(p, "user.crrfs.version-id")
        m.stop()
        return m

    def resync_fails(self, m, names):
        """Mount with the rule, resync: the damaged names end FAILED with
        the reason, one log line each, nothing of them in DEST."""
        m.rules = self.r
        m.expect_errors = True
        m.start()
        rc, out, err = h.crrfs("resync", m.mnt, timeout=120)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("%d version%s FAILED" % (
            len(names), "s" if len(names) > 1 else ""), err)
        st = h.crrfs_status_json(m.mnt)
        fails = {f["key"]: f for ff in h.json_find(st, "last_errors")
                 for f in ff}
        log = m.log_text()
        for n in names:
            self.assertEqual(h.repl_status(m.p(n)), "FAILED", n)
            self.assertIn(n, fails, st)
            self.assertEqual(fails[n]["version_id"], self.vid[n])
            self.assertIn("data of '%s' version %s" % (n, self.vid[n]),
                          fails[n]["error"])
            self.assertIn("the store's copy is damaged (run crrfs fsck "
                          "--deep)", fails[n]["error"])
            lines = [ln for ln in log.splitlines()
                     if "replication of '%s'" % n in ln]
            self.assertEqual(len(lines), 1, log)
            self.assert_absent(self.dest, n)
        inbox = os.path.join(self.dest, "inbox")
        left = [e for e in os.listdir(inbox) if not e.startswith(".")] \
            if os.path.isdir(inbox) else []
        self.assertEqual(left, [], "records left in the inbox")
        return fails

    def test_overwritten_bytes_are_not_shipped(self):
        """Bytes overwritten inside the segments of a small and a large
        (several pieces) file: both FAILED as not matching their sha256;
        the clean file arrives."""
        small = os.urandom(300 * KiB)
        large = os.urandom(12 * MiB + 4321)
        m = self.setup_files({"small": small, "large": large,
                              "clean": b"clean bytes\n"})
        for data, at in ((small, 100 * KiB), (large, 11 * MiB)):
            seg, off = find_in_segments(m.store, data[at:at + 64])
            with open(seg, "r+b") as f:
                f.seek(off)
                f.write(b"\0" * 64)
        fails = self.resync_fails(m, ["small", "large"])
        for n in ("small", "large"):
            self.assertIn(DAMAGED, fails[n]["error"])
        self.wait_dest(self.dest, "clean", [(self.vid["clean"], False)])

    def test_cut_short_segment_fails_at_once(self):
        """A segment cut short reads as EIO: FAILED for good with a reason
        that names the damage, not retried for ever."""
        data = os.urandom(2 * MiB)
        m = self.setup_files({"cut": data})
        seg, off = find_in_segments(m.store, data[:64])
        os.truncate(seg, off + MiB)
        fails = self.resync_fails(m, ["cut"])
        self.assertIn("cannot be read (Input/output error)",
                      fails["cut"]["error"])


if __name__ == "__main__":
    h.main()
