"""Reads of datasets and their versions, with the joins their callers need.

Access to the project is checked before (``studio.selectors.project_get_for``); these take the
project (or dataset) the caller may already see.
"""

from __future__ import annotations

from django.db.models import Count, Max, OuterRef, QuerySet, Subquery
from django.http import Http404

from datasets.models import Dataset, DatasetVersion, Upload
from studio.models import Project


def datasets_of(project: Project) -> QuerySet[Dataset]:
    """The project's datasets, each annotated with ``version_count`` and ``latest_number``
    (and ``latest_row_count``, ``latest_size_bytes``, ``latest_format``), in one query."""
    latest = DatasetVersion.objects.filter(dataset=OuterRef("pk")).order_by("-number")
    return (
        Dataset.objects.filter(project=project)
        .select_related("created_by")
        .annotate(
            version_count=Count("versions"),
            latest_number=Max("versions__number"),
            latest_row_count=Subquery(latest.values("row_count")[:1]),
            latest_size_bytes=Subquery(latest.values("size_bytes")[:1]),
            latest_format=Subquery(latest.values("format")[:1]),
            latest_created_at=Subquery(latest.values("created_at")[:1]),
        )
        .order_by("name")
    )


def dataset_get(project: Project, name: str) -> Dataset:
    """The dataset named ``name`` in ``project``; 404 if there is none."""
    dataset = (
        Dataset.objects.filter(project=project, name=name).select_related("project", "created_by").first()
    )
    if dataset is None:
        raise Http404(f"No dataset named {name!r} in {project.name}.")
    return dataset


def versions_of(dataset: Dataset) -> QuerySet[DatasetVersion]:
    """The dataset's versions, newest first, with what produced them."""
    return (
        DatasetVersion.objects.filter(dataset=dataset)
        .select_related("dataset", "parent", "job", "recipe", "created_by")
        .order_by("-number")
    )


def versions_of_project(project: Project) -> QuerySet[DatasetVersion]:
    """Every version of the project's datasets, by dataset name and newest version first, with its dataset."""
    return (
        DatasetVersion.objects.filter(dataset__project=project)
        .select_related("dataset")
        .order_by("dataset__name", "-number")
    )


def version_get(dataset: Dataset, number: int | str) -> DatasetVersion:
    """Version ``number`` of ``dataset``; 404 if there is none."""
    try:
        number = int(number)
    except (TypeError, ValueError):
        raise Http404(f"{number!r} is not a version number.") from None
    version = versions_of(dataset).filter(number=number).first()
    if version is None:
        raise Http404(f"{dataset.name} has no version {number}.")
    return version


def version_latest(dataset: Dataset) -> DatasetVersion | None:
    return versions_of(dataset).first()


def lineage_of(dataset: Dataset) -> dict:
    """The dataset's lineage graph: nodes are versions (this dataset's, their parents in other
    datasets, and children made from them in other datasets), edges go parent → child with the
    recipe or job that made the child. Two queries, whatever the number of versions."""
    related = ("dataset", "parent", "job", "recipe")
    own = list(DatasetVersion.objects.filter(dataset=dataset).select_related(*related, "parent__dataset"))
    outside_children = list(
        DatasetVersion.objects.filter(parent__dataset=dataset)
        .exclude(dataset=dataset)
        .select_related(*related)
    )
    versions: dict[int, DatasetVersion] = {version.pk: version for version in [*own, *outside_children]}
    for version in own:
        if version.parent is not None:
            versions.setdefault(version.parent_id, version.parent)
    nodes = [
        {
            "id": str(version.uuid),
            "dataset": version.dataset.name,
            "number": version.number,
            "origin": version.origin,
            "role": version.role,
            "row_count": version.row_count,
            "created_at": version.created_at,
        }
        for version in sorted(
            versions.values(), key=lambda v: (v.dataset_id != dataset.pk, v.created_at, v.pk)
        )
    ]
    edges = [
        {
            "source": str(versions[version.parent_id].uuid),
            "target": str(version.uuid),
            "recipe": version.recipe.name if version.recipe else None,
            "job": version.job.name if version.job else None,
            "role": version.role,
        }
        for version in versions.values()
        if version.parent_id is not None and version.parent_id in versions
    ]
    return {"nodes": nodes, "edges": edges}


def uploads_of(project: Project) -> QuerySet[Upload]:
    return Upload.objects.filter(project=project).select_related("created_by", "version__dataset")


def upload_get(project: Project, upload_uuid: object) -> Upload:
    upload = uploads_of(project).filter(uuid=upload_uuid).first()
    if upload is None:
        raise Http404(f"No upload {upload_uuid} in {project.name}.")
    return upload


DATASET_URI_SCHEME = "dataset://"


def version_for_reference(project: Project, reference: str) -> DatasetVersion:
    """The version a job input names as ``dataset://<name>/<number>`` (or ``/latest``, or just
    ``dataset://<name>``). Raises LookupError with a message for people."""
    name, _, number = reference.removeprefix(DATASET_URI_SCHEME).strip("/").partition("/")
    dataset = Dataset.objects.filter(project=project, name=name).first()
    if dataset is None:
        raise LookupError(f"no dataset named {name!r} in {project.name}")
    if number in {"", "latest"}:
        version = version_latest(dataset)
    else:
        version = versions_of(dataset).filter(number=int(number)).first() if number.isdigit() else None
    if version is None:
        raise LookupError(f"dataset {name!r} has no version {number or 'yet'}")
    return version
