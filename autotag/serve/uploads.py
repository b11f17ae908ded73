"""Uploads: a size limit enforced while the body arrives, and each file kept only in the
service's temporary folder for the length of its request.

A client's file name is never a path here: the copy is ``<temp folder>/<random hex><ext>``
(the extension only when it is short and alphanumeric, so a decoder can tell the format), and the
name is only shown back in messages, cut to its last component.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autotag.serve.errors import Rejected

FIELD = "file"  # the multipart field an upload comes in
FORM_SLACK = 64 * 1024  # the multipart framing and small fields around the file
_CHUNK = 1 << 20


def too_large(limit: int) -> Rejected:
    return Rejected(413, "too_large", f"upload over this service's limit of {limit / 2**20:g} MB")


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` (+ the form's framing) is refused with 413,
    from its Content-Length before any of it is read, else as soon as the bytes received pass
    the limit (a chunked upload announces no length)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        cap = self.limit + FORM_SLACK
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            await _send_json(send, too_large(self.limit))
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > cap:
                raise too_large(self.limit)
            return message

        await self.app(scope, counted, send)


async def _send_json(send: Send, err: Rejected) -> None:
    body = json.dumps(err.as_json()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def shown_name(filename: str | None) -> str:
    """A client's file name as messages show it: its last component, printable, at most 120
    characters ("upload" when it sent none)."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(c for c in name if c.isprintable())[:120]
    return name or "upload"


def _suffix(name: str) -> str:
    ext = os.path.splitext(name)[1].lower()
    return ext if re.fullmatch(r"\.[a-z0-9]{1,5}", ext) else ""


@dataclass
class Upload:
    path: str  # the copy in the temporary folder
    name: str  # the client's name for it, for messages
    size: int


async def form_of(request: Request):
    """The request's multipart form; :class:`Rejected` (400) for any other body."""
    kind = request.headers.get("content-type", "")
    if not kind.lower().startswith("multipart/form-data"):
        raise Rejected(
            400,
            "not_multipart",
            f"send the song as multipart/form-data in the field {FIELD!r} (got a body of "
            f"type {kind or 'none'!r})",
        )
    try:
        return await request.form(max_files=4, max_fields=16)
    except HTTPException as e:  # the parser's own 400s: a broken form
        raise Rejected(400, "bad_form", f"cannot read the form: {e.detail}") from None
    except ClientDisconnect:  # nobody is left to answer: no error worth a traceback
        raise Rejected(400, "disconnected", "the client left before its upload arrived") from None


@asynccontextmanager
async def saved_upload(form, temp_dir: Path, limit: int) -> AsyncIterator[Upload]:
    """The form's ``file`` copied into ``temp_dir``, deleted when the block ends."""
    file = form.get(FIELD)
    if isinstance(file, str):  # curl -F file=song.mp3, without the @
        raise Rejected(
            400,
            "missing_field",
            f"the form field {FIELD!r} holds text, not a file (with curl: -F {FIELD}=@song.mp3)",
        )
    if not isinstance(file, UploadFile):
        sent = ", ".join(repr(k) for k in form.keys()) or "no fields"
        raise Rejected(
            400,
            "missing_field",
            f"no file in the form field {FIELD!r} (the form has {sent}); send the song as "
            f"multipart/form-data field {FIELD!r}",
        )
    name = shown_name(file.filename)
    path = temp_dir / f"{secrets.token_hex(12)}{_suffix(name)}"
    size = 0
    try:
        with open(path, "xb") as out:
            while chunk := await file.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                await run_in_threadpool(out.write, chunk)  # the event loop serves others meanwhile
        if size == 0:
            raise Rejected(400, "empty", f"{name}: empty upload (0 bytes)")
        yield Upload(str(path), name, size)
    finally:
        path.unlink(missing_ok=True)
