"""The container images SageMaker runs for Studio's jobs and models, per region.

A maintained table: the ``sagemaker`` SDK (whose ``image_uri_config/*.json`` these accounts come
from, v2.2xx) cannot be installed beside Studio's pins. Studio's built-ins map to SageMaker's own
algorithm images; the user's code runs in SageMaker's scikit-learn framework container, whose
toolkit follows the script-mode contract Studio's local backend mirrors.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobs.backends.base import BackendError

# The framework containers' accounts (sagemaker-xgboost 1.7-1, sagemaker-scikit-learn 1.2-1).
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
# The scikit-learn container is not published in these (the SDK's sklearn.json omits them).
SKLEARN_MISSING_REGIONS = frozenset({"ca-west-1", "il-central-1"})

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
SKLEARN = Image("sagemaker-scikit-learn", "1.2-1-cpu-py3", FRAMEWORK_ACCOUNTS, SKLEARN_MISSING_REGIONS)

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


def framework_image(region: str, *, purpose: str) -> str:
    """SageMaker's scikit-learn container, which runs the user's own code (script mode) for
    ``purpose`` "training", "processing" or "inference" (one image serves all three)."""
    if purpose not in FRAMEWORK_PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(FRAMEWORK_PURPOSES)}, not {purpose!r}")
    return _uri(SKLEARN, region, f"The scikit-learn container (for {purpose})")
