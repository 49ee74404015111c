"""Single-use link tokens: random, shown once in a message, stored only as a digest."""

import hashlib
import secrets


def new_link_token() -> str:
    """A fresh random token for a link (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored and looked up in place of the token (SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()
