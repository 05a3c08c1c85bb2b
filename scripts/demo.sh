#!/usr/bin/env bash
# make demo: load the bundled demo export, tag it into the demo store, start the app.
set -euo pipefail
cd "$(dirname "$0")/.."
CX=.venv/bin/cx-text
DB=${DEMO_DB:-data/demo/demo.duckdb}
OUT=${DEMO_OUT:-data/demo/demo_tagged.parquet}
$CX inspect data/demo/demo_export.csv --rows 3
echo "demo: (tagging lands with the tagging issue)"
if [ "${DEMO_NO_APP:-0}" != "1" ]; then
  echo "demo: the app lands with the app issue"
fi
