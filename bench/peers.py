"""peers.py - the filesystems bench/run measures side by side.

Each peer turns a fresh, empty work area into a directory to run workloads
in, and says which process does the work (for CPU seconds and peak memory).
The plain directory is the physical limit; bindfs the cost of FUSE alone;
crrfs the thing measured; rclone mount and s3fs the tools users compare it
with, each on a fresh bucket of the bench's RGW (s3server.py).
"""
import os
import shutil
import subprocess
import time


def du_bytes(path):
    if not path or not os.path.exists(path):
        return 0
    out = subprocess.run(["du", "-s", "--block-size=1", path],
                         capture_output=True, text=True).stdout
    return int(out.split()[0]) if out else 0


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

    def stored_bytes(self):
        """Bytes the peer keeps for the files written through it."""
        return du_bytes(self.store_dir())

    def visible(self, prefix):
        """Objects under prefix in the peer's bucket; None: no bucket."""
        return None

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
    """rclone mount or s3fs against a fresh bucket of the bench's RGW."""
    needs_s3 = True

    def __init__(self, base, s3):
        super().__init__(base)
        self.s3 = s3
        self.bucket = None

    def new_bucket(self, versioning):
        self.bucket = self.s3.new_bucket("bench-" + self.name, versioning)
        return self.bucket

    def visible(self, prefix):
        """Objects under prefix the bucket lists now: uploads behind a
        close (rclone) are only done once they are listed."""
        return self.s3.count(self.bucket, prefix)

    def stored_bytes(self):
        """Every version in the bucket plus the local cache: a new
        version of a whole file is what a close costs here."""
        return self.s3.stored_bytes(self.bucket) + du_bytes(self.cache_dir())

    def cache_dir(self):
        return None


class Rclone(S3Peer):
    name = "rclone"

    def up(self):
        self.fresh()
        self.new_bucket(versioning=False)
        self.mnt = os.path.join(self.base, "mnt")
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
            ["rclone", "--config", conf, "mount", "rgw:" + self.bucket,
             self.mnt, "--vfs-cache-mode", "full",
             "--cache-dir", self.cache_dir()],
            env=env, stderr=subprocess.DEVNULL)
        wait_mounted(self.mnt, self.proc)
        return self.mnt

    def cache_dir(self):
        return os.path.join(self.base, "cache")


class S3fs(S3Peer):
    name = "s3fs"

    def up(self):
        self.fresh()
        self.new_bucket(versioning=True)
        self.mnt = os.path.join(self.base, "mnt")
        os.makedirs(self.mnt)
        pw = os.path.join(self.base, "passwd")
        with open(pw, "w") as f:
            f.write("%s:%s\n" % (self.s3.key, self.s3.secret))
        os.chmod(pw, 0o600)
        self.proc = subprocess.Popen(
            ["s3fs", self.bucket, self.mnt, "-f", "-o",
             "passwd_file=%s,url=%s,use_path_request_style"
             % (pw, self.s3.endpoint)], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        wait_mounted(self.mnt, self.proc)
        return self.mnt
