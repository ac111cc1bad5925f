# Shared set-up for scripts/dev and scripts/test: make sure uv is present and
# install the locked dependency set into .venv at the repository root.
# Sourced, not executed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export UV_PYTHON_DOWNLOADS=never   # use the machine's Python 3.11+, never fetch one
if ! python3 -m uv --version >/dev/null 2>&1; then
    echo "installing uv (the project's installer) with pip..." >&2
    python3 -m pip install --quiet --disable-pip-version-check uv
fi
uv() { python3 -m uv "$@"; }
