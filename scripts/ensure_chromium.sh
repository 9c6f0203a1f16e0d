#!/usr/bin/env bash
# The browser tests drive the operating system's Chromium (Playwright's own download does not work
# offline). Installs it with the system package manager when it is missing.
set -euo pipefail
if [ -n "${CHROMIUM_PATH:-}" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "Chromium is missing and this user cannot install packages: install 'chromium' or set CHROMIUM_PATH." >&2
  exit 1
fi
if command -v apt-get >/dev/null 2>&1; then
  echo "Installing Chromium for the browser tests (apt-get install chromium)..." >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
elif command -v dnf >/dev/null 2>&1; then
  $SUDO dnf install -y chromium
else
  echo "Chromium is missing: install it with your package manager, or set CHROMIUM_PATH." >&2
  exit 1
fi
