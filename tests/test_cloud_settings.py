"""A project's AWS settings: validation per field, the write-only secret, the connection check (against
the moto server), who may do what, the page and the admin."""

from __future__ import annotations

import logging
import re

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from cloud.crypto import secret_decrypt, secret_encrypt
from cloud.models import AwsSettings
from cloud.services import aws_connection_check, aws_settings_update
from studio.models import AuditEvent
from tests.conftest import api_client_for

URL = "/api/v1/projects/vision/aws-settings/"
CHECK_URL = URL + "check/"
PAGE = "/projects/vision/settings/aws/"
PAGE_CHECK = PAGE + "check/"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ROLE = "arn:aws:iam::123456789012:role/studio-sagemaker"

FULL = {
    "region": "eu-west-1",
    "role_arn": ROLE,
    "bucket": "my-studio-bucket",
    "prefix": "teams/vision",
    "endpoint_url": "",
    "s3_endpoint_url": "http://minio:9000",
    "vpc_subnets": ["subnet-0123456789abcdef0", "subnet-12345678"],
    "vpc_security_group_ids": ["sg-0123456789abcdef0"],
    "kms_key_id": "alias/studio",
    "access_key_id": KEY_ID,
    "secret_access_key": SECRET,
}


@pytest.fixture
def saved(project, admin_user) -> AwsSettings:
    """Settings saved through the service, with a stored key pair."""
    return aws_settings_update(project=project, user=admin_user, **FULL)


def row(project) -> AwsSettings:
    return AwsSettings.objects.get(project=project)


def input_tag(html: str, name: str) -> str:
    found = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert found, name
    return found.group(0)


def assert_no_secret(text: str, aws: AwsSettings | None = None) -> None:
    assert SECRET not in text
    if aws is not None and aws.secret_access_key_encrypted:
        assert aws.secret_access_key_encrypted not in text


# --- reading ---------------------------------------------------------------------------------------


def test_before_anything_is_saved_get_answers_the_defaults_unconfigured(api, project):
    response = api.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["configured"] is False
    assert body["ready"] is False
    assert body["region"] == "us-east-1"
    assert body["prefix"] == "studio"
    assert body["has_stored_keys"] is False
    assert body["access_key_id"] is None
    assert body["credentials"] == "default-chain"
    assert body["updated_at"] is None
    assert body["last_check"] == []
    assert "secret_access_key" not in body
    assert not AwsSettings.objects.exists()


def test_get_shows_an_admin_the_masked_key_and_never_the_secret(api, saved):
    response = api.get(URL)

    body = response.json()
    assert body["configured"] is True
    assert body["ready"] is True
    assert body["access_key_id"] == "AKIA…MPLE"
    assert body["has_stored_keys"] is True
    assert body["credentials"] == "project-keys"
    assert body["s3_root"] == "s3://my-studio-bucket/teams/vision/vision"
    assert body["updated_by"] == "alice"
    assert KEY_ID not in response.content.decode()
    assert_no_secret(response.content.decode(), saved)


def test_a_viewer_reads_the_settings_without_the_key(project, viewer_user, saved):
    response = api_client_for(viewer_user).get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["bucket"] == "my-studio-bucket"
    assert body["has_stored_keys"] is True
    assert body["access_key_id"] is None
    assert "AKIA" not in response.content.decode()


def test_reading_the_settings_runs_a_fixed_number_of_queries(api, saved, django_assert_num_queries):
    # The API key with its user joined, the project, the caller's role in it, and the settings with
    # their updater joined: no query per field, none for who saved them.
    api.get(URL)  # the key's first use writes last_used_at; measure the steady state
    with django_assert_num_queries(4):
        assert api.get(URL).status_code == 200


# --- writing: the secret ------------------------------------------------------------------------------


def test_put_stores_the_secret_encrypted_and_answers_without_it(api, project, admin_user):
    response = api.put(URL, FULL, format="json")

    assert response.status_code == 200, response.json()
    aws = row(project)
    assert aws.secret_access_key_encrypted
    assert SECRET not in aws.secret_access_key_encrypted
    assert secret_decrypt(aws.secret_access_key_encrypted) == SECRET
    assert aws.access_key_id == KEY_ID
    assert aws.updated_by == admin_user
    assert aws.vpc_subnets == ["subnet-0123456789abcdef0", "subnet-12345678"]
    assert response.json()["configured"] is True
    assert_no_secret(response.content.decode(), aws)


def test_patch_without_the_secret_keeps_the_stored_one(api, project, saved):
    before = row(project).secret_access_key_encrypted

    response = api.patch(URL, {"bucket": "another-bucket", "secret_access_key": ""}, format="json")

    assert response.status_code == 200, response.json()
    aws = row(project)
    assert aws.bucket == "another-bucket"
    assert aws.secret_access_key_encrypted == before
    assert aws.access_key_id == KEY_ID
    assert aws.region == "eu-west-1"  # PATCH leaves what it does not name


def test_put_resets_omitted_settings_but_keeps_the_stored_keys(api, project, saved):
    response = api.put(URL, {"region": "us-west-2", "bucket": "b-two"}, format="json")

    assert response.status_code == 200, response.json()
    aws = row(project)
    assert (aws.region, aws.bucket, aws.prefix, aws.role_arn) == ("us-west-2", "b-two", "studio", "")
    assert aws.vpc_subnets == []
    assert aws.has_stored_keys
    assert secret_decrypt(aws.secret_access_key_encrypted) == SECRET


def test_what_get_answers_can_be_sent_back_with_put(api, saved):
    body = api.get(URL).json()

    response = api.put(URL, body, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["access_key_id"] == "AKIA…MPLE"


def test_a_new_secret_for_the_stored_key_replaces_it(api, project, saved):
    response = api.patch(URL, {"secret_access_key": "another-secret"}, format="json")

    assert response.status_code == 200, response.json()
    assert secret_decrypt(row(project).secret_access_key_encrypted) == "another-secret"
    assert row(project).access_key_id == KEY_ID


def test_a_new_access_key_id_without_its_secret_is_refused(api, project, saved):
    before = row(project).secret_access_key_encrypted

    response = api.patch(URL, {"access_key_id": "AKIAI44QH8DHBEXAMPLE"}, format="json")

    assert response.status_code == 400
    assert "secret_access_key" in response.json()
    assert row(project).access_key_id == KEY_ID
    assert row(project).secret_access_key_encrypted == before


def test_a_secret_without_an_access_key_id_is_refused(api, project):
    response = api.patch(URL, {"secret_access_key": SECRET}, format="json")

    assert response.status_code == 400
    assert "access_key_id" in response.json()
    assert_no_secret(response.content.decode())
    assert not AwsSettings.objects.exists()


def test_clear_keys_removes_the_pair_and_audits_it(api, project, saved):
    response = api.patch(URL, {"clear_keys": True}, format="json")

    assert response.status_code == 200
    aws = row(project)
    assert (aws.access_key_id, aws.secret_access_key_encrypted) == ("", "")
    assert response.json()["credentials"] == "default-chain"
    event = AuditEvent.objects.filter(target_type="aws-settings").first()
    assert event.details["secret_access_key"] == "removed"


def test_clear_keys_with_new_keys_is_refused(api, project, saved):
    response = api.patch(
        URL,
        {"clear_keys": True, "access_key_id": "AKIAI44QH8DHBEXAMPLE", "secret_access_key": "x"},
        format="json",
    )

    assert response.status_code == 400
    assert "clear_keys" in response.json()
    assert row(project).access_key_id == KEY_ID


def test_the_audit_trail_names_changed_fields_and_never_the_secret(api, project, saved):
    api.patch(URL, {"bucket": "another-bucket", "secret_access_key": "brand-new-secret"}, format="json")

    created, updated = AuditEvent.objects.filter(target_type="aws-settings").order_by("id")
    assert created.action == "create"
    assert updated.action == "update"
    assert updated.details["bucket"] == {"from": "my-studio-bucket", "to": "another-bucket"}
    assert updated.details["secret_access_key"] == "replaced"
    for event in (created, updated):
        text = str(event.details)
        assert SECRET not in text
        assert "brand-new-secret" not in text
        assert KEY_ID not in text  # masked
        assert row(project).secret_access_key_encrypted not in text
    audit = api.get("/api/v1/projects/vision/audit-events/").content.decode()
    assert_no_secret(audit, row(project))
    assert "brand-new-secret" not in audit


def test_saving_the_same_values_again_changes_and_audits_nothing(api, project, saved):
    count = AuditEvent.objects.count()
    stamp = row(project).updated_at

    body = {key: value for key, value in FULL.items() if key != "secret_access_key"}
    assert api.put(URL, body, format="json").status_code == 200

    assert AuditEvent.objects.count() == count
    assert row(project).updated_at == stamp


def test_the_secret_is_never_logged(api, project, caplog, client, admin_user):
    caplog.set_level(logging.DEBUG)

    # Every service at the discard port, where nothing listens: the check fails fast, offline.
    api.put(URL, {**FULL, "endpoint_url": "http://127.0.0.1:9", "s3_endpoint_url": ""}, format="json")
    api.patch(URL, {"secret_access_key": SECRET + "x", "region": "nowhere"}, format="json")
    api.post(CHECK_URL)
    client.force_login(admin_user)
    client.post(PAGE, {**FULL, "bucket": "Bad_Bucket", "vpc_subnets": "", "vpc_security_group_ids": ""})

    assert caplog.records  # something was logged, and none of it holds the secret
    assert_no_secret(caplog.text, row(project))


# --- writing: validation ----------------------------------------------------------------------------

BAD_VALUES = [
    ("region", "us-east", "region name"),
    ("region", "US-EAST-1", "region name"),
    ("region", "", "Give the AWS region"),
    ("role_arn", "arn:aws:iam::123:role/x", "ARN of an IAM role"),
    ("role_arn", "arn:aws:s3:::bucket", "ARN of an IAM role"),
    ("bucket", "My_Bucket", "lower-case letters"),
    ("bucket", "ab", "3 to 63"),
    ("bucket", "a" * 64, "At most 63"),
    ("bucket", "my..bucket", "two dots"),
    ("bucket", "192.168.1.10", "IP address"),
    ("bucket", "s3://my-bucket", "without s3://"),
    ("bucket", "-bucket", "starts and ends"),
    ("prefix", "/studio", "no leading '/'"),
    ("prefix", "a/../b", "'..'"),
    ("prefix", "a//b", "empty"),
    ("prefix", "p" * 513, "At most 512"),
    ("endpoint_url", "localhost:5000", "http://"),
    ("endpoint_url", "ftp://example.com", "http://"),
    ("endpoint_url", "http://user:pw@example.com", "Leave credentials out"),
    ("endpoint_url", "http://example.com:99999", "port"),
    ("s3_endpoint_url", "not a url", "http://"),
    ("vpc_subnets", ["sub-123"], "subnet-"),
    ("vpc_subnets", "subnet-12345678", "list"),
    ("vpc_subnets", [f"subnet-{i:08x}" for i in range(17)], "At most 16"),
    ("vpc_security_group_ids", ["sg-1"], "sg-"),
    ("vpc_security_group_ids", [f"sg-{i:08x}" for i in range(6)], "At most 5"),
    ("kms_key_id", "my-key", "KMS key"),
    ("kms_key_id", "arn:aws:kms:us-east-1:123456789012:key/nope", "KMS key"),
    ("access_key_id", "AKIA-not/ok", "letters and digits"),
    ("secret_access_key", "two words", "no spaces"),
]


@pytest.mark.parametrize(
    ("field", "value", "message"), BAD_VALUES, ids=[f"{f}={v!r:.20}" for f, v, _ in BAD_VALUES]
)
def test_a_bad_value_gets_a_400_naming_its_field_and_loses_nothing(
    api, project, saved, field, value, message
):
    before = AwsSettings.objects.filter(project=project).values().get()
    audits = AuditEvent.objects.count()

    response = api.patch(URL, {field: value}, format="json")

    assert response.status_code == 400
    errors = response.json()
    assert list(errors) == [field], errors
    assert message in " ".join(map(str, errors[field])), errors
    assert AwsSettings.objects.filter(project=project).values().get() == before
    assert AuditEvent.objects.count() == audits
    if field == "secret_access_key":
        assert value not in response.content.decode()


def test_every_bad_field_is_reported_at_once(api, project):
    response = api.put(
        URL, {"region": "mars-1", "bucket": "B", "prefix": "/x", "endpoint_url": "nope"}, format="json"
    )

    assert response.status_code == 400
    assert set(response.json()) == {"region", "bucket", "prefix", "endpoint_url"}
    assert not AwsSettings.objects.exists()


@pytest.mark.parametrize(
    ("sent", "named"),
    [
        ({"vpc_subnets": ["subnet-12345678"]}, "vpc_security_group_ids"),
        ({"vpc_security_group_ids": ["sg-12345678"]}, "vpc_subnets"),
    ],
)
def test_subnets_and_security_groups_go_together(api, project, sent, named):
    response = api.patch(URL, sent, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [named]


def test_clearing_both_vpc_lists_at_once_is_accepted(api, project, saved):
    response = api.patch(URL, {"vpc_subnets": [], "vpc_security_group_ids": []}, format="json")

    assert response.status_code == 200, response.json()
    assert row(project).vpc_subnets == []


def test_a_misspelt_setting_is_refused_not_ignored(api, project):
    response = api.patch(URL, {"secret_key": SECRET}, format="json")

    assert response.status_code == 400
    assert response.json() == {"secret_key": ["Unknown setting."]}
    assert_no_secret(response.content.decode())


def test_wrong_types_get_a_400_naming_the_field(api, project):
    response = api.patch(URL, {"bucket": None, "vpc_subnets": "subnet-12345678"}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"bucket", "vpc_subnets"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("region", "cn-north-1"),
        ("region", "us-gov-west-1"),
        ("role_arn", "arn:aws-cn:iam::123456789012:role/service-role/SageMaker+Exec=1"),
        ("bucket", "a.b-c.123"),
        ("prefix", "teams/vision/"),
        ("endpoint_url", "http://moto:5000"),
        ("kms_key_id", "1234abcd-12ab-34cd-56ef-1234567890ab"),
        ("kms_key_id", "arn:aws:kms:us-east-1:123456789012:alias/studio"),
    ],
)
def test_good_values_are_accepted(api, project, field, value):
    response = api.patch(URL, {field: value}, format="json")

    assert response.status_code == 200, response.json()
    assert getattr(row(project), field) == value.rstrip("/")


# --- who may ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["viewer", "editor"])
def test_only_admins_change_or_check_the_settings(personas, project, saved, persona):
    client = api_client_for(personas[persona])
    before = AwsSettings.objects.filter(project=project).values().get()

    assert client.patch(URL, {"bucket": "sneaky-bucket"}, format="json").status_code == 403
    assert client.put(URL, FULL, format="json").status_code == 403
    assert client.post(CHECK_URL).status_code == 403
    assert AwsSettings.objects.filter(project=project).values().get() == before


def test_an_outsider_cannot_learn_the_project_exists(personas, project, saved):
    client = api_client_for(personas["outsider"])

    assert client.get(URL).status_code == 404
    assert client.patch(URL, {"bucket": "sneaky-bucket"}, format="json").status_code == 404
    assert client.post(CHECK_URL).status_code == 404
    assert row(project).bucket == "my-studio-bucket"


def test_the_service_refuses_a_non_admin(project, editor_user):
    with pytest.raises(PermissionDenied):
        aws_settings_update(project=project, user=editor_user, bucket="sneaky-bucket")
    with pytest.raises(PermissionDenied):
        aws_connection_check(project=project, user=editor_user)
    assert not AwsSettings.objects.exists()


# --- the connection check ------------------------------------------------------------------------------


def test_check_connection_against_moto_passes_for_sts_s3_and_sagemaker(api, aws_project, moto_server):
    response = api.post(CHECK_URL)

    assert response.status_code == 200
    items = response.json()
    assert [item["service"] for item in items] == ["sts", "s3", "sagemaker"]
    assert all(item["ok"] for item in items), items
    assert "123456789012" in items[0]["detail"]
    assert aws_project.bucket in items[1]["detail"]
    aws_project.refresh_from_db()
    assert aws_project.last_check == items
    assert aws_project.checked_at is not None
    # The probe object was put and deleted again.
    listed = moto_server["client"].list_objects_v2(Bucket=aws_project.bucket)
    assert listed.get("KeyCount", 0) == 0


def test_check_reports_a_missing_bucket_in_words(api, aws_project):
    aws_project.bucket = "no-such-bucket-here"
    aws_project.save()

    items = {item["service"]: item for item in api.post(CHECK_URL).json()}

    assert items["sts"]["ok"] is True
    assert items["sagemaker"]["ok"] is True
    assert items["s3"]["ok"] is False
    assert items["s3"]["detail"] == (
        "Bucket no-such-bucket-here does not exist (or the S3 endpoint URL points elsewhere)."
    )


def test_check_reports_an_unreachable_endpoint_without_raising(api, aws_project):
    aws_project.endpoint_url = "http://127.0.0.1:9"  # the discard port: nothing listens
    aws_project.save()

    items = api.post(CHECK_URL).json()

    assert [item["ok"] for item in items] == [False, False, False]
    assert all("could not be reached" in item["detail"] for item in items), items


def test_check_reports_a_secret_that_cannot_be_decrypted(api, aws_project, settings):
    settings.STUDIO_SECRETS_KEY = "x" * 43 + "="  # another key than the one it was stored with

    items = api.post(CHECK_URL).json()

    assert [item["ok"] for item in items] == [False, False, False]
    assert "enter the access key again" in items[0]["detail"]


def test_check_says_what_is_missing(api, project, admin_user):
    items = api.post(CHECK_URL).json()

    assert items == [
        {
            "service": "settings",
            "ok": False,
            "detail": "No AWS settings are saved for this project yet: save a region, an execution role "
            "ARN and an S3 bucket first.",
        }
    ]
    assert not AwsSettings.objects.exists()


def test_check_names_a_missing_role(api, aws_project):
    aws_project.role_arn = ""
    aws_project.save()

    items = api.post(CHECK_URL).json()

    assert items[0]["service"] == "settings"
    assert items[0]["ok"] is False
    assert "execution role ARN" in items[0]["detail"]
    assert [item["ok"] for item in items[1:]] == [True, True, True]


# --- the page ------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def page_form(**changes) -> dict:
    form = {
        **FULL,
        "vpc_subnets": "subnet-0123456789abcdef0, subnet-12345678",
        "vpc_security_group_ids": "sg-0123456789abcdef0",
    }
    form.update(changes)
    return form


def test_the_page_never_prefills_the_secret_or_the_key(admin_client, project, saved):
    response = admin_client.get(PAGE)

    html = response.content.decode()
    assert response.status_code == 200
    assert_no_secret(html, row(project))
    assert KEY_ID not in html
    assert "AKIA…MPLE" in html
    assert 'id="stored-keys"' in html
    assert 'name="clear_keys"' in html
    password = input_tag(html, "secret_access_key")
    assert 'type="password"' in password
    assert "value=" not in password
    assert "value=" not in input_tag(html, "access_key_id")
    assert 'value="my-studio-bucket"' in html
    assert "subnet-0123456789abcdef0\nsubnet-12345678</textarea>" in html


def test_the_page_saves_and_says_so(admin_client, project):
    response = admin_client.post(PAGE, page_form(), follow=True)

    assert response.redirect_chain[-1][0] == PAGE
    assert "AWS settings of vision saved." in response.content.decode()
    aws = row(project)
    assert aws.vpc_subnets == ["subnet-0123456789abcdef0", "subnet-12345678"]
    assert secret_decrypt(aws.secret_access_key_encrypted) == SECRET
    assert_no_secret(response.content.decode(), aws)


def test_a_bad_page_post_shows_the_field_errors_and_keeps_what_was_stored(admin_client, project, saved):
    before = AwsSettings.objects.filter(project=project).values().get()

    response = admin_client.post(
        PAGE, page_form(bucket="Bad_Bucket", region="mars", secret_access_key="fresh-secret-typed")
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="field-bucket"' in html
    assert "field-invalid" in html.split('id="field-bucket"')[0].rsplit("<div", 1)[1]
    assert "lower-case letters" in html
    assert "region name" in html
    assert "fresh-secret-typed" not in html  # a password input is never filled in again
    assert 'value="Bad_Bucket"' in html  # what was typed stays, to be corrected
    assert AwsSettings.objects.filter(project=project).values().get() == before


def test_removing_the_stored_keys_from_the_page(admin_client, project, saved):
    form = page_form(access_key_id="", secret_access_key="", clear_keys="on")

    response = admin_client.post(PAGE, form, follow=True)

    assert 'id="no-stored-keys"' in response.content.decode()
    assert not row(project).has_stored_keys


def test_a_viewer_sees_the_page_read_only(client, viewer_user, project, saved):
    client.force_login(viewer_user)

    html = client.get(PAGE).content.decode()

    assert 'id="read-only-note"' in html
    assert "Save settings" not in html
    assert "Check connection" not in html
    assert 'name="secret_access_key"' not in html
    assert "AKIA" not in html
    assert " disabled" in input_tag(html, "bucket")
    assert client.post(PAGE, page_form(bucket="sneaky-bucket")).status_code == 403
    assert client.post(PAGE_CHECK).status_code == 403
    assert row(project).bucket == "my-studio-bucket"


def test_an_outsider_gets_404_on_the_page(client, outsider_user, project, saved):
    client.force_login(outsider_user)

    assert client.get(PAGE).status_code == 404
    assert client.post(PAGE_CHECK).status_code == 404


def test_the_check_button_shows_each_service_with_a_mark(admin_client, aws_project):
    response = admin_client.post(PAGE_CHECK, follow=True)

    html = response.content.decode()
    assert response.redirect_chain[-1][0] == PAGE + "#connection"
    assert "Connection check passed" in html
    for service in ("sts", "s3", "sagemaker"):
        assert f'data-service="{service}" data-ok="true"' in html
    assert html.count("✓") == 3


def test_the_project_tabs_link_to_the_page(admin_client, project):
    html = admin_client.get(reverse("frontend:project-dashboard", args=["vision"])).content.decode()

    assert f'href="{PAGE}"' in html


# --- the admin -------------------------------------------------------------------------------------------


@pytest.fixture
def root_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser(username="root", password="root-pw-123"))
    return client


def test_the_admin_never_shows_the_secret_or_its_ciphertext(root_client, project, saved):
    aws = row(project)
    change = reverse("admin:cloud_awssettings_change", args=[aws.pk])
    changelist = reverse("admin:cloud_awssettings_changelist")

    for url in (change, changelist):
        html = root_client.get(url).content.decode()
        assert_no_secret(html, aws)
        assert KEY_ID not in html
        assert "AKIA…MPLE" in html


def test_the_admin_action_removes_stored_keys_through_the_service(root_client, project, saved):
    response = root_client.post(
        reverse("admin:cloud_awssettings_changelist"),
        {"action": "clear_keys", "_selected_action": [row(project).pk]},
        follow=True,
    )

    assert "Removed the stored keys of 1 project(s)." in response.content.decode()
    assert not row(project).has_stored_keys
    assert AuditEvent.objects.filter(target_type="aws-settings", actor__username="root").exists()


def test_a_stored_ciphertext_is_not_the_plaintext():
    token = secret_encrypt(SECRET)

    assert SECRET not in token
    assert secret_decrypt(token) == SECRET
    assert secret_encrypt(SECRET) != token  # a fresh IV each time
