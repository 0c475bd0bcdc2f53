#!/usr/bin/env python3
"""test_repl_s3 - replication to S3 destinations, against a real Ceph RADOS
Gateway started for this file (tests/rgw/rgw-ctl, on 127.0.0.1), checked
with an independent client, Debian's AWS CLI (/usr/bin/aws): versions and
delete markers in the same order, the metadata s3fs and rclone read, tags,
keys of any bytes, multipart uploads, an outage, kill -9 in the middle of
a multipart upload, HTTPS with a private CA, wrong credentials, a bucket
without versioning and malformed rule files. It also measures (prints, does
not assert) files/s and MB/s to RGW and the lag from close to COMPLETED.

Design choice: one RGW per test file (about 3 s to start), one bucket per
test, so tests cannot see each other's objects; the daemon gets an
environment without the machine's AWS_* variables (AWS_CA_BUNDLE is set
here), so only the rule file decides what it trusts and who it is.
"""

import hashlib
import json
import os
import re
import shutil
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crrfs_harness as h  # noqa: E402

MiB = 1 << 20
SMALL = h.SANITIZER != ""
RGW = None
FIGURES = []		# printed at the end: the closing note's figures


def setUpModule():
    global RGW
    RGW = h.RGW(https=True).start()


def tearDownModule():
    if RGW is not None:
        RGW.stop()
    if FIGURES:
        print("\n=== replication figures (RGW on 127.0.0.1, %s build) ==="
              % (h.SANITIZER or "plain"))
        for f in FIGURES:
            print("  " + f)


_buckets = [0]


def md5(b):
    return hashlib.md5(b).hexdigest()


def sha256(b):
    return hashlib.sha256(b).hexdigest()


class S3Case(h.MountsTestCase):

    TMP_PREFIX = "crrfs-s3-"

    def setUp(self):
        super().setUp()
        self.creds = RGW.credentials_file(self.path("credentials"))

    def bucket(self, versioning=True):
        _buckets[0] += 1
        name = "crrfs-%s-%d" % (re.sub(r"[^a-z0-9]", "",
                                       self._testMethodName[5:].lower())[:40],
                                _buckets[0])
        return RGW.make_bucket(name, versioning)

    def rules(self, bucket, dm=True, prefix=None, https=False, ca=None,
              creds=None, name="rules.ini", tags=None, extra="",
              vhost=False):
        text = (RGW.dest("s3", bucket, creds or self.creds, https=https,
                         ca_file=ca, vhost=vhost)
                + h.rule("all", "s3", dm=dm, prefix=prefix, tags=tags)
                + extra)
        return h.write_rules(self.path(name), text)

    def mount(self, rules=None, store=None, expect_errors=False, **kw):
        return super().mount(rules=rules, store=store, env=h.daemon_env(),
                             expect_errors=expect_errors, **kw)

    def mount_fails(self, rules, store=None):
        """A mount that must be refused: its stderr+stdout."""
        d = self.path("mnt-refused")
        os.makedirs(d, exist_ok=True)
        store = store or self.path("store-refused")
        argv = [h.BIN, "mount", store, d, "-f", "--rules", rules]
        import subprocess
        p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL,
                             start_new_session=True, env=h.daemon_env())
        h.poll(lambda: p.poll() is not None or h._mounted(d), 60)
        if h._mounted(d) or p.poll() is None:
            h._fusermount(d, lazy=True)
            if p.poll() is None:
                p.kill()
            p.wait()
            out = p.stdout.read().decode("utf-8", "replace")
            self.fail("mount with %s came up but should be refused:\n%s"
                      % (rules, out))
        out = p.stdout.read().decode("utf-8", "replace")
        p.stdout.close()
        self.assertEqual(p.returncode, 1, out)
        self.assertFalse(h._mounted(d))
        return out

    def write(self, m, rel, data):
        p = m.p(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        h.write_file(p, data)
        return p

    def wait_key(self, m, key, timeout=None):
        """Wait until every version of key (entries in .versions) is
        COMPLETED."""
        for e in m.entries(key):
            h.wait_status(m.vp(key, e), "COMPLETED", timeout=timeout)

    def check_key(self, m, bucket, key, listing=None, meta=True):
        """The bucket holds exactly the source's versions and delete
        markers of key, in the same order, newest latest; each data
        version carries its bytes' MD5 (single PUT) and, when meta, the
        source version id and POSIX attributes in x-amz-meta-*."""
        src = h.versions_store(m.store, key)
        listing = listing if listing is not None else RGW.by_key(
            bucket, key)
        dst = listing.get(key, [])
        self.assertEqual([d["marker"] for d in dst],
                         [bool(s["delete_marker"]) for s in src],
                         "%r: bucket has %s" % (key, dst))
        self.assertTrue(dst[-1]["latest"], dst)
        entries = m.entries(key)
        for s, d, e in zip(src, dst, entries):
            if s["delete_marker"]:
                continue
            self.assertEqual(d["size"], s["size"], key)
            if "-" not in d["etag"]:
                ep = m.vp(key, e)
                data = (os.readlink(ep).encode() if os.path.islink(ep)
                        else h.read_file(ep))
                self.assertEqual(d["etag"], md5(data), key)
            if not meta:
                continue
            hd = RGW.head(bucket, key, d["vid"])
            md = hd.get("Metadata", {})
            self.assertIn(s["version_id"], md.values(),
                          "%r: no x-amz-meta-* carries the source version "
                          "id %s: %s" % (key, s["version_id"], md))
            st = os.lstat(m.vp(key, e))
            for k in ("mode", "uid", "gid", "mtime"):
                self.assertIn(k, md, "%r: no x-amz-meta-%s: %s"
                              % (key, k, md))
            # .versions entries show the mode without write bits
            self.assertEqual(int(md["mode"]) & ~0o222,
                             st.st_mode & ~0o222, md)
            self.assertEqual(int(md["uid"]), st.st_uid)
            self.assertEqual(int(md["gid"]), st.st_gid)
            self.assertAlmostEqual(float(md["mtime"]), st.st_mtime,
                                   delta=1.0)
        return dst


class TestS3Replication(S3Case):

    def test_versions_markers_metadata_tags(self):
        """Versions and delete markers arrive in order with the s3fs/rclone
        metadata, the source version id, user metadata and tags;
        folders and symlinks follow the same conventions."""
        b = self.bucket()
        m = self.mount(rules=self.rules(b))
        p = self.write(m, "docs/a.txt", b"one\n")
        os.chmod(p, 0o640)
        os.chown(p, 1000, 2000)
        os.utime(p, (1500000000, 1500000000))
        self.write(m, "docs/a.txt", b"two\n")
        os.setxattr(p, "user.color", b"blue")
        os.setxattr(p, "user.crrfs.tag.project", b"alpha")
        os.setxattr(p, "user.crrfs.tag.team", b"tax")
        os.unlink(p)
        self.write(m, "docs/a.txt", b"three\n")
        os.setxattr(p, "user.crrfs.tag.project", b"beta")
        os.symlink("docs/a.txt", m.p("link"))
        self.wait_key(m, "docs/a.txt")
        h.wait_status(m.p("docs"), "COMPLETED")
        # a symlink has no user.* xattrs (the kernel allows them only on
        # files and directories): wait for it in the bucket instead
        listing = h.wait_for(lambda: (lambda d: "link" in d and d)(
            RGW.by_key(b)), "the symlink in the bucket")
        for k in ("docs/a.txt", "link", "docs/"):
            self.assertIn(k, listing, sorted(listing))
        for k in ("docs/a.txt", "link"):
            self.check_key(m, b, k, listing)
        dst = listing["docs/a.txt"]
        src = h.versions_store(m.store, "docs/a.txt")
        # tags and user metadata of the versions that carry them
        data = [d for s, d in zip(src, dst) if not s["delete_marker"]]
        tagsets = [RGW.tagging(b, "docs/a.txt", d["vid"]) for d in data]
        self.assertIn({"project": "alpha", "team": "tax"}, tagsets)
        live_tags = {n[len("user.crrfs.tag."):]: os.getxattr(p, n).decode()
                     for n in os.listxattr(p)
                     if n.startswith("user.crrfs.tag.")}
        self.assertEqual(tagsets[-1], live_tags)
        with_color = [d for d in data
                      if RGW.head(b, "docs/a.txt", d["vid"]).get(
                          "Metadata", {}).get("color") == "blue"]
        self.assertTrue(with_color, "no version carries x-amz-meta-color")
        self.assertEqual(RGW.get(b, "docs/a.txt"), b"three\n")
        # a symlink: its bytes are the target, its mode says link
        self.assertEqual(RGW.get(b, "link"), b"docs/a.txt")
        md = RGW.head(b, "link")["Metadata"]
        self.assertTrue(stat.S_ISLNK(int(md["mode"])), md)
        md = RGW.head(b, "docs/")["Metadata"]
        self.assertTrue(stat.S_ISDIR(int(md["mode"])), md)

    def test_weird_keys(self):
        """Keys with spaces, unicode, + % ? # ~ ' and more arrive under
        exactly their names."""
        b = self.bucket()
        m = self.mount(rules=self.rules(b))
        names = ["sp ace.txt", "ünï cødé/ß.txt", "plus+sign", "per%cent",
                 "per%20cent", "q?mark", "hash#tag", "tilde~", "quote'd",
                 "a b/c+d%e?f#g~h'i&j=k", "emoji-😀", "semi;colon",
                 "star*", "brackets[1]", "back\\slash", "dollar$", "at@",
                 "comma,", "colon:x", "dots...", ".hidden"]
        data = {}
        for i, k in enumerate(names):
            data[k] = ("%d:%s\n" % (i, k)).encode()
            self.write(m, k, data[k])
        for k in names:
            h.wait_status(m.p(k), "COMPLETED")
        listing = RGW.by_key(b)
        for k in names:
            self.assertIn(k, listing, "missing %r; bucket has %s"
                          % (k, sorted(listing)))
            self.assertEqual(len(listing[k]), 1, listing[k])
            self.assertEqual(listing[k][0]["etag"], md5(data[k]), k)
        for k in ("plus+sign", "ünï cødé/ß.txt", "a b/c+d%e?f#g~h'i&j=k"):
            self.assertEqual(RGW.get(b, k), data[k], k)
            hd = RGW.head(b, k)
            self.assertIn(h.xattr(m.p(k), "user.crrfs.version-id"),
                          hd["Metadata"].values(), k)
        extra = set(listing) - set(names)
        self.assertTrue(all(k.endswith("/") for k in extra), extra)

    def test_large_file_multipart(self):
        """A 100+ MiB file goes up as a multipart upload; no upload is
        left open; the bytes are exact."""
        b = self.bucket()
        m = self.mount(rules=self.rules(b))
        size = 110 * MiB	# multipart from 64 MiB
        data = os.urandom(size)
        t0 = time.monotonic()
        p = self.write(m, "big.bin", data)
        t1 = time.monotonic()
        h.wait_status(p, "COMPLETED", timeout=300)
        t2 = time.monotonic()
        FIGURES.append("one %d MiB file: write+close %.2f s, close to "
                       "COMPLETED %.2f s = %.1f MB/s to RGW"
                       % (size // MiB, t1 - t0, t2 - t1,
                          size / 1e6 / (t2 - t1)))
        dst = self.check_key(m, b, "big.bin")
        self.assertRegex(dst[-1]["etag"], r"-\d+$",
                         "not a multipart upload: ETag %s" % dst[-1]["etag"])
        self.assertEqual(sha256(RGW.get(b, "big.bin")), sha256(data))
        self.assertEqual(RGW.uploads(b), [])

    def test_outage(self):
        """radosgw stops while files are written: they stay PENDING (not
        FAILED), and arrive in order once it is back."""
        b = self.bucket()
        m = self.mount(rules=self.rules(b), expect_errors=True)
        p = self.write(m, "warm", b"w")
        h.wait_status(p, "COMPLETED")
        RGW.outage()
        try:
            keys = ["out/k%d" % i for i in range(8)]
            for r in range(3):
                for k in keys:
                    self.write(m, k, b"round %d of %s\n" % (r, k.encode()))
            os.unlink(m.p(keys[3]))
            self.write(m, keys[4], b"after\n")
            for k in keys:
                newest = m.vp(k, m.entries(k)[-1])
                self.assertEqual(h.repl_status(newest), "PENDING", k)
            ops = h.backlog(m)[0]
            self.assertGreater(ops, 0)
            # watch a while: the failures are transient, never FAILED
            end = time.monotonic() + 4
            while time.monotonic() < end:
                self.assertEqual(h.repl_status(m.p(keys[-1])), "PENDING")
                time.sleep(0.2)
        finally:
            t_back = time.monotonic()
            RGW.back()
        for k in keys:
            self.wait_key(m, k, timeout=180)
        FIGURES.append("outage: %d pending operations shipped %.1f s after "
                       "radosgw came back" % (ops, time.monotonic() - t_back))
        listing = RGW.by_key(b, "out/")
        for k in keys:
            self.check_key(m, b, k, listing, meta=(k == keys[4]))

    def test_kill9_during_multipart(self):
        """kill -9 of the daemon while a multipart upload is in flight;
        the next mount finishes it: one version, exact bytes, and no
        multipart upload left open in the bucket."""
        b = self.bucket()
        r = self.rules(b)
        m = self.mount(rules=r, expect_errors=True)
        log = RGW.log_path()
        off = os.path.getsize(log)
        size = (80 if SMALL else 128) * MiB
        data = os.urandom(size)
        p = self.write(m, "big.bin", data)
        parts = re.compile(r'"PUT /%s/big\.bin\?[^"]*partNumber=' % b)

        def in_flight():
            with open(log, "rb") as f:
                f.seek(off)
                txt = f.read().decode("utf-8", "replace")
            return len(parts.findall(txt)) >= 1 or \
                h.repl_status(p) == "COMPLETED"
        h.wait_for(in_flight, "a part of big.bin reaching RGW",
                   interval=0.01)
        done_before = h.repl_status(p) == "COMPLETED"
        m.kill9()
        if done_before:
            print("\n  NOTE: the upload finished before the kill; the test "
                  "did not catch it in flight")
        else:
            print("\n  killed with the multipart upload in flight")
        m.start()
        h.wait_status(p, "COMPLETED", timeout=300)
        dst = self.check_key(m, b, "big.bin")
        self.assertEqual(len(dst), 1, dst)
        self.assertEqual(sha256(RGW.get(b, "big.bin")), sha256(data))
        self.assertEqual(RGW.uploads(b), [],
                         "multipart uploads left open after the restart")

    def test_https_with_private_ca(self):
        """HTTPS with the test CA (ca_file) works; without it the
        certificate is refused, with a reason that says so."""
        b = self.bucket()
        m = self.mount(rules=self.rules(b, https=True, ca=RGW.ca_file))
        p = self.write(m, "tls.txt", b"over tls\n")
        h.wait_status(p, "COMPLETED")
        self.check_key(m, b, "tls.txt")
        m.stop()

        b2 = self.bucket()
        r = self.rules(b2, https=True, name="noca.ini")
        m2 = h.Mount(rules=r, env=h.daemon_env(), expect_errors=True)
        self.mounts.append(m2)
        try:
            m2.start()
        except h.MountError as e:
            self.assertRegex(str(e), r"(?i)certificate|self.signed|"
                             r"unable to get local issuer|verify")
            print("\n  without ca_file the mount is refused: %s"
                  % [l for l in m2.log_text().splitlines() if l][-1:])
            return
        p = self.write(m2, "tls.txt", b"x")
        h.wait_status(p, "FAILED")
        st = h.crrfs_status_json(m2.mnt)
        self.assertRegex(json.dumps(st), r"(?i)certificate|self.signed|"
                         r"issuer|verif")
        print("\n  without ca_file: FAILED; crrfs status: %s"
              % json.dumps(st)[:400])

    def test_virtual_hosted_and_filters(self):
        """Virtual-hosted addressing (BUCKET.localhost); a prefix and a
        tag filter on an S3 destination, with the AWS CLI's view."""
        b = self.bucket()
        m = self.mount(rules=self.rules(b, vhost=True, prefix="tax/",
                                        tags={"class": "final"}, dm=False))
        keep = self.write(m, "tax/2025.pdf", b"%PDF final")
        os.setxattr(keep, "user.crrfs.tag.class", b"final")
        draft = self.write(m, "tax/draft.pdf", b"%PDF draft")
        other = self.write(m, "other/x", b"x")
        os.setxattr(other, "user.crrfs.tag.class", b"final")
        h.wait_status(keep, "COMPLETED")
        self.assertIsNone(h.repl_status(draft))
        self.assertIsNone(h.repl_status(other))
        os.unlink(keep)		# delete markers are not shipped here
        self.write(m, "tax/2025.pdf", b"%PDF final 2")
        os.setxattr(keep, "user.crrfs.tag.class", b"final")
        h.wait_status(keep, "COMPLETED")
        listing = RGW.by_key(b)
        self.assertEqual(sorted(k for k in listing if not k.endswith("/")),
                         ["tax/2025.pdf"], listing)
        self.assertEqual([e["marker"] for e in listing["tax/2025.pdf"]],
                         [False, False])
        self.assertEqual(RGW.get(b, "tax/2025.pdf"), b"%PDF final 2")
        self.assertEqual(RGW.tagging(b, "tax/2025.pdf"), {"class": "final"})

    def test_wrong_credentials_then_resync_failed(self):
        """Wrong credentials: a refusal with a clear reason at mount; and
        credentials revoked while mounted: FAILED with the reason kept;
        after the rules are fixed, `crrfs resync --failed` ships it."""
        b = self.bucket()
        bad = RGW.credentials_file(self.path("bad.credentials"),
                                   secret="not-the-secret")
        out = self.mount_fails(self.rules(b, creds=bad, name="bad.ini"))
        self.assertRegex(out, r"(?i)signature|access denied|accessdenied|"
                         r"credential|403|forbidden")
        self.assertIn("s3", out)

        # a key that works at mount and is then revoked
        adm = ["radosgw-admin", "-c", os.path.join(RGW.dir, "ceph.conf")]
        key, secret = "CRRFSREVOKEDKEY00001", "revoked-secret-0000000000"
        rc, o, e = h.run(adm + ["key", "create", "--uid", "test",
                                "--key-type", "s3", "--access-key", key,
                                "--secret-key", secret])
        self.assertEqual(rc, 0, e)
        tmpc = self.path("tmp.credentials")
        with open(tmpc, "w") as f:
            f.write("[default]\naws_access_key_id = %s\n"
                    "aws_secret_access_key = %s\n" % (key, secret))
        r = self.rules(b, creds=tmpc)
        m = self.mount(rules=r, expect_errors=True)
        p0 = self.write(m, "ok.txt", b"fine\n")
        h.wait_status(p0, "COMPLETED")
        rc, o, e = h.run(adm + ["key", "rm", "--uid", "test", "--key-type",
                                "s3", "--access-key", key])
        self.assertEqual(rc, 0, e)
        p = self.write(m, "after-revoke.txt", b"revoked\n")
        h.wait_status(p, "FAILED")
        st = h.crrfs_status_json(m.mnt)
        self.assertRegex(json.dumps(st), r"(?i)InvalidAccessKeyId|access "
                         r"key|403|denied|forbidden|credential")
        print("\n  revoked key -> FAILED; status: %s" % json.dumps(st)[:500])
        # fix the rules (the good key), reload, resync the failures
        self.rules(b)
        rc, o, e = h.crrfs("mount", m.store, "--reload")
        self.assertEqual(rc, 0, o + e)
        rc, o, e = h.crrfs("resync", m.store, "--failed")
        self.assertEqual(rc, 0, o + e)
        h.wait_status(p, "COMPLETED")
        self.check_key(m, b, "after-revoke.txt")
        st = h.crrfs_status_json(m.mnt)
        fails = [v for v in h.json_find(st, "failed") if isinstance(v, int)]
        self.assertEqual(sum(fails), 0, json.dumps(st)[:500])

    def test_bucket_checks_at_mount(self):
        """A bucket without versioning, or no bucket at all: the mount is
        refused with a reason that says so."""
        b = self.bucket(versioning=False)
        out = self.mount_fails(self.rules(b, name="nov.ini"))
        self.assertRegex(out, r"(?i)versioning")
        self.assertIn(b, out)
        out = self.mount_fails(self.rules("crrfs-no-such-bucket",
                                          name="nob.ini"))
        self.assertRegex(out, r"(?i)NoSuchBucket|does not exist|no such "
                         r"bucket|not found")

    def test_malformed_rule_files(self):
        """Every malformed rule file: the mount says the file, the line
        and the reason, and nothing is mounted; the store's own
        rules.ini likewise; a dir destination that is the store itself."""
        bad = os.path.join(h.REPO, "tests", "rules", "bad")
        for name in sorted(os.listdir(bad)):
            f = os.path.join(bad, name)
            with open(f) as fh:
                want = fh.readline().split("; expect: ", 1)[1].strip()
            out = self.mount_fails(f)
            self.assertIn("'%s'" % f, out, name)
            self.assertIn(want, out, name)
        store = h.make_store(self.path("store"))
        shutil.copy(os.path.join(bad, "unknown-key.ini"),
                    os.path.join(store, "rules.ini"))
        m = h.Mount(store=store, env=h.daemon_env(), expect_errors=True)
        self.mounts.append(m)
        with self.assertRaises(h.MountError) as cm:
            m.start()
        self.assertIn("rules.ini", str(cm.exception))
        self.assertIn("line 8", str(cm.exception))
        self.assertIn("prefx", str(cm.exception))
        os.unlink(os.path.join(store, "rules.ini"))
        f = h.write_rules(self.path("self.ini"), h.dir_dest("me", store)
                          + h.rule("r", "me"))
        out = self.mount_fails(f, store=store)
        self.assertIn("store itself", out)
        self.assertRegex(out, r"line \d+")


class TestS3Figures(S3Case):
    """Not assertions: figures for the closing note."""

    def test_figures(self):
        b = self.bucket()
        m = self.mount(rules=self.rules(b))
        n = 50 if SMALL else 500
        t0 = time.monotonic()
        for i in range(n):
            self.write(m, "small/f%04d" % i, os.urandom(4096))
        t1 = time.monotonic()
        h.wait_for(lambda: h.backlog(m)[0] == 0, "backlog drained",
                   timeout=600, interval=0.01)
        t2 = time.monotonic()
        FIGURES.append("%d files of 4 KiB: written in %.2f s; all shipped "
                       "%.2f s after the first write = %.0f files/s"
                       % (n, t1 - t0, t2 - t0, n / (t2 - t0)))
        h.wait_status(m.p("small/f%04d" % (n - 1)), "COMPLETED")
        nb, size = (2, 16 * MiB) if SMALL else (4, 64 * MiB)
        blobs = [os.urandom(size) for _ in range(nb)]
        t0 = time.monotonic()
        for i, d in enumerate(blobs):
            self.write(m, "mb/f%d" % i, d)
        t1 = time.monotonic()
        h.wait_for(lambda: h.backlog(m)[0] == 0, "backlog drained",
                   timeout=600, interval=0.01)
        t2 = time.monotonic()
        FIGURES.append("%d files of %d MiB: written in %.2f s; shipped "
                       "%.2f s after the first write = %.1f MB/s"
                       % (nb, size // MiB, t1 - t0, t2 - t0,
                          nb * size / 1e6 / (t2 - t0)))
        lags = []
        for i in range(10 if SMALL else 30):
            p = self.write(m, "lag/f%02d" % i, b"x" * 1000)
            t = time.monotonic()
            h.wait_status(p, "COMPLETED", timeout=60)
            lags.append(time.monotonic() - t)
        lags.sort()
        FIGURES.append("lag from close to COMPLETED (1 kB files, one at a "
                       "time, %d samples): median %.0f ms, max %.0f ms"
                       % (len(lags), 1000 * lags[len(lags) // 2],
                          1000 * lags[-1]))
        listing = RGW.by_key(b, "lag/")
        self.assertEqual(len([k for k in listing if not k.endswith("/")]),
                         len(lags))


if __name__ == "__main__":
    h.main_rgw()
