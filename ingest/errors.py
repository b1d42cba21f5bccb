"""Typed errors of the ingest core. The CLI turns them into `Error: <what happened>. <what to do next>`."""


class CallscopeError(Exception):
    """An error a user can act on; `hint` says what to do next."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}. {self.hint}" if self.hint else self.message


class UnreadableSource(CallscopeError):
    pass


class NotALog(CallscopeError):
    pass


class WriterBusy(CallscopeError):
    pass


class NoData(CallscopeError):
    pass


class StorageFailed(CallscopeError):
    """The disk under the database refused a write (full, over quota, or failing)."""
