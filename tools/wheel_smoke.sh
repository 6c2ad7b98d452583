#!/usr/bin/env bash
# Builds the wheel, installs it alone into a fresh venv under build/ and runs the CLI from a temporary directory:
# --version, zoo list, deploy, inspect, verify, run --backend ref, firmware --run. Fails if the packaged C library
# or firmware sources are missing.
# The fresh venv finds the pinned dependencies in the project venv's site-packages (appended to sys.path by a .pth
# file, so none of that directory's own .pth files, such as an editable install's, take effect): the only
# wess-deploy it can import is the wheel's. Usage: tools/wheel_smoke.sh (PYTHON: the project venv's python).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
CHECKOUT="$PWD"
WHEEL_DIR="$PWD/build/wheel"
VENV="$PWD/build/wheel-venv"
rm -rf "$WHEEL_DIR" "$VENV"
mkdir -p build
if ! "$PYTHON" -m pip wheel --quiet --no-deps -w "$WHEEL_DIR" . > build/wheel.log 2>&1; then
  cat build/wheel.log >&2; echo "wheel_smoke: pip wheel failed (log above, build/wheel.log)" >&2; exit 1
fi
"$PYTHON" -m venv "$VENV"
deps="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
own="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$deps" > "$own/wess-smoke-deps.pth"
"$VENV/bin/python" -m pip install --quiet --no-deps --no-index --force-reinstall "$WHEEL_DIR"/wess_deploy-*.whl
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
export XDG_CACHE_HOME="$work/cache"
unset PYTHONPATH WESS_REF_LIB
"$VENV/bin/python" - "$CHECKOUT" "$own" <<'PY'
import sys
from pathlib import Path

from pipeline import resources
from pipeline.cref import library as cref

checkout, own = Path(sys.argv[1]), Path(sys.argv[2])
assert Path(resources.__file__).is_relative_to(own), resources.__file__
assert resources.source_checkout() is None and not any(Path(p or ".").resolve() == checkout for p in sys.path)
assert cref.library_path() == resources.PACKAGED_LIBRARY and resources.PACKAGED_LIBRARY.is_file()
cref.load_library()
print(f"wheel_smoke: pipeline from {Path(resources.__file__).parent}, library {cref.library_path()}")
PY
wess="$VENV/bin/wess"
"$wess" --version | head -1 | grep -qx "wess-deploy $("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("wess-deploy"))')"
"$wess" zoo list > /dev/null
"$wess" deploy zoo:resnet8 --out deploy --json > deploy.json
"$wess" inspect deploy/model.tflite > /dev/null
"$wess" verify deploy/model.tflite --inputs 20 --random-inputs 4
"$wess" run deploy/model.tflite --random-input --count 2 --backend ref
"$wess" firmware deploy/model.tflite --run --inputs 2
test -f "$XDG_CACHE_HOME/wess-deploy/firmware/deploy/cortex-m3/firmware.elf"
if find "$own" -name "firmware.elf" | grep -q .; then echo "wheel_smoke: firmware written into site-packages" >&2; exit 1; fi
echo "wheel_smoke: the wheel alone ran --version, zoo, deploy, inspect, verify, run --backend ref and firmware --run from $work"
