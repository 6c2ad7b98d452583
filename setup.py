"""Wheel build steps: ship firmware_ref's C sources as package data and build libwess_ref.so for the host into it."""
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel

ROOT = Path(__file__).resolve().parent
SOURCE_DIRS = ("include", "src", "firmware")  # what `wess firmware` compiles; fuzz/ and the Makefile stay behind
LIBRARY = "libwess_ref.so"


class BuildWithReference(build_py):
    """build_py, plus firmware_ref/{include,src,firmware} copied to pipeline/firmware_ref and the host library
    built by firmware_ref's own Makefile into pipeline/lib (pipeline/resources.py finds both)."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install runs from the checkout, which has both
            return
        package = Path(self.build_lib) / "pipeline"
        for name in SOURCE_DIRS:
            target = package / "firmware_ref" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(ROOT / "firmware_ref" / name, target)
        library_dir = (package / "lib").resolve()
        library_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["make", "-s", "-B", "-C", str(ROOT / "firmware_ref"), f"BUILD_DIR={library_dir}",
                        f"{library_dir / LIBRARY}"], check=True)


class HostWheel(bdist_wheel):
    """The wheel holds a host shared library (loaded with ctypes, no Python C API): any Python 3, this platform."""

    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):
        return "py3", "none", super().get_tag()[2]


setup(cmdclass={"build_py": BuildWithReference, "bdist_wheel": HostWheel})
