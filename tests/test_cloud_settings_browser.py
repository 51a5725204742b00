"""The AWS settings page in a real browser: an admin fills the form (a mistake first), saves, and checks
the connection against the moto server. Debian's Chromium driven by Playwright."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from cloud.crypto import secret_decrypt
from cloud.models import AwsSettings
from tests.test_browser import browser, log_in, page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

ROLE = "arn:aws:iam::123456789012:role/studio-sagemaker"
SCREENSHOT = Path("/tmp/studio-aws-settings.png")


def test_an_admin_saves_the_settings_and_checks_the_connection(
    page,  # noqa: F811 (the fixture)
    live_server,
    admin_user,
    project,
    moto_server,
):
    bucket = f"sm-{uuid.uuid4().hex[:12]}"
    moto_server["client"].create_bucket(Bucket=bucket)
    log_in(page, live_server, "alice")
    page.get_by_role("link", name="AWS", exact=True).click()
    page.wait_for_url(re.compile(r"/projects/vision/settings/aws/$"))
    assert page.locator("#no-stored-keys").is_visible()
    assert page.get_by_role("button", name="Check connection").is_disabled()  # nothing saved yet

    # A bucket name S3 would refuse: the field says why, what was typed stays, the secret does not.
    page.get_by_label("Region").fill("us-east-1")
    page.get_by_label("Execution role ARN").fill(ROLE)
    page.get_by_label("S3 bucket").fill("Bad_Bucket")
    page.get_by_label("Prefix").fill("studio")
    page.get_by_label(re.compile(r"^Endpoint URL")).fill(moto_server["endpoint"])
    page.get_by_label("Access key ID").fill("testing")
    page.get_by_label("Secret access key").fill("testing")
    page.get_by_role("button", name="Save settings").click()
    page.locator("#field-bucket .errorlist").wait_for()
    assert "lower-case letters" in page.locator("#field-bucket .errorlist").inner_text()
    assert page.get_by_label("S3 bucket").input_value() == "Bad_Bucket"
    assert page.get_by_label("Execution role ARN").input_value() == ROLE
    assert page.get_by_label("Secret access key").input_value() == ""
    assert not AwsSettings.objects.filter(project=project).exists()

    # Corrected and saved: the keys are stored, and the secret is not shown again.
    page.get_by_label("S3 bucket").fill(bucket)
    page.get_by_label("Secret access key").fill("testing")
    page.get_by_role("button", name="Save settings").click()
    page.locator(".message-success", has_text="AWS settings of vision saved.").wait_for()
    assert page.locator("#stored-keys").is_visible()
    assert page.get_by_label("Secret access key").input_value() == ""
    assert page.get_by_label("S3 bucket").input_value() == bucket
    assert page.locator("#ready .pill-ok").inner_text() == "Yes"
    aws = AwsSettings.objects.get(project=project)
    assert secret_decrypt(aws.secret_access_key_encrypted) == "testing"

    # The check: one line per service, each with a tick.
    page.get_by_role("button", name="Check connection").click()
    page.locator("#check-results").wait_for()
    lines = page.locator("#check-results li")
    assert lines.count() == 3
    for service in ("sts", "s3", "sagemaker"):
        line = page.locator(f"#check-results li[data-service='{service}']")
        assert line.get_attribute("data-ok") == "true", line.inner_text()
        assert line.locator(".check-mark").inner_text() == "✓"
    assert "123456789012" in page.locator("#check-results li[data-service='sts']").inner_text()
    assert bucket in page.locator("#check-results li[data-service='s3']").inner_text()
    page.locator(".message-success", has_text="Connection check passed").wait_for()
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_a_failed_check_shows_a_cross_and_the_reason(
    page,  # noqa: F811 (the fixture)
    live_server,
    admin_user,
    aws_project,
):
    AwsSettings.objects.filter(pk=aws_project.pk).update(bucket="no-such-bucket-here")
    log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/vision/settings/aws/")

    page.get_by_role("button", name="Check connection").click()
    failed = page.locator("#check-results li[data-service='s3'][data-ok='false']")
    failed.wait_for()

    assert failed.locator(".check-mark").inner_text() == "✗"
    assert "Bucket no-such-bucket-here does not exist" in failed.inner_text()
    assert page.locator("#check-results li[data-ok='true']").count() == 2
    assert page.locator(".message-warning").inner_text().startswith("Connection check: 1 of 3 checks failed")
