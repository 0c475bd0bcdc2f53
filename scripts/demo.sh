#!/usr/bin/env bash
# demo.sh - build crrfs and mount a demo store, then say what to try.
# Run as root on Debian 12; it can be run again (it remounts).
#
#   store:  /tmp/crrfs-demo/store   (created on first mount)
#   mount:  /tmp/crrfs-demo/mnt
#
# Environment: CRRFS_DEMO=DIR to use another directory, BUILD_DIR=DIR to
# build elsewhere than ./build.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
cd "$(dirname "$0")/.."
demo=${CRRFS_DEMO:-/tmp/crrfs-demo}
build=${BUILD_DIR:-build}

scripts/deps.sh build
cmake -S . -B "$build" -DCRRFS_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
bin=$(cd "$build" && pwd)/crrfs

mkdir -p "$demo/mnt"
if mountpoint -q "$demo/mnt" 2>/dev/null || ! stat "$demo/mnt" >/dev/null 2>&1; then
	fusermount3 -u "$demo/mnt" 2>/dev/null || fusermount3 -uz "$demo/mnt"
fi
"$bin" mount "$demo/store" "$demo/mnt"
M=$demo/mnt

cat <<TRY

crrfs is mounted: $demo/store on $M
Try (paste these lines into a root shell):

  M=$M; S=$demo/store; crrfs=$bin

  echo one > \$M/notes.txt                 # version 1
  echo two > \$M/notes.txt                 # version 2
  ls \$M/.versions/notes.txt               # one entry per version, oldest first
  cat \$M/.versions/notes.txt/*            # each version's bytes
  \$crrfs versions \$M/notes.txt
  getfattr --absolute-names -n user.crrfs.version-id \$M/notes.txt

  # restore the first version (its bytes become a new, current version):
  ID=\$(getfattr --absolute-names --only-values -n user.crrfs.version-id \\
        \$M/.versions/notes.txt/\$(ls \$M/.versions/notes.txt | head -1))
  setfattr -n user.crrfs.restore -v \$ID \$M/notes.txt; cat \$M/notes.txt

  rm \$M/notes.txt                         # a delete marker; the history stays
  ls \$M/.versions/                        # deleted files are still listed
  setfattr -x user.crrfs.deleted \$M/.versions/notes.txt    # undelete
  cat \$M/notes.txt
  \$crrfs restore \$M/notes.txt             # back to the version before

  fusermount3 -u \$M                       # unmount
  \$crrfs fsck \$S                          # check the store

Replication (to another store or to S3) comes with the next release: this
version does not replicate.
TRY
