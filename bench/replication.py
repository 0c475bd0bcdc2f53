"""replication.py - the replication workloads of bench/run.

crrfs replicates from its mount to an S3 bucket on its own; the peers users
would otherwise run are `rclone sync` and `aws s3 sync` of the same tree.
Each (run, replicator) gets a fresh RGW (tests/rgw/rgw-ctl, memstore: a
fresh cluster is the only way to free its RAM) and a fresh versioned bucket,
so no run sees another's objects.

What is measured (nothing asserted):
 - a tree of N 4 KiB files, and of a few big files: seconds from the start
   of the copy until every object is listed in the bucket. For crrfs the
   clock includes writing the tree into the mount (cp -r), which the sync
   tools do not pay: crrfs is measured end to end, never flattered.
 - crrfs only: lag from close() to COMPLETED (the PUT has returned, so the
   object is visible) under a steady rate of small files, p50 and p99; and
   the time to drain the backlog after an outage of the RGW.
"""
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time

import peers
import s3server

AWS = "/usr/bin/aws"
REPLICATORS = ["crrfs", "rclone-sync", "aws-sync"]

# metric -> (unit, higher is better); merged into workloads.METRICS
METRICS = {
    "repl_small_s": ("s", False),
    "repl_small_files_per_s": ("files/s", True),
    "repl_big_s": ("s", False),
    "repl_big_MBps": ("MB/s", True),
    "repl_lag_p50_ms": ("ms", False),
    "repl_lag_p99_ms": ("ms", False),
    "repl_outage_drain_s": ("s", False),
}

FULL = dict(repl_files=10000, repl_big_n=4, repl_big_mib=256,
            repl_rate=50, repl_lag_s=60, repl_outage_s=60)
QUICK = dict(repl_files=300, repl_big_n=2, repl_big_mib=16,
             repl_rate=50, repl_lag_s=4, repl_outage_s=4)
SIZES = ("repl_files", "repl_big_n", "repl_big_mib", "repl_lag_s",
         "repl_outage_s")


def make_tree(base, p):
    """The source tree, made once per bench run: small/ and big/."""
    root = os.path.join(base, "repl-src-%d-%d" % (p["repl_files"],
                                                 p["repl_big_mib"]))
    if os.path.exists(os.path.join(root, ".done")):
        return root
    shutil.rmtree(root, ignore_errors=True)
    small = os.path.join(root, "small")
    big = os.path.join(root, "big")
    os.makedirs(small)
    os.makedirs(big)
    for i in range(p["repl_files"]):
        with open(os.path.join(small, "f%05d" % i), "wb") as f:
            f.write(os.urandom(4096))
    for i in range(p["repl_big_n"]):
        with open(os.path.join(big, "b%d" % i), "wb") as f:
            for _ in range(p["repl_big_mib"]):
                f.write(os.urandom(1 << 20))
    open(os.path.join(root, ".done"), "w").close()
    return root


class Rgw(s3server.S3Server):
    """A fresh RGW for one run of one replicator."""

    def rgw_stop(self):
        subprocess.run([s3server.RGW_CTL, "rgw-stop", self.dir], check=True,
                       stdout=subprocess.DEVNULL)

    def rgw_start(self):
        subprocess.run([s3server.RGW_CTL, "rgw-start", self.dir], check=True,
                       stdout=subprocess.DEVNULL)


def _env_rclone(s3):
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)  # breaks rclone 1.60's S3 backend
    return env


def _env_aws(s3):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=s3.key,
               AWS_SECRET_ACCESS_KEY=s3.secret, AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="")
    for k in ("AWS_CA_BUNDLE", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        env.pop(k, None)
    return env


class CrrfsMount:
    """A crrfs mount whose rules ship everything to one bucket."""

    def __init__(self, base, binary, s3, bucket):
        self.base = base
        self.store = os.path.join(base, "store")
        self.mnt = os.path.join(base, "mnt")
        os.makedirs(self.mnt, exist_ok=True)
        creds = os.path.join(base, "credentials")
        with open(creds, "w") as f:
            f.write("[default]\naws_access_key_id = %s\n"
                    "aws_secret_access_key = %s\n" % (s3.key, s3.secret))
        os.chmod(creds, 0o600)
        self.rules = os.path.join(base, "rules.ini")
        with open(self.rules, "w") as f:
            f.write("[destination bench]\ntype = s3\nendpoint = %s\n"
                    "region = us-east-1\nbucket = %s\ncredentials = %s\n"
                    "path_style = true\n\n[rule all]\nstatus = enabled\n"
                    "priority = 1\ndestination = bench\n"
                    "delete_marker_replication = enabled\n"
                    % (s3.endpoint, bucket, creds))
        self.log = open(os.path.join(base, "daemon.log"), "wb")
        self.proc = subprocess.Popen(
            [binary, "mount", self.store, self.mnt, "-f", "--rules",
             self.rules], stdout=self.log, stderr=self.log)
        peers.wait_mounted(self.mnt, self.proc)

    def pending(self):
        return int(os.getxattr(self.mnt, "user.crrfs.pending-ops") or 0)

    def wait_drained(self, timeout=1800.0):
        end = time.monotonic() + timeout
        while self.pending() > 0:
            if time.monotonic() > end:
                raise RuntimeError("crrfs: %d operations still pending "
                                   "after %.0f s" % (self.pending(), timeout))
            time.sleep(0.05)

    def down(self):
        peers.unmount(self.mnt)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _wait_count(s3, bucket, prefix, n, timeout=1800.0):
    end = time.monotonic() + timeout
    while True:
        got = s3.count(bucket, prefix)
        if got >= n:
            return
        if time.monotonic() > end:
            raise RuntimeError("only %d of %d objects under '%s' after "
                               "%.0f s" % (got, n, prefix, timeout))
        time.sleep(0.2)


def _ship(who, src, sub, n, s3, bucket, work, binary, cpu):
    """Seconds until the n files of src/sub are all listed in the bucket."""
    os.makedirs(work, exist_ok=True)
    if who == "crrfs":
        m = CrrfsMount(work, binary, s3, bucket)
        try:
            t0 = time.monotonic()
            subprocess.run(["cp", "-r", os.path.join(src, sub), m.mnt],
                           check=True)
            m.wait_drained()
            _wait_count(s3, bucket, sub + "/", n)
            dt = time.monotonic() - t0
            cpu.append(_proc_cpu(m.proc.pid))
            cpu.append(_proc_peak(m.proc.pid))
        finally:
            m.down()
        return dt
    if who == "rclone-sync":
        conf = os.path.join(work, "rclone.conf")
        with open(conf, "w") as f:
            f.write("[rgw]\ntype = s3\nprovider = Ceph\naccess_key_id = %s\n"
                    "secret_access_key = %s\nendpoint = %s\n"
                    % (s3.key, s3.secret, s3.endpoint))
        cmd = ["rclone", "--config", conf, "sync", os.path.join(src, sub),
               "rgw:%s/%s" % (bucket, sub)]
        env = _env_rclone(s3)
    else:
        cmd = [AWS, "--endpoint-url", s3.endpoint, "s3", "sync", "--quiet",
               os.path.join(src, sub), "s3://%s/%s" % (bucket, sub)]
        env = _env_aws(s3)
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    _wait_count(s3, bucket, sub + "/", n)
    return time.monotonic() - t0


def _proc_cpu(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


def _proc_peak(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _steady_writes(mnt, rate, seconds, prefix, out=None):
    """Write rate 4 KiB files a second for seconds, appending (path,
    close time) to out as each closes; paced on an absolute schedule so a
    slow close does not lower the rate. Returns out."""
    out = [] if out is None else out
    os.makedirs(os.path.join(mnt, prefix), exist_ok=True)
    t0 = time.monotonic()
    for i in range(int(rate * seconds)):
        due = t0 + i / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        path = os.path.join(mnt, prefix, "l%05d" % i)
        with open(path, "wb") as f:
            f.write(os.urandom(4096))
        out.append((path, time.monotonic()))
    return out


def _lag(m, p):
    """close-to-COMPLETED lag in ms of files written at a steady rate."""
    written, lags = [], []
    writing = threading.Event()
    writing.set()

    def poll():
        done = set()
        deadline = None
        while True:
            for path, tc in list(written):
                if path in done:
                    continue
                try:
                    st = os.getxattr(path, "user.crrfs.replication-status")
                except OSError:
                    continue
                if st == b"COMPLETED":
                    done.add(path)
                    lags.append((time.monotonic() - tc) * 1000)
            if not writing.is_set():
                if len(done) == len(written):
                    return
                deadline = deadline or time.monotonic() + 300
                if time.monotonic() > deadline:
                    return
            time.sleep(0.002)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    try:
        written_now = _steady_writes(m.mnt, p["repl_rate"], p["repl_lag_s"],
                                     "lag", written)
    finally:
        writing.clear()
        th.join()
    if len(lags) < len(written_now):
        raise RuntimeError("lag: %d of %d files never COMPLETED" % (
            len(written_now) - len(lags), len(written_now)))
    lags.sort()
    return {"repl_lag_p50_ms": statistics.median(lags),
            "repl_lag_p99_ms": lags[min(len(lags) - 1,
                                        int(len(lags) * 0.99))]}


def _outage(m, s3, p):
    """Seconds to drain what was written during an RGW outage."""
    s3.rgw_stop()
    try:
        _steady_writes(m.mnt, p["repl_rate"], p["repl_outage_s"], "outage")
    finally:
        s3.rgw_start()
    t0 = time.monotonic()
    m.wait_drained()
    return time.monotonic() - t0


def run_one(who, base, binary, p, src):
    """One run of one replicator: {metric: value}."""
    work = os.path.join(base, "repl-" + who)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    gib = max(4, (p["repl_big_n"] * p["repl_big_mib"] * 2) // 1024 + 3)
    s3 = Rgw(work, gib)
    r, cpu = {}, []
    s3.start()
    try:
        bucket = s3.new_bucket("repl", versioning=True)
        n = p["repl_files"]
        dt = _ship(who, src, "small", n, s3, bucket,
                   os.path.join(work, "small"), binary, cpu)
        r["repl_small_s"] = dt
        r["repl_small_files_per_s"] = n / dt
        dt = _ship(who, src, "big", p["repl_big_n"], s3, bucket,
                   os.path.join(work, "big"), binary, cpu)
        r["repl_big_s"] = dt
        r["repl_big_MBps"] = (p["repl_big_n"] * p["repl_big_mib"]
                              * 1048576 / 1e6 / dt)
        if who == "crrfs":
            lw = os.path.join(work, "lag")
            os.makedirs(lw)
            m = CrrfsMount(lw, binary, s3, bucket)
            try:
                r.update(_lag(m, p))
                r["repl_outage_drain_s"] = _outage(m, s3, p)
                c, peak = _proc_cpu(m.proc.pid), _proc_peak(m.proc.pid)
            finally:
                m.down()
            if cpu[0] is not None:
                r["replication.daemon_cpu_s"] = cpu[0] + cpu[2] + (c or 0)
            if peak is not None:
                r["replication.daemon_peak_MiB"] = max(
                    x for x in (cpu[1], cpu[3], peak) if x is not None)
    finally:
        s3.stop()
        shutil.rmtree(work, ignore_errors=True)
    return r


def run_all(base, binary, p, runs, wanted):
    """Every replicator, runs interleaved; {replicator: {metric: [v]}}."""
    src = make_tree(base, p)
    results = {w: {} for w in wanted}
    for i in range(runs):
        for who in wanted:
            print("bench: replication run %d/%d with %s (%s)" % (
                i + 1, runs, who, ", ".join("%s=%s" % (k, p[k])
                                            for k in SIZES)),
                  flush=True, file=sys.stderr)
            t = time.monotonic()
            for k, v in run_one(who, base, binary, p, src).items():
                results[who].setdefault(k, []).append(v)
            print("bench:   %.1f s" % (time.monotonic() - t), flush=True,
                  file=__import__("sys").stderr)
    return results
