"""API keys: shown once, stored as a SHA-256, stamped when used, revocable only by their owner."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from studio.models import ApiKey, AuditEvent
from tests.conftest import api_client_for

KEYS_URL = "/api/v1/api-keys/"


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_a_new_key_is_shown_once_and_only_its_sha256_is_stored(admin_user):
    api = api_client_for(admin_user)

    response = api.post(KEYS_URL, {"name": "laptop"}, format="json")

    assert response.status_code == 201
    body = response.json()
    key = body["key"]
    assert key.startswith("stk_")
    assert len(key) > 40
    assert body["name"] == "laptop"
    assert key.startswith(body["prefix"])
    assert body["revoked_at"] is None

    row = ApiKey.objects.get(uuid=body["uuid"])
    assert row.user == admin_user
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    stored_text = " ".join(str(value) for value in ApiKey.objects.filter(pk=row.pk).values().first().values())
    assert key not in stored_text
    assert all(
        key not in str(event.details) and key not in event.target_name for event in AuditEvent.objects.all()
    )

    listed = api.get(KEYS_URL).json()["results"]
    assert {item["name"] for item in listed} == {"tests", "laptop"}
    assert all("key" not in item and "key_hash" not in item for item in listed)
    assert key not in api.get(KEYS_URL).content.decode()


def test_a_key_without_a_name_is_a_400_naming_name(admin_user):
    api = api_client_for(admin_user)

    for body in ({}, {"name": ""}, {"name": "   "}):
        response = api.post(KEYS_URL, body, format="json")
        assert response.status_code == 400
        assert "name" in response.json()
    assert ApiKey.objects.filter(user=admin_user).count() == 1  # the client's own


def test_the_key_list_shows_only_the_callers_keys(admin_user, outsider_user):
    api_client_for(outsider_user)  # oscar's key

    listed = api_client_for(admin_user).get(KEYS_URL).json()["results"]

    assert len(listed) == 1
    assert ApiKey.objects.get(uuid=listed[0]["uuid"]).user == admin_user


def test_using_a_key_sets_its_last_used_time(admin_user):
    created = api_client_for(admin_user).post(KEYS_URL, {"name": "ci"}, format="json").json()
    assert ApiKey.objects.get(uuid=created["uuid"]).last_used_at is None
    before = timezone.now()

    response = bearer(created["key"]).get("/api/v1/projects/")

    assert response.status_code == 200
    used = ApiKey.objects.get(uuid=created["uuid"]).last_used_at
    assert used is not None
    assert before <= used <= timezone.now()


def test_last_used_time_is_written_at_most_once_a_minute(admin_user):
    created = api_client_for(admin_user).post(KEYS_URL, {"name": "ci"}, format="json").json()
    recent = timezone.now() - timedelta(seconds=10)
    ApiKey.objects.filter(uuid=created["uuid"]).update(last_used_at=recent)

    bearer(created["key"]).get("/api/v1/projects/")
    assert ApiKey.objects.get(uuid=created["uuid"]).last_used_at == recent

    stale = timezone.now() - timedelta(minutes=5)
    ApiKey.objects.filter(uuid=created["uuid"]).update(last_used_at=stale)
    bearer(created["key"]).get("/api/v1/projects/")
    assert ApiKey.objects.get(uuid=created["uuid"]).last_used_at > stale


def test_deleting_a_key_revokes_it_and_it_then_gets_401(admin_user):
    api = api_client_for(admin_user)
    created = api.post(KEYS_URL, {"name": "old"}, format="json").json()
    client = bearer(created["key"])
    assert client.get("/api/v1/projects/").status_code == 200

    response = api.delete(f"{KEYS_URL}{created['uuid']}/")

    assert response.status_code == 204
    row = ApiKey.objects.get(uuid=created["uuid"])
    assert row.revoked_at is not None
    assert client.get("/api/v1/projects/").status_code == 401
    listed = {item["uuid"]: item for item in api.get(KEYS_URL).json()["results"]}
    assert listed[created["uuid"]]["revoked_at"] is not None
    event = AuditEvent.objects.get(action="revoke")
    assert (event.target_type, event.target_name, event.actor) == ("api-key", "old", admin_user)


def test_a_key_can_revoke_itself(admin_user):
    created = api_client_for(admin_user).post(KEYS_URL, {"name": "self"}, format="json").json()
    key = created["key"]

    assert bearer(key).delete(f"{KEYS_URL}{created['uuid']}/").status_code == 204
    assert bearer(key).get(KEYS_URL).status_code == 401


def test_revoking_twice_keeps_the_first_revocation_time(admin_user):
    api = api_client_for(admin_user)
    created = api.post(KEYS_URL, {"name": "old"}, format="json").json()
    api.delete(f"{KEYS_URL}{created['uuid']}/")
    first = ApiKey.objects.get(uuid=created["uuid"]).revoked_at

    assert api.delete(f"{KEYS_URL}{created['uuid']}/").status_code == 204

    assert ApiKey.objects.get(uuid=created["uuid"]).revoked_at == first
    assert AuditEvent.objects.filter(action="revoke").count() == 1


def test_a_user_cannot_revoke_another_users_key(admin_user, outsider_user):
    theirs = api_client_for(outsider_user).post(KEYS_URL, {"name": "oscar's"}, format="json").json()

    response = api_client_for(admin_user).delete(f"{KEYS_URL}{theirs['uuid']}/")

    assert response.status_code == 404
    assert ApiKey.objects.get(uuid=theirs["uuid"]).revoked_at is None
    assert bearer(theirs["key"]).get("/api/v1/projects/").status_code == 200


def test_revoking_an_unknown_key_is_a_404(admin_user):
    response = api_client_for(admin_user).delete(f"{KEYS_URL}00000000-0000-0000-0000-000000000000/")

    assert response.status_code == 404


def test_create_api_key_command_prints_a_key_that_authenticates(project, admin_user):
    out = io.StringIO()

    call_command("create_api_key", "alice", stdout=out)

    match = re.search(r"stk_[A-Za-z0-9_-]+", out.getvalue())
    assert match, out.getvalue()
    key = match.group(0)
    assert ApiKey.objects.get(key_hash=hashlib.sha256(key.encode()).hexdigest()).user == admin_user
    response = bearer(key).get("/api/v1/projects/")
    assert response.status_code == 200
    assert [item["name"] for item in response.json()["results"]] == ["vision"]
