#!/usr/bin/env bash
# make demo: tag the bundled demo export into the demo store, discover themes, show the story,
# then start the app (DEMO_NO_APP=1 stops after tagging). Re-running skips work already done.
set -euo pipefail
cd "$(dirname "$0")/.."
CX=.venv/bin/cx-text
EXPORT=data/demo/demo_export.csv
CUSTOMERS=data/demo/customers.csv
DB=${DEMO_DB:-data/demo/demo.duckdb}
OUT=${DEMO_OUT:-data/demo/demo_tagged.parquet}
STAMP="$OUT.stamp"

# what the tagged demo depends on: the export, the heads, the taxonomy, the package version
want=$(cat "$EXPORT" "$CUSTOMERS" cx_text/models/shipped/heads/*.json cx_text/core/taxonomies/default.yaml cx_text/core/version.py \
       | sha256sum | cut -c1-32)
if [ -f "$OUT" ] && [ -f "$DB" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
  echo "demo: $OUT is up to date (delete $STAMP to re-tag)"
else
  rm -f "$DB" "$DB.wal" "$OUT" "$STAMP"
  rm -rf "$(dirname "$OUT")/.$(basename "$OUT").cx-parts"
  $CX inspect "$EXPORT" --rows 0
  $CX tag "$EXPORT" -o "$OUT" --db "$DB" --customers "$CUSTOMERS"
  if $CX themes --help >/dev/null 2>&1 && $CX themes discover --help >/dev/null 2>&1; then
    $CX themes discover --db "$DB"
  fi
  echo "$want" > "$STAMP"
fi

echo
echo "== the demo's story in numbers (see data/demo/README.md) =="
$CX metrics --db "$DB" --by topic || true
$CX metrics --db "$DB" --alerts --period month || true

if [ "${DEMO_NO_APP:-0}" != "1" ]; then
  exec $CX app --db "$DB"
fi
