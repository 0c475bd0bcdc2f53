"""peers.py - the filesystems bench/run measures side by side.

Each peer turns a fresh, empty work area into a directory to run workloads
in, and says which process does the work (for CPU seconds and peak memory).
The plain directory is the physical limit; bindfs the cost of FUSE alone;
crrfs the thing measured; rclone mount and s3fs the tools users compare it
with (they need the S3 test server, see tests/rgw/rgw-ctl).
"""
import os
import shutil
import subprocess
import time


def wait_mounted(path, proc=None, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.ismount(path):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("mount of '%s' failed: daemon exited %d"
                               % (path, proc.returncode))
        time.sleep(0.02)
    raise RuntimeError("mount of '%s' did not come up in %.0f s"
                       % (path, timeout))


def unmount(path):
    for args in (["fusermount3", "-u", path], ["fusermount3", "-uz", path]):
        if not os.path.ismount(path):
            return
        subprocess.run(args, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if not os.path.ismount(path):
                return
            time.sleep(0.05)


class Peer:
    """A filesystem under test. Subclasses set name and implement up()."""
    name = "?"
    needs_s3 = False

    def __init__(self, base):
        self.base = os.path.join(base, self.name)
        self.proc = None
        self.mnt = None

    def fresh(self):
        if os.path.exists(self.base):
            shutil.rmtree(self.base)
        os.makedirs(self.base)

    def pid(self):
        return self.proc.pid if self.proc else None

    def store_dir(self):
        """Where the peer keeps its bytes on the local disk (for du)."""
        return self.mnt

    def down(self):
        if self.mnt and self.proc:
            unmount(self.mnt)
        if self.proc:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Plain(Peer):
    name = "plain"

    def up(self):
        self.fresh()
        self.mnt = os.path.join(self.base, "dir")
        os.makedirs(self.mnt)
        return self.mnt


class Bindfs(Peer):
    name = "bindfs"

    def up(self):
        self.fresh()
        src = os.path.join(self.base, "src")
        self.mnt = os.path.join(self.base, "mnt")
        os.makedirs(src)
        os.makedirs(self.mnt)
        self.src = src
        self.proc = subprocess.Popen(["bindfs", "-f", src, self.mnt],
                                     stderr=subprocess.DEVNULL)
        wait_mounted(self.mnt, self.proc)
        return self.mnt

    def store_dir(self):
        return self.src


class Crrfs(Peer):
    name = "crrfs"

    def __init__(self, base, binary):
        super().__init__(base)
        self.binary = binary

    def up(self):
        self.fresh()
        self.store = os.path.join(self.base, "store")
        self.mnt = os.path.join(self.base, "mnt")
        os.makedirs(self.mnt)
        self.log = open(os.path.join(self.base, "daemon.log"), "wb")
        self.proc = subprocess.Popen([self.binary, "mount", self.store,
                                      self.mnt, "-f"], stdout=self.log,
                                     stderr=self.log)
        wait_mounted(self.mnt, self.proc)
        return self.mnt

    def store_dir(self):
        return self.store


class S3Peer(Peer):
    """rclone mount or s3fs against the bench's RGW bucket."""
    needs_s3 = True

    def __init__(self, base, s3):
        super().__init__(base)
        self.s3 = s3

    def bucket(self):
        return "bench-" + self.name


class Rclone(S3Peer):
    name = "rclone"

    def up(self):
        self.fresh()
        self.s3.make_bucket(self.bucket(), versioning=False)
        self.mnt = os.path.join(self.base, "mnt")
        cache = os.path.join(self.base, "cache")
        os.makedirs(self.mnt)
        conf = os.path.join(self.base, "rclone.conf")
        with open(conf, "w") as f:
            f.write("[rgw]\ntype = s3\nprovider = Ceph\n"
                    "access_key_id = %s\nsecret_access_key = %s\n"
                    "endpoint = %s\n" % (self.s3.key, self.s3.secret,
                                          self.s3.endpoint))
        env = dict(os.environ)
        env.pop("AWS_CA_BUNDLE", None)  # breaks rclone 1.60's S3 backend
        self.proc = subprocess.Popen(
            ["rclone", "--config", conf, "mount", "rgw:" + self.bucket(),
             self.mnt, "--vfs-cache-mode", "full", "--cache-dir", cache],
            env=env, stderr=subprocess.DEVNULL)
        wait_mounted(self.mnt, self.proc)
        return self.mnt

    def store_dir(self):
        return os.path.join(self.base, "cache")


class S3fs(S3Peer):
    name = "s3fs"

    def up(self):
        self.fresh()
        self.s3.make_bucket(self.bucket(), versioning=True)
        self.mnt = os.path.join(self.base, "mnt")
        os.makedirs(self.mnt)
        pw = os.path.join(self.base, "passwd")
        with open(pw, "w") as f:
            f.write("%s:%s\n" % (self.s3.key, self.s3.secret))
        os.chmod(pw, 0o600)
        self.proc = subprocess.Popen(
            ["s3fs", self.bucket(), self.mnt, "-f", "-o",
             "passwd_file=%s,url=%s,use_path_request_style"
             % (pw, self.s3.endpoint)], stderr=subprocess.DEVNULL)
        wait_mounted(self.mnt, self.proc)
        return self.mnt
