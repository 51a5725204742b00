"""Dataset pages: the list, the upload page (drag and drop, chunked, with progress), the review of a
staged upload (schema with editable types, then commit), and a dataset's detail page.

Views parse a form, call one service, and render; access checks are the selectors'.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from datasets import selectors, services, uploads
from datasets.forms import CommitForm, UploadFileForm
from datasets.models import DatasetVersion, UploadStatus
from frontend.views import PAGE_SIZE, form_data
from studio.roles import Permission, role_allows
from studio.selectors import project_get_for

PREVIEW_PAGE_SIZE = 25
VERSIONS_PAGE_SIZE = 20


@login_required
def dataset_list(request: HttpRequest, project: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    page = Paginator(selectors.datasets_of(project_obj), PAGE_SIZE).get_page(request.GET.get("page"))
    pending = list(
        selectors.uploads_of(project_obj).filter(status=UploadStatus.STAGED).order_by("-updated_at")[:10]
    )
    context = {
        "project": project_obj,
        "page": page,
        "pending_uploads": pending,
        "can_create": role_allows(project_obj.user_role, Permission.CREATE),
        "nav_section": "data",
    }
    return render(request, "datasets/dataset_list.html", context)


@login_required
def upload_page(request: HttpRequest, project: str) -> HttpResponse:
    """Drag and drop with a progress bar (upload.js, chunked through the API); without JavaScript,
    the form posts the whole file here, and both end on the review page."""
    project_obj = project_get_for(request.user, project, Permission.CREATE)
    form = UploadFileForm(*form_data(request))
    if request.method == "POST" and form.is_valid():
        file = form.cleaned_data["file"]
        upload = None
        try:
            upload = uploads.upload_create(
                project=project_obj,
                user=request.user,
                filename=file.name,
                total_size=file.size,
                content_type=file.content_type or "",
            )
            uploads.upload_receive(upload=upload, stream=file, offset=0, length=file.size)
            uploads.upload_complete(upload=upload, user=request.user)
        except ValidationError as exc:
            if upload is not None and upload.status == UploadStatus.RECEIVING:
                uploads.upload_abort(upload=upload, user=request.user)
            form.add_service_errors(exc)
        else:
            return redirect("datasets:upload-review", project=project, upload_uuid=upload.uuid)
    context = {
        "project": project_obj,
        "form": form,
        "uploads_api": reverse("api-uploads", kwargs={"project": project}),
        "review_url": reverse(
            "datasets:upload-review",
            kwargs={"project": project, "upload_uuid": "00000000-0000-0000-0000-000000000000"},
        ),
        "chunk_bytes": int(settings.STUDIO_UPLOAD_CHUNK_BYTES),
        "nav_section": "data",
    }
    return render(request, "datasets/upload.html", context)


@login_required
def upload_review(request: HttpRequest, project: str, upload_uuid: str) -> HttpResponse:
    """A staged upload: what sniffing found, a preview, and the schema with a type select per column."""
    needed = Permission.CREATE if request.method == "POST" else Permission.VIEW
    project_obj = project_get_for(request.user, project, needed)
    upload = selectors.upload_get(project_obj, upload_uuid)
    if upload.status == UploadStatus.COMMITTED and upload.version_id:
        version = upload.version
        messages.info(request, f"This upload is already version {version.number} of {version.dataset.name}.")
        return redirect(_version_url(project, version))
    schema = upload.inspection.get("schema", [])
    form = CommitForm(
        *form_data(request), schema=schema, initial={"dataset": _suggested_name(upload.filename)}
    )
    if request.method == "POST" and form.is_valid():
        try:
            version = uploads.upload_commit(
                upload=upload,
                user=request.user,
                dataset_name=form.cleaned_data["dataset"],
                schema=form.edited_schema(),
                description=form.cleaned_data["description"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Saved as version {version.number} of {version.dataset.name}.")
            return redirect(_version_url(project, version))
    context = {
        "project": project_obj,
        "upload": upload,
        "inspection": upload.inspection,
        "form": form,
        "can_create": role_allows(project_obj.user_role, Permission.CREATE),
        "nav_section": "data",
    }
    return render(request, "datasets/upload_review.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def upload_cancel(request: HttpRequest, project: str, upload_uuid: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.CREATE)
    upload = selectors.upload_get(project_obj, upload_uuid)
    try:
        uploads.upload_abort(upload=upload, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("datasets:upload-review", project=project, upload_uuid=upload.uuid)
    messages.success(request, f"Upload of {upload.filename} cancelled; nothing of it was kept.")
    return redirect("datasets:upload", project=project)


def _version_url(project: str, version: DatasetVersion) -> str:
    url = reverse("datasets:detail", kwargs={"project": project, "dataset": version.dataset.name})
    return f"{url}?version={version.number}"


def _suggested_name(filename: str) -> str:
    """A dataset name from a file name: 'Sales 2024.csv' → 'Sales-2024'."""
    stem = filename.rsplit("/", 1)[-1].split(".", 1)[0]
    name = "".join(char if char.isalnum() else "-" for char in stem).strip("-")
    while "--" in name:
        name = name.replace("--", "-")
    return name[:63].strip("-")


@login_required
def dataset_detail(request: HttpRequest, project: str, dataset: str) -> HttpResponse:
    project_obj = project_get_for(request.user, project, Permission.VIEW)
    dataset_obj = selectors.dataset_get(project_obj, dataset)
    versions = Paginator(selectors.versions_of(dataset_obj), VERSIONS_PAGE_SIZE).get_page(
        request.GET.get("versions_page")
    )
    wanted = request.GET.get("version")
    version = selectors.version_get(dataset_obj, wanted) if wanted else selectors.version_latest(dataset_obj)
    preview, preview_error = None, ""
    if version is not None:
        try:
            page = int(request.GET.get("page", 1))
        except ValueError:
            page = 1
        try:
            preview = services.version_preview(version, page=max(page, 1), page_size=PREVIEW_PAGE_SIZE)
        except (ValidationError, OSError, ValueError) as exc:
            # The page still shows the schema and lineage when the data cannot be read.
            preview_error = " ".join(getattr(exc, "messages", [str(exc)]))
    lineage = selectors.lineage_of(dataset_obj)
    context = {
        "project": project_obj,
        "dataset": dataset_obj,
        "versions": versions,
        "version": version,
        "preview": preview,
        "preview_error": preview_error,
        "lineage": lineage,
        "lineage_drawing": lineage_layout(lineage, dataset_obj.name),
        "can_create": role_allows(project_obj.user_role, Permission.CREATE),
        "nav_section": "data",
    }
    return render(request, "datasets/dataset_detail.html", context)


# --- The lineage drawing: an inline SVG, laid out here so the page needs no script ------------------

NODE_GAP_X, ROW_GAP_Y, MARGIN, LABEL_SPACE = 130, 80, 40, 110


def lineage_layout(lineage: dict, dataset_name: str) -> dict:
    """Positions for an SVG: one row per dataset (this one first). This dataset's versions go left to
    right in order; a version of another dataset sits one column after its parent (or before its
    child), so a split fans out to the right. Each edge is labelled with its recipe, job or role."""
    nodes_by_id = {node["id"]: node for node in lineage["nodes"]}
    rows: dict[str, int] = {dataset_name: 0}
    columns: dict[str, int] = {}
    own = [node for node in lineage["nodes"] if node["dataset"] == dataset_name]
    for index, node in enumerate(sorted(own, key=lambda n: n["number"])):
        columns[node["id"]] = index
    parent_of = {edge["target"]: edge["source"] for edge in lineage["edges"]}
    children_of: dict[str, list[str]] = {}
    for edge in lineage["edges"]:
        children_of.setdefault(edge["source"], []).append(edge["target"])
    for node in lineage["nodes"]:
        if node["id"] in columns:
            continue
        rows.setdefault(node["dataset"], len(rows))
        if parent_of.get(node["id"]) in columns:
            columns[node["id"]] = columns[parent_of[node["id"]]] + 1
        else:
            placed = [columns[child] for child in children_of.get(node["id"], []) if child in columns]
            columns[node["id"]] = min(placed, default=0) - 1
    shift = -min(columns.values(), default=0)
    positions = {
        node_id: (
            MARGIN + LABEL_SPACE + (column + shift) * NODE_GAP_X,
            MARGIN + rows[nodes_by_id[node_id]["dataset"]] * ROW_GAP_Y,
        )
        for node_id, column in columns.items()
    }
    nodes = [
        {
            **node,
            "x": positions[node["id"]][0],
            "y": positions[node["id"]][1],
            "label": f"v{node['number']}",
            "title": f"{node['dataset']} v{node['number']} ({node['origin']})",
            "here": node["dataset"] == dataset_name,
        }
        for node in lineage["nodes"]
    ]
    edges = []
    for edge in lineage["edges"]:
        (x1, y1), (x2, y2) = positions[edge["source"]], positions[edge["target"]]
        label = edge["recipe"] or edge["job"] or ""
        if edge["role"]:
            label = f"{label} · {edge['role']}" if label else edge["role"]
        # The label near the child's end, where fanned-out edges are furthest apart.
        edges.append(
            {
                "x1": x1,
                "y1": y1,
                "x2": x2,
                "y2": y2,
                "label": label,
                "lx": x1 + (x2 - x1) * 3 // 5,
                "ly": y1 + (y2 - y1) * 3 // 5 - 8,
            }
        )
    width = (
        MARGIN * 2
        + LABEL_SPACE
        + max((column + shift for column in columns.values()), default=0) * NODE_GAP_X
    )
    height = MARGIN * 2 + (len(rows) - 1) * ROW_GAP_Y
    labels = [{"name": name, "y": MARGIN + row * ROW_GAP_Y + 4} for name, row in rows.items()]
    return {"nodes": nodes, "edges": edges, "width": max(width, 300), "height": height, "rows": labels}
