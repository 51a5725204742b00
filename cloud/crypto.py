"""Encryption at rest for the AWS keys a project stores (Fernet: AES-128-CBC with an HMAC)."""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted (the key it was stored with has changed)."""


@cache
def _fernet(key_setting: str, secret_key: str) -> Fernet:
    if key_setting:
        return Fernet(key_setting.encode())
    # Derived, not SECRET_KEY itself: a leaked ciphertext tells nothing about the session key.
    digest = hashlib.sha256(b"studio-secrets:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _current() -> Fernet:
    return _fernet(settings.STUDIO_SECRETS_KEY, settings.SECRET_KEY)


def secret_encrypt(value: str) -> str:
    return _current().encrypt(value.encode()).decode()


def secret_decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            "The stored AWS secret key cannot be decrypted (STUDIO_SECRETS_KEY or SECRET_KEY changed); "
            "enter the access key again in the project's AWS settings."
        ) from exc
