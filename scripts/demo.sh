#!/usr/bin/env bash
# demo.sh - build crrfs, mount a demo store that replicates to a second
# store next to it, and show a file being written, replicated, restored
# and replicated again; then say what to try. Run as root on Debian 12; it
# can be run again (it remounts; the stores keep their history).
#
#   store:    /tmp/crrfs-demo/store      (created on first mount)
#   mount:    /tmp/crrfs-demo/mnt
#   rules:    /tmp/crrfs-demo/rules.ini  (one rule: everything to 'replica')
#   replica:  /tmp/crrfs-demo/replica    (a crrfs store: a 'dir' destination,
#                                         so no server is needed)
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

M=$demo/mnt S=$demo/store R=$demo/replica RM=$demo/replica-mnt
unmount() {	# a dead mount (daemon gone) fails stat; clear it too
	if mountpoint -q "$1" 2>/dev/null || ! stat "$1" >/dev/null 2>&1; then
		fusermount3 -u "$1" 2>/dev/null || fusermount3 -uz "$1"
	fi
}
# After an unmount the daemon still needs a moment to close the store:
# wait for its lock (flock(2), as the store takes it) before mounting.
wait_free() {
	local i
	[[ -e $1/lock ]] || return 0
	for ((i = 0; i < 100; i++)); do
		flock -n "$1/lock" true && return 0
		sleep 0.1
	done
	echo "demo.sh: store '$1' is still in use by another process" >&2
	exit 1
}
mkdir -p "$M" "$RM"
unmount "$RM"
unmount "$M"
wait_free "$S"
wait_free "$R"
cat >"$demo/rules.ini" <<EOF
; Every version and delete marker of the demo store goes to the store
; next to it. See docs/replication.md.
[destination replica]
type = dir
path = $R

[rule everything]
status = enabled
destination = replica
delete_marker_replication = enabled
EOF
"$bin" mount "$S" "$M" --rules "$demo/rules.ini"

# Show a command line, then run it (through eval, so redirections show).
run() {
	printf '\n$ %s\n' "$1"
	eval "$1"
}
# Wait (up to 30 s) until a file's replication status is COMPLETED.
wait_completed() {
	local i st=
	for ((i = 0; i < 300; i++)); do
		st=$(getfattr --absolute-names --only-values \
			-n user.crrfs.replication-status "$1" 2>/dev/null) || st=
		[[ $st == COMPLETED ]] && return 0
		[[ $st == FAILED ]] && break
		sleep 0.1
	done
	echo "demo.sh: $1 is not replicated (status: '${st:-none}');" \
		"see 'crrfs status $M'" >&2
	exit 1
}
xa() {	# xa NAME PATH: one xattr's value
	getfattr --absolute-names --only-values -n "$1" "$2"
	echo
}

crrfs=$bin
echo
echo "=== crrfs is mounted: $S on $M, replicating to $R (crrfs=$bin)"
run "echo 'first draft' > $M/notes.txt"
run "echo 'second draft' > $M/notes.txt"
run "\$crrfs versions $M/notes.txt"
wait_completed "$M/notes.txt"
run "xa user.crrfs.replication-status $M/notes.txt"
echo
echo "=== the replica store has the same versions, with the same ids:"
run "\$crrfs versions --store $R notes.txt"

echo
echo "=== restore the previous version (a new version: it is replicated too)"
run "\$crrfs restore $M/notes.txt"
run "cat $M/notes.txt"
wait_completed "$M/notes.txt"
run "\$crrfs versions --store $R notes.txt"
run "\$crrfs status $M"

echo
echo "=== the replica, mounted read-only: the restored bytes, status REPLICA"
"$bin" mount -o ro "$R" "$RM"
run "cat $RM/notes.txt"
run "xa user.crrfs.version-id $RM/notes.txt"
run "xa user.crrfs.replication-status $RM/notes.txt"
fusermount3 -u "$RM"

cat <<TRY

Try (paste these lines into a root shell):

  M=$M; S=$S; R=$R; crrfs=$bin

  echo three > \$M/notes.txt; ls \$M/.versions/notes.txt
  getfattr -n user.crrfs.replication-status \$M/notes.txt
  getfattr -n user.crrfs.pending-ops \$M        # the backlog (also -bytes,
  getfattr -n user.crrfs.oldest-pending \$M     # and the oldest's age)
  \$crrfs status \$M --json
  \$crrfs explain \$S notes.txt --rules $demo/rules.ini

  rm \$M/notes.txt                          # a delete marker, replicated too
  \$crrfs versions --store \$R notes.txt     # ... once it has arrived
  setfattr -x user.crrfs.deleted \$M/.versions/notes.txt   # undelete here
  \$crrfs versions --store \$R notes.txt     # not replicated: S3 semantics

  mkdir \$M/docs; echo tagged > \$M/docs/a.txt
  setfattr -n user.crrfs.tag.project -v alpha \$M/docs/a.txt

  fusermount3 -u \$M                        # unmount (the backlog stays)
  \$crrfs replicate \$S --rules $demo/rules.ini   # ship what is left, unmounted
  \$crrfs mount -o ro \$R $RM; ls $RM; fusermount3 -u $RM

The rule file is $demo/rules.ini (docs/replication.md, docs/rules.md);
edit it, then 'kill -HUP' the daemon or '\$crrfs mount \$S --reload'.
TRY
