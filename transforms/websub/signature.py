"""``X-Hub-Signature`` (WebSub section 8): per-topic secrets and the HMAC check of a push, pure.

The secret of a topic is derived (HMAC-SHA256 of the stream's key and the topic), so the workers
that subscribe and the driver that checks pushes agree on it without sharing mutable state:
both read the one key the driver wrote in the stream's storage area.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["ALGORITHMS", "check_signature", "sign", "topic_secret"]

ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
"""The ``method=`` values the spec names for ``X-Hub-Signature``."""


def topic_secret(key: bytes, topic: str) -> str:
    """The ``hub.secret`` of ``topic``: 64 hex characters (the spec caps secrets at 200 bytes)."""
    return hmac.new(key, topic.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, method: str = "sha256") -> str:
    """The ``X-Hub-Signature`` value a hub sends for ``body`` (``method=hexdigest``)."""
    digest = hmac.new(secret.encode("utf-8"), body, ALGORITHMS[method]).hexdigest()
    return f"{method}={digest}"


def check_signature(header: str | None, body: bytes, secret: str) -> str | None:
    """None when ``header`` is a valid signature of ``body`` with ``secret``; else why it is refused."""
    if not header:
        return "unsigned push (no X-Hub-Signature) for a subscription made with a secret"
    method, _, value = header.strip().partition("=")
    algorithm = ALGORITHMS.get(method.strip().lower())
    if algorithm is None:
        return f"X-Hub-Signature method {method[:20]!r} is not one of {', '.join(ALGORITHMS)}"
    expected = hmac.new(secret.encode("utf-8"), body, algorithm).hexdigest()
    if not hmac.compare_digest(expected.encode(), value.strip().lower().encode("utf-8", "replace")):
        return f"X-Hub-Signature does not match the body ({method.lower()} HMAC with the topic's secret)"
    return None
