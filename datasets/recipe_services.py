"""Preparation recipes: save, preview on a sample, run as a processing job, record its versions,
export as a script.

The steps themselves (checks, pandas code, generated code) are in ``datasets/recipes.py``; this
module is what the API, the pages and the job driver call.
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils import timezone

from datasets import recipes, selectors
from datasets.models import Dataset, DatasetVersion, Recipe, VersionOrigin
from datasets.readers import TABULAR_FORMATS, ReadError, read_sample
from datasets.schema import infer_schema
from datasets.services import dataset_prefix, version_create
from jobs.models import Job, JobKind
from jobs.services import builtin_job_create
from studio.artifacts import ArtifactError, join_uri, normalize_uri, sha256_of_stream, store_for
from studio.models import Artifact, name_validator
from studio.services import artifact_record, audit_record

JOB_MODULE = "datasets.runtime.recipe"
COMPLETION_HOOK = "datasets.recipe_services.recipe_job_completed"
MANIFEST_OUTPUT = "manifest"
# Route segments beside recipes/<name>/ (the preview API, the builder's "new" page).
RESERVED_NAMES = frozenset({"new", "preview"})
PREVIEW_SAMPLE_ROWS = 500
PREVIEW_SHOW_ROWS = 50
MAX_PREVIEW_SAMPLE_ROWS = 5000
# A preview of data in S3 reads the start of the first object, not the whole file.
PREVIEW_REMOTE_BYTES = 8 * 1024 * 1024
RUNS_SHOWN = 20


# --- Reads -----------------------------------------------------------------------------------------------


def recipes_of(dataset: Dataset) -> QuerySet[Recipe]:
    """The dataset's recipes, with their creator and how many versions each produced (one query)."""
    return (
        Recipe.objects.filter(dataset=dataset)
        .select_related("dataset", "created_by")
        .annotate(version_count=Count("versions"))
        .order_by("name")
    )


def recipe_get(dataset: Dataset, name: str) -> Recipe:
    recipe = Recipe.objects.filter(dataset=dataset, name=name).select_related(
        "dataset__project", "created_by"
    )
    found = recipe.first()
    if found is None:
        raise Http404(f"No recipe named {name!r} for dataset {dataset.name}.")
    return found


def recipe_runs(recipe: Recipe) -> QuerySet[Job]:
    """The processing jobs that ran this recipe, newest first."""
    return (
        Job.objects.filter(
            project_id=recipe.dataset.project_id,
            kind=JobKind.PROCESSING,
            spec__context__recipe=str(recipe.uuid),
        )
        .select_related("project", "created_by")
        .order_by("-created_at", "-id")
    )


def source_version(dataset: Dataset) -> DatasetVersion | None:
    """The version a new recipe is meant for: the latest one that no recipe made (outputs of recipes
    have the recipe's columns, not the data's), else the latest."""
    made_here = [VersionOrigin.RECIPE, VersionOrigin.SPLIT]
    latest = selectors.versions_of(dataset).exclude(origin__in=made_here).first()
    return latest or selectors.version_latest(dataset)


def recipe_input_version(recipe: Recipe) -> DatasetVersion | None:
    """The version a recipe is meant for: the input of its latest run, else :func:`source_version`."""
    made = (
        DatasetVersion.objects.filter(recipe=recipe, parent__isnull=False)
        .select_related("parent")
        .order_by("-created_at", "-pk")
        .first()
    )
    return made.parent if made is not None else source_version(recipe.dataset)


def version_for(dataset: Dataset, number: object, *, field: str = "version") -> DatasetVersion:
    """Version ``number`` of ``dataset`` named in a request body: a 400 on ``field``, not a 404."""
    try:
        return selectors.version_get(dataset, number)
    except Http404 as exc:
        raise ValidationError({field: str(exc)}) from exc


# --- Checking ------------------------------------------------------------------------------------------


def _plan(steps: object, output: object, schema: list[dict] | None) -> recipes.Plan:
    try:
        return recipes.check_recipe(steps, output, schema)
    except recipes.RecipeError as exc:
        raise ValidationError(exc.errors) from exc


def _tabular(version: DatasetVersion) -> DatasetVersion:
    if version.format not in TABULAR_FORMATS:
        raise ValidationError(
            {"version": f"Version {version.number} is a {version.get_format_display()}; recipes need rows."}
        )
    return version


def _schema_of(dataset: Dataset, version: DatasetVersion | None) -> list[dict] | None:
    """The columns a recipe is checked against: the given version's, else :func:`source_version`'s."""
    version = version or source_version(dataset)
    return list(version.schema) if version is not None and version.schema else None


def _check_name(dataset: Dataset, name: object, *, current: Recipe | None = None) -> str:
    name = str(name or "").strip()
    try:
        name_validator(name)
    except ValidationError as exc:
        raise ValidationError({"name": " ".join(exc.messages)}) from exc
    if len(name) > 63:
        raise ValidationError({"name": "A recipe name has at most 63 characters."})
    if name in RESERVED_NAMES:
        raise ValidationError({"name": f"{name!r} is reserved; choose another name."})
    clash = Recipe.objects.filter(dataset=dataset, name=name)
    if current is not None:
        clash = clash.exclude(pk=current.pk)
    if clash.exists():
        raise ValidationError({"name": f"{dataset.name} already has a recipe named {name!r}."})
    return name


def _audit(recipe: Recipe, user: AbstractBaseUser | None, action: str, **details) -> None:
    audit_record(
        actor=user,
        action=action,
        target_type="recipe",
        target_name=f"{recipe.dataset.name}/{recipe.name}",
        project=recipe.dataset.project,
        details=details,
    )


# --- Writes ----------------------------------------------------------------------------------------------


def recipe_create(
    *,
    dataset: Dataset,
    name: str,
    steps: list,
    output: dict | None,
    user: AbstractBaseUser | None,
    version: DatasetVersion | None = None,
) -> Recipe:
    """Save a recipe, checked against ``version``'s schema (default: :func:`source_version`)."""
    name = _check_name(dataset, name)
    plan = _plan(steps, output, _schema_of(dataset, version))
    try:
        with transaction.atomic():
            recipe = Recipe.objects.create(
                dataset=dataset,
                name=name,
                steps=plan.steps,
                output=plan.output,
                created_by=user if user is not None and user.is_authenticated else None,
            )
    except IntegrityError as exc:
        raise ValidationError({"name": f"{dataset.name} already has a recipe named {name!r}."}) from exc
    _audit(recipe, user, "create", steps=len(plan.steps))
    return recipe


def recipe_update(
    *,
    recipe: Recipe,
    steps: list,
    output: dict | None,
    user: AbstractBaseUser | None,
    name: str | None = None,
    version: DatasetVersion | None = None,
) -> Recipe:
    """Replace a recipe's steps and output (and rename it). Versions it made keep pointing at it."""
    new_name = _check_name(recipe.dataset, name, current=recipe) if name not in (None, "") else recipe.name
    plan = _plan(steps, output, _schema_of(recipe.dataset, version or recipe_input_version(recipe)))
    recipe.name, recipe.steps, recipe.output = new_name, plan.steps, plan.output
    try:
        with transaction.atomic():
            recipe.save(update_fields=["name", "steps", "output", "updated_at"])
    except IntegrityError as exc:
        raise ValidationError({"name": f"A recipe named {new_name!r} already exists."}) from exc
    _audit(recipe, user, "update", steps=len(plan.steps))
    return recipe


def recipe_delete(*, recipe: Recipe, user: AbstractBaseUser | None) -> None:
    """Delete a recipe; the versions it made stay (their ``recipe`` becomes empty)."""
    _audit(recipe, user, "delete")
    recipe.delete()


# --- Preview ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _local_data(version: DatasetVersion) -> Iterator[Path]:
    """A local path to read the start of the version's data: the file itself for file:// URIs; for
    S3, the beginning of its first object (the whole object for Parquet and Excel)."""
    uri = version.uri
    if urlparse(uri).scheme == "file":
        yield Path(urlparse(normalize_uri(uri)).path)
        return
    store = store_for(uri)
    first = next(iter(store.list(uri)), None)
    if first is None:
        raise ArtifactError(f"nothing found at {uri}")
    with tempfile.TemporaryDirectory(prefix="studio-preview-") as folder:
        target = Path(folder) / first.uri.rsplit("/", 1)[-1]
        if version.format in {"csv", "tsv", "jsonl"} and first.size > PREVIEW_REMOTE_BYTES:
            handle = store.open(first.uri)
            try:
                head = handle.read(PREVIEW_REMOTE_BYTES)
            finally:
                handle.close()
            target.write_bytes(head[: head.rfind(b"\n") + 1])  # whole lines only
        else:
            store.get_file(first.uri, target)
        yield target


def _json_rows(frame) -> list[list]:
    """Rows as JSON values: missing → null, dates → ISO 8601."""
    data = json.loads(frame.to_json(orient="split", index=False, date_format="iso", default_handler=str))
    return data["data"]


def recipe_preview(
    *,
    version: DatasetVersion,
    steps: object,
    output: object = None,
    sample_rows: int = PREVIEW_SAMPLE_ROWS,
    show_rows: int = PREVIEW_SHOW_ROWS,
) -> dict:
    """Run ``steps`` on the first ``sample_rows`` rows of ``version`` (nothing is saved).

    Returns the first ``show_rows`` rows after the last step (before the split), the resulting
    schema, the rows and columns after each step, the split's part sizes, and the columns each step
    sees. A step that does not fit the schema, or fails on the sample, is a ValidationError on
    ``steps[<index>]``.
    """
    _tabular(version)
    plan = _plan(steps, output, list(version.schema) if version.schema else None)
    sample_rows = max(1, min(int(sample_rows), MAX_PREVIEW_SAMPLE_ROWS))
    try:
        with _local_data(version) as path:
            sample = read_sample(path, version.format, version.read_options, rows=sample_rows)
        typed = recipes.apply_types(sample, version.schema)
    except (ArtifactError, ReadError, ValueError, OSError) as exc:
        raise ValidationError({"version": f"Version {version.number} could not be read: {exc}"}) from exc
    try:
        result = recipes.run_steps(typed, plan)
    except recipes.StepFailed as exc:
        raise ValidationError({exc.key: [str(exc)]}) from exc
    frame = result.frame
    split = result.counts[-1].get("parts") if plan.split else None
    return {
        "version": version.number,
        "sample_rows": len(sample),
        "row_count": len(frame),
        "columns": [str(name) for name in frame.columns],
        "schema": infer_schema(frame),
        "rows": _json_rows(frame.head(max(0, min(int(show_rows), 500)))),
        "steps": result.counts,
        "parts": split,
        "outputs": plan.parts,
        "output": plan.output,
        "schemas_before": plan.columns_before,
    }


# --- Running ---------------------------------------------------------------------------------------------


def _job_name(recipe: Recipe) -> str:
    """A processing-job name that names the recipe and never collides (≤ 63 characters)."""
    return f"recipe-{recipe.name[:46]}-{secrets.token_hex(4)}"


def recipe_run(
    *,
    recipe: Recipe,
    version: DatasetVersion,
    user: AbstractBaseUser | None,
    instance_type: str = "ml.m5.large",
) -> Job:
    """Start a processing job that runs ``recipe`` on ``version``; its completion hook records one
    new version per output (``output``, or ``train``/``validation``/``test``), all or none."""
    dataset = recipe.dataset
    if version.dataset_id != dataset.pk:
        raise ValidationError({"version": f"That version is not a version of {dataset.name}."})
    _tabular(version)
    schema = list(version.schema) if version.schema else None
    plan = _plan(recipe.steps, recipe.output, schema)
    name = _job_name(recipe)
    spec_uri = join_uri(
        dataset_prefix(dataset.project), dataset.name, "recipes", recipe.name, name, "recipe.json"
    )
    document = {
        "recipe": {"name": recipe.name, "uuid": str(recipe.uuid)},
        "steps": plan.steps,
        "output": plan.output,
        "input": {
            "version": version.number,
            "format": version.format,
            "read_options": version.read_options or {},
            "schema": schema,
        },
    }
    stored = store_for(spec_uri).put(spec_uri, io.BytesIO(json.dumps(document, indent=2).encode()))
    try:
        job = builtin_job_create(
            project=dataset.project,
            user=user,
            name=name,
            module=JOB_MODULE,
            inputs=[
                {"name": "data", "source_uri": version.uri},
                {"name": "recipe", "source_uri": stored.uri},
            ],
            outputs=[{"name": part} for part in plan.parts] + [{"name": MANIFEST_OUTPUT}],
            instance_type=instance_type,
            on_complete=COMPLETION_HOOK,
            context={
                "recipe": str(recipe.uuid),
                "version": str(version.uuid),
                "format": plan.output["format"],
                "parts": plan.parts,
            },
        )
    except ValidationError:
        store_for(stored.uri).delete(stored.uri)
        raise
    artifact_record(project=dataset.project, stored=stored, origin=f"recipe/{recipe.name}", user=user)
    _audit(recipe, user, "run", job=job.name, version=version.number)
    return job


def _stored_facts(project_id: int, uris: list[str]) -> dict[str, tuple[int, str]]:
    """(size, SHA-256) of each output file: as recorded when the job uploaded it, else read again."""
    facts = {
        artifact.uri: (artifact.size, artifact.sha256)
        for artifact in Artifact.objects.filter(project_id=project_id, uri__in=uris)
    }
    for uri in uris:
        if uri not in facts:
            store = store_for(uri)
            info = next(iter(store.list(uri)), None)
            handle = store.open(uri)
            try:
                facts[uri] = (info.size if info else 0, sha256_of_stream(handle))
            finally:
                handle.close()
    return facts


def recipe_job_completed(job: Job) -> None:
    """The recipe job's completion hook: one version per output, parent = the input version.

    All versions are created in one transaction: they appear together or not at all (an error
    here fails the job, with this error as its reason).
    """
    context = job.spec.get("context", {})
    parent = (
        DatasetVersion.objects.select_related("dataset__project").filter(uuid=context.get("version")).first()
    )
    if parent is None:
        raise ValueError("the input version no longer exists")
    recipe = Recipe.objects.filter(uuid=context.get("recipe")).first()  # None if deleted meanwhile
    produced = {item["name"]: item for item in job.outputs}
    if MANIFEST_OUTPUT not in produced:
        raise ValueError("the job wrote no manifest")
    manifest_uri = normalize_uri(join_uri(produced[MANIFEST_OUTPUT]["uri"], "manifest.json"))
    handle = store_for(manifest_uri).open(manifest_uri)
    try:
        manifest = json.loads(handle.read())
    finally:
        handle.close()
    entries = manifest.get("outputs", [])
    expected = list(context.get("parts", []))
    if [entry["name"] for entry in entries] != expected:
        raise ValueError(f"the job produced {[entry['name'] for entry in entries]}, expected {expected}")
    uris = [normalize_uri(join_uri(produced[entry["name"]]["uri"], entry["file"])) for entry in entries]
    facts = _stored_facts(job.project_id, uris)
    label = recipe.name if recipe else "a deleted recipe"
    with transaction.atomic():
        for entry, uri in zip(entries, uris, strict=True):
            size, sha256 = facts[uri]
            version_create(
                dataset=parent.dataset,
                uri=uri,
                fmt=entry["format"],
                read_options=entry["read_options"],
                schema=entry["schema"],
                origin=VersionOrigin.SPLIT if entry["name"] in recipes.PARTS else VersionOrigin.RECIPE,
                size_bytes=size,
                content_sha256=sha256,
                row_count=entry["rows"],
                column_count=entry["columns"],
                file_count=1,
                parent=parent,
                job=job,
                recipe=recipe,
                role=entry["name"],
                user=job.created_by,
                description=f"{entry['name']} of recipe {label} on version {parent.number}",
            )


# --- Export ----------------------------------------------------------------------------------------------


def recipe_export_script(*, recipe: Recipe, version: DatasetVersion | None = None) -> tuple[str, str]:
    """A standalone Python script reproducing ``recipe`` on a file shaped like ``version`` (default:
    the input of its latest run, else the latest version): returns ``(filename, source)``."""
    dataset = recipe.dataset
    version = version or recipe_input_version(recipe)
    if version is not None:
        _tabular(version)
    schema = list(version.schema) if version is not None and version.schema else None
    plan = _plan(recipe.steps, recipe.output, schema)
    shape = f"version {version.number}" if version is not None else "a CSV file with a header"
    title = f"Recipe {recipe.name} of dataset {dataset.name} (project {dataset.project.name}), for {shape}."
    source = recipes.script_for(
        plan,
        input_format=version.format if version is not None else "csv",
        read_options=(version.read_options or {}) if version is not None else {},
        schema=schema,
        title=title,
        source=f"Exported from Studio on {timezone.now():%Y-%m-%d %H:%M} UTC.",
    )
    return f"{dataset.name}-{recipe.name}.py", source
