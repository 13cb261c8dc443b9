"""``jitev witness serve``: one member team's witness on its own machine,
speaking the C2SP tlog-witness HTTP protocol:

    POST /add-checkpoint                 cosign a checkpoint (404 403 400 409 422 on refusal)
    GET  /<sha256(origin) hex>/checkpoint  the last checkpoint cosigned for a log

Its key and its memory live in its own folder (``storage.witness_state``),
never in a catalog database; it trusts only the log key it is given.
"""

from __future__ import annotations

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from evidence.tlog.witness import MAX_BODY, Refused, Witness
from storage.witness_state import FileWitnessState

SIZE_TYPE = "text/x.tlog.size"


def create_witness_app(witness: Witness, state: FileWitnessState) -> Starlette:
    async def add_checkpoint(request: Request) -> Response:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return PlainTextResponse(f"the request is larger than {MAX_BODY} bytes\n", 400)
        try:  # the check and the state's update touch files: off the event loop
            lines = await anyio.to_thread.run_sync(witness.add_checkpoint, bytes(body))
        except Refused as exc:
            if exc.status == 409 and exc.size is not None:
                return PlainTextResponse(f"{exc.size}\n", 409, media_type=SIZE_TYPE)
            return PlainTextResponse(f"{exc}\n", exc.status)
        return PlainTextResponse(lines)

    async def checkpoint(request: Request) -> Response:
        found = state.latest_by_digest(request.path_params["digest"])
        if found is None:
            return PlainTextResponse("this witness has cosigned no checkpoint of that log\n", 404)
        return PlainTextResponse(found)

    return Starlette(
        routes=[
            Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
            Route("/{digest}/checkpoint", checkpoint, methods=["GET"]),
        ]
    )
