#!/usr/bin/env python3
"""test_repl_trust - replication order under rename storms and remounts,
stuck jobs shown with their reason, and two-way replication converging
(issue 9, items 8 and 10).

Design choice: every check compares stores directly (`crrfs versions
--store`), by version id, after waiting for the queues to drain: the same
versions, the same current version (and delete marker) on both sides, and
`crrfs versions` agreeing with the `user.crrfs.version-id` xattr of the
mount. Waiting is polling, never a bare sleep.
"""

import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crrfs_harness as h  # noqa: E402
from test_repl_dir import ReplCase  # noqa: E402


def current(vs):
    """(version id, delete marker) of the current version, or None."""
    cur = [v for v in vs if v.get("current")]
    return (cur[0]["version_id"], bool(cur[0]["delete_marker"])) \
        if cur else None


class TestReplOrder(ReplCase):

    def quiet(self, m, what):
        h.wait_for(lambda: h.backlog(m)[0] == 0, what + ": pending-ops 0")

    def same_keys(self, src, dest, keys):
        """Every key: the same versions, and the same current one."""
        for k in keys:
            want = h.store_keys_versions(src, k)
            got = []

            def cond():
                got[:] = [h.store_keys_versions(dest, k)]
                return sorted(h.vids(got[0])) == sorted(h.vids(want))
            try:
                h.wait_for(cond, "%s in %s" % (k, dest), timeout=30)
            except AssertionError:
                self.fail("%s: destination has %s, source %s" % (
                    k, h.vids(got[0]), h.vids(want)))
            self.assertEqual(current(got[0]), current(want),
                             "%s: current version differs" % k)

    def test_rename_storm_keeps_versions_in_order(self):
        """Rename a folder back and forth while writing and deleting in
        it (files renamed inside their amend window move without a
        trace), with a remount in between: the destination ends with
        exactly the source's versions, the same current version or
        delete marker per key, and no job is left behind."""
        dest = self.path("replica")
        r = self.rules(h.dir_dest("dr", dest) + h.rule("all", "dr",
                                                       dm=True))
        m = self.mount(rules=r)
        os.makedirs(m.p("d"))
        keys = {"d/", "e/"}
        where = "d"
        for rnd in range(2):
            for i in range(30):
                other = "e" if where == "d" else "d"
                self.write(m, "%s/f%d" % (where, i % 4), b"%d-%d" % (rnd, i))
                if i % 5 == 4 and os.path.exists(m.p(where, "f1")):
                    os.unlink(m.p(where, "f1"))
                os.rename(m.p(where), m.p(other))
                where = other
                if i % 7 == 0:
                    time.sleep(0.3)	# let some ship, others not
            for d in ("d", "e"):
                keys |= {"%s/f%d" % (d, n) for n in range(4)}
            if rnd == 0:
                m.stop()
                m.start()
        self.quiet(m, "after the storm")
        # a last remount: nothing older may ship after what is current
        m.stop()
        m.start()
        self.quiet(m, "after the remount")
        self.same_keys(m.store, dest, sorted(keys))
        st = h.crrfs_status_json(m.store)
        self.assertEqual(sum(v for v in h.json_find(st, "pending_ops")
                             if isinstance(v, int)), 0, json.dumps(st))

    def test_two_way_same_key_converges(self):
        """P -> Q and Q -> P, the same key written on both sides in turn
        and at once: once both queues drain, both stores hold the same
        versions with the same current one (by time, then id), the
        mounts show its bytes, and `crrfs versions` marks as current
        the version the file's version-id xattr names."""
        ps, qs = self.path("P"), self.path("Q")
        h.make_store(ps)
        h.make_store(qs)
        rp = self.rules(h.dir_dest("q", qs) + h.rule("toq", "q", dm=True),
                        "p.ini")
        rq = self.rules(h.dir_dest("p", ps) + h.rule("top", "p", dm=True),
                        "q.ini")
        mp = self.mount(rules=rp, store=ps)
        mq = self.mount(rules=rq, store=qs)
        for i in range(12):
            self.write(mp, "k.txt", b"P%d\n" % i)
            self.write(mq, "k.txt", b"Q%d\n" % i)
            if i % 4 == 3:
                time.sleep(0.4)	# let some arrive before the next pair
        for m in (mp, mq):
            self.quiet(m, m.store)

        def same():
            a = h.vids(h.store_keys_versions(ps, "k.txt"))
            b = h.vids(h.store_keys_versions(qs, "k.txt"))
            return sorted(a) == sorted(b) and len(a) == 24
        h.wait_for(same, "both stores with all 24 versions")
        vp = h.store_keys_versions(ps, "k.txt")
        vq = h.store_keys_versions(qs, "k.txt")
        self.assertEqual(current(vp), current(vq), "stores diverged")
        self.assertEqual(current(vp)[0], max(v["version_id"] for v in vp))
        self.assertEqual(h.vids(vp), h.vids(vq), "histories differ")
        for m, vs in ((mp, vp), (mq, vq)):
            p = m.p("k.txt")
            vid = h.xattr(p, "user.crrfs.version-id")
            self.assertEqual(vid, current(vs)[0], m.store)
            self.assertEqual(current(h.versions(p))[0], vid, m.store)
        self.assertEqual(h.read_file(mp.p("k.txt")),
                         h.read_file(mq.p("k.txt")))

    def test_stuck_job_shows_reason(self):
        """A version that FAILED holds its key's later versions back: the
        later one is listed as stuck by `crrfs status` (text and --json)
        with the reason; once the destination is fixed and the failed
        one retried, both arrive in order and nothing is stuck."""
        dest = h.make_store(self.path("replica"))
        r = self.rules(h.dir_dest("dr", dest) + h.rule("all", "dr"))
        m = self.mount(rules=r, expect_errors=True)
        inbox = os.path.join(dest, "inbox")
        shutil.rmtree(inbox)
        h.write_file(inbox, b"not a folder")
        p = self.write(m, "k.txt", b"one")
        h.wait_status(p, "FAILED")
        v1 = h.xattr(p, "user.crrfs.version-id")
        self.write(m, "k.txt", b"two")
        v2 = h.xattr(p, "user.crrfs.version-id")

        def stuck():
            st = h.crrfs_status_json(m.mnt)
            return [s for ss in h.json_find(st, "stuck") for s in ss
                    if s["version_id"] == v2]
        got = h.wait_for(stuck, "k.txt v2 listed as stuck")[0]
        self.assertEqual(got["key"], "k.txt")
        self.assertIn("waiting for older version %s" % v1, got["reason"])
        rc, out, err = h.crrfs("status", m.mnt)
        self.assertIn("stuck: 'k.txt' version %s" % v2, out)
        os.unlink(inbox)
        os.mkdir(inbox)
        rc, out, err = h.crrfs("resync", m.mnt, "--failed")
        self.assertEqual(rc, 0, out + err)
        self.wait_dest(dest, "k.txt", [(v1, False), (v2, False)])
        self.quiet(m, "after the retry")
        st = h.crrfs_status_json(m.mnt)
        self.assertEqual(sum(h.json_find(st, "stuck_count")), 0)


if __name__ == "__main__":
    h.main()
