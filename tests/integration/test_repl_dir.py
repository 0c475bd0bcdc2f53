#!/usr/bin/env python3
"""test_repl_dir - replication to `dir` destinations (another crrfs store
reached by path), SPEC section 4 and issue 3: what is shipped (filters,
priorities, delete markers, restores), what is not (version-specific
deletes, versions made before a rule was enabled, replicas), the queue's
durability (kill -9, unmount, `crrfs replicate`) and the status interface
(xattrs, `crrfs status --json`).

Design choice: every result is checked in the destination store itself,
through `crrfs versions --store DEST` (and once through a read-only mount
of DEST), by version id: a replica must carry the source's id, so "the
same versions in the same order" is a comparison of two lists. A negative
("X was not shipped") is only asserted after a later version of the same
key has arrived, since versions of one key reach a destination in order;
never after a sleep.
"""

import hashlib
import json
import os
import signal
import stat
import sys
import shutil
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crrfs_harness as h  # noqa: E402

MiB = 1 << 20
SMALL = h.SANITIZER != ""	# shrink the volume tests under sanitizers


def live(vs):
    """The versions list without what a source has but a destination
    need not: nothing (kept for symmetry in asserts)."""
    return [(v["version_id"], bool(v["delete_marker"])) for v in vs]


class ReplCase(h.MountsTestCase):
    """A temp dir per test with a source mount and destination stores."""

    TMP_PREFIX = "crrfs-repl-"

    # -- helpers ----------------------------------------------------------
    def rules(self, text, name="rules.ini"):
        return h.write_rules(self.path(name), text)

    def write(self, m, rel, data):
        p = m.p(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        h.write_file(p, data)
        return p

    def src_versions(self, m, key):
        return h.versions_store(m.store, key)

    def wait_dest(self, dest, key, want, what=None):
        """Wait until DEST's versions of key are exactly want (a list of
        (vid, delete_marker)); return DEST's versions."""
        got = []

        def cond():
            got[:] = [h.store_keys_versions(dest, key)]
            return h.vids(got[0]) == want
        try:
            h.wait_for(cond, what or "%s in %s" % (key, dest))
        except AssertionError:
            self.fail("%s: destination %s has %s, wanted %s" % (
                key, dest, h.vids(got[0]) if got else None, want))
        return got[0]

    def wait_same(self, m, dest, key):
        """Wait until DEST has exactly the source's versions of key."""
        want = h.vids(self.src_versions(m, key))
        return self.wait_dest(dest, key, want)

    def wait_key_completed(self, m, key, dest=None):
        """Wait until every version of key in mount m is COMPLETED."""
        for e in m.entries(key):
            h.wait_status(m.vp(key, e), "COMPLETED", dest)

    def src_sha(self, entry):
        """A .versions entry's SHA-256 (a symlink's: of its target)."""
        if os.path.islink(entry):
            return hashlib.sha256(os.fsencode(os.readlink(entry))).hexdigest()
        return h.xattr(entry, "user.crrfs.sha256")

    def assert_absent(self, dest, key):
        self.assertEqual(h.store_keys_versions(dest, key), [],
                         "%s should not be in %s" % (key, dest))


class TestDirReplication(ReplCase):

    def test_replicate_then_check_in_destination(self):
        """The README demo's flow: write, see it replicated with the same
        bytes, version ids and attributes, REPLICA status in the
        destination; restore (a new version: shipped) and delete (the
        marker: shipped by this rule)."""
        dest = self.path("replica")
        r = self.rules(h.dir_dest("dr", dest)
                       + h.rule("all", "dr", dm=True))
        m = self.mount(rules=r)
        p = self.write(m, "notes.txt", b"one\n")
        self.write(m, "notes.txt", b"two\n")
        os.makedirs(m.p("docs/deep"))
        self.write(m, "docs/deep/a file.txt", b"A" * 100000)
        os.chmod(m.p("docs/deep/a file.txt"), 0o640)
        os.symlink("../notes.txt", m.p("docs/link"))
        os.setxattr(p, "user.color", b"blue")
        for k in ("notes.txt", "docs/deep/a file.txt"):
            self.wait_key_completed(m, k)
            self.wait_key_completed(m, k, "dr")
            self.assertEqual(h.repl_status(m.p(k)), "COMPLETED")
        for k in ("notes.txt", "docs/deep/a file.txt", "docs/link"):
            vs = self.wait_same(m, dest, k)
            src = self.src_versions(m, k)
            self.assertEqual([v["size"] for v in vs],
                             [v["size"] for v in src], k)
            # the source computes digests on demand: ask its xattr
            shas = [self.src_sha(m.vp(k, e)) for e in m.entries(k)]
            self.assertEqual([v.get("sha256") or shas[i]
                              for i, v in enumerate(vs)], shas, k)
        cur = h.xattr(p, "user.crrfs.version-id")

        # the destination, through its own read-only mount
        ro = h.RoMount(dest)
        self.mounts.append(ro)
        ro.start()
        q = ro.p("notes.txt")
        self.assertEqual(h.read_file(q), b"two\n")
        self.assertEqual(h.xattr(q, "user.crrfs.version-id"), cur)
        self.assertEqual(h.repl_status(q), "REPLICA")
        self.assertEqual(h.xattr(q, "user.color"), "blue")
        self.assertEqual(h.read_file(ro.p("docs/deep/a file.txt")),
                         b"A" * 100000)
        self.assertEqual(stat.S_IMODE(os.stat(
            ro.p("docs/deep/a file.txt")).st_mode), 0o640)
        self.assertEqual(os.readlink(ro.p("docs/link")), "../notes.txt")
        ents = ro.entries("notes.txt")
        self.assertEqual(len(ents), len(m.entries("notes.txt")))
        self.assertEqual(h.read_file(ro.vp("notes.txt", ents[0])), b"one\n")
        for e in ents:
            self.assertEqual(h.repl_status(ro.vp("notes.txt", e)),
                             "REPLICA")
        # a destination mounted -o ro still takes replicas in
        self.write(m, "notes.txt", b"three\n")
        h.wait_status(p, "COMPLETED")
        h.wait_for(lambda: h.read_file(q) == b"three\n",
                   "the new version in the read-only mount of DEST")
        self.assertEqual(h.xattr(q, "user.crrfs.version-id"),
                         h.xattr(p, "user.crrfs.version-id"))
        ro.stop()

        # a restore makes a new version (SPEC section 3): it is shipped
        first = h.ENTRY_RE.match(m.entries("notes.txt")[0]).group(2)
        os.setxattr(p, "user.crrfs.restore", first.encode())
        self.assertEqual(h.read_file(p), b"one\n")
        self.wait_key_completed(m, "notes.txt")
        vs = self.wait_same(m, dest, "notes.txt")
        self.assertEqual(vs[-1]["current"], True)
        self.assertEqual(vs[-1]["version_id"],
                         h.xattr(p, "user.crrfs.version-id"))
        self.assertEqual(vs[-1]["sha256"], vs[0]["sha256"])

        # rm: a delete marker, shipped (delete_marker_replication enabled)
        os.unlink(p)
        vs = self.wait_same(m, dest, "notes.txt")
        self.assertTrue(vs[-1]["delete_marker"])
        mk = [e for e in m.entries("notes.txt") if e.endswith(".deleted")]
        self.assertEqual(len(mk), 1)
        h.wait_status(m.vp("notes.txt", mk[0]), "COMPLETED")

    def test_status_pending_then_completed_and_backlog(self):
        """Status xattrs go PENDING -> COMPLETED (never back); the root's
        backlog xattrs count what is pending and drop to zero."""
        dest = self.path("replica")
        r = self.rules(h.dir_dest("dr", dest) + h.rule("all", "dr"))
        m = self.mount(rules=r)
        n = 20 if SMALL else 150
        for i in range(n):
            self.write(m, "bulk/f%03d" % i, os.urandom(128 * 1024))
        big = self.write(m, "bulk/zbig", os.urandom(32 * MiB))
        ops, nbytes, oldest = h.backlog(m)
        seen = h.wait_status(big, "COMPLETED")
        print("\n  backlog just after the writes: %s ops, %s bytes, oldest "
              "%r; status of the last file seen: %s"
              % (ops, nbytes, oldest, " -> ".join(map(str, seen))))
        self.assertIsNotNone(ops, "no user.crrfs.pending-ops on the root")
        self.assertIsNotNone(nbytes, "no user.crrfs.pending-bytes")
        self.assertTrue(set(seen) <= {"PENDING", "COMPLETED"}, seen)
        self.assertEqual(seen[-1], "COMPLETED")
        if ops > 0:
            self.assertTrue(oldest, "pending-ops %d but oldest-pending "
                            "is %r" % (ops, oldest))
        h.wait_for(lambda: h.backlog(m)[0] == 0, "pending-ops 0")
        ops, nbytes, oldest = h.backlog(m)
        self.assertEqual((ops, nbytes), (0, 0))
        self.assertIn(oldest, (None, "", "0", "-"),
                      "oldest-pending with nothing pending")
        for i in range(n):
            self.assertEqual(h.repl_status(m.p("bulk/f%03d" % i)),
                             "COMPLETED")
        self.wait_same(m, dest, "bulk/zbig")

    def test_delete_markers_on_and_off(self):
        """One destination's rule ships delete markers, the other's not."""
        d_on, d_off = self.path("on"), self.path("off")
        r = self.rules(h.dir_dest("on", d_on) + h.dir_dest("off", d_off)
                       + h.rule("r_on", "on", dm=True)
                       + h.rule("r_off", "off", dm=False))
        m = self.mount(rules=r)
        p = self.write(m, "f.txt", b"data\n")
        h.wait_status(p, "COMPLETED")
        os.unlink(p)
        mk = m.vp("f.txt", [e for e in m.entries("f.txt")
                            if e.endswith(".deleted")][0])
        want = h.vids(self.src_versions(m, "f.txt"))
        self.wait_dest(d_on, "f.txt", want)
        h.wait_status(mk, "COMPLETED", "on")
        self.assertIsNone(h.repl_status(mk, "off"))
        # 'off' got the data version; a later version proves the marker
        # was passed over, not just late
        self.write(m, "f.txt", b"again\n")
        src = h.vids(self.src_versions(m, "f.txt"))
        self.wait_dest(d_off, "f.txt", [v for v in src if not v[1]])
        self.wait_dest(d_on, "f.txt", src)

    def test_prefix_filter(self):
        dest = self.path("replica")
        r = self.rules(h.dir_dest("dr", dest)
                       + h.rule("docs", "dr", prefix="docs/"))
        m = self.mount(rules=r)
        o = self.write(m, "other/b.txt", b"b")
        o2 = self.write(m, "docsx.txt", b"not docs/")
        d = self.write(m, "docs/a.txt", b"a")
        h.wait_status(d, "COMPLETED")
        self.wait_same(m, dest, "docs/a.txt")
        self.assertIsNone(h.repl_status(o))
        self.assertIsNone(h.repl_status(o2))
        self.assert_absent(dest, "other/b.txt")
        self.assert_absent(dest, "docsx.txt")

    def test_tag_filter(self):
        """tag.project = alpha: only versions carrying that tag go; a tag
        set right after writing (within the amend window, as a script
        does) belongs to the version it tags."""
        dest = self.path("replica")
        r = self.rules(h.dir_dest("dr", dest)
                       + h.rule("alpha", "dr", tags={"project": "alpha",
                                                     "tier": "1"}))
        m = self.mount(rules=r)
        none = self.write(m, "untagged.txt", b"0")
        wrong = self.write(m, "wrong.txt", b"1")
        os.setxattr(wrong, "user.crrfs.tag.project", b"beta")
        os.setxattr(wrong, "user.crrfs.tag.tier", b"1")
        half = self.write(m, "half.txt", b"2")
        os.setxattr(half, "user.crrfs.tag.project", b"alpha")
        ok = self.write(m, "ok.txt", b"3")
        os.setxattr(ok, "user.crrfs.tag.project", b"alpha")
        os.setxattr(ok, "user.crrfs.tag.tier", b"1")
        h.wait_status(ok, "COMPLETED")
        vs = self.wait_same(m, dest, "ok.txt")
        for p in (none, wrong, half):
            self.assertIsNone(h.repl_status(p), p)
        for k in ("untagged.txt", "wrong.txt", "half.txt"):
            self.assert_absent(dest, k)
        # the tags travel with the replica
        ro = h.RoMount(dest)
        self.mounts.append(ro)
        ro.start()
        self.assertEqual(h.xattr(ro.p("ok.txt"), "user.crrfs.tag.project"),
                         "alpha")
        self.assertEqual(h.xattr(ro.p("ok.txt"),
                                 "user.crrfs.tag.tier"), "1")
        ro.stop()
        self.assertEqual(len(vs), len(self.src_versions(m, "ok.txt")))

    def test_priorities(self):
        """Two rules match logs/ for one destination: the higher priority
        wins (its delete marker setting applies); a disabled rule never
        wins, whatever its priority. `crrfs explain` says the same."""
        dest = self.path("replica")
        r = self.rules(h.dir_dest("dr", dest)
                       + h.rule("low", "dr", priority=1, dm=False)
                       + h.rule("logs", "dr", priority=5, prefix="logs/",
                                dm=True)
                       + h.rule("off", "dr", priority=9, prefix="logs/x",
                                dm=False, status="disabled"))
        m = self.mount(rules=r)
        a = self.write(m, "logs/x.log", b"log")
        b = self.write(m, "data/y.bin", b"data")
        h.wait_status(a, "COMPLETED")
        h.wait_status(b, "COMPLETED")
        os.unlink(a)
        os.unlink(b)
        # logs/ wins for logs/x.log: its marker goes
        self.wait_same(m, dest, "logs/x.log")
        # low wins for data/y.bin: its marker stays home
        self.write(m, "data/y.bin", b"again")
        src = h.vids(self.src_versions(m, "data/y.bin"))
        self.wait_dest(dest, "data/y.bin", [v for v in src if not v[1]])

        rc, out, err = h.crrfs("explain", m.store, "logs/x.log",
                               "--rules", r)
        if rc == 2:	# no --rules option: the store's rule file
            shutil.copy(r, os.path.join(m.store, "rules.ini"))
            rc, out, err = h.crrfs("explain", m.store, "logs/x.log")
        self.assertEqual(rc, 0, err)
        self.assertIn("logs", out)
        self.assertIn("dr", out)
        print("\n  crrfs explain STORE logs/x.log:\n    "
              + out.strip().replace("\n", "\n    "))

    def test_version_specific_deletes_not_replicated(self):
        """Removing a delete marker (setfattr -x user.crrfs.deleted or
        user.crrfs.delete-marker) and purging a version are
        version-specific deletes: never shipped. The destination keeps
        the marker and the purged version."""
        dest = self.path("replica")
        r = self.rules(h.dir_dest("dr", dest) + h.rule("all", "dr",
                                                       dm=True))
        m = self.mount(rules=r, opts=["allow_purge"])
        p = self.write(m, "f.txt", b"v1\n")
        self.write(m, "f.txt", b"v2\n")
        os.unlink(p)
        self.wait_same(m, dest, "f.txt")
        at_dest = h.vids(h.store_keys_versions(dest, "f.txt"))
        # undelete by removing the markers on top
        os.removexattr(m.vp("f.txt"), "user.crrfs.deleted")
        self.assertEqual(h.read_file(p), b"v2\n")
        # delete again (shipped), then remove that marker by its entry
        os.unlink(p)
        mk = sorted(e for e in m.entries("f.txt") if e.endswith(".deleted"))
        self.assertEqual(len(mk), 1)
        h.wait_status(m.vp("f.txt", mk[0]), "COMPLETED")
        at_dest = at_dest + [(h.ENTRY_RE.match(mk[0]).group(2), True)]
        self.wait_dest(dest, "f.txt", at_dest)
        os.removexattr(m.vp("f.txt", mk[0]), "user.crrfs.delete-marker")
        self.assertEqual(h.read_file(p), b"v2\n")
        # purge the first version (allow_purge)
        first = m.entries("f.txt")[0]
        os.unlink(m.vp("f.txt", first))
        # a new version: once it is there, everything before it was
        # handled, and the destination still has both markers and v1
        self.write(m, "f.txt", b"v3\n")
        cur = h.xattr(p, "user.crrfs.version-id")
        h.wait_status(p, "COMPLETED")
        want = at_dest + [(cur, False)]
        self.wait_dest(dest, "f.txt", want)
        src = h.vids(self.src_versions(m, "f.txt"))
        self.assertEqual(len(src), 2, src)	# v2, v3: v1 purged, markers gone
        self.assertNotEqual(src, want)

    def test_restore_commands(self):
        """`crrfs restore PATH` of a deleted file undeletes it by removing
        the delete marker (a version-specific delete: the destination
        keeps the file deleted); `crrfs restore PATH --version ID` makes
        a new version (SPEC section 3), which is replicated."""
        dest = self.path("replica")
        r = self.rules(h.dir_dest("dr", dest) + h.rule("all", "dr",
                                                       dm=True))
        m = self.mount(rules=r)
        p = self.write(m, "r.txt", b"first\n")
        v1 = h.xattr(p, "user.crrfs.version-id")
        self.write(m, "r.txt", b"second\n")
        os.unlink(p)
        shipped = h.vids(self.wait_same(m, dest, "r.txt"))
        self.assertTrue(shipped[-1][1])
        rc, out, err = h.crrfs("restore", p)
        self.assertEqual(rc, 0, err)
        self.assertEqual(h.read_file(p), b"second\n")
        rc, out, err = h.crrfs("restore", p, "--version", v1)
        self.assertEqual(rc, 0, err)
        self.assertEqual(h.read_file(p), b"first\n")
        cur = h.xattr(p, "user.crrfs.version-id")
        self.assertNotEqual(cur, v1)
        h.wait_status(p, "COMPLETED")
        # the marker the undelete removed is still there; the restore came
        vs = self.wait_dest(dest, "r.txt", shipped + [(cur, False)])
        self.assertEqual(vs[-1]["sha256"], vs[0]["sha256"])

    def test_rule_enabled_later_then_resync(self):
        """Versions made before a rule is enabled (SIGHUP reload) are not
        shipped until `crrfs resync`; --rule limits it to one rule."""
        d1, d2 = self.path("d1"), self.path("d2")
        dests = h.dir_dest("d1", d1) + h.dir_dest("d2", d2)
        r = self.rules(dests + h.rule("a", "d1", status="disabled")
                       + h.rule("b", "d2", status="disabled"))
        m = self.mount(rules=r)
        old = self.write(m, "old.txt", b"old 1\n")
        self.write(m, "old.txt", b"old 2\n")
        old2 = self.write(m, "old2.txt", b"old2 1\n")
        self.assertIsNone(h.repl_status(old))
        self.rules(dests + h.rule("a", "d1") + h.rule("b", "d2"))
        m.proc.send_signal(signal.SIGHUP)
        n = [0]

        def probe():	# a new version per try, until one is matched
            n[0] += 1
            q = self.write(m, "probe/%d" % n[0], b"p")
            return h.repl_status(q) is not None
        h.wait_for(probe, "a version made after SIGHUP to be replicated",
                   interval=0.2)
        new = self.write(m, "new.txt", b"new\n")
        self.write(m, "old2.txt", b"old2 2 (after the reload)\n")
        h.wait_status(new, "COMPLETED")
        h.wait_status(old2, "COMPLETED")
        self.wait_same(m, d1, "new.txt")
        self.wait_same(m, d2, "new.txt")
        o2 = h.vids(self.src_versions(m, "old2.txt"))
        self.wait_dest(d1, "old2.txt", o2[1:])
        self.assertIsNone(h.repl_status(old))
        for e in m.entries("old.txt"):
            self.assertIsNone(h.repl_status(m.vp("old.txt", e)))
        self.assert_absent(d1, "old.txt")
        self.assert_absent(d2, "old.txt")

        rc, out, err = h.crrfs("resync", m.store, "--rule", "a")
        self.assertEqual(rc, 0, out + err)
        self.wait_same(m, d1, "old.txt")
        self.wait_key_completed(m, "old.txt", "d1")
        # an older version never lands on top of a newer one
        vs = h.store_keys_versions(d1, "old2.txt")
        self.assertEqual(vs[-1]["version_id"], o2[-1][0])
        self.assert_absent(d2, "old.txt")
        rc, out, err = h.crrfs("resync", m.store)
        self.assertEqual(rc, 0, out + err)
        self.wait_same(m, d2, "old.txt")
        self.wait_key_completed(m, "old.txt")
        vs = h.store_keys_versions(d2, "old2.txt")
        self.assertEqual(vs[-1]["version_id"], o2[-1][0])

    def test_reload_command_and_bad_rules_kept_out(self):
        """`crrfs mount STORE --reload` reloads at once; a bad file is
        refused with file, line and reason, and the old rules stay."""
        dest = self.path("replica")
        r = self.rules(h.dir_dest("dr", dest)
                       + h.rule("a", "dr", prefix="a/"))
        m = self.mount(rules=r, expect_errors=True)
        self.rules(h.dir_dest("dr", dest) + h.rule("a", "dr", prefix="b/"))
        rc, out, err = h.crrfs("mount", m.store, "--reload")
        self.assertEqual(rc, 0, out + err)
        pa = self.write(m, "a/x", b"x")
        pb = self.write(m, "b/x", b"x")
        h.wait_status(pb, "COMPLETED")
        self.assertIsNone(h.repl_status(pa))
        with open(r, "a") as f:
            f.write("prefx = c/\n")
        rc, out, err = h.crrfs("mount", m.store, "--reload")
        self.assertEqual(rc, 1, out + err)
        lineno = len(open(r).read().splitlines())
        self.assertIn(r, err)
        self.assertIn("line %d" % lineno, err)
        self.assertIn("prefx", err)
        pb2 = self.write(m, "b/y", b"y")
        h.wait_status(pb2, "COMPLETED")
        self.assertTrue(m.alive())

    def test_two_stores_replicate_to_each_other(self):
        """A -> B and B -> A, both mounted: each side's versions arrive
        on the other as REPLICA and never come back (no loop)."""
        a_store, b_store = self.path("A"), self.path("B")
        h.make_store(a_store)
        h.make_store(b_store)
        ra = self.rules(h.dir_dest("b", b_store)
                        + h.rule("tob", "b", dm=True), "a.ini")
        rb = self.rules(h.dir_dest("a", a_store)
                        + h.rule("toa", "a", dm=True), "b.ini")
        ma = self.mount(rules=ra, store=a_store)
        mb = self.mount(rules=rb, store=b_store)
        pa = self.write(ma, "from-a.txt", b"A\n")
        pb = self.write(mb, "from-b.txt", b"B\n")
        h.wait_status(pa, "COMPLETED")
        h.wait_status(pb, "COMPLETED")
        h.wait_for(lambda: os.path.exists(mb.p("from-a.txt")),
                   "from-a.txt visible in B's mount")
        h.wait_for(lambda: os.path.exists(ma.p("from-b.txt")),
                   "from-b.txt visible in A's mount")
        self.assertEqual(h.read_file(mb.p("from-a.txt")), b"A\n")
        self.assertEqual(h.repl_status(mb.p("from-a.txt")), "REPLICA")
        self.assertEqual(h.repl_status(ma.p("from-b.txt")), "REPLICA")
        self.assertEqual(h.xattr(mb.p("from-a.txt"), "user.crrfs.version-id"),
                         h.xattr(pa, "user.crrfs.version-id"))
        # a delete on B goes to A; A's marker is a replica, not sent back
        os.unlink(mb.p("from-a.txt"))
        h.wait_for(lambda: not os.path.exists(pa), "delete reaching A")
        # settle: both backlogs empty, then nothing more appears
        for m in (ma, mb):
            h.wait_for(lambda: h.backlog(m)[0] == 0, "empty backlog")
        before = (h.vids(h.versions_store(a_store, "from-a.txt")),
                  h.vids(h.versions_store(b_store, "from-a.txt")),
                  h.vids(h.versions_store(a_store, "from-b.txt")),
                  h.vids(h.versions_store(b_store, "from-b.txt")))
        self.assertEqual(len(before[0]), 2, before)	# v1, marker
        self.assertEqual(before[0], before[1])
        self.assertEqual(len(before[2]), 1, before)
        self.assertEqual(before[2], before[3])
        # one more round trip on another key flushes both queues
        p2 = self.write(ma, "flush.txt", b"f")
        h.wait_status(p2, "COMPLETED")
        h.wait_for(lambda: os.path.exists(mb.p("flush.txt")), "flush")
        after = (h.vids(h.versions_store(a_store, "from-a.txt")),
                 h.vids(h.versions_store(b_store, "from-a.txt")),
                 h.vids(h.versions_store(a_store, "from-b.txt")),
                 h.vids(h.versions_store(b_store, "from-b.txt")))
        self.assertEqual(before, after, "versions kept coming: a loop")
        self.assertEqual(len(h.versions_store(a_store, "flush.txt")), 1)
        self.assertEqual(len(h.versions_store(b_store, "flush.txt")), 1)

    def test_kill9_with_backlog(self):
        """kill -9 while a backlog is queued; the next mount ships all of
        it, in order, exactly once."""
        dest = self.path("replica")
        r = self.rules(h.dir_dest("dr", dest) + h.rule("all", "dr",
                                                       dm=True))
        m = self.mount(rules=r)
        n = 20 if SMALL else 200
        keys = []
        for i in range(n):
            k = "k/f%03d" % (i % (n // 2))	# two versions of each
            self.write(m, k, (b"%d;" % i) * 2000)
            keys.append(k)
        os.unlink(m.p("k/f000"))
        self.write(m, "k/big", os.urandom((8 if SMALL else 64) * MiB))
        keys.append("k/big")
        ops = h.backlog(m)[0]
        m.kill9()
        print("\n  backlog when killed: %s operations" % ops)
        m.start()
        for k in sorted(set(keys)):
            self.wait_same(m, dest, k)
        h.wait_for(lambda: h.backlog(m)[0] == 0, "pending-ops 0")
        for k in sorted(set(keys) - {"k/f000"}):
            self.assertEqual(h.repl_status(m.p(k)), "COMPLETED", k)

    def test_unmount_with_backlog_then_replicate(self):
        """Unmounting keeps the backlog in the store; `crrfs replicate
        STORE` (no mount) drains it; `crrfs status STORE --json` shows it
        before and none after."""
        dest = self.path("replica")
        store = h.make_store(self.path("store"))
        h.write_rules(os.path.join(store, "rules.ini"),
                      h.dir_dest("dr", dest) + h.rule("all", "dr"))
        m = self.mount(store=store)
        n = 20 if SMALL else 200
        for i in range(n):
            self.write(m, "u/f%03d" % i, os.urandom(64 * 1024))
        self.write(m, "u/big", os.urandom((8 if SMALL else 64) * MiB))
        m.stop()
        st = h.crrfs_status_json(store)
        pend = [v for v in h.json_find(st, "pending_ops")
                if isinstance(v, int)]
        print("\n  crrfs status --json after unmount: %s"
              % json.dumps(st)[:600])
        rc, out, err = h.crrfs("replicate", store, timeout=600)
        self.assertEqual(rc, 0, out + err)
        for i in range(0, n, 7):
            self.wait_dest(dest, "u/f%03d" % i,
                           h.vids(h.versions_store(store, "u/f%03d" % i)))
        self.assertEqual(h.vids(h.store_keys_versions(dest, "u/big")),
                         h.vids(h.versions_store(store, "u/big")))
        st = h.crrfs_status_json(store)
        pend = [v for v in h.json_find(st, "pending_ops")
                if isinstance(v, int)]
        self.assertTrue(pend, "no pending_ops in crrfs status --json: %s"
                        % json.dumps(st)[:600])
        self.assertEqual(sum(pend), 0, json.dumps(st)[:600])
        # and a mount afterwards has nothing left to do
        m2 = self.mount(store=store)
        self.assertEqual(h.backlog(m2)[0], 0)

    def test_status_json_while_mounted(self):
        """`crrfs status MNT --json` and `crrfs status STORE --json`
        name the destination and its backlog; text output too."""
        dest = self.path("replica")
        r = self.rules(h.dir_dest("dr", dest) + h.rule("all", "dr"))
        m = self.mount(rules=r)
        p = self.write(m, "s.txt", b"s")
        h.wait_status(p, "COMPLETED")
        h.wait_for(lambda: h.backlog(m)[0] == 0, "pending-ops 0")
        for target in (m.mnt, m.store):
            st = h.crrfs_status_json(target)
            self.assertIn("dr", json.dumps(st), st)
            pend = [v for v in h.json_find(st, "pending_ops")
                    if isinstance(v, int)]
            self.assertTrue(pend, "no pending_ops in %s" % json.dumps(st))
            self.assertEqual(sum(pend), 0)
            rc, out, err = h.crrfs("status", target)
            self.assertEqual(rc, 0, err)
            self.assertIn("dr", out)
        print("\n  crrfs status --json: %s" % json.dumps(st)[:800])
        print("  crrfs status:\n    " + out.strip().replace("\n", "\n    "))


if __name__ == "__main__":
    h.main()
