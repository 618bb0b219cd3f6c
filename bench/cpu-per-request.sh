#!/bin/bash
# bench/cpu-per-request.sh PID URL ETAG [LABEL]: CPU microseconds per request
# of the process PID, per thread (user and sys from /proc), while wrk sends
# 3 s of conditional GETs (If-None-Match: ETAG) to URL. CPU per request does
# not depend on how busy the machine is the way req/s does, so it compares
# servers on a shared machine (docs/PERFORMANCE.md, "CPU per request of a 304").
set -euo pipefail
PID=$1 URL=$2 ET=$3 LABEL=${4:-}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
snap() {
  for t in /proc/"$PID"/task/*; do
    echo "$(basename "$t") $(awk '{print $14, $15}' "$t"/stat) $(cat "$t"/comm)"
  done | sort
}
snap > "$TMP/before"
n=$(wrk -t1 -c16 -d3s -H "If-None-Match: $ET" "$URL" | awk '/requests in/{print $1}')
snap > "$TMP/after"
echo "$LABEL requests=$n"
join "$TMP/before" "$TMP/after" | awk -v n="$n" -v t="$(getconf CLK_TCK)" '{
  u = ($5 - $2) * 1e6 / t / n; s = ($6 - $3) * 1e6 / t / n
  if (u + s > 0.5) printf "  thread %s %s user=%.1f us sys=%.1f us\n", $1, $4, u, s
}'
