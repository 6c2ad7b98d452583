"""User-facing errors: the CLI prints them as one line and exits with status 2."""


class WessError(Exception):
    """Bad input or an unsupported model: the message names the file, layer or tensor and what is wrong."""
