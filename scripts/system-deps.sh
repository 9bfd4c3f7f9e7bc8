#!/usr/bin/env bash
# Installs the Debian packages the full test suite uses, when they are missing and we may install them:
#   bubblewrap  the shell tool's sandbox (without it run_shell falls back to a plain subprocess)
#   chromium    headless browser for the JupyterLab tests (Playwright drives /usr/bin/chromium)
#   postgresql  the shared-ledger tests start their own server (initdb into a temp dir, loopback port)
#   git         the reference MCP server mcp-server-git runs it (tests/test_mcp_kernel.py)
set -euo pipefail
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v git >/dev/null 2>&1 || missing+=(git)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian packages: ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
else
  echo "Note: ${missing[*]} not installed (needs root and apt-get); tests that need them are skipped." >&2
fi
