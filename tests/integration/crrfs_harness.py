"""crrfs_harness - what every integration test shares: mounting the real
binary, always unmounting, reading the daemon log, and running the CLI.

Design choice: one Mount object per scenario owns a fresh temp dir (store,
mount point, daemon log). It polls for the mount instead of sleeping, and
every mount made by this process is recorded in a registry that atexit, the
signal handlers and a watchdog all drain, so a failing or hanging test never
leaves a FUSE mount or a daemon behind (the shell's `trap ... EXIT`). A
daemon log line that shows an error or a sanitizer report fails the test.

Environment (set by tests/CMakeLists.txt):
  CRRFS_BIN      the crrfs binary under test
  CRRFS_VARIANT  'cache' (the daemon's own cache timeouts) or 'nocache'
                 (-o attr_timeout=0,entry_timeout=0: the kernel asks us
                 every time, so cached state cannot hide a bug)
"""

import atexit
import ctypes
import errno
import faulthandler
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def _default_bin():
    for d in ("build", "build-integ"):
        p = os.path.join(REPO, d, "crrfs")
        if os.access(p, os.X_OK):
            return p
    return None


BIN = os.environ.get("CRRFS_BIN") or _default_bin()
VARIANT = os.environ.get("CRRFS_VARIANT", "cache")
NOCACHE = VARIANT == "nocache"


def _sanitized(path):
    """'asan' or 'tsan' if the binary was built with a sanitizer, else
    ''. Tests that only measure scale shrink their loops there, since the
    plain build already checks them at full size."""
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except (OSError, TypeError):
        return ""
    if b"__tsan_init" in blob:
        return "tsan"
    if b"__asan_init" in blob:
        return "asan"
    return ""


SANITIZER = _sanitized(BIN)

# A daemon log line matching this fails the test.
ERROR_LINE = re.compile(r"error:", re.IGNORECASE)
SANITIZER_LINE = re.compile(
    r"ERROR: AddressSanitizer|runtime error:|WARNING: ThreadSanitizer|"
    r"LeakSanitizer")

MOUNT_TIMEOUT = 20.0
WATCHDOG_SECONDS = float(os.environ.get("CRRFS_TEST_WATCHDOG", "480"))

_live = set()		# Mount objects that may hold a mount or a daemon
_cleanups = []		# extra callables (tmpfs mounts...), run last-in first
_lock = threading.RLock()

libc = ctypes.CDLL(None, use_errno=True)
libc.getxattr.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p,
                          ctypes.c_size_t]
libc.getxattr.restype = ctypes.c_ssize_t
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                           ctypes.c_char_p, ctypes.c_uint]
libc.renameat2.restype = ctypes.c_int
AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2

VID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
ENTRY_RE = re.compile(
    r"^(\d{8}T\d{6}\.\d{3}Z)-([0-9A-HJKMNP-TV-Z]{26})(\.deleted)?$")


def poll(cond, timeout=10.0, interval=0.02):
    """Wait until cond() is true; return its last value (falsy on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def run(args, timeout=120, **kw):
    """Run a command; (rc, stdout, stderr) as text (bytes kept with
    surrogateescape so odd names survive)."""
    p = subprocess.run(args, capture_output=True, timeout=timeout, **kw)
    dec = lambda b: b.decode("utf-8", "surrogateescape")
    return p.returncode, dec(p.stdout), dec(p.stderr)


def run_files(args, timeout=60):
    """Like run(), but output goes through temp files, not pipes: for
    commands that leave a daemon behind, which could hold a pipe open and
    make run() wait for it. rc is None (process killed) on timeout."""
    with tempfile.TemporaryFile() as o, tempfile.TemporaryFile() as e:
        p = subprocess.Popen(args, stdout=o, stderr=e,
                             stdin=subprocess.DEVNULL)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            rc = None
        o.seek(0)
        e.seek(0)
        dec = lambda b: b.decode("utf-8", "surrogateescape")
        return rc, dec(o.read()), dec(e.read())


def crrfs(*args, timeout=120):
    return run([BIN] + [os.fsdecode(a) for a in args], timeout=timeout)


def versions_store(store, key):
    """Versions of key read directly from the store (no mount involved),
    oldest first, as the CLI's --json gives them."""
    rc, out, err = crrfs("versions", "--store", store, key, "--json")
    if rc != 0:
        raise AssertionError("crrfs versions --store %s %r failed (%d): %s"
                             % (store, key, rc, err.strip()))
    return json.loads(out)


def versions(path):
    """Versions of a file through the mount (the CLI's xattr/.versions way)."""
    rc, out, err = crrfs("versions", path, "--json")
    if rc != 0:
        raise AssertionError("crrfs versions %r failed (%d): %s"
                             % (path, rc, err.strip()))
    return json.loads(out)


def raw_getxattr(path, name, size):
    """getxattr(2) with an exact buffer size: returns (ret, errno)."""
    buf = ctypes.create_string_buffer(max(size, 1))
    r = libc.getxattr(os.fsencode(path), os.fsencode(name),
                      buf if size else None, size)
    return r, (ctypes.get_errno() if r < 0 else 0)


def renameat2(old, new, flags):
    """renameat2(2); raises OSError on failure."""
    r = libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD,
                       os.fsencode(new), flags)
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old)


def write_file(path, data, mode="wb"):
    with open(path, mode) as f:
        f.write(data)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def du_k(path):
    rc, out, err = run(["du", "-sk", path])
    if rc != 0:
        raise AssertionError("du failed: " + err)
    return int(out.split()[0])


def _fusermount(mnt, lazy=False):
    args = ["fusermount3", "-u"] + (["-z"] if lazy else []) + [mnt]
    try:
        return subprocess.run(args, capture_output=True, timeout=30).returncode
    except subprocess.TimeoutExpired:
        return -1


def _unescape_mountinfo(s):
    return re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]),
                  s)


def _mounted(mnt):
    """True if something is mounted on mnt, read from mountinfo: unlike
    os.path.ismount, this also sees a dead FUSE mount (stat gives
    ENOTCONN there, which ismount takes for 'not a mount')."""
    want = os.fsencode(os.path.realpath(mnt))
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            fields = line.split(b" ")
            if len(fields) > 4 and _unescape_mountinfo(fields[4]) == want:
                return True
    return False


class MountError(AssertionError):
    pass


class Mount:
    """A crrfs mount of a fresh (or given) store, used as a context manager.

    m.store, m.mnt, m.dir (temp dir), m.log (daemon log path), m.proc.
    Options: opts (list of -o values), base (where the temp dir goes),
    store (an existing store path to reuse), expect_errors (the test expects
    'error:' lines in the log; sanitizer reports still fail it).
    """

    def __init__(self, opts=(), base=None, store=None, expect_errors=False,
                 variant_opts=True, rules=None, env=None):
        self.dir = tempfile.mkdtemp(prefix="crrfs-test-", dir=base or "/tmp")
        self.store = store or os.path.join(self.dir, "store")
        self.mnt = os.path.join(self.dir, "mnt")
        os.mkdir(self.mnt)
        self.log = os.path.join(self.dir, "daemon.log")
        self.opts = list(opts)
        self.rules = rules	# --rules FILE, or None (STORE/rules.ini)
        self.env = env		# the daemon's environment, or None (ours)
        if variant_opts and NOCACHE:
            self.opts.append("attr_timeout=0,entry_timeout=0")
        self.expect_errors = expect_errors
        self.proc = None
        self.exit_status = None	# of the last daemon that stopped
        with _lock:
            _live.add(self)

    # -- life cycle -------------------------------------------------------
    def argv(self, extra_opts=()):
        a = [BIN, "mount", self.store, self.mnt, "-f"]
        for o in self.opts + list(extra_opts):
            a += ["-o", o]
        if self.rules:
            a += ["--rules", self.rules]
        return a

    def start(self, extra_opts=()):
        assert self.proc is None, "already started"
        logf = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(self.argv(extra_opts), stdout=logf,
                                         stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL,
                                         start_new_session=True,
                                         env=self.env)
        finally:
            logf.close()
        ok = poll(lambda: self.proc.poll() is not None
                  or _mounted(self.mnt), MOUNT_TIMEOUT)
        if not ok or not _mounted(self.mnt):
            rc = self.proc.poll()
            if rc is None:
                self._kill()
            self.proc = None
            self.exit_status = rc
            raise MountError("mount of %s did not come up (exit %s)\n%s"
                             % (self.store, rc, self.log_text()))
        return self

    def stop(self, check=True):
        """Unmount (fusermount3 -u, retried, then -z), wait for the daemon
        and check its exit status and log."""
        if self.proc is None:
            return
        problems = []
        rc = 1
        deadline = time.monotonic() + 10
        while _mounted(self.mnt):
            rc = _fusermount(self.mnt)
            if rc == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if _mounted(self.mnt):
            problems.append("fusermount3 -u failed; used -z")
            _fusermount(self.mnt, lazy=True)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._kill()
            code = None
            problems.append("daemon did not exit within 30 s of unmount")
        self.proc = None
        self.exit_status = code
        if code not in (0, None):
            problems.append("daemon exited with status %s after unmount" % code)
        if check:
            problems += self.log_problems()
        if problems:
            raise MountError("; ".join(problems) + "\n--- daemon log ---\n"
                             + self.log_text())

    def kill9(self, clear=True):
        """SIGKILL the daemon and (unless clear is False: the caller first
        stops its writers, which must not fall through to the directory
        below) clear the dead mount with fusermount3 -uz."""
        if self.proc is not None:
            self.proc.kill()
            self.exit_status = self.proc.wait()
            self.proc = None
        if clear:
            self.clear_dead_mount()

    def clear_dead_mount(self):
        if _mounted(self.mnt):
            _fusermount(self.mnt, lazy=True)

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def destroy(self):
        """Tear down unconditionally (registry/atexit path)."""
        self._kill()
        self.proc = None
        if _mounted(self.mnt):
            _fusermount(self.mnt, lazy=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        with _lock:
            _live.discard(self)

    # -- log --------------------------------------------------------------
    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return "(no log)"

    def log_problems(self):
        bad = []
        for line in self.log_text().splitlines():
            if SANITIZER_LINE.search(line):
                bad.append("sanitizer report in daemon log: " + line.strip())
            elif ERROR_LINE.search(line) and not self.expect_errors:
                bad.append("error line in daemon log: " + line.strip())
        return bad[:5]

    # -- paths ------------------------------------------------------------
    def p(self, *parts):
        return os.path.join(self.mnt, *parts)

    def vp(self, *parts):
        return os.path.join(self.mnt, ".versions", *parts)

    def entries(self, key):
        """Names in .versions/<key>/, in ls order (oldest first)."""
        return sorted(os.listdir(self.vp(key)))

    # -- context manager --------------------------------------------------
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(self, et, ev, tb):
        try:
            self.stop(check=et is None)
        finally:
            if et is not None and self.log_problems():
                sys.stderr.write("--- daemon log (%s) ---\n%s\n"
                                 % (self.store, self.log_text()))
            self.destroy()
        return False


def expect_mount_fails(argv, mnt, timeout=MOUNT_TIMEOUT):
    """Run a mount command that must fail: (rc, output). If it mounts after
    all, it is unmounted and an AssertionError raised."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    poll(lambda: p.poll() is not None or _mounted(mnt), timeout)
    if _mounted(mnt) or p.poll() is None:
        _fusermount(mnt, lazy=True)
        if p.poll() is None:
            p.kill()
        p.wait()
        raise AssertionError("%r mounted (or hung) but should have failed"
                             % (argv,))
    out = p.stdout.read().decode("utf-8", "replace")
    p.stdout.close()
    return p.returncode, out


def add_cleanup(fn):
    with _lock:
        _cleanups.append(fn)


def remove_cleanup(fn):
    with _lock:
        if fn in _cleanups:
            _cleanups.remove(fn)


def cleanup_all():
    with _lock:
        mounts = list(_live)
        extra = list(reversed(_cleanups))
        _cleanups.clear()
    for m in mounts:
        try:
            m.destroy()
        except Exception:
            traceback.print_exc()
    for fn in extra:
        try:
            fn()
        except Exception:
            traceback.print_exc()


def _on_signal(sig, frame):
    sys.stderr.write("crrfs_harness: signal %d, cleaning up\n" % sig)
    cleanup_all()
    os._exit(1)


def _watchdog():
    sys.stderr.write("crrfs_harness: watchdog: test file ran longer than "
                     "%d s; stacks:\n" % WATCHDOG_SECONDS)
    faulthandler.dump_traceback(all_threads=True)
    cleanup_all()
    print("0 passed, 1 failed")
    sys.stdout.flush()
    os._exit(1)


def need_root():
    return os.geteuid() == 0


def main():
    """Run the calling module's unittest tests (or those named on the
    command line: `test_x.py TestClass.test_y`); print the closing line
    and exit 0 (pass), 1 (fail) or 77 (skip: the machine lacks FUSE)."""
    if not os.path.exists("/dev/fuse") or not shutil.which("fusermount3"):
        print("skipped: no /dev/fuse or no fusermount3 on this machine")
        print("0 passed, 0 failed, 1 skipped")
        sys.exit(77)
    if not BIN or not os.access(BIN, os.X_OK):
        print("CRRFS_BIN is not set to an executable crrfs binary")
        print("0 passed, 1 failed")
        sys.exit(1)
    atexit.register(cleanup_all)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, _on_signal)
    wd = threading.Timer(WATCHDOG_SECONDS, _watchdog)
    wd.daemon = True
    wd.start()
    print("crrfs binary: %s, variant: %s%s" % (
        BIN, VARIANT, ", sanitizer: " + SANITIZER if SANITIZER else ""))
    sys.stdout.flush()
    # names on the command line (Class or Class.test_x) run only those
    mod = sys.modules["__main__"]
    names = [a for a in sys.argv[1:] if not a.startswith("-")]
    if names:
        suite = unittest.defaultTestLoader.loadTestsFromNames(names, mod)
    else:
        suite = unittest.defaultTestLoader.loadTestsFromModule(mod)
    res = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    wd.cancel()
    cleanup_all()
    failed = len(res.failures) + len(res.errors) + len(res.unexpectedSuccesses)
    skipped = len(res.skipped)
    passed = res.testsRun - failed - skipped
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line)
    sys.stdout.flush()
    if failed:
        sys.exit(1)
    if passed == 0 and skipped:
        sys.exit(77)
    sys.exit(0)


class MountTestCase(unittest.TestCase):
    """A test case with a fresh mount per test (self.m); subclasses may set
    MOUNT_OPTS. The unmount and log check happen in tearDown, so a daemon
    error fails the test that caused it."""

    MOUNT_OPTS = ()

    def setUp(self):
        self.m = Mount(opts=self.MOUNT_OPTS)
        try:
            self.m.start()
        except BaseException:
            self.m.destroy()
            raise

    def tearDown(self):
        try:
            self.m.stop()
        finally:
            self.m.destroy()

    def assertErrno(self, err, fn, *args, **kw):
        with self.assertRaises(OSError) as cm:
            fn(*args, **kw)
        if isinstance(err, (tuple, list)):
            self.assertIn(cm.exception.errno, err,
                          "got %s, wanted one of %s" % (
                              errno.errorcode.get(cm.exception.errno),
                              [errno.errorcode[e] for e in err]))
        else:
            self.assertEqual(cm.exception.errno, err,
                             "got %s, wanted %s" % (
                                 errno.errorcode.get(cm.exception.errno),
                                 errno.errorcode[err]))
        return cm.exception


# ---------------------------------------------------------------------------
# Replication: rule files, the replication xattrs, destination stores, and a
# throw-away Ceph RGW (tests/rgw/rgw-ctl) checked with Debian's AWS CLI.
#
# Design choice: every check reads an independent view (the destination
# store through `crrfs versions --store` or a read-only mount, the bucket
# through /usr/bin/aws), never the source daemon's own opinion alone, and
# every wait is a poll with a deadline that says what it waited for.

REPL_TIMEOUT = float(os.environ.get("CRRFS_REPL_TIMEOUT",
                                    "180" if SANITIZER else "60"))
STATUS = "user.crrfs.replication-status"



class MountsTestCase(unittest.TestCase):
    """A temp dir per test (self.tmp, self.path()) and any number of mounts
    made in it with self.mount(). Its cleanup stops them newest first, so a
    daemon error fails the test that caused it, and removes everything
    even when a stop fails; it is registered in setUp (addCleanup), so it
    also runs when a subclass's setUp fails after this one. Subclasses set TMP_PREFIX and may wrap mount()
    to give every mount of the file the same rules or environment."""

    TMP_PREFIX = "crrfs-"

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix=self.TMP_PREFIX)
        self.mounts = []
        self.addCleanup(self._clean_mounts)

    def _clean_mounts(self):
        try:
            for m in reversed(self.mounts):
                if m.proc is not None:
                    m.stop()
        finally:
            for m in self.mounts:
                m.destroy()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *p):
        return os.path.join(self.tmp, *p)

    def mount(self, start=True, **kw):
        """A Mount(**kw) cleaned up after the test, started unless start
        is False."""
        m = Mount(**kw)
        self.mounts.append(m)
        if start:
            m.start()
        return m

def wait_for(cond, what, timeout=None, interval=0.05):
    """Poll cond() until it returns something true and return that; on
    timeout raise AssertionError naming what was awaited and the last
    value seen."""
    deadline = time.monotonic() + (timeout or REPL_TIMEOUT)
    last = None
    while True:
        last = cond()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.0f s waiting for %s "
                                 "(last: %r)" % (timeout or REPL_TIMEOUT,
                                                 what, last))
        time.sleep(interval)


def xattr(path, name):
    """The xattr's value as text, or None when it is absent (ENODATA)."""
    try:
        return os.getxattr(path, name).decode("utf-8", "surrogateescape")
    except OSError as e:
        if e.errno == errno.ENODATA:
            return None
        raise


def repl_status(path, dest=None):
    """user.crrfs.replication-status[.DEST] of path, or None."""
    return xattr(path, STATUS + ("." + dest if dest else ""))


def wait_status(path, want, dest=None, timeout=None):
    """Wait until path's replication status is want (a string or a set);
    a status that can no longer change into want (FAILED when COMPLETED
    is wanted) fails at once with the value."""
    wants = {want} if isinstance(want, str) else set(want)
    seen = []

    def cond():
        v = repl_status(path, dest)
        if not seen or seen[-1] != v:
            seen.append(v)
        if v == "FAILED" and "FAILED" not in wants:
            raise AssertionError("%s: replication status%s is FAILED, "
                                 "wanted %s" % (path, " at " + dest
                                                if dest else "",
                                                "/".join(sorted(wants))))
        return v in wants
    wait_for(cond, "%s status%s in %s (seen %s)" % (
        path, "." + dest if dest else "", sorted(wants), seen), timeout)
    return seen


def entry_path(m, key, vid):
    """The .versions entry of version vid of key in mount m."""
    for e in os.listdir(m.vp(key)):
        mm = ENTRY_RE.match(e)
        if mm and mm.group(2) == vid:
            return m.vp(key, e)
    raise AssertionError("no .versions entry for %s %s" % (key, vid))


def backlog(m):
    """The backlog xattrs of mount m's root as ints: (ops, bytes); and
    the oldest-pending value as text (or None)."""
    ops = xattr(m.mnt, "user.crrfs.pending-ops")
    nbytes = xattr(m.mnt, "user.crrfs.pending-bytes")
    oldest = xattr(m.mnt, "user.crrfs.oldest-pending")
    return (int(ops) if ops is not None else None,
            int(nbytes) if nbytes is not None else None, oldest)


def write_rules(path, text):
    """Write a rule file (text is dedented; a leading newline dropped)."""
    import textwrap
    with open(path, "w") as f:
        f.write(textwrap.dedent(text).lstrip("\n"))
    return path


def dir_dest(name, path):
    return "[destination %s]\ntype = dir\npath = %s\n\n" % (name, path)


def rule(rid, dest, priority=None, prefix=None, tags=None, dm=None,
         status="enabled", storage_class=None):
    s = "[rule %s]\nstatus = %s\ndestination = %s\n" % (rid, status, dest)
    if priority is not None:
        s += "priority = %d\n" % priority
    if prefix is not None:
        s += "prefix = %s\n" % prefix
    for k, v in (tags or {}).items():
        s += "tag.%s = %s\n" % (k, v)
    if dm is not None:
        s += "delete_marker_replication = %s\n" % (
            "enabled" if dm else "disabled")
    if storage_class:
        s += "storage_class = %s\n" % storage_class
    return s + "\n"


def make_store(path):
    """Create an empty crrfs store at path (a first mount creates it)."""
    m = Mount(store=path, variant_opts=False)
    try:
        m.start()
        m.stop()
    finally:
        m.destroy()
    return path


def store_keys_versions(store, key):
    """versions_store(), or [] when the key has no history (yet)."""
    rc, out, err = crrfs("versions", "--store", store, key, "--json")
    if rc != 0:
        return []
    return json.loads(out)


def vids(vs, markers=True):
    """[(version_id, delete_marker)] of a versions list, oldest first."""
    return [(v["version_id"], bool(v["delete_marker"])) for v in vs
            if markers or not v["delete_marker"]]


def crrfs_status_json(target):
    """`crrfs status TARGET --json`, parsed."""
    rc, out, err = crrfs("status", target, "--json")
    if rc != 0:
        raise AssertionError("crrfs status %s --json failed (%d): %s%s"
                             % (target, rc, err.strip(), out.strip()))
    try:
        return json.loads(out)
    except ValueError as e:
        raise AssertionError("crrfs status --json printed invalid JSON "
                             "(%s): %r" % (e, out[:500]))


def json_find(obj, key):
    """Every value under key anywhere in a parsed JSON document."""
    found = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                found.append(v)
            found += json_find(v, key)
    elif isinstance(obj, list):
        for v in obj:
            found += json_find(v, key)
    return found


class RoMount(Mount):
    """`crrfs mount -o ro DEST MNT`: a destination store seen read-only."""

    def __init__(self, store, **kw):
        super().__init__(opts=["ro"], store=store, **kw)


# ---- the S3 server --------------------------------------------------------

AWS = "/usr/bin/aws"
RGW_CTL = os.path.join(REPO, "tests", "rgw", "rgw-ctl")


def have_rgw():
    """'' when radosgw, the Ceph daemons and the AWS CLI are installed,
    else what is missing."""
    missing = [b for b in ("radosgw", "ceph-mon", "ceph-osd", "ceph")
               if not shutil.which(b)]
    if not os.access(AWS, os.X_OK):
        missing.append(AWS)
    return " ".join(missing)


def _aws_env(extra=None):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("AWS_"):
            del env[k]
    env.update(AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="",
               AWS_RETRY_MODE="standard", AWS_MAX_ATTEMPTS="2")
    env.update(extra or {})
    return env


def daemon_env(extra=None):
    """An environment for a crrfs daemon with no AWS_* variables from the
    machine (AWS_CA_BUNDLE is set here), plus extra."""
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("AWS_"):
            del env[k]
    env.update(extra or {})
    return env


def _s3_unquote(s):
    import urllib.parse
    return urllib.parse.unquote(s)


class RGW:
    """One RGW cluster for a test file: start(), stop() (also at exit)."""

    def __init__(self, https=False):
        self.https = https
        self.dir = tempfile.mkdtemp(prefix="crrfs-rgw-")
        self.env = {}
        self.started = False

    def start(self):
        add_cleanup(self.stop)
        args = [RGW_CTL, "start", self.dir, "--port", "0"]
        if self.https:
            args.append("--https")
        rc, out, err = run(args, timeout=180)
        if rc != 0:
            raise AssertionError("rgw-ctl start failed (%d):\n%s%s"
                                 % (rc, out, err))
        self.started = True
        with open(os.path.join(self.dir, "env")) as f:
            for line in f:
                mm = re.match(r"export (\w+)=(.*)$", line.strip())
                if mm:
                    v = mm.group(2)
                    if len(v) >= 2 and v[0] == v[-1] == "'":
                        v = v[1:-1]
                    self.env[mm.group(1)] = v
        self.endpoint = self.env["RGW_ENDPOINT"]
        self.https_endpoint = self.env.get("RGW_HTTPS_ENDPOINT") or None
        self.ca_file = self.env.get("RGW_CA_FILE") or None
        self.access_key = self.env["AWS_ACCESS_KEY_ID"]
        self.secret_key = self.env["AWS_SECRET_ACCESS_KEY"]
        self.region = self.env.get("AWS_DEFAULT_REGION", "us-east-1")
        return self

    def stop(self):
        if os.path.isdir(self.dir):
            run([RGW_CTL, "stop", self.dir, "--clean"], timeout=120)
            shutil.rmtree(self.dir, ignore_errors=True)
        self.started = False
        remove_cleanup(self.stop)

    def outage(self):
        rc, out, err = run([RGW_CTL, "rgw-stop", self.dir], timeout=60)
        if rc != 0:
            raise AssertionError("rgw-ctl rgw-stop: " + err)

    def back(self):
        rc, out, err = run([RGW_CTL, "rgw-start", self.dir], timeout=60)
        if rc != 0:
            raise AssertionError("rgw-ctl rgw-start: " + err)

    def log_path(self):
        return os.path.join(self.dir, "log", "client.rgw.a.log")

    # -- the AWS CLI ------------------------------------------------------
    def aws_raw(self, *args, endpoint=None, debug=False, timeout=300):
        """Run /usr/bin/aws s3api ARGS; (rc, stdout, stderr)."""
        a = [AWS, "--endpoint-url", endpoint or self.endpoint]
        if debug:
            a.append("--debug")
        a += ["s3api"] + list(args)
        env = _aws_env({"AWS_ACCESS_KEY_ID": self.access_key,
                        "AWS_SECRET_ACCESS_KEY": self.secret_key,
                        "AWS_DEFAULT_REGION": self.region})
        return run(a, timeout=timeout, env=env)

    def aws(self, *args, **kw):
        """/usr/bin/aws s3api ARGS, which must succeed; parsed JSON (or
        None when it printed nothing). Give values that may start with
        '-' (RGW version ids do) as "--option=VALUE"."""
        rc, out, err = self.aws_raw(*args, **kw)
        if rc != 0:
            raise AssertionError("aws s3api %s failed (%d): %s"
                                 % (" ".join(args), rc, err.strip()[-800:]))
        return json.loads(out) if out.strip() else None

    def make_bucket(self, name, versioning=True):
        self.aws("create-bucket", "--bucket", name)
        if versioning:
            self.aws("put-bucket-versioning", "--bucket", name,
                     "--versioning-configuration", "Status=Enabled")
        return name

    def list_versions(self, bucket, prefix=None):
        """Every version and delete marker in the bucket, in the order the
        server lists them (keys in order; per key newest first), each a
        dict {key, vid, marker, latest, modified, size, etag}; read from
        the raw ListObjectVersions responses the AWS CLI received
        (--debug), since its JSON output splits versions from delete
        markers and loses their interleaving. De-duplicated by (key,
        version id): RGW can list an entry twice for keys with '+'."""
        import ast
        import xml.etree.ElementTree as ET
        args = ["list-object-versions", "--bucket", bucket]
        if prefix:
            args += ["--prefix=" + prefix]
        rc, out, err = self.aws_raw(*args, debug=True)
        if rc != 0:
            raise AssertionError("aws s3api list-object-versions failed "
                                 "(%d): %s" % (rc, err.strip()[-800:]))
        lines = err.splitlines()
        res, seen = [], set()
        ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
        for i, line in enumerate(lines):
            if not line.endswith("Response body:") or i + 1 >= len(lines):
                continue
            body = lines[i + 1]
            if not body.startswith("b'") and not body.startswith('b"'):
                continue
            raw = ast.literal_eval(body)
            if b"ListVersionsResult" not in raw[:300]:
                continue
            root = ET.fromstring(raw)
            enc = root.findtext(ns + "EncodingType") == "url"
            for el in root:
                tag = el.tag[len(ns):]
                if tag not in ("Version", "DeleteMarker"):
                    continue
                key = el.findtext(ns + "Key")
                if enc:
                    key = _s3_unquote(key)
                vid = el.findtext(ns + "VersionId")
                if (key, vid) in seen:
                    continue
                seen.add((key, vid))
                res.append(dict(
                    key=key, vid=vid, marker=tag == "DeleteMarker",
                    latest=el.findtext(ns + "IsLatest") == "true",
                    modified=el.findtext(ns + "LastModified"),
                    size=int(el.findtext(ns + "Size") or 0),
                    etag=(el.findtext(ns + "ETag") or "").strip('"')))
        # the JSON output, to check the --debug parse against
        js = json.loads(out) if out.strip() else {}
        n = len({(v["Key"], v["VersionId"])
                 for v in js.get("Versions", []) + js.get("DeleteMarkers",
                                                          [])})
        if n != len(res):
            raise AssertionError("list-object-versions: parsed %d entries "
                                 "from the responses, the CLI shows %d"
                                 % (len(res), n))
        return res

    def by_key(self, bucket, prefix=None):
        """{key: [entries oldest first]} of list_versions()."""
        d = {}
        for e in self.list_versions(bucket, prefix):
            d.setdefault(e["key"], []).insert(0, e)
        return d

    def head(self, bucket, key, vid=None):
        a = ["head-object", "--bucket", bucket, "--key=" + key]
        if vid:
            a += ["--version-id=" + vid]
        return self.aws(*a)

    def get(self, bucket, key, vid=None):
        """The bytes of an object version."""
        with tempfile.NamedTemporaryFile(dir=self.dir) as t:
            a = ["get-object", "--bucket", bucket, "--key=" + key]
            if vid:
                a += ["--version-id=" + vid]
            self.aws(*(a + [t.name]))
            with open(t.name, "rb") as f:
                return f.read()

    def tagging(self, bucket, key, vid=None):
        a = ["get-object-tagging", "--bucket", bucket, "--key=" + key]
        if vid:
            a += ["--version-id=" + vid]
        return {t["Key"]: t["Value"] for t in self.aws(*a)["TagSet"]}

    def uploads(self, bucket):
        r = self.aws("list-multipart-uploads", "--bucket", bucket) or {}
        return r.get("Uploads", [])

    def credentials_file(self, path, secret=None, profile="default"):
        with open(path, "w") as f:
            f.write("[%s]\naws_access_key_id = %s\naws_secret_access_key "
                    "= %s\n" % (profile, self.access_key,
                                secret or self.secret_key))
        os.chmod(path, 0o600)
        return path

    def dest(self, name, bucket, creds, https=False, ca_file=None,
             extra="", vhost=False):
        """A [destination NAME] section for bucket on this server:
        path-style, or virtual-hosted (BUCKET.localhost) with vhost."""
        ep = self.https_endpoint if https else self.endpoint
        if vhost:
            ep = self.env["RGW_VHOST_ENDPOINT"]
        s = ("[destination %s]\ntype = s3\nendpoint = %s\nregion = %s\n"
             "bucket = %s\npath_style = %s\ncredentials = %s\n"
             % (name, ep, self.region, bucket,
                "false" if vhost else "true", creds))
        if ca_file:
            s += "ca_file = %s\n" % ca_file
        return s + extra + "\n"


def main_rgw():
    """main(), but exit 77 (skip) when this machine has no radosgw."""
    miss = have_rgw()
    if miss:
        print("skipped: no Ceph RGW / AWS CLI on this machine (missing: %s;"
              " tests/rgw/rgw-ctl install)" % miss)
        print("0 passed, 0 failed, 1 skipped")
        sys.exit(77)
    main()
