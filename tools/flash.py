"""Flash a firmware image built by `wess firmware` with pyOCD when it and a probe are present; else say how."""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

MANUAL = """how to flash {image} by hand:
  - with pyOCD and a CMSIS-DAP / ST-Link / J-Link probe: pip install pyocd; pyocd flash -t <your part> {image}
    (`pyocd list --targets` names the parts; then run `pyocd gdbserver --semihosting` and attach arm-none-eabi-gdb
    to see the WESS_RESULT line: the firmware prints over semihosting, which needs a debugger attached)
  - with any GDB server (OpenOCD, J-Link): arm-none-eabi-gdb {elf} -ex 'target extended-remote :3333' -ex load
  - an Arm MPS2/MPS3 board: copy {binary} to the board's SD card and name it in its images.txt
  - no board: `make firmware` runs the same image in QEMU"""


def probes(pyocd: str) -> list[str]:
    listing = subprocess.run([pyocd, "list", "--probes"], capture_output=True, text=True, timeout=60)
    return [line for line in listing.stdout.splitlines() if line.strip()[:1].isdigit()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("image", type=Path, help="firmware.hex from `wess firmware`")
    parser.add_argument("--pyocd-target", help="pyOCD target name of the part (default: what the probe reports)")
    args = parser.parse_args()
    elf, binary = args.image.with_suffix(".elf"), args.image.with_suffix(".bin")
    manual = MANUAL.format(image=args.image, elf=elf, binary=binary)
    if not args.image.is_file():
        print(f"flash: error: {args.image}: no such file (run `make firmware` first)", file=sys.stderr)
        return 2
    pyocd = shutil.which("pyocd", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if pyocd is None:
        print(f"flash: error: pyocd is not installed, so nothing was flashed.\n{manual}", file=sys.stderr)
        return 2
    attached = probes(pyocd)
    if not attached:
        print(f"flash: error: pyocd found no debug probe, so nothing was flashed.\n{manual}", file=sys.stderr)
        return 2
    command = [pyocd, "flash", *(["-t", args.pyocd_target] if args.pyocd_target else []), str(args.image)]
    print("flash: " + " ".join(command))
    status = subprocess.run(command).returncode
    if status != 0:
        print(f"flash: error: pyocd exited with status {status}.\n{manual}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
