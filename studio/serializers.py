from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from studio.models import ApiKey, Artifact, AuditEvent, Membership, Project
from studio.roles import Role


class ProjectSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["name", "uuid", "description", "created_by", "created_at", "role"]
        read_only_fields = ["uuid", "created_by", "created_at", "role"]

    def get_role(self, project: Project) -> str | None:
        return getattr(project, "user_role", None)


class ProjectCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=63)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class ProjectUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(allow_blank=True)


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["username", "role", "created_at"]


class MembershipInputSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)

    def validate_username(self, value: str):
        user = get_user_model().objects.filter(username=value, is_active=True).first()
        if user is None:
            raise serializers.ValidationError(f"No active user named {value!r}.")
        return user


class MembershipRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class ArtifactSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Artifact
        fields = ["uuid", "uri", "size", "sha256", "origin", "created_by", "created_at"]


class ArtifactUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    path = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=900,
        help_text="Where under the project's prefix; defaults to uploads/<file name>.",
    )


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = AuditEvent
        fields = ["created_at", "actor", "action", "target_type", "target_name", "details"]


class ApiKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["uuid", "name", "prefix", "created_at", "last_used_at", "revoked_at"]


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class InstanceTypeSerializer(serializers.Serializer):
    name = serializers.CharField()
    vcpus = serializers.IntegerField()
    memory_gib = serializers.IntegerField()
    gpus = serializers.IntegerField()
    gpu_model = serializers.CharField()
    gpu_memory_gib = serializers.IntegerField()
    accelerator = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
