"""workloads.py - what bench/run measures, each on a fresh peer.

A workload takes the directory to work in, the peer (for its store's disk
usage) and the size profile, and returns {metric: value}. Every metric's
unit and direction are in METRICS, so the report never guesses. Nothing
here asserts a time: numbers are reported, not judged.
"""
import json
import os
import random
import statistics
import subprocess
import tarfile
import time

# metric -> (unit, higher is better)
METRICS = {
    "seq_write_MBps": ("MB/s", True),
    "seq_read_cold_MBps": ("MB/s", True),
    "seq_read_warm_MBps": ("MB/s", True),
    "rand_read_cold_iops": ("IOPS", True),
    "rand_write_iops": ("IOPS", True),
    "fsync_p50_ms": ("ms", False),
    "fsync_p99_ms": ("ms", False),
    "create_per_s": ("files/s", True),
    "create_visible_s": ("s", False),
    "stat_per_s": ("files/s", True),
    "delete_per_s": ("files/s", True),
    "ls_cold_s": ("s", False),
    "ls_warm_s": ("s", False),
    "untar_s": ("s", False),
    "rm_rf_s": ("s", False),
    "git_clone_s": ("s", False),
    "append_close_ms": ("ms", False),
    "append_disk_KiB": ("KiB", False),
    "edit_close_ms": ("ms", False),
    "edit_disk_KiB": ("KiB", False),
}

FULL = dict(seq_mib=1024, rand_s=20, fsyncs=1000, files=10000,
            ls_entries=100000, tree_files=10000, big_mib=1024, appends=10)
QUICK = dict(seq_mib=128, rand_s=3, fsyncs=100, files=1000,
             ls_entries=5000, tree_files=1000, big_mib=64, appends=3)

# Which sizes each workload uses, printed with every run.
SIZES = {"data": ("seq_mib", "rand_s", "fsyncs"), "metadata": ("files",),
         "listing": ("ls_entries",), "tree": ("tree_files",), "git": (),
         "versioning": ("big_mib", "appends")}

# The S3 peers are slow (s3fs makes about 29 small files a second against
# RGW, and every fsync or close uploads the whole file), so in --quick
# they get smaller counts. Only rates change with these (files/s, MB/s,
# latency), so they stay comparable with the other peers' numbers; the
# workloads reporting a total time for a fixed size are skipped instead.
S3_QUICK = dict(files=200, seq_mib=64, fsyncs=30)
# (peer, workload) -> why it does not run in --quick
# (s3fs made about 100 4 KiB files a second here, and took 58 s for the
# git clone of 100 files: every create, rename and close is a request.)
S3_QUICK_SKIP = {
    ("s3fs", "listing"): "making 5,000 entries through s3fs would take "
                         "about a minute before ls even starts",
    ("s3fs", "tree"): "unpacking 1,000 files through s3fs would take a "
                      "minute or more, and rm -rf about as long again",
}


def drop_caches():
    subprocess.run(["sync"])
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def fio(directory, **opts):
    args = ["fio", "--output-format=json", "--name=bench",
            "--directory=" + directory, "--ioengine=psync",
            "--filename=fio.dat"]
    args += ["--%s=%s" % (k, v) for k, v in opts.items()]
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    job = json.loads(out.stdout)["jobs"][0]
    return job


def data(mnt, peer, p):
    r = {}
    size = "%dM" % p["seq_mib"]
    job = fio(mnt, rw="write", bs="1M", size=size, end_fsync=1)
    r["seq_write_MBps"] = job["write"]["bw_bytes"] / 1e6
    drop_caches()
    job = fio(mnt, rw="read", bs="1M", size=size)
    r["seq_read_cold_MBps"] = job["read"]["bw_bytes"] / 1e6
    # fio drops the file's cached pages before a job unless told not to:
    # without invalidate=0 the "warm" read was a second cold one.
    job = fio(mnt, rw="read", bs="1M", size=size, invalidate=0)
    r["seq_read_warm_MBps"] = job["read"]["bw_bytes"] / 1e6
    drop_caches()
    job = fio(mnt, rw="randread", bs="4k", size=size, time_based=1,
              runtime=p["rand_s"], randrepeat=1)
    r["rand_read_cold_iops"] = job["read"]["iops"]
    job = fio(mnt, rw="randwrite", bs="4k", size=size, time_based=1,
              runtime=p["rand_s"], end_fsync=1)
    r["rand_write_iops"] = job["write"]["iops"]
    r.update(fsync_latency(mnt, p["fsyncs"]))
    return r


def fsync_latency(mnt, n):
    lat = []
    block = os.urandom(4096)
    fd = os.open(os.path.join(mnt, "fsync.dat"), os.O_CREAT | os.O_WRONLY,
                 0o644)
    try:
        for i in range(n):
            t = time.perf_counter()
            os.pwrite(fd, block, (i % 256) * 4096)
            os.fsync(fd)
            lat.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
    lat.sort()
    return {"fsync_p50_ms": lat[len(lat) // 2],
            "fsync_p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))]}


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def metadata(mnt, peer, p):
    n = p["files"]
    d = os.path.join(mnt, "meta")
    os.mkdir(d)
    block = os.urandom(4096)
    names = [os.path.join(d, "f%06d" % i) for i in range(n)]

    def create():
        for name in names:
            with open(name, "wb") as f:
                f.write(block)

    def stat():
        for name in names:
            os.stat(name)

    def delete():
        for name in names:
            os.unlink(name)

    t0 = time.perf_counter()
    create()
    r = {"create_per_s": n / (time.perf_counter() - t0)}
    seen = wait_visible(peer, "meta/", n)
    if seen is not None:
        r["create_visible_s"] = seen - t0
    drop_caches()
    r["stat_per_s"] = n / timed(stat)
    r["delete_per_s"] = n / timed(delete)
    return r


def wait_visible(peer, prefix, n, timeout=300.0):
    """When all n objects under prefix are listed in the peer's bucket
    (perf_counter time), or None when the peer has no bucket. An upload
    that never completes fails the run rather than reporting a guess."""
    if peer.visible(prefix) is None:
        return None
    end = time.perf_counter() + timeout
    while True:
        got = peer.visible(prefix)
        if got >= n:
            return time.perf_counter()
        if time.perf_counter() > end:
            raise RuntimeError("%s: only %d of %d objects in the bucket "
                               "after %.0f s" % (peer.name, got, n, timeout))
        time.sleep(0.2)


def listing(mnt, peer, p):
    d = os.path.join(mnt, "big")
    os.mkdir(d)
    for i in range(p["ls_entries"]):
        os.close(os.open(os.path.join(d, "e%07d" % i),
                         os.O_CREAT | os.O_WRONLY, 0o644))

    def ls():
        subprocess.run(["ls", "-l", d], stdout=subprocess.DEVNULL, check=True)

    drop_caches()
    r = {"ls_cold_s": timed(ls)}
    ls()
    r["ls_warm_s"] = timed(ls)
    return r


def make_tree_tar(path, nfiles):
    """A fixed tree: same seed, same names and sizes on every run."""
    if os.path.exists(path):
        return
    rng = random.Random(42)
    tmp = path + ".tmp"
    with tarfile.open(tmp, "w") as tar:
        for i in range(nfiles):
            size = rng.choice([0, 100, 1000, 4096, 20000, 100000, 1000000]
                              if i % 50 == 0 else [100, 1000, 4096, 20000])
            info = tarfile.TarInfo("tree/d%02d/s%02d/f%05d.dat"
                                   % (i % 37, i % 11, i))
            info.size = size
            info.mode = 0o644
            info.mtime = 1700000000 + i
            tar.addfile(info, fileobj=_Zeroish(size, i))
    os.rename(tmp, path)


class _Zeroish:
    """File-like bytes for the tar: cheap to make, not all zeros."""

    def __init__(self, size, seed):
        self.left = size
        self.chunk = bytes((seed + k) % 251 for k in range(4096))

    def read(self, n=-1):
        if n < 0 or n > self.left:
            n = self.left
        self.left -= n
        return (self.chunk * (n // 4096 + 1))[:n]


def tree(mnt, peer, p, tarball):
    d = os.path.join(mnt, "untar")
    os.mkdir(d)
    r = {"untar_s": timed(lambda: subprocess.run(
        ["tar", "-xf", tarball, "-C", d], check=True))}
    r["rm_rf_s"] = timed(lambda: subprocess.run(["rm", "-rf", d], check=True))
    return r


def make_git_repo(path):
    if os.path.exists(path):
        return
    tmp = path + ".tmp"
    env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b",
               GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b",
               GIT_AUTHOR_DATE="1700000000 +0000",
               GIT_COMMITTER_DATE="1700000000 +0000")
    subprocess.run(["git", "init", "-q", tmp], check=True)
    rng = random.Random(7)
    for c in range(20):
        for i in range(100):
            fn = os.path.join(tmp, "src%d" % (i % 10), "f%03d.c" % i)
            os.makedirs(os.path.dirname(fn), exist_ok=True)
            with open(fn, "a") as f:
                f.write("int v%d_%d = %d;\n" % (c, i, rng.randrange(1 << 30))
                        * 20)
        subprocess.run(["git", "-C", tmp, "add", "-A"], check=True, env=env)
        subprocess.run(["git", "-C", tmp, "commit", "-qm", "c%d" % c],
                       check=True, env=env)
    os.rename(tmp, path)


def gitclone(mnt, peer, p, repo):
    return {"git_clone_s": timed(lambda: subprocess.run(
        ["git", "clone", "-q", "--no-hardlinks", repo,
         os.path.join(mnt, "clone")], check=True))}


def versioning(mnt, peer, p):
    """Append 1 KiB, or rewrite 4 KiB in the middle, of a big file and close:
    what a versioning filesystem pays per close. Space is the peer's own
    count (du of the store; for S3 peers every version in the bucket plus
    the local cache, taken right after the close)."""
    big = os.path.join(mnt, "big.log")
    subprocess.run(["fio", "--name=fill", "--rw=write", "--bs=1M",
                    "--size=%dM" % p["big_mib"], "--filename=" + big,
                    "--end_fsync=1"], stdout=subprocess.DEVNULL, check=True)
    r = {}
    for what, off in (("append", None), ("edit", p["big_mib"] << 19)):
        ms, kib = [], []
        for _ in range(p["appends"]):
            subprocess.run(["sync"])
            before = peer.stored_bytes()
            t = time.perf_counter()
            with open(big, "r+b") as f:
                if off is None:
                    f.seek(0, 2)
                    f.write(os.urandom(1024))
                else:
                    f.seek(off)
                    f.write(os.urandom(4096))
            ms.append((time.perf_counter() - t) * 1000)
            subprocess.run(["sync"])
            kib.append((peer.stored_bytes() - before) / 1024)
        r[what + "_close_ms"] = statistics.median(ms)
        r[what + "_disk_KiB"] = statistics.median(kib)
    return r
