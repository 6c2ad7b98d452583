"""User-facing errors: the CLI prints them as one line and exits with status 2."""


class WessError(Exception):
    """Bad input or an unsupported model: the message names the file, layer or tensor and what is wrong."""


class VerificationError(WessError):
    """Backends disagree: the message says how; `result` is the whole report (the CLI prints it with --json)."""

    def __init__(self, message: str, result: dict):
        super().__init__(message)
        self.result = result
