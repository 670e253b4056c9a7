#!/usr/bin/env bash
# The seed runbook's smoke_staging.sh, as a teams writes it by hand: curl + jq, a cookie jar,
# one file per response. The peer of `relgate smoke` in bench/smoke_bench.py (same 9 steps,
# same server). Usage: BASE_URL=http://127.0.0.1:8000 SMOKE_USER=prof1 SMOKE_PASS=… bench/smoke_curl.sh
set -euo pipefail

: "${BASE_URL:?}" "${SMOKE_PASS:?}"
SMOKE_USER="${SMOKE_USER:-prof1}"
OUT="$(mktemp -d /tmp/staging_smoke_XXXXXX)"
JAR="$OUT/cookies.txt"
LOG="$OUT/smoke.log"
log() { echo "$*" | tee -a "$LOG"; }
fail() { log "❌ $*"; exit 1; }

# 1. login
code=$(jq -n --arg u "$SMOKE_USER" --arg p "$SMOKE_PASS" '{username: $u, password: $p}' |
  curl -sS -o "$OUT/login.json" -w '%{http_code}' -c "$JAR" -H 'Content-Type: application/json' \
    --data-binary @- "$BASE_URL/api/login/")
[ "$code" = 200 ] || fail "Login failed (HTTP $code)"
[ "$(jq -r .message "$OUT/login.json")" = "Login successful" ] || fail "Login failed (message)"
grep -q sessionid "$JAR" || fail "Login failed (no session cookie)"
CSRF=$(awk '$6 == "csrftoken" {print $7}' "$JAR")
log "✅ Logged in (session cookie set)"

# 2. exam id
code=$(curl -sS -o "$OUT/exams.json" -w '%{http_code}' -b "$JAR" "$BASE_URL/api/exams/")
[ "$code" = 200 ] || fail "Exams (HTTP $code)"
EXAM_ID=$(jq -r '(if type == "array" then . else .results end)[0].id // empty' "$OUT/exams.json")
[ -n "$EXAM_ID" ] || fail "No exam"
log "✅ Exam ID: $EXAM_ID"

# 3. READY copy with pages
code=$(curl -sS -o "$OUT/copies.json" -w '%{http_code}' -b "$JAR" "$BASE_URL/api/exams/$EXAM_ID/copies/?status=READY")
[ "$code" = 200 ] || fail "Copies (HTTP $code)"
# The runbook's script took the first READY copy; a seed's READY copy without pages then failed
# it. Like relgate's scenario, take the first READY copy that has pages (same work on both sides).
COPY_ID=$(jq -r '[(if type == "array" then . else .results end)[] | select(.status == "READY" and ((.booklets[0].pages_images // []) | length) > 0)][0].id // empty' "$OUT/copies.json")
[ -n "$COPY_ID" ] || fail "No READY copies"
PAGES=$(jq -r --argjson id "$COPY_ID" '[(if type == "array" then . else .results end)[] | select(.id == $id)][0].booklets[0].pages_images | length' "$OUT/copies.json")
[ "$PAGES" -gt 0 ] || fail "Copy has no pages"
log "✅ Found READY copy: $COPY_ID"
log "✅ Copy has $PAGES pages"

# 4. lock
code=$(curl -sS -o "$OUT/lock.txt" -w '%{http_code}' -b "$JAR" -c "$JAR" -X POST -H "X-CSRFToken: $CSRF" \
  "$BASE_URL/api/grading/copies/$COPY_ID/lock/")
[ "$code" = 201 ] || fail "Lock failed (HTTP $code)"
TOKEN=$(jq -r .token "$OUT/lock.txt")
log "✅ Locked (HTTP 201, token: ${TOKEN:0:4}...)"

# 5. annotation
code=$(jq -n '{page_index: 0, x: 0.1, y: 0.1, w: 0.2, h: 0.1, type: "COMMENT", content: "smoke"}' |
  curl -sS -o "$OUT/annotation_post.txt" -w '%{http_code}' -b "$JAR" -X POST \
    -H "X-CSRFToken: $CSRF" -H "X-Lock-Token: $TOKEN" -H 'Content-Type: application/json' \
    --data-binary @- "$BASE_URL/api/grading/copies/$COPY_ID/annotations/")
[ "$code" = 201 ] || fail "Annotation POST (HTTP $code)"
ANN_ID=$(jq -r .id "$OUT/annotation_post.txt")
log "✅ Annotation created (HTTP 201)"

# 6. list annotations
code=$(curl -sS -o "$OUT/annotations.json" -w '%{http_code}' -b "$JAR" "$BASE_URL/api/grading/copies/$COPY_ID/annotations/")
[ "$code" = 200 ] || fail "Annotations GET (HTTP $code)"
N=$(jq --argjson id "$ANN_ID" '[(if type == "array" then . else .results end)[] | select(.id == $id)] | length' "$OUT/annotations.json")
[ "$N" -gt 0 ] || fail "Annotation not listed"
log "✅ Annotations found: $(jq '(if type == "array" then . else .results end) | length' "$OUT/annotations.json")"

# 7. finalize
code=$(curl -sS -o "$OUT/finalize.json" -w '%{http_code}' -b "$JAR" -X POST -H "X-CSRFToken: $CSRF" \
  -H "X-Lock-Token: $TOKEN" "$BASE_URL/api/grading/copies/$COPY_ID/finalize/")
[ "$code" = 200 ] || fail "Finalize failed (HTTP $code)"
[ "$(jq -r .status "$OUT/finalize.json")" = GRADED ] || fail "Finalize: status != GRADED"
log "✅ Finalize OK (HTTP 200)"

# 8. final PDF
code=$(curl -sS -o "$OUT/final.pdf" -w '%{http_code}' -b "$JAR" -H 'Range: bytes=0-1023' \
  "$BASE_URL/api/grading/copies/$COPY_ID/final-pdf/")
case "$code" in 200|206) ;; *) fail "PDF inaccessible (HTTP $code)" ;; esac
head -c 5 "$OUT/final.pdf" | grep -q '%PDF-' || fail "Not a PDF"
log "✅ PDF accessible: $BASE_URL/api/grading/copies/$COPY_ID/final-pdf/"

# 9. unlock (best effort)
code=$(curl -sS -o /dev/null -w '%{http_code}' -b "$JAR" -X DELETE -H "X-CSRFToken: $CSRF" \
  -H "X-Lock-Token: $TOKEN" "$BASE_URL/api/grading/copies/$COPY_ID/lock/release/" || true)
if [ "$code" = 204 ]; then log "✅ Unlocked"; else log "⚠️ Unlock not needed"; fi

log "=== STAGING SMOKE SUCCESS ==="
