"""Single-use link tokens: random, shown once in a message, stored only as a digest."""

import hashlib
import secrets

from django.utils import timezone


def new_link_token() -> str:
    """A fresh random token for a link (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored and looked up in place of the token (SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


class SingleUseLink:
    """The life of an emailed or texted link, for a model with ``token_hash``,
    ``expires_at``, ``accepted_at``, ``superseded_at`` and ``revoked_at`` and a ``State``
    with VALID, EXPIRED, USED, SUPERSEDED and REVOKED (patients' invitations, staff
    invitations). ``revoked()`` may add the model's own reasons."""

    def issue_token(self) -> str:
        """A new token for the link (the previous one stops working)."""
        token = new_link_token()
        self.token_hash = token_digest(token)
        self.save(update_fields=["token_hash"])
        return token

    def revoked(self) -> bool:
        return bool(self.revoked_at)

    def state(self, at=None) -> str:
        at = at or timezone.now()
        if self.revoked():
            return self.State.REVOKED
        if self.accepted_at:
            return self.State.USED
        if self.superseded_at:
            return self.State.SUPERSEDED
        if at >= self.expires_at:
            return self.State.EXPIRED
        return self.State.VALID

    def get_state_display(self):
        return self.State(self.state()).label
