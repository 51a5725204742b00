"""The instance-type catalogue: published vCPU, memory and accelerators of SageMaker's ml.* types.

Locally an instance type sets the CPU, memory and GPU limits of a job's process; on SageMaker it
is passed through.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_gib: int
    gpus: int = 0
    gpu_model: str = ""
    gpu_memory_gib: int = 0
    accelerator: str = ""  # non-GPU accelerators (Trainium, Inferentia)
    roles: tuple[str, ...] = ("training", "hosting", "transform", "processing")

    def as_dict(self) -> dict:
        data = asdict(self)
        data["roles"] = list(self.roles)
        return data


_ALL = ("training", "hosting", "transform", "processing")
_NO_HOSTING = ("training", "processing")
_TRAIN_HOST = ("training", "hosting")

CATALOGUE: tuple[InstanceType, ...] = (
    InstanceType("ml.t3.medium", 2, 4, roles=_NO_HOSTING),
    InstanceType("ml.m5.large", 2, 8),
    InstanceType("ml.m5.xlarge", 4, 16),
    InstanceType("ml.m5.2xlarge", 8, 32),
    InstanceType("ml.m5.4xlarge", 16, 64),
    InstanceType("ml.c5.xlarge", 4, 8),
    InstanceType("ml.c5.2xlarge", 8, 16),
    InstanceType("ml.r5.large", 2, 16, roles=("training", "hosting", "processing")),
    InstanceType("ml.p3.2xlarge", 8, 61, 1, "NVIDIA V100", 16),
    InstanceType("ml.p3.8xlarge", 32, 244, 4, "NVIDIA V100", 16),
    InstanceType("ml.p3.16xlarge", 64, 488, 8, "NVIDIA V100", 16),
    InstanceType("ml.g4dn.xlarge", 4, 16, 1, "NVIDIA T4", 16),
    InstanceType("ml.g4dn.12xlarge", 48, 192, 4, "NVIDIA T4", 16),
    InstanceType("ml.g5.xlarge", 4, 16, 1, "NVIDIA A10G", 24),
    InstanceType("ml.g5.12xlarge", 48, 192, 4, "NVIDIA A10G", 24),
    InstanceType("ml.g6.xlarge", 4, 16, 1, "NVIDIA L4", 24),
    InstanceType("ml.p4d.24xlarge", 96, 1152, 8, "NVIDIA A100", 40, roles=_TRAIN_HOST),
    InstanceType("ml.p5.48xlarge", 192, 2048, 8, "NVIDIA H100", 80, roles=_TRAIN_HOST),
    InstanceType(
        "ml.trn1.2xlarge",
        8,
        32,
        accelerator="1 AWS Trainium (2 NeuronCores)",
        roles=("training", "hosting", "transform"),
    ),
    InstanceType(
        "ml.inf2.xlarge",
        4,
        16,
        accelerator="1 AWS Inferentia2 (2 NeuronCores)",
        roles=("hosting", "transform"),
    ),
)
_BY_NAME = {instance.name: instance for instance in CATALOGUE}


class UnknownInstanceType(ValueError):
    pass


def instance_type_get(name: str, *, role: str | None = None) -> InstanceType:
    instance = _BY_NAME.get(name)
    if instance is None:
        raise UnknownInstanceType(f"Unknown instance type {name!r}; see /api/v1/instance-types/.")
    if role is not None and role not in instance.roles:
        raise UnknownInstanceType(
            f"{name} cannot be used for {role}; it supports {', '.join(instance.roles)}."
        )
    return instance


def instance_types_for(role: str) -> list[InstanceType]:
    return [instance for instance in CATALOGUE if role in instance.roles]
