"""The wess parser's argparse pieces: no abbreviated options, one-line usage errors, and `--version`."""
from __future__ import annotations

import argparse
import sys

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse without abbreviated options (a misspelt or future option is an error, not another option) and
    with usage errors on one stderr line, like every other refusal."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{**kwargs, "allow_abbrev": False})

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class VersionAction(argparse.Action):
    """`wess --version`: wess-deploy's version, then every tool version report.json records, one per line."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the versions of wess-deploy and its tools")

    def __call__(self, parser, namespace, values, option_string=None):
        from pipeline.tflite import versions

        found = versions.tool_versions(compiler=True)
        lines = [f"wess-deploy {found.pop('wess-deploy') or 'unknown (not installed)'}"]
        lines += [f"{name} {version or 'not installed'}" for name, version in found.items()]
        sys.stdout.write("\n".join(lines) + "\n")
        parser.exit(0)
