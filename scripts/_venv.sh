# Sourced by scripts/dev and scripts/test: make .venv with the package and one extra of
# pyproject.toml (argument 1: "devstack" for scripts/dev, "dev" for scripts/test; "dev"
# includes "devstack"), then put .venv/bin first on PATH. Installs again only when
# pyproject.toml changed since that extra was installed.
set -euo pipefail
EXTRA="${1:-dev}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"

installed() { [ -f "$VENV/.installed-$1" ] && cmp -s "$ROOT/pyproject.toml" "$VENV/.installed-$1"; }

if ! installed "$EXTRA" && ! { [ "$EXTRA" = devstack ] && installed dev; }; then
  began=$SECONDS
  if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] 1/3 creating the virtualenv $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  echo "[setup] 2/3 upgrading pip in $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  echo "[setup] 3/3 pip install -e '.[$EXTRA]' into $VENV (the first time: a minute or two);" \
       "pip's progress follows"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar on \
    -e "$ROOT[$EXTRA]"
  cp "$ROOT/pyproject.toml" "$VENV/.installed-$EXTRA"
  echo "[setup] $VENV ready in $((SECONDS - began)) s"
fi
export PATH="$VENV/bin:$PATH"
