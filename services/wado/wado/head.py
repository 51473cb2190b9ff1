"""HEAD for every WADO route: the GET's status and headers, no body (RFC 9110 §9.3.2)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

Handler = Callable[[Request], Awaitable[Response]]


def head_safe(handler: Handler) -> Handler:
    """HEAD answers with the GET's status and headers and no body (RFC 9110 §9.3.2); the
    stream a GET would send is closed unread."""

    @wraps(handler)
    async def wrapper(request: Request) -> Response:
        response = await handler(request)
        if request.method != "HEAD" or not isinstance(response, StreamingResponse):
            return response
        close = getattr(response.body_iterator, "aclose", None)
        if close is not None:
            await close()
        head = Response(status_code=response.status_code)
        head.raw_headers = [(k, v) for k, v in response.raw_headers if k != b"content-length"]
        return head

    return wrapper
