#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/bench/pam-exec-baseline.sh: what pam_mkio.so does at login, written the
# way a site would write it for pam_exec, with curl and jq. The baseline of
# tests/bench/pam-bench; not installed, not for production.
#
#   session required pam_exec.so /abs/path/pam-exec-baseline.sh /path/to/mkio.conf
#
# pam_exec gives the user in PAM_USER and the hook in PAM_TYPE, and nothing of
# the caller's environment, so the API's address, CA file, token directory and
# time limits come from the same mkio.conf pam_mkio.so reads (base_url,
# ca_file, token_dir, connect_timeout, time_budget; other keys are ignored).
#
# It lists the user's organizations (GET /api/v1/user/organizations?$top=100,
# following $skiptoken from supplemental.pagination.end), then PATCHes every
# pending invite with {"spec":{"invite":{"state":"accepted"}}}: one curl
# process per request, one after another. Each curl gets time_budget as its
# own limit (a whole-login budget is more than such scripts usually keep).
# It does not write the membership store.
#
# The token is read from TOKEN_DIR/$PAM_USER and reaches curl on its standard
# input (--config -), never on a command line. Exits 0 when every request
# succeeded, 1 otherwise (with the reason on stderr, never the token).
set -u
# pam_exec passes no PATH.
export PATH=/usr/local/bin:/usr/bin:/bin

conf="${1:-/etc/mkio/mkio.conf}"
[ "${PAM_TYPE:-open_session}" = open_session ] || exit 0
user="${PAM_USER:-}"

die() {
    echo "pam-exec-baseline: user ${user:-?}: $*" >&2
    exit 1
}

case "$user" in
"" | *[!A-Za-z0-9._-]* | .*) die "no usable PAM_USER" ;;
esac

base_url=https://app.mk.io ca_file='' token_dir=/etc/mkio/tokens connect_timeout=3 time_budget=5
while IFS= read -r line || [ -n "$line" ]; do
    [[ "$line" =~ ^[[:space:]]*([a-z_]+)[[:space:]]*=[[:space:]]*(.*[^[:space:]])?[[:space:]]*$ ]] || continue
    key="${BASH_REMATCH[1]}" value="${BASH_REMATCH[2]}"
    case "$key" in
    base_url) base_url="${value%/}" ;;
    ca_file) ca_file="$value" ;;
    token_dir) token_dir="$value" ;;
    connect_timeout) connect_timeout="$value" ;;
    time_budget) time_budget="$value" ;;
    esac
done <"$conf" || die "cannot read $conf"

token_file="$token_dir/$user"
[ -f "$token_file" ] && [ ! -L "$token_file" ] || exit 0   # no token: nothing to do
IFS= read -r token <"$token_file" || [ -n "${token:-}" ] || die "cannot read the token file"
token="${token%$'\r'}"
[[ "$token" =~ ^[[:graph:]]+$ ]] || die "the token file holds no usable token"
# Quoted for curl's config syntax.
token="${token//\\/\\\\}"
token="${token//\"/\\\"}"

curl_opts=(--silent --show-error --proto '=https' --connect-timeout "$connect_timeout"
           --max-time "$time_budget" -H "Accept: application/json")
[ -n "$ca_file" ] && curl_opts+=(--cacert "$ca_file")

# api METHOD PATH [BODY]: the answer's body on stdout; fails on a non-2xx status.
api() {
    local method="$1" path="$2" body="${3:-}" out status
    local args=("${curl_opts[@]}" -X "$method" --write-out '\n%{http_code}')
    [ -n "$body" ] && args+=(-H "Content-Type: application/json" --data-binary "$body")
    # printf is a builtin: the token goes through a pipe, not an argv.
    out="$(printf 'header = "Authorization: Bearer %s"\n' "$token" |
        curl --config - "${args[@]}" "$base_url$path")" || return 1
    status="${out##*$'\n'}"
    out="${out%$'\n'*}"
    case "$status" in
    2??) printf '%s' "$out" ;;
    *) echo "pam-exec-baseline: $method $path: HTTP $status" >&2; return 1 ;;
    esac
}

top=100
skip=
count=0
pending=()
while :; do
    query="?\$top=$top"
    [ -n "$skip" ] && query="$query&\$skiptoken=$skip"
    page="$(api GET "/api/v1/user/organizations$query")" || die "listing organizations failed"
    # One jq per page: the pending ids, then "records end total".
    parsed="$(jq -r '
        ((.value // [])[] | select(((.spec.invite // .invite) // {}).state == "pending")
            | (.metadata.id // .id)),
        ((.supplemental.pagination // {}) as $p
            | "@page \(.value | length) \($p.end // "") \($p.total // "")")' <<<"$page")" ||
        die "the organization list is not valid JSON"
    page_info=
    while IFS= read -r l; do
        case "$l" in
        "@page "*) page_info="${l#@page }" ;;
        *) pending+=("$l") ;;
        esac
    done <<<"$parsed"
    read -r records end total <<<"$page_info"
    count=$((count + records))
    # No supplemental: the whole list. Otherwise stop on a short page or at total.
    [ -z "$end" ] || [ -z "$total" ] && break
    [ "$records" -lt "$top" ] || [ "$count" -ge "$total" ] && break
    [ -n "$skip" ] && [ "$end" -le "$skip" ] && die "pagination does not advance"
    skip="$end"
done

failed=0
for org in "${pending[@]}"; do
    [[ "$org" =~ ^[A-Za-z0-9-]+$ ]] || { echo "pam-exec-baseline: bad organization id" >&2; failed=1; continue; }
    api PATCH "/api/v1/user/organizations/$org" '{"spec":{"invite":{"state":"accepted"}}}' >/dev/null ||
        failed=1
done
exit "$failed"
