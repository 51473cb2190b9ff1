"""Conditional GET of WADO resources that carry an ETag (metadata, rendered pictures)."""

from __future__ import annotations


def matches(if_none_match: str, etag: str) -> bool:
    """Does ``If-None-Match`` name ``etag`` (weak comparison, RFC 9110 §13.1.2) or ``*``?"""
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",") if t.strip()}
    return "*" in tags or etag in tags
