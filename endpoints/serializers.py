"""The inference API's shapes: models, endpoint configs, endpoints, their metrics."""

from __future__ import annotations

from rest_framework import serializers

from endpoints.models import (
    Endpoint,
    EndpointConfig,
    EndpointEvent,
    Model,
    ProductionVariant,
    ServingInstance,
)
from jobs.models import Backend
from jobs.serializers.common import JSONValueField, ListOfObjects, optional_json

# What the API shows of ``Endpoint.remote`` (SageMaker's names, ARN, status and the requests sent).
SAGEMAKER_FIELDS = (
    "endpoint_name",
    "endpoint_arn",
    "endpoint_config_name",
    "region",
    "models",
    "endpoint_configs",
    "last_status",
    "last_retry_reason",
    "requests",
)


class ModelSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.name", read_only=True)
    training_job = serializers.CharField(source="training_job.name", read_only=True, default=None)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    trusted_by = serializers.CharField(source="trusted_by.username", read_only=True, default=None)
    needs_trust = serializers.BooleanField(read_only=True)
    inference_code = serializers.SerializerMethodField()

    class Meta:
        model = Model
        fields = [
            "name",
            "uuid",
            "project",
            "source",
            "training_job",
            "algorithm",
            "artifact_uri",
            "artifact_sha256",
            "artifact_size",
            "inference_code",
            "environment",
            "pickle_files",
            "needs_trust",
            "trusted_by",
            "trusted_at",
            "tags",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_inference_code(self, model: Model) -> dict | None:
        code = model.code
        if not code:
            return None
        return {key: code[key] for key in ("filename", "entry_point", "uri", "sha256") if key in code}


class ModelCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=63)
    training_job = serializers.CharField(required=False, allow_blank=True, default="")
    model_file = serializers.FileField(required=False, help_text="A model.tar.gz (multipart)")
    model_data_uri = serializers.CharField(required=False, allow_blank=True, default="")
    code_file = serializers.FileField(required=False, help_text="Inference code: a .py or a .tar.gz/.zip")
    entry_point = serializers.CharField(required=False, allow_blank=True, default="")
    environment = optional_json(dict)
    tags = optional_json(dict)
    client_token = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")

    def service_arguments(self) -> dict:
        data = dict(self.validated_data)
        model_file, code_file = data.pop("model_file", None), data.pop("code_file", None)
        return {
            **data,
            "model_file": model_file,
            "code_file": code_file,
            "code_filename": code_file.name if code_file is not None else "",
            "client_token": data["client_token"] or None,
        }


class VariantSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name")

    class Meta:
        model = ProductionVariant
        fields = ["name", "model", "instance_type", "instance_count", "initial_weight", "is_shadow"]


class EndpointConfigSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.name", read_only=True)
    variants = serializers.SerializerMethodField()
    shadow_variant = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)

    class Meta:
        model = EndpointConfig
        fields = [
            "name",
            "uuid",
            "project",
            "variants",
            "shadow_variant",
            "data_capture",
            "tags",
            "created_by",
            "created_at",
        ]

    def get_variants(self, config: EndpointConfig) -> list[dict]:
        return [VariantSerializer(v).data for v in config.variants.all() if not v.is_shadow]

    def get_shadow_variant(self, config: EndpointConfig) -> dict | None:
        shadow = next((v for v in config.variants.all() if v.is_shadow), None)
        return None if shadow is None else VariantSerializer(shadow).data


class EndpointConfigCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=63)
    variants = ListOfObjects(help_text="[{name, model, instance_type, instance_count, initial_weight}]")
    shadow_variant = JSONValueField(expect=dict, required=False, default=None, allow_null=True)
    data_capture = JSONValueField(
        expect=dict,
        required=False,
        default=None,
        allow_null=True,
        help_text="{enabled, sampling_percentage, destination_uri, capture_modes: [Input, Output], "
        "csv_content_types, json_content_types}",
    )
    tags = optional_json(dict)
    client_token = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")

    def service_arguments(self) -> dict:
        return {**self.validated_data, "client_token": self.validated_data["client_token"] or None}


class EndpointEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = EndpointEvent
        fields = ["status", "message", "created_at"]


class ServingInstanceSerializer(serializers.ModelSerializer):
    config = serializers.CharField(source="config.name")

    class Meta:
        model = ServingInstance
        fields = [
            "config",
            "variant",
            "index",
            "is_shadow",
            "status",
            "restarts",
            "last_error",
            "started_at",
            "ready_at",
        ]


class EndpointSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.name", read_only=True)
    endpoint_config = serializers.CharField(source="config.name", read_only=True)
    pending_endpoint_config = serializers.CharField(
        source="pending_config.name", read_only=True, default=None
    )
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    invocation_url = serializers.SerializerMethodField()

    class Meta:
        model = Endpoint
        fields = [
            "name",
            "uuid",
            "project",
            "status",
            "failure_reason",
            "backend",
            "endpoint_config",
            "pending_endpoint_config",
            "weights",
            "invocation_url",
            "tags",
            "created_by",
            "created_at",
            "updated_at",
        ]

    def get_invocation_url(self, endpoint: Endpoint) -> str:
        return f"/api/v1/projects/{endpoint.project.name}/endpoints/{endpoint.name}/invocations"


class EndpointDetailSerializer(EndpointSerializer):
    production_variants = serializers.SerializerMethodField()
    events = EndpointEventSerializer(many=True, read_only=True)
    instances = serializers.SerializerMethodField()
    sagemaker = serializers.SerializerMethodField()

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "production_variants", "instances", "sagemaker", "events"]

    def get_production_variants(self, endpoint: Endpoint) -> list[dict]:
        """SageMaker's variant summary: current weight and instance counts of each variant (on
        SageMaker, as its last DescribeEndpoint said)."""
        ready: dict[str, int] = {}
        for instance in endpoint.instances.all():
            if instance.config_id == endpoint.config_id and instance.status == "Ready":
                ready[instance.variant] = ready.get(instance.variant, 0) + 1
        if endpoint.backend == Backend.SAGEMAKER:
            for variant in endpoint.remote.get("variants", []):
                ready[variant.get("VariantName", "")] = variant.get("CurrentInstanceCount") or 0
        return [
            {
                "variant_name": variant.name,
                "model": variant.model.name,
                "is_shadow": variant.is_shadow,
                "instance_type": variant.instance_type,
                "current_weight": endpoint.weights.get(variant.name, 0.0) if not variant.is_shadow else None,
                "desired_instance_count": variant.instance_count,
                "current_instance_count": ready.get(variant.name, 0),
            }
            for variant in endpoint.config.variants.all()
        ]

    def get_instances(self, endpoint: Endpoint) -> list[dict]:
        return ServingInstanceSerializer(endpoint.instances.all(), many=True).data

    def get_sagemaker(self, endpoint: Endpoint) -> dict | None:
        """On SageMaker: its names, ARN, last status and the exact requests Studio sent."""
        if endpoint.backend != Backend.SAGEMAKER:
            return None
        return {field: endpoint.remote.get(field) for field in SAGEMAKER_FIELDS}


class EndpointCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=63)
    endpoint_config = serializers.CharField(max_length=63)
    backend = serializers.ChoiceField(
        choices=Backend.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="local: this machine's serving processes; sagemaker: an endpoint in the project's AWS "
        "account (needs its AWS settings). Empty: the installation's default.",
    )
    tags = optional_json(dict)
    client_token = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")

    def service_arguments(self) -> dict:
        return {**self.validated_data, "client_token": self.validated_data["client_token"] or None}


class EndpointUpdateSerializer(serializers.Serializer):
    endpoint_config = serializers.CharField(max_length=63)


class EndpointWeightsSerializer(serializers.Serializer):
    weights = JSONValueField(expect=dict, help_text="{variant name: weight}")
