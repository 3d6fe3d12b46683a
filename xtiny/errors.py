"""The single exception type for user errors (bad input, missing files, wrong options)."""


class XTinyError(Exception):
    """A problem the user can fix. The CLI prints it as one line and exits with code 2."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(f"{message} Fix: {fix}" if fix else message)
