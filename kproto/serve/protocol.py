"""uvicorn's HTTP/1.1 protocol with a header timeout: a connection that does not finish sending a request's headers
within `Limits.header_timeout` seconds is closed (a slowloris client holds nothing for long).

uvicorn bounds idle keep-alive connections but not a request whose headers trickle in; this subclass starts a timer
when a connection opens and whenever it waits for a new request's headers, and stops it once they are complete.
"""

from __future__ import annotations

import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

LOG = logging.getLogger("kproto.serve")


def protocol_class(header_timeout: float) -> type[H11Protocol]:
    """H11Protocol closing connections whose request headers take longer than `header_timeout` seconds."""

    class HeaderTimeoutProtocol(H11Protocol):
        _header_timer: Any = None

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._start_header_timer()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is h11.IDLE:
                if self._header_timer is None:  # headers of a (next) request are arriving
                    self._start_header_timer()
            else:
                self._stop_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_header_timer()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            self._stop_header_timer()  # the keep-alive timer takes over until the next bytes arrive
            super().on_response_complete()

        def _start_header_timer(self) -> None:
            self._stop_header_timer()
            self._header_timer = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _stop_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                if self.conn.trailing_data[0]:  # part of a request came, then nothing: say so, then close
                    client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
                    LOG.info("closed %s: request headers incomplete after %g s", client, header_timeout)
                self.transport.close()

    return HeaderTimeoutProtocol
