"""Errors a venue poll can end in, as one tree, so callers know what to catch.

::

    VenueError                  any failure of one venue's poll (never escapes the poller)
    ├── VenueUnavailable        connection refused/reset, DNS failure, HTTP 5xx
    │   └── VenueTimeout        no complete answer within the per-request timeout
    ├── VenueRateLimited        HTTP 429/418, or the venue's in-body rate-limit code; carries retry_after_s
    ├── VenueRejected           HTTP 4xx other than 429/418, or a non-zero in-body error code
    ├── MalformedResponse       not JSON, over the size cap, or an empty market list
    ├── SchemaDrift             a required field is missing or has the wrong JSON type
    └── ImplausibleValue        a number that cannot be true (negative, NaN/inf, non-numeric, absurd);
                                raised per row: the row is skipped and counted, the poll goes on

Every message is one short line naming the venue field or the HTTP status, never a traceback:
it is what the source status shows to users.
"""

from __future__ import annotations


class VenueError(Exception):
    """Base of every error that fails (part of) one venue poll."""


class VenueUnavailable(VenueError):
    """The venue did not answer usefully: connection failure or HTTP 5xx. Retried with backoff."""


class VenueTimeout(VenueUnavailable):
    """The venue did not answer within the per-request timeout."""


class VenueRateLimited(VenueError):
    """The venue asked us to slow down; the next poll waits at least ``retry_after_s``."""

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class VenueRejected(VenueError):
    """The venue refused the request (HTTP 4xx, or an error code inside a 200 body).

    ``body`` is the decoded JSON error body of an HTTP 4xx when there was one, so the venue's
    envelope check can still tell a rate limit (e.g. Deribit's 10028 sent with HTTP 400) from a refusal.
    """

    def __init__(self, message: str, *, body: object | None = None) -> None:
        super().__init__(message)
        self.body = body


class MalformedResponse(VenueError):
    """The body is not usable at all: not JSON, too large, or no markets in it."""


class SchemaDrift(VenueError):
    """A field we rely on is missing or has another JSON type: the venue changed its format."""


class ImplausibleValue(VenueError):
    """A value that cannot be true. Raised for one row; that row is skipped and counted."""
