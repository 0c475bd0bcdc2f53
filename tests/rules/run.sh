#!/usr/bin/env bash
# run.sh - check `crrfs rules check` against the sample files here.
#
#   tests/rules/run.sh [CRRFS_BIN]     (default: $CRRFS_BIN, else crrfs)
#
# Every good/*.ini must pass (exit 0, a summary on stdout, valid --json).
# Every bad/*.ini starts with "; expect: line N: REASON": it must fail
# with exit 1 and a single stderr line naming the file, that line and
# that reason. Also checks the usage errors (exit 2).
set -uo pipefail
bin=${1:-${CRRFS_BIN:-crrfs}}
here=$(cd "$(dirname "$0")" && pwd)
fail=0
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

no() { echo "FAIL: $*" >&2; fail=1; }

for f in "$here"/good/*.ini; do
	"$bin" rules check "$f" >"$out" 2>"$err"
	rc=$?
	[[ $rc == 0 ]] || no "$f: exit $rc: $(cat "$err")"
	grep -q "^rule file '$f' is valid" "$out" || no "$f: no summary"
	"$bin" rules check --json "$f" | python3 -c 'import json,sys; json.load(sys.stdin)' ||
		no "$f: --json is not JSON"
done

for f in "$here"/bad/*.ini; do
	want=$(sed -n '1s/^; expect: //p' "$f")
	[[ -n $want ]] || { no "$f: no '; expect:' line"; continue; }
	"$bin" rules check "$f" >"$out" 2>"$err"
	rc=$?
	[[ $rc == 1 ]] || no "$f: exit $rc, expected 1"
	[[ $(wc -l <"$err") == 1 ]] || no "$f: stderr is not one line"
	grep -qF "crrfs: cannot load rule file '$f': $want" "$err" ||
		no "$f: got '$(cat "$err")', expected '$want'"
	[[ ! -s $out ]] || no "$f: printed on stdout"
done

for args in "rules" "rules lint x" "rules check" "rules check a b" \
	"rules check --nope x"; do
	# shellcheck disable=SC2086
	"$bin" $args >/dev/null 2>&1
	rc=$?
	[[ $rc == 2 ]] || no "crrfs $args: exit $rc, expected 2"
done
"$bin" rules check --help | grep -q '^usage: crrfs rules check' ||
	no "rules check --help"
"$bin" rules check /nonexistent/rules.ini 2>"$err"
[[ $? == 1 ]] && grep -q "cannot load rule file '/nonexistent/rules.ini': No such" "$err" ||
	no "missing file"

if ((fail)); then
	exit 1
fi
echo "rules: all samples behave"
