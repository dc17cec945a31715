#!/usr/bin/env bash
# Refreshes the README's screenshots in docs/screenshots from the browser tests that take them.
# A normal test run writes its screenshots under target/screenshots and leaves tracked files alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DESKWARD_UPDATE_SCREENSHOTS=1 cargo nextest run --no-fail-fast \
    -E 'test(screenshots_of_the_agents_page) | test(/browser_mfa::/)'
git status --short docs/screenshots
