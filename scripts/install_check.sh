#!/usr/bin/env bash
# Installs like a product: `pip install .` (not editable) into a fresh venv, then `dripline demo` from a
# folder outside the checkout. CI runs it; so can anyone: bash scripts/install_check.sh
set -euo pipefail
checkout="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check -c "$checkout/requirements.lock" "$checkout"
rm -rf "$checkout/build"  # setuptools' build folder, not part of the checkout
cd "$work"
"$work/venv/bin/dripline" demo --out "$work/demo" --leads 60 --days 10 > "$work/demo.log" 2>&1 || {
  tail -40 "$work/demo.log"; echo "install check: dripline demo failed in a fresh venv"; exit 1; }
grep -q "messages sent through the local outbox" "$work/demo.log" || {
  tail -40 "$work/demo.log"; echo "install check: the demo did not report its messages"; exit 1; }
test -s "$work/demo/dripline.db"
echo "install check: pip install . and dripline demo from $work passed"
