#!/usr/bin/env bash
# Install what the real-browser widget check (tests/browser/test_browser.py) needs:
#   * Debian's chromium (apt), run headless by the test;
#   * from the npm registry, into build/browser/node (no CDN is reachable at test time):
#       @jupyter-widgets/html-manager  - the widget JavaScript the exported HTML loads
#       requirejs                      - the AMD loader nbconvert's HTML template uses
#       playwright-core                - drives the system chromium (downloads no browser)
# Idempotent: skips what is already there. Called by .ci/run; safe to run by hand.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DEBIAN_FRONTEND=noninteractive

HTML_MANAGER_VERSION=1.0.15   # matches ipywidgets 8 (widget state schema 2)
REQUIREJS_VERSION=2.3.8
PLAYWRIGHT_CORE_VERSION=1.65.1
NODE_DIR=build/browser/node

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
  else
    echo "tests/browser/setup.sh: chromium is missing and this is not root; run: sudo apt-get install -y chromium" >&2
  fi
fi

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    apt-get install -y -qq nodejs npm >/dev/null
  fi
fi

want="$HTML_MANAGER_VERSION $REQUIREJS_VERSION $PLAYWRIGHT_CORE_VERSION"
stamp="$NODE_DIR/.installed"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  mkdir -p "$NODE_DIR"
  [ -f "$NODE_DIR/package.json" ] || echo '{"name": "vecnb-browser-check", "private": true}' > "$NODE_DIR/package.json"
  # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: playwright-core never downloads, but be explicit
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error \
    "@jupyter-widgets/html-manager@$HTML_MANAGER_VERSION" "requirejs@$REQUIREJS_VERSION" \
    "playwright-core@$PLAYWRIGHT_CORE_VERSION"
  echo "$want" > "$stamp"
fi
echo "browser check ready: $(command -v chromium || echo 'no chromium'), $NODE_DIR"
