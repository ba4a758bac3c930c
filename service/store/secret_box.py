"""Secrets at rest (webhook signing secrets): sealed with the installation's key, never stored as given.

A database dump, a backup or a read-only SQL session must not be enough to sign
requests as introrank. The key comes from settings
(``INTRORANK_WEBHOOK_SECRET_KEY``), not from the database, and sealing is
``cryptography``'s Fernet (AES-128-CBC with HMAC-SHA256, a timestamped token), so
a ciphertext that was altered, or sealed under another key, is refused rather
than decrypted into garbage.

Rotation: the setting may hold several keys, comma-separated, newest first; new
secrets are sealed with the first, and any of them opens (``MultiFernet``).

Without a key nothing is sealed and nothing is stored: :class:`SecretKeyMissing`
(the API answers 503, the CLI exits with the message). Fail closed, not plaintext.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from introrank.service.errors import UnavailableError
from introrank.service.settings import Settings

KEY_SETTING = "INTRORANK_WEBHOOK_SECRET_KEY"


class SecretKeyMissing(UnavailableError):
    def __init__(self) -> None:
        super().__init__(f"webhook secrets cannot be stored or used: this server has no {KEY_SETTING} "
                         "(a Fernet key, e.g. from `python -c \"from cryptography.fernet import Fernet; "
                         "print(Fernet.generate_key().decode())\"`)")


class SecretUnreadable(RuntimeError):
    """A stored secret that none of the configured keys opens: another key sealed it, or it was altered."""

    def __init__(self, what: str) -> None:
        super().__init__(f"the stored {what} cannot be decrypted with {KEY_SETTING}: is it the key it was "
                         "stored with? (a rotated key stays in the setting, comma-separated, after the new one)")


def generate_key() -> str:
    """A fresh key for ``INTRORANK_WEBHOOK_SECRET_KEY``."""
    return Fernet.generate_key().decode()


class SecretBox:
    """Seals and opens secrets with the configured keys."""

    def __init__(self, keys: list[str]) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        keys = settings.webhook_secret_keys  # checked to be Fernet keys when settings load
        if not keys:
            raise SecretKeyMissing()
        return cls(keys)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str, what: str = "webhook secret") -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable(what) from None
