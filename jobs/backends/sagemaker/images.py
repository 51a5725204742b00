"""The container images SageMaker runs for Studio's jobs and models, per region.

A maintained table: the ``sagemaker`` SDK (whose ``image_uri_config/*.json`` these accounts,
repositories and tags come from, v2.257) cannot be installed beside Studio's pins. Studio's
built-ins map to SageMaker's own algorithm images; the user's code runs in one of SageMaker's
framework containers (scikit-learn by default, or PyTorch, TensorFlow, XGBoost), whose training
toolkit follows the script-mode contract Studio's local backend mirrors. The ISO partitions'
registries are left out (their ECR domains are not amazonaws.com).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jobs.backends.base import BackendError
from studio.instance_types import UnknownInstanceType, instance_type_get

# The framework containers' accounts (sagemaker-xgboost 1.5-1/1.7-1, sagemaker-scikit-learn
# 1.0-1/1.2-1: one table).
FRAMEWORK_ACCOUNTS = {
    "af-south-1": "510948584623",
    "ap-east-1": "651117190479",
    "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "720646828776",
    "ap-south-2": "628508329040",
    "ap-southeast-1": "121021644041",
    "ap-southeast-2": "783357654285",
    "ap-southeast-3": "951798379941",
    "ap-southeast-4": "106583098589",
    "ca-central-1": "341280168497",
    "ca-west-1": "190319476487",
    "cn-north-1": "450853457545",
    "cn-northwest-1": "451049120500",
    "eu-central-1": "492215442770",
    "eu-central-2": "680994064768",
    "eu-north-1": "662702820516",
    "eu-south-1": "978288397137",
    "eu-south-2": "104374241257",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-west-3": "659782779980",
    "il-central-1": "898809789911",
    "me-central-1": "272398656194",
    "me-south-1": "801668240914",
    "sa-east-1": "737474898029",
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-gov-east-1": "237065988967",
    "us-gov-west-1": "414596584902",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
}
# AWS Deep Learning Containers (pytorch-training 2.1.0-2.3.0, tensorflow-training 2.13.0/2.14.1 and
# their -inference images: one table).
DLC_ACCOUNTS = {
    "af-south-1": "626614931356",
    "ap-east-1": "871362719292",
    "ap-east-2": "975050140332",
    "ap-northeast-1": "763104351884",
    "ap-northeast-2": "763104351884",
    "ap-northeast-3": "364406365360",
    "ap-south-1": "763104351884",
    "ap-south-2": "772153158452",
    "ap-southeast-1": "763104351884",
    "ap-southeast-2": "763104351884",
    "ap-southeast-3": "907027046896",
    "ap-southeast-4": "457447274322",
    "ap-southeast-5": "550225433462",
    "ap-southeast-6": "633930458069",
    "ap-southeast-7": "590183813437",
    "ca-central-1": "763104351884",
    "ca-west-1": "204538143572",
    "cn-north-1": "727897471807",
    "cn-northwest-1": "727897471807",
    "eu-central-1": "763104351884",
    "eu-central-2": "380420809688",
    "eu-north-1": "763104351884",
    "eu-south-1": "692866216735",
    "eu-south-2": "503227376785",
    "eu-west-1": "763104351884",
    "eu-west-2": "763104351884",
    "eu-west-3": "763104351884",
    "il-central-1": "780543022126",
    "me-central-1": "914824155844",
    "me-south-1": "217643126080",
    "mx-central-1": "637423239942",
    "sa-east-1": "763104351884",
    "us-east-1": "763104351884",
    "us-east-2": "763104351884",
    "us-gov-east-1": "446045086412",
    "us-gov-west-1": "442386744353",
    "us-west-1": "763104351884",
    "us-west-2": "763104351884",
}

# SageMaker's first-party algorithms (linear-learner, kmeans, pca, randomcutforest, knn: one table).
FIRST_PARTY_ACCOUNTS = {
    "af-south-1": "455444449433",
    "ap-east-1": "286214385809",
    "ap-northeast-1": "351501993468",
    "ap-northeast-2": "835164637446",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "991648021394",
    "ap-south-2": "628508329040",
    "ap-southeast-1": "475088953585",
    "ap-southeast-2": "712309505854",
    "ap-southeast-3": "951798379941",
    "ap-southeast-4": "106583098589",
    "ca-central-1": "469771592824",
    "ca-west-1": "190319476487",
    "cn-north-1": "390948362332",
    "cn-northwest-1": "387376663083",
    "eu-central-1": "664544806723",
    "eu-central-2": "680994064768",
    "eu-north-1": "669576153137",
    "eu-south-1": "257386234256",
    "eu-south-2": "104374241257",
    "eu-west-1": "438346466558",
    "eu-west-2": "644912444149",
    "eu-west-3": "749696950732",
    "il-central-1": "898809789911",
    "me-central-1": "272398656194",
    "me-south-1": "249704162688",
    "sa-east-1": "855470959533",
    "us-east-1": "382416733822",
    "us-east-2": "404615174143",
    "us-gov-east-1": "237065988967",
    "us-gov-west-1": "226302683700",
    "us-west-1": "632365934929",
    "us-west-2": "174872318107",
}


@dataclass(frozen=True)
class Image:
    repository: str
    tag: str
    accounts: dict[str, str]
    excluded_regions: frozenset[str] = frozenset()


XGBOOST = Image("sagemaker-xgboost", "1.7-1", FRAMEWORK_ACCOUNTS)

# Studio's built-in names (jobs.algorithms.registry) -> SageMaker's image for the same algorithm.
BUILTIN_IMAGES = {
    "xgboost": XGBOOST,
    "linear-learner": Image("linear-learner", "1", FIRST_PARTY_ACCOUNTS),
    "k-means": Image("kmeans", "1", FIRST_PARTY_ACCOUNTS),
    "pca": Image("pca", "1", FIRST_PARTY_ACCOUNTS),
    "random-cut-forest": Image("randomcutforest", "1", FIRST_PARTY_ACCOUNTS),
    "knn": Image("knn", "1", FIRST_PARTY_ACCOUNTS),
}
# SageMaker's spellings are accepted too.
BUILTIN_ALIASES = {"kmeans": "k-means", "randomcutforest": "random-cut-forest"}
# Built-ins Studio has that SageMaker offers no algorithm image for.
NOT_ON_SAGEMAKER = {
    "lightgbm": ("SageMaker offers LightGBM only as a JumpStart model, not as a built-in algorithm image"),
    "mlp": "mlp is Studio's own algorithm; SageMaker has no image for it",
}
FRAMEWORK_PURPOSES = ("training", "processing", "inference")


@dataclass(frozen=True)
class Framework:
    """One of SageMaker's framework containers for script mode, as the SDK's JSON describes it.

    A tag is ``<version>[-<processor>][-<python>]``: ``processors`` are the ones the tags carry
    (cpu and gpu: picked by the instance type; cpu alone: the only image; none: one image for
    both), ``versions`` map each version, oldest first, to its tag's Python version ("" for none).
    """

    name: str
    label: str
    training_repository: str
    inference_repository: str
    versions: dict[str, str]
    accounts: dict[str, str]
    processors: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    # tensorflow-inference's tags carry no Python version; its training tags do.
    inference_python: bool = True

    @property
    def default_version(self) -> str:
        return next(reversed(self.versions))

    def offered(self) -> str:
        return ", ".join(self.versions)


DEFAULT_FRAMEWORK = "sklearn"
# Studio's framework names -> SageMaker's containers (a few recent versions each, oldest first).
FRAMEWORKS: dict[str, Framework] = {
    "sklearn": Framework(
        "sklearn",
        "scikit-learn",
        "sagemaker-scikit-learn",
        "sagemaker-scikit-learn",
        {"1.0-1": "py3", "1.2-1": "py3"},
        FRAMEWORK_ACCOUNTS,
        processors=("cpu",),
    ),
    "pytorch": Framework(
        "pytorch",
        "PyTorch",
        "pytorch-training",
        "pytorch-inference",
        {"2.1.0": "py310", "2.2.0": "py310", "2.3.0": "py311"},
        DLC_ACCOUNTS,
        processors=("cpu", "gpu"),
        aliases={"2.1": "2.1.0", "2.2": "2.2.0", "2.3": "2.3.0"},
    ),
    "tensorflow": Framework(
        "tensorflow",
        "TensorFlow",
        "tensorflow-training",
        "tensorflow-inference",
        {"2.13.0": "py310", "2.14.1": "py310"},
        DLC_ACCOUNTS,
        processors=("cpu", "gpu"),
        aliases={"2.13": "2.13.0", "2.14": "2.14.1"},
        inference_python=False,
    ),
    "xgboost": Framework(
        "xgboost",
        "XGBoost",
        "sagemaker-xgboost",
        "sagemaker-xgboost",
        {"1.5-1": "", "1.7-1": ""},
        FRAMEWORK_ACCOUNTS,
    ),
}


class FrameworkChoiceError(ValueError):
    """A framework or version SageMaker's table does not offer; ``field`` names which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def framework_resolve(framework: str = "", version: str = "") -> tuple[Framework, str]:
    """The framework (default scikit-learn) and its version in the table's spelling ("2.2" ->
    "2.2.0"; default: the newest). Raises FrameworkChoiceError listing what is offered."""
    chosen = FRAMEWORKS.get(framework or DEFAULT_FRAMEWORK)
    if chosen is None:
        raise FrameworkChoiceError(
            "framework",
            f"Unknown framework {framework!r}; SageMaker's script-mode containers offered are "
            f"{', '.join(FRAMEWORKS)}.",
        )
    if not version:
        return chosen, chosen.default_version
    resolved = chosen.aliases.get(version, version)
    if resolved not in chosen.versions:
        raise FrameworkChoiceError(
            "framework_version",
            f"{chosen.label} {version} is not offered; choose one of {chosen.offered()}.",
        )
    return chosen, resolved


def definition_framework(definition: dict) -> tuple[str | None, str | None]:
    """A training definition's framework and version as its request picks them (a job made before
    the choice runs scikit-learn's newest); (None, None) for a built-in, which runs its own image."""
    if definition.get("algorithm"):
        return None, None
    framework, version = framework_resolve(
        definition.get("framework") or DEFAULT_FRAMEWORK, definition.get("framework_version") or ""
    )
    return framework.name, version


def _processor(framework: Framework, instance_type: str) -> str:
    """The processor in the tag: gpu on an instance with GPUs where the framework has a GPU image."""
    if not framework.processors:
        return ""
    try:
        instance = instance_type_get(instance_type) if instance_type else None
    except UnknownInstanceType:
        instance = None
    if instance is not None and "gpu" in framework.processors:
        if instance.gpus:
            return "gpu"
        if instance.accelerator:
            raise BackendError(
                f"{framework.label} on {instance.name} ({instance.accelerator}) needs SageMaker's Neuron "
                "containers, which Studio does not pick; choose a CPU or GPU instance type."
            )
    # scikit-learn has a CPU image only: on a GPU instance it runs there, the GPUs unused.
    return "cpu" if "cpu" in framework.processors else framework.processors[0]


def _domain(region: str) -> str:
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


def _uri(image: Image, region: str, what: str) -> str:
    account = image.accounts.get(region)
    if account is None or region in image.excluded_regions:
        offered = sorted(set(image.accounts) - image.excluded_regions)
        raise BackendError(
            f"{what} is not offered in region {region or '(none)'} on SageMaker "
            f"({image.repository}:{image.tag} is published in {', '.join(offered)}). "
            "Change the region in the project's AWS settings, or run the job on the local backend."
        )
    return f"{account}.dkr.ecr.{region}.{_domain(region)}/{image.repository}:{image.tag}"


def algorithm_image(algorithm: str, region: str) -> str:
    """SageMaker's built-in image for one of Studio's built-in algorithms, in ``region``."""
    name = BUILTIN_ALIASES.get(algorithm, algorithm)
    if name in NOT_ON_SAGEMAKER:
        raise BackendError(
            f"{NOT_ON_SAGEMAKER[name]}: {name} cannot run on the sagemaker backend. "
            "Run it on the local backend, or pick xgboost, linear-learner, k-means, pca, "
            "random-cut-forest or knn."
        )
    image = BUILTIN_IMAGES.get(name)
    if image is None:
        raise BackendError(
            f"{algorithm!r} has no SageMaker built-in image; the sagemaker backend runs "
            f"{', '.join(BUILTIN_IMAGES)}."
        )
    return _uri(image, region, name)


def framework_image(
    region: str,
    *,
    purpose: str,
    framework: str = DEFAULT_FRAMEWORK,
    version: str = "",
    instance_type: str = "",
) -> str:
    """SageMaker's ``framework`` container (default scikit-learn, its newest version in the table)
    for the user's own code (script mode), for ``purpose`` "training", "processing" (the training
    image, as the SDK's framework processors use) or "inference"; cpu or gpu from ``instance_type``.

    Raises BackendError when the framework, version or region is not offered."""
    if purpose not in FRAMEWORK_PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(FRAMEWORK_PURPOSES)}, not {purpose!r}")
    try:
        chosen, resolved = framework_resolve(framework, version)
    except FrameworkChoiceError as exc:
        raise BackendError(f"SageMaker framework container for {purpose}: {exc}") from exc
    inference = purpose == "inference"
    python = chosen.versions[resolved] if chosen.inference_python or not inference else ""
    tag = "-".join(part for part in (resolved, _processor(chosen, instance_type), python) if part)
    image = Image(
        chosen.inference_repository if inference else chosen.training_repository, tag, chosen.accounts
    )
    return _uri(image, region, f"The {chosen.label} {resolved} container (for {purpose})")
