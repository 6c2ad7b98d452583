"""Run every bad-input case of tests/test_bad_inputs.py and print docs/bad_inputs.md (input -> message -> exit code).

Rerun: .venv/bin/python tools/bad_input_table.py > docs/bad_inputs.md
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import test_bad_inputs as bad  # noqa: E402

from pipeline import deploy
from pipeline.cli import main as cli  # noqa: E402
from pipeline.keras import zoo


def run(case: bad.Case, capture_dir: Path) -> tuple[int, str]:
    """The case's exit code and its stderr, with stdout/stderr redirected to files while the CLI runs."""
    saved = [os.dup(1), os.dup(2)]
    files = [open(capture_dir / name, "w+") for name in ("stdout", "stderr")]
    try:
        for fd, f in zip((1, 2), files):
            os.dup2(f.fileno(), fd)
        with bad.simulated_bug(case.bug):
            code = cli.main(list(case.argv))
    finally:
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)
    texts = []
    for f in files:
        f.seek(0)
        texts.append(f.read())
        f.close()
    return code, texts[1].strip()


def main() -> None:
    splits = zoo.load_digits_splits()
    import keras

    state = deploy.run_passes(keras.models.load_model(zoo.ZOO["mobilenet_v1"].path, compile=False), splits.x_calib,
                              deploy.DeployOptions())
    rows: dict[tuple[str, str, int], list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="wess-bad-") as tmp, tempfile.TemporaryDirectory() as capture:
        bad.make_inputs(Path(tmp), state.model, state.calibrated, splits.x_calib)
        os.chdir(tmp)
        for case in bad.CASES:
            code, err = run(case, Path(capture))
            message = err.removeprefix(f"wess {case.command}: ").removeprefix("error: ")
            rows.setdefault((case.input, message, code), []).append(" ".join(case.argv))
    print("# Bad input: what `wess` says\n")
    print("Every case is a test in `tests/test_bad_inputs.py`: one line on stderr (`wess COMMAND: error: ...`), no "
          "traceback, nothing written, the input files untouched. Regenerate with "
          "`.venv/bin/python tools/bad_input_table.py > docs/bad_inputs.md`. A compact model blob is never a CLI "
          "input (the CLI compiles it from the .tflite); corrupt blobs (bad offsets, truncation, bad magic) are "
          "refused by the C runner with their status, tested in `tests/test_runner.py`.\n")
    print("| input | command | message | exit |")
    print("|---|---|---|---|")
    for (what, message, code), commands in rows.items():
        shown = "<br>".join(f"`wess {c}`" for c in commands)
        print(f"| {what} | {shown} | {message.replace('|', '&#124;')} | {code} |")


if __name__ == "__main__":
    main()
