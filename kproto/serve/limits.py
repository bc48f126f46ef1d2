"""How long and how much the server waits for and accepts: one place for every bound, with its default."""

from __future__ import annotations

from dataclasses import dataclass

MAX_BODY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Bounds on what one client can hold: a request's headers must arrive within `header_timeout` seconds of the
    connection (or of the previous answer), its body within `body_timeout` seconds, an idle connection is closed
    after `keep_alive` seconds, and on SIGINT/SIGTERM requests in flight get `shutdown_timeout` seconds to finish."""

    header_timeout: float = 5.0
    body_timeout: float = 10.0
    keep_alive: float = 5.0
    shutdown_timeout: float = 5.0
    max_body_bytes: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "keep_alive", "shutdown_timeout"):
            value = getattr(self, name)
            if not 0 < value <= 3600:
                raise ValueError(f"{name} must be more than 0 and at most 3600 seconds, received {value}")
        if self.max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be positive, received {self.max_body_bytes}")
