"""The AWS settings form: it shapes what people type; ``aws_settings_update`` decides what is valid."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from cloud.models import AwsSettings
from cloud.selectors import masked_access_key
from frontend.forms import ServiceErrorsMixin

# The regions offered as suggestions; any other region name may be typed.
COMMON_REGIONS = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "sa-east-1",
]

LIST_FIELDS = ("vpc_subnets", "vpc_security_group_ids")
PLAIN = ("region", "role_arn", "bucket", "prefix", "endpoint_url", "s3_endpoint_url", "kms_key_id")


def _text(label: str, help_text: str = "", placeholder: str = "", **attrs: str) -> forms.CharField:
    attrs = {"autocomplete": "off", "spellcheck": "false", **attrs}
    if placeholder:
        attrs["placeholder"] = placeholder
    return forms.CharField(
        label=label, required=False, help_text=help_text, widget=forms.TextInput(attrs=attrs)
    )


def _id_list(label: str, help_text: str, placeholder: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": placeholder, "spellcheck": "false"}),
    )


class AwsSettingsForm(ServiceErrorsMixin, forms.Form):
    region = forms.CharField(
        label="Region",
        help_text="Where jobs, models and endpoints run.",
        error_messages={"required": "Give the AWS region to run in, e.g. us-east-1."},
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "spellcheck": "false",
                "placeholder": "us-east-1",
                "list": "aws-regions",
            }
        ),
    )
    role_arn = _text(
        "Execution role ARN",
        "The IAM role SageMaker assumes to run jobs; it must trust sagemaker.amazonaws.com.",
        "arn:aws:iam::123456789012:role/SageMakerExecution",
    )
    bucket = _text("S3 bucket", "Data, code and models go here.", "my-studio-bucket")
    prefix = _text("Prefix", "A path inside the bucket; each project gets a folder under it.", "studio")
    endpoint_url = _text(
        "Endpoint URL",
        "One URL for every AWS service (moto, LocalStack). Leave empty for AWS itself.",
        "http://127.0.0.1:5000",
    )
    s3_endpoint_url = _text(
        "S3 endpoint URL", "For an S3-compatible store (MinIO, Ceph) used for S3 alone.", "http://minio:9000"
    )
    vpc_subnets = _id_list(
        "VPC subnets",
        "Run jobs in these subnets: IDs, one per line or comma-separated.",
        "subnet-0123456789abcdef0",
    )
    vpc_security_group_ids = _id_list(
        "VPC security groups", "Needed with subnets: at most 5 IDs.", "sg-0123456789abcdef0"
    )
    kms_key_id = _text(
        "KMS key", "Encrypts job outputs and volumes: a key ID, key ARN or alias.", "alias/studio"
    )
    access_key_id = _text(
        "Access key ID",
        "Leave empty to use boto3's credential chain (environment, profile, instance role).",
        "AKIAIOSFODNN7EXAMPLE",
    )
    secret_access_key = forms.CharField(
        label="Secret access key",
        required=False,
        help_text="Stored encrypted and never shown again.",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_keys = forms.BooleanField(
        label="Remove the stored keys",
        required=False,
        help_text="Then credentials come from boto3's chain on the web and worker machines.",
    )

    def __init__(self, *args: Any, aws: AwsSettings, read_only: bool = False, **kwargs: Any) -> None:
        initial = {name: getattr(aws, name) for name in PLAIN}
        initial.update({name: "\n".join(getattr(aws, name)) for name in LIST_FIELDS})
        super().__init__(*args, initial=initial, **kwargs)
        if aws.has_stored_keys:
            stored = masked_access_key(aws.access_key_id)
            self.fields["access_key_id"].widget.attrs["placeholder"] = (
                f"{stored} (stored; leave empty to keep)"
            )
            self.fields[
                "access_key_id"
            ].help_text = "Leave empty to keep the stored key, or enter a new pair."
            self.fields["secret_access_key"].widget.attrs["placeholder"] = (
                "•••••••• (stored; leave empty to keep)"
            )
        if read_only:
            for field in self.fields.values():
                field.disabled = True

    def service_arguments(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        for name in LIST_FIELDS:
            data[name] = [item for item in re.split(r"[\s,]+", data[name]) if item]
        return data
