#!/usr/bin/env bash
# smoke.sh DIR: check that the RGW started by `rgw-ctl start DIR` does S3 versioning.
#
# Design: uses only Debian's AWS CLI (/usr/bin/aws, never whatever `aws` comes first
# in PATH) as an independent client, so a failure here is the server's or the setup's,
# never crrfs's.  Makes a fresh bucket, enables versioning, writes one key twice,
# deletes it, and expects two versions plus a delete marker; over HTTPS too when the
# cluster was started with --https.  Exits 0 when all is well, 1 otherwise.
set -euo pipefail

DIR=${1:?usage: smoke.sh DIR}
[[ -s $DIR/env ]] || { echo "smoke: no $DIR/env: start the server with rgw-ctl first" >&2; exit 1; }
# shellcheck disable=SC1091
. "$DIR/env"
AWS=/usr/bin/aws
[[ -x $AWS ]] || { echo "smoke: $AWS missing: rgw-ctl install" >&2; exit 1; }
# Keep the user's AWS config, profiles and CA bundle out of the test.
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=
unset AWS_PROFILE AWS_CA_BUNDLE AWS_SESSION_TOKEN

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0

check() { # check URL [aws options...]
	local url=$1 bucket n
	shift
	local -a s3=("$AWS" --endpoint-url "$url" "$@" s3api)
	bucket="smoke-$(date +%s%N)"
	echo "smoke: $url bucket $bucket"
	echo one >"$TMP/body"
	# shellcheck disable=SC2015 # a failure anywhere in the chain is the one failure path
	"${s3[@]}" create-bucket --bucket "$bucket" >/dev/null &&
		"${s3[@]}" put-bucket-versioning --bucket "$bucket" \
			--versioning-configuration Status=Enabled &&
		[[ $("${s3[@]}" get-bucket-versioning --bucket "$bucket" --query Status --output text) == Enabled ]] &&
		"${s3[@]}" put-object --bucket "$bucket" --key 'dir/a file+1' --body "$TMP/body" >/dev/null &&
		echo two >"$TMP/body" &&
		"${s3[@]}" put-object --bucket "$bucket" --key 'dir/a file+1' --body "$TMP/body" >/dev/null &&
		"${s3[@]}" get-object --bucket "$bucket" --key 'dir/a file+1' "$TMP/out" >/dev/null &&
		[[ $(<"$TMP/out") == two ]] &&
		"${s3[@]}" delete-object --bucket "$bucket" --key 'dir/a file+1' >/dev/null ||
		{ echo "smoke: FAIL: S3 calls against $url" >&2; fails=$((fails + 1)); return 0; }
	# shellcheck disable=SC2016 # backquotes are JMESPath literals, not shell
	n=$("${s3[@]}" list-object-versions --bucket "$bucket" \
		--query '[length(Versions || `[]`), length(DeleteMarkers || `[]`)]' --output text) ||
		n='(list-object-versions failed)'
	if [[ $n == $'2\t1' ]]; then
		echo "smoke: ok: 2 versions and 1 delete marker"
	else
		echo "smoke: FAIL: expected 2 versions and 1 delete marker, got '$n'" >&2
		fails=$((fails + 1))
	fi
}

check "$RGW_ENDPOINT"
if [[ -n ${RGW_HTTPS_ENDPOINT:-} ]]; then
	check "$RGW_HTTPS_ENDPOINT" --ca-bundle "$RGW_CA_FILE"
	# Certificate checks must be on: without the CA the request has to fail.
	if "$AWS" --endpoint-url "$RGW_HTTPS_ENDPOINT" --cli-connect-timeout 5 s3api list-buckets \
		>/dev/null 2>"$TMP/err"; then
		echo "smoke: FAIL: HTTPS worked without the test CA" >&2
		fails=$((fails + 1))
	elif grep -qi 'certificate' "$TMP/err"; then
		echo "smoke: ok: HTTPS without the test CA is refused"
	else
		echo "smoke: FAIL: HTTPS without the CA failed for another reason: $(head -c 300 "$TMP/err")" >&2
		fails=$((fails + 1))
	fi
fi
((fails == 0)) || exit 1
echo "smoke: PASS"
