"""API keys on the hot path: looked up once, then cached for a few seconds (revocation and role
changes take effect within ``KEY_CACHE_SECONDS``)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from django.db import connections

from studio.models import Membership
from studio.roles import Permission, Role, role_allows
from studio.services import api_key_authenticate

logger = logging.getLogger(__name__)

KEY_CACHE_SECONDS = 10.0
MAX_CACHED_KEYS = 10_000


@dataclass(frozen=True)
class Caller:
    user_id: int
    username: str
    key_prefix: str
    invoke_only: str
    roles: dict[str, str]

    def may_invoke(self, project: str, endpoint: str) -> str:
        """Empty when allowed, else why not (HTTP 403)."""
        if self.invoke_only and self.invoke_only != f"{project}/{endpoint}":
            return f"This API key may only invoke {self.invoke_only}."
        if not role_allows(self.roles.get(project), Permission.INVOKE):
            return f"You may not invoke endpoints in project {project}."
        return ""


def caller_for_key(key: str) -> Caller | None:
    """The caller behind an API key (database reads: run it in a thread)."""
    try:
        api_key = api_key_authenticate(key)
        if api_key is None:
            return None
        user = api_key.user
        if user.is_superuser:
            roles = _AllProjects(Role.ADMIN)
        else:
            roles = dict(Membership.objects.filter(user=user).values_list("project__name", "role"))
        return Caller(user.pk, user.get_username(), api_key.prefix, api_key.invoke_only, roles)
    finally:
        # A pool thread that is seldom used: hold no connection between lookups.
        connections.close_all()


class _AllProjects(dict):
    """A superuser's roles: admin in every project."""

    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role

    def get(self, key, default=None):
        return self.role


class KeyCache:
    """Callers by API key. A fresh entry answers at once; an expired one still answers while one
    lookup refreshes it in the background; an unknown key waits for a single shared lookup (so a
    burst of requests with a new key makes one query, not one each)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Caller | None]] = {}
        self._lookups: dict[str, asyncio.Future] = {}

    async def caller(self, key: str) -> Caller | None:
        entry = self._entries.get(key)
        if entry is not None:
            expires, caller = entry
            if expires < time.monotonic() and key not in self._lookups:
                self._lookups[key] = asyncio.ensure_future(self._look_up(key))
            return caller
        lookup = self._lookups.get(key)
        if lookup is None:
            lookup = self._lookups[key] = asyncio.ensure_future(self._look_up(key))
        return await asyncio.shield(lookup)

    async def _look_up(self, key: str) -> Caller | None:
        try:
            caller = await asyncio.to_thread(caller_for_key, key)
        except Exception:
            logger.exception("could not look up an API key")
            entry = self._entries.get(key)
            return None if entry is None else entry[1]
        finally:
            self._lookups.pop(key, None)
        if len(self._entries) >= MAX_CACHED_KEYS:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + KEY_CACHE_SECONDS, caller)
        return caller
