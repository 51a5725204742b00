"""Use cases of a project's AWS settings: change them (validated all at once), and check that they work.

The secret access key is write-only: it is encrypted before it reaches the row, and neither its
value nor its ciphertext is ever logged, audited or returned.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any, TypedDict
from urllib.parse import urlsplit

from botocore.config import Config
from botocore.exceptions import ClientError
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from cloud.clients import aws_client, aws_session, retry_config
from cloud.crypto import secret_encrypt
from cloud.errors import AWS_ERRORS, aws_failure
from cloud.models import AwsSettings
from cloud.selectors import MASK, masked_access_key
from studio.models import Project
from studio.roles import Permission, role_allows
from studio.selectors import project_role
from studio.services import audit_record

logger = logging.getLogger(__name__)

# --- What each setting may hold -------------------------------------------------------------------

REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
SUBNET_RE = re.compile(r"^subnet-[0-9a-f]{8,17}$")
SECURITY_GROUP_RE = re.compile(r"^sg-[0-9a-f]{8,17}$")
ACCESS_KEY_ID_RE = re.compile(r"^[A-Za-z0-9]{3,128}$")
_KMS_KEY = r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})"
_KMS_ALIAS = r"alias/[A-Za-z0-9/_-]{1,256}"
_KMS_ARN = r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:"
KMS_KEY_RE = re.compile(rf"^({_KMS_KEY}|{_KMS_ALIAS}|{_KMS_ARN}key/{_KMS_KEY}|{_KMS_ARN}{_KMS_ALIAS})$")
MAX_SUBNETS = 16
MAX_SECURITY_GROUPS = 5
MAX_PREFIX = 512
MAX_URL = 512
MAX_SECRET = 1024

# Settings stored as they are given (after validation); the access key pair is handled apart.
PLAIN_FIELDS = (
    "region",
    "role_arn",
    "bucket",
    "prefix",
    "endpoint_url",
    "s3_endpoint_url",
    "vpc_subnets",
    "vpc_security_group_ids",
    "kms_key_id",
)
SETTING_FIELDS = (*PLAIN_FIELDS, "access_key_id", "secret_access_key", "clear_keys")

# The connection check answers in seconds, not after the jobs' patient retries.
CHECK_CONFIG = Config(connect_timeout=5, read_timeout=20, retries={"mode": "standard", "max_attempts": 2})
PROBE_BODY = b"Studio connection check: safe to delete.\n"


class CheckItem(TypedDict):
    service: str  # "settings", "sts", "s3" or "sagemaker"
    ok: bool
    detail: str


def _require_manage(project: Project, user: AbstractBaseUser) -> None:
    role = getattr(project, "user_role", None) or project_role(user, project)
    if not role_allows(role, Permission.MANAGE):
        raise PermissionDenied(f"Only an admin of {project.name} may change or check its AWS settings.")


# --- Validation: each function returns the value to store, or raises ValidationError ---------------


def _text(value: Any, *, max_length: int) -> str:
    if not isinstance(value, str):
        raise ValidationError("Give text.")
    value = value.strip()
    if len(value) > max_length:
        raise ValidationError(f"At most {max_length} characters (this has {len(value)}).")
    return value


def clean_region(value: Any) -> str:
    value = _text(value, max_length=32)
    if not value:
        raise ValidationError("Give the AWS region to run in, e.g. us-east-1.")
    if not REGION_RE.match(value):
        raise ValidationError(f"{value!r} is not an AWS region name like us-east-1 or cn-north-1.")
    return value


def clean_role_arn(value: Any) -> str:
    value = _text(value, max_length=2048)
    if value and not ROLE_ARN_RE.match(value):
        raise ValidationError(
            "Give the ARN of an IAM role, like arn:aws:iam::123456789012:role/SageMakerExecution."
        )
    return value


def clean_bucket(value: Any) -> str:
    value = _text(value, max_length=63)
    if not value:
        return value
    if value.startswith("s3://"):
        raise ValidationError("Give the bucket's name alone, without s3:// (the path goes in the prefix).")
    if not 3 <= len(value) <= 63:
        raise ValidationError("An S3 bucket name has 3 to 63 characters.")
    if not BUCKET_RE.match(value):
        raise ValidationError(
            "An S3 bucket name has lower-case letters, digits, dots and hyphens, and starts and ends "
            "with a letter or a digit."
        )
    if ".." in value:
        raise ValidationError("An S3 bucket name cannot have two dots in a row.")
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        pass
    else:
        raise ValidationError("An S3 bucket name cannot look like an IP address.")
    if value.startswith(("xn--", "sthree-")) or value.endswith(("-s3alias", "--ol-s3", "--x-s3")):
        raise ValidationError("S3 reserves this bucket name's prefix or suffix; choose another name.")
    return value


def clean_prefix(value: Any) -> str:
    value = _text(value, max_length=MAX_PREFIX)
    if value.startswith("/"):
        raise ValidationError("The prefix is a path inside the bucket: no leading '/'.")
    value = value.rstrip("/")
    parts = value.split("/")
    if value and any(part in ("", ".", "..") for part in parts):
        raise ValidationError("The prefix cannot hold empty, '.' or '..' parts (like a//b or ../x).")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValidationError("The prefix cannot hold control characters.")
    return value


def clean_url(value: Any) -> str:
    value = _text(value, max_length=MAX_URL)
    if not value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        raise ValidationError(f"Give an http:// or https:// URL, like http://127.0.0.1:5000 (not {value!r}).")
    if parts.username or parts.password:
        raise ValidationError("Leave credentials out of the URL: store an access key below instead.")
    if parts.query or parts.fragment:
        raise ValidationError("The URL cannot have a query (?…) or a fragment (#…).")
    try:
        parts.port  # noqa: B018 (raises on a port out of range)
    except ValueError as exc:
        raise ValidationError(f"The URL's port is not valid: {exc}.") from exc
    return value


def _id_list(value: Any, *, pattern: re.Pattern, limit: int, example: str) -> list[str]:
    if not isinstance(value, list | tuple):
        raise ValidationError(f"Give a list of IDs like {example}.")
    cleaned: list[str] = []
    for item in value:
        if not isinstance(item, str) or not pattern.match(item.strip()):
            raise ValidationError(f"{item!r} is not an ID like {example}.")
        if item.strip() not in cleaned:
            cleaned.append(item.strip())
    if len(cleaned) > limit:
        raise ValidationError(f"At most {limit} (got {len(cleaned)}).")
    return cleaned


def clean_vpc_subnets(value: Any) -> list[str]:
    return _id_list(value, pattern=SUBNET_RE, limit=MAX_SUBNETS, example="subnet-0123456789abcdef0")


def clean_vpc_security_group_ids(value: Any) -> list[str]:
    return _id_list(
        value, pattern=SECURITY_GROUP_RE, limit=MAX_SECURITY_GROUPS, example="sg-0123456789abcdef0"
    )


def clean_kms_key_id(value: Any) -> str:
    value = _text(value, max_length=2048)
    if value and not KMS_KEY_RE.match(value):
        raise ValidationError(
            "Give a KMS key ID, key ARN, alias (alias/my-key) or alias ARN, "
            "like 1234abcd-12ab-34cd-56ef-1234567890ab."
        )
    return value


def clean_access_key_id(value: Any) -> str:
    value = _text(value, max_length=128)
    if value and not ACCESS_KEY_ID_RE.match(value):
        raise ValidationError("An access key ID has letters and digits only, like AKIAIOSFODNN7EXAMPLE.")
    return value


@sensitive_variables("value")
def clean_secret_access_key(value: Any) -> str:
    # The messages never quote the value: it is a secret even when it is wrong.
    if not isinstance(value, str):
        raise ValidationError("Give text.")
    value = value.strip()
    if len(value) > MAX_SECRET:
        raise ValidationError(f"At most {MAX_SECRET} characters.")
    if any(char.isspace() or ord(char) < 32 for char in value):
        raise ValidationError("A secret access key has no spaces or line breaks; paste it again.")
    return value


CLEANERS: dict[str, Callable[[Any], Any]] = {
    "region": clean_region,
    "role_arn": clean_role_arn,
    "bucket": clean_bucket,
    "prefix": clean_prefix,
    "endpoint_url": clean_url,
    "s3_endpoint_url": clean_url,
    "vpc_subnets": clean_vpc_subnets,
    "vpc_security_group_ids": clean_vpc_security_group_ids,
    "kms_key_id": clean_kms_key_id,
}


# --- Writes ----------------------------------------------------------------------------------------


@sensitive_variables("secret_access_key", "secret", "fields")
def aws_settings_update(
    *,
    project: Project,
    user: AbstractBaseUser,
    secret_access_key: str | None = None,
    clear_keys: bool = False,
    **fields: Any,
) -> AwsSettings:
    """Change the settings given in ``fields`` (the others keep their values); all or nothing.

    ``access_key_id`` and ``secret_access_key``: empty or omitted keeps the stored pair; a new ID
    needs its secret; ``clear_keys=True`` removes the pair (then credentials come from boto3's chain).
    Raises ValidationError naming every bad field, PermissionDenied for anyone but a project admin.
    """
    unknown = set(fields) - {*PLAIN_FIELDS, "access_key_id"}
    if unknown:
        raise TypeError(f"unknown AWS settings: {', '.join(sorted(unknown))}")
    _require_manage(project, user)
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "access_key_id" and isinstance(value, str) and MASK in value:
            cleaned[name] = value.strip()  # what GET answered, sent back: checked against the row below
            continue
        cleaner = CLEANERS.get(name, clean_access_key_id)
        try:
            cleaned[name] = cleaner(value)
        except ValidationError as exc:
            errors[name] = exc.messages
    secret = ""
    if secret_access_key is not None:
        try:
            secret = clean_secret_access_key(secret_access_key)
        except ValidationError as exc:
            errors["secret_access_key"] = exc.messages

    with transaction.atomic():
        aws, created = AwsSettings.objects.get_or_create(project=project)
        aws = AwsSettings.objects.select_for_update().get(pk=aws.pk)
        after = {name: cleaned.get(name, getattr(aws, name)) for name in PLAIN_FIELDS}
        _check_vpc_pair(after, errors)
        key_change = _key_change(aws, cleaned.pop("access_key_id", ""), secret, clear_keys, errors)
        if errors:
            # Raised inside the transaction: a row made just now for this update goes away again.
            raise ValidationError(errors)

        details: dict[str, Any] = {}
        for name, value in cleaned.items():
            if getattr(aws, name) != value:
                details[name] = {"from": getattr(aws, name), "to": value}
                setattr(aws, name, value)
        if key_change is not None:
            key_id, what = key_change
            details["access_key_id"] = {
                "from": masked_access_key(aws.access_key_id),
                "to": masked_access_key(key_id),
            }
            details["secret_access_key"] = what  # "stored", "replaced" or "removed": never a value
            aws.access_key_id = key_id
            aws.secret_access_key_encrypted = secret_encrypt(secret) if secret else ""
        if details or created:
            aws.updated_by = user
            aws.updated_at = timezone.now()
            aws.save()
            audit_record(
                actor=user,
                action="create" if created else "update",
                target_type="aws-settings",
                target_name=project.name,
                project=project,
                details=details,
            )
            logger.info(
                "AWS settings of %s saved",
                project.name,
                extra={"project": project.name, "fields": sorted(details)},
            )
    aws.project = project
    return aws


def _check_vpc_pair(after: dict[str, Any], errors: dict[str, list[str]]) -> None:
    """SageMaker takes subnets and security groups together, or neither."""
    if "vpc_subnets" in errors or "vpc_security_group_ids" in errors:
        return
    subnets, groups = after["vpc_subnets"], after["vpc_security_group_ids"]
    if subnets and not groups:
        errors["vpc_security_group_ids"] = [
            "Give the security groups to use in these subnets (or no subnets)."
        ]
    elif groups and not subnets:
        errors["vpc_subnets"] = ["Give the subnets these security groups apply in (or no security groups)."]


@sensitive_variables("secret")
def _key_change(
    aws: AwsSettings, key_id: str, secret: str, clear_keys: bool, errors: dict[str, list[str]]
) -> tuple[str, str] | None:
    """The new (access key ID, what happened to the secret), or None when the stored pair stays."""
    if MASK in key_id:
        if key_id != masked_access_key(aws.access_key_id):
            errors["access_key_id"] = [
                "This is a masked key ID: give the whole access key ID, or leave it empty."
            ]
            return None
        key_id = ""  # the stored key, as GET shows it: keep it
    if "access_key_id" in errors or "secret_access_key" in errors:
        return None
    if clear_keys:
        if key_id or secret:
            errors["clear_keys"] = ["Either remove the stored keys or give new ones, not both."]
            return None
        if aws.access_key_id or aws.secret_access_key_encrypted:
            return "", "removed"
        return None
    if secret:
        key_id = key_id or aws.access_key_id
        if not key_id:
            errors["access_key_id"] = ["Give the access key ID that goes with the secret access key."]
            return None
        return key_id, "replaced" if aws.secret_access_key_encrypted else "stored"
    if key_id and key_id != aws.access_key_id:
        errors["secret_access_key"] = ["Give the secret access key that goes with this access key ID."]
    return None


# --- The connection check ----------------------------------------------------------------------------


def aws_connection_check(*, project: Project, user: AbstractBaseUser) -> list[CheckItem]:
    """Try the project's settings on STS, S3 and SageMaker; report what works, never raise for AWS.

    The report is kept on the row (``last_check``, ``checked_at``) for the settings page.
    """
    _require_manage(project, user)
    aws = AwsSettings.objects.filter(project=project).first()
    if aws is None:
        return [
            CheckItem(
                service="settings",
                ok=False,
                detail="No AWS settings are saved for this project yet: save a region, an execution "
                "role ARN and an S3 bucket first.",
            )
        ]
    aws.project = project
    items: list[CheckItem] = []
    missing = [
        label
        for label, value in (("execution role ARN", aws.role_arn), ("S3 bucket", aws.bucket))
        if not value
    ]
    if missing:
        items.append(
            CheckItem(
                service="settings",
                ok=False,
                detail=f"The settings lack the {' and the '.join(missing)}: SageMaker jobs cannot start "
                "until they are set.",
            )
        )
    items += [_check_sts(aws), _check_s3(aws), _check_sagemaker(aws)]
    AwsSettings.objects.filter(pk=aws.pk).update(last_check=items, checked_at=timezone.now())
    logger.info(
        "AWS connection check of %s",
        project.name,
        extra={"project": project.name, "results": {item["service"]: item["ok"] for item in items}},
    )
    return items


def _config() -> Config:
    return retry_config().merge(CHECK_CONFIG)


def _credentials_source(aws: AwsSettings) -> str:
    if aws.has_stored_keys:
        return f"the project's stored access key {masked_access_key(aws.access_key_id)}"
    credentials = aws_session(aws).get_credentials()
    method = getattr(credentials, "method", "") if credentials else ""
    return f"boto3's default credential chain ({method})" if method else "boto3's default credential chain"


def _check_sts(aws: AwsSettings) -> CheckItem:
    try:
        identity = aws_client(aws, "sts", config=_config()).get_caller_identity()
        source = _credentials_source(aws)
    except AWS_ERRORS as exc:
        return CheckItem(service="sts", ok=False, detail=aws_failure(exc, action="GetCallerIdentity").reason)
    return CheckItem(
        service="sts",
        ok=True,
        detail=f"Signed in to account {identity.get('Account', '?')} as {identity.get('Arn', '?')}, "
        f"with {source}.",
    )


def _probe_key(aws: AwsSettings) -> str:
    parts = [aws.prefix.strip("/"), aws.project.name, f".studio-check/{uuid.uuid4().hex}"]
    return "/".join(part for part in parts if part)


def _bucket_failure(exc: Exception, bucket: str) -> str:
    """HeadBucket answers without a body: say what its bare status codes mean."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        if code in ("404", "NoSuchBucket"):
            return f"Bucket {bucket} does not exist (or the S3 endpoint URL points elsewhere)."
        if code in ("403", "AccessDenied"):
            return (
                f"Access to bucket {bucket} is denied: it belongs to another account, or the credentials "
                "lack s3:ListBucket on it."
            )
        if code in ("301", "PermanentRedirect") or headers.get("x-amz-bucket-region"):
            where = headers.get("x-amz-bucket-region", "another region")
            return f"Bucket {bucket} is in {where}, not in the settings' region: set the region to match."
    return aws_failure(exc, action=f"HeadBucket {bucket}").reason


def _check_s3(aws: AwsSettings) -> CheckItem:
    if not aws.bucket:
        return CheckItem(service="s3", ok=False, detail="No S3 bucket is set, so nothing was tried.")
    bucket = aws.bucket
    try:
        client = aws_client(aws, "s3", config=_config())
        client.head_bucket(Bucket=bucket)
    except AWS_ERRORS as exc:
        return CheckItem(service="s3", ok=False, detail=_bucket_failure(exc, bucket))
    key = _probe_key(aws)
    extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": aws.kms_key_id} if aws.kms_key_id else {}
    try:
        client.put_object(Bucket=bucket, Key=key, Body=PROBE_BODY, **extra)
    except AWS_ERRORS as exc:
        reason = aws_failure(exc, action=f"PutObject s3://{bucket}/{key}").reason
        return CheckItem(
            service="s3", ok=False, detail=f"Bucket {bucket} is readable, but writing failed: {reason}"
        )
    detail = f"Bucket {bucket}: reading and writing under {aws.s3_root}/ work"
    detail += " (with the KMS key)." if aws.kms_key_id else "."
    try:
        client.delete_object(Bucket=bucket, Key=key)
    except AWS_ERRORS as exc:
        reason = aws_failure(exc, action="DeleteObject").reason
        detail += f" The probe object s3://{bucket}/{key} could not be deleted: {reason}"
    return CheckItem(service="s3", ok=True, detail=detail)


def _check_sagemaker(aws: AwsSettings) -> CheckItem:
    try:
        aws_client(aws, "sagemaker", config=_config()).list_training_jobs(MaxResults=1)
    except AWS_ERRORS as exc:
        return CheckItem(
            service="sagemaker", ok=False, detail=aws_failure(exc, action="ListTrainingJobs").reason
        )
    return CheckItem(service="sagemaker", ok=True, detail=f"SageMaker answers in {aws.region}.")
