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
                 variant_opts=True):
        self.dir = tempfile.mkdtemp(prefix="crrfs-test-", dir=base or "/tmp")
        self.store = store or os.path.join(self.dir, "store")
        self.mnt = os.path.join(self.dir, "mnt")
        os.mkdir(self.mnt)
        self.log = os.path.join(self.dir, "daemon.log")
        self.opts = list(opts)
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
        return a

    def start(self, extra_opts=()):
        assert self.proc is None, "already started"
        logf = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(self.argv(extra_opts), stdout=logf,
                                         stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL,
                                         start_new_session=True)
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
    """Run the calling module's unittest tests; print the closing line and
    exit 0 (pass), 1 (fail) or 77 (skip: the machine lacks FUSE)."""
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
    suite = unittest.defaultTestLoader.loadTestsFromModule(
        sys.modules["__main__"])
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
