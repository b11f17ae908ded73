"""The one error a request can end in: an HTTP status, a short code and a sentence naming the
problem; the app turns it into ``{"error": ..., "code": ...}``."""

from __future__ import annotations


class Rejected(Exception):
    """A request the service refuses (4xx); pickled across the decoding processes whole."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, code, message)
        self.status, self.code, self.message = status, code, message

    def __str__(self) -> str:
        return self.message

    def as_json(self) -> dict[str, str]:
        return {"error": self.message, "code": self.code}
