"""The errors a download can end with; each message says what failed and what to do."""

from __future__ import annotations


class DownloadError(RuntimeError):
    """A download or verification step failed; the message says what and what to do."""


class HostUnreachableError(DownloadError):
    """The host could not be reached at all (offline, DNS failure, refused, timeouts)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot reach {url}: {reason}")


class CorruptDataError(DownloadError):
    """Downloaded data failed a check; ``files`` names the culprit file(s) where known."""

    def __init__(self, message: str, files: list[str]) -> None:
        super().__init__(message)
        self.files = files
