"""Datasets API: uploads (chunked and resumable), datasets, versions, previews and lineage.

Views parse the request and call one service. Request bodies of data are never read whole: the
services read them from ``request.stream`` in bounded chunks.
"""

from __future__ import annotations

import mimetypes
import re

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import BaseParser, FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from datasets import selectors, services, uploads
from datasets.serializers import (
    DatasetCreateSerializer,
    DatasetSerializer,
    DatasetUpdateSerializer,
    LineageSerializer,
    PreviewSerializer,
    UploadCommitSerializer,
    UploadConflictSerializer,
    UploadCreateSerializer,
    UploadSerializer,
    VersionRegisterSerializer,
    VersionSerializer,
    VersionUploadSerializer,
)
from studio.api import ProjectScopedView

CONTENT_RANGE = re.compile(r"^bytes (?P<start>\d+)-(?P<end>\d+)/(?P<total>\d+|\*)$")
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded", "application/json")


class RawBodyParser(BaseParser):
    """Declares that any content type is accepted; the view reads the body itself, in chunks."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):  # pragma: no cover - never called
        raise NotImplementedError("the view reads request.stream itself")


def _conflict(exc: uploads.UploadConflict) -> Response:
    return Response(
        {"detail": str(exc), "received_bytes": exc.received_bytes, "status": exc.status},
        status=status.HTTP_409_CONFLICT,
    )


def _content_length(request: Request) -> int | None:
    raw = request.META.get("CONTENT_LENGTH") or ""
    try:
        return int(raw) if raw.strip() else None
    except ValueError:
        raise ValidationError({"content_length": f"Content-Length {raw!r} is not a number."}) from None


def _chunk_position(request: Request) -> tuple[int, int | None, int | None]:
    """(offset, length, total) of a chunk, from ``Content-Range: bytes START-END/TOTAL`` or ``?offset=``.

    Neither: the body starts at byte 0 (a whole file in one request, or the first chunk).
    """
    length = _content_length(request)
    header = request.META.get("HTTP_CONTENT_RANGE", "").strip()
    if header:
        match = CONTENT_RANGE.match(header)
        if match is None:
            raise ValidationError(
                {"content_range": f"Use 'Content-Range: bytes START-END/TOTAL' (or /*), not {header!r}."}
            )
        start, end = int(match["start"]), int(match["end"])
        total = None if match["total"] == "*" else int(match["total"])
        if end < start or (total is not None and end >= total):
            raise ValidationError({"content_range": f"{header!r} is not a valid range."})
        if length is not None and length != end - start + 1:
            raise ValidationError(
                {"content_range": f"The range is {end - start + 1} bytes but the body is {length} bytes."}
            )
        return start, end - start + 1, total
    raw = request.query_params.get("offset", "0")
    try:
        offset = int(raw)
    except ValueError:
        raise ValidationError({"offset": f"{raw!r} is not a byte offset."}) from None
    return offset, length, None


# --- Uploads ----------------------------------------------------------------------------------------


class UploadListApi(ProjectScopedView):
    serializer_class = UploadSerializer

    @extend_schema(operation_id="uploads_list")
    def get(self, request: Request, project: str) -> Response:
        return self.paginated(selectors.uploads_of(self.project), UploadSerializer)

    @extend_schema(request=UploadCreateSerializer, responses={201: UploadSerializer})
    def post(self, request: Request, project: str) -> Response:
        data = UploadCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = uploads.upload_create(
            project=self.project,
            user=request.user,
            filename=data.validated_data["filename"],
            total_size=data.validated_data["total_size"],
            content_type=data.validated_data["content_type"],
            options=data.validated_data["options"],
        )
        return Response(UploadSerializer(upload).data, status=status.HTTP_201_CREATED)


class UploadDetailApi(ProjectScopedView):
    serializer_class = UploadSerializer
    parser_classes = [RawBodyParser]

    def get(self, request: Request, project: str, upload_uuid: str) -> Response:
        """Status and received_bytes: where to resume after a dropped connection."""
        return Response(UploadSerializer(selectors.upload_get(self.project, upload_uuid)).data)

    @extend_schema(
        request={"application/octet-stream": OpenApiTypes.BINARY},
        parameters=[
            OpenApiParameter(
                "Content-Range", str, OpenApiParameter.HEADER, description="bytes START-END/TOTAL"
            ),
            OpenApiParameter("offset", int, description="Instead of Content-Range: the chunk's first byte"),
        ],
        responses={200: UploadSerializer, 409: UploadConflictSerializer},
    )
    def put(self, request: Request, project: str, upload_uuid: str) -> Response:
        """Append a chunk. A chunk not at received_bytes gets 409 with received_bytes to resume from."""
        upload = selectors.upload_get(self.project, upload_uuid)
        offset, length, total = _chunk_position(request)
        stream = request.stream
        if stream is None:  # no body at all
            length = 0
        try:
            upload = uploads.upload_receive(
                upload=upload, stream=stream, offset=offset, length=length, total=total
            )
        except uploads.UploadConflict as exc:
            return _conflict(exc)
        return Response(UploadSerializer(upload).data)

    def delete(self, request: Request, project: str, upload_uuid: str) -> Response:
        uploads.upload_abort(upload=selectors.upload_get(self.project, upload_uuid), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UploadCompleteApi(ProjectScopedView):
    serializer_class = UploadSerializer

    @extend_schema(request=None, responses={200: UploadSerializer})
    def post(self, request: Request, project: str, upload_uuid: str) -> Response:
        """Check the file, sniff its format, infer its schema and stage it; the result is in inspection."""
        upload = uploads.upload_complete(
            upload=selectors.upload_get(self.project, upload_uuid), user=request.user
        )
        return Response(UploadSerializer(upload).data)


class UploadCommitApi(ProjectScopedView):
    serializer_class = VersionSerializer

    @extend_schema(request=UploadCommitSerializer, responses={201: VersionSerializer})
    def post(self, request: Request, project: str, upload_uuid: str) -> Response:
        data = UploadCommitSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = uploads.upload_commit(
            upload=selectors.upload_get(self.project, upload_uuid),
            user=request.user,
            dataset_name=data.validated_data["dataset"],
            schema=data.validated_data["schema"],
            description=data.validated_data["description"],
        )
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


# --- Datasets and versions --------------------------------------------------------------------------


class DatasetListApi(ProjectScopedView):
    serializer_class = DatasetSerializer

    @extend_schema(operation_id="datasets_list")
    def get(self, request: Request, project: str) -> Response:
        return self.paginated(selectors.datasets_of(self.project), DatasetSerializer)

    @extend_schema(request=DatasetCreateSerializer, responses={201: DatasetSerializer})
    def post(self, request: Request, project: str) -> Response:
        data = DatasetCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = services.dataset_create(
            project=self.project,
            name=data.validated_data["name"],
            description=data.validated_data["description"],
            user=request.user,
            field="name",
        )
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailApi(ProjectScopedView):
    serializer_class = DatasetSerializer

    def get(self, request: Request, project: str, dataset: str) -> Response:
        found = selectors.datasets_of(self.project).filter(name=dataset).first()
        if found is None:
            selectors.dataset_get(self.project, dataset)  # the 404, with its message
        return Response(DatasetSerializer(found).data)

    @extend_schema(request=DatasetUpdateSerializer, responses={200: DatasetSerializer})
    def patch(self, request: Request, project: str, dataset: str) -> Response:
        data = DatasetUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        found = services.dataset_update(
            dataset=selectors.dataset_get(self.project, dataset),
            description=data.validated_data["description"],
            user=request.user,
        )
        return Response(DatasetSerializer(found).data)


class VersionListApi(ProjectScopedView):
    """GET: the versions. POST: a new version, from one of three bodies:

    * JSON ``{"source_uri": "s3://..." | "file://..."}``: register data in place, without copying;
    * multipart with a ``file`` field;
    * any other content type: the body is the file (``?filename=`` names it).
    """

    serializer_class = VersionSerializer
    parser_classes = [JSONParser, MultiPartParser, FormParser, RawBodyParser]

    @extend_schema(operation_id="dataset_versions_list")
    def get(self, request: Request, project: str, dataset: str) -> Response:
        return self.paginated(
            selectors.versions_of(selectors.dataset_get(self.project, dataset)), VersionSerializer
        )

    @extend_schema(
        request={
            "application/json": VersionRegisterSerializer,
            "multipart/form-data": VersionUploadSerializer,
            "application/octet-stream": OpenApiTypes.BINARY,
        },
        parameters=[OpenApiParameter("filename", str, description="Raw body only: the file's name")],
        responses={201: VersionSerializer},
    )
    def post(self, request: Request, project: str, dataset: str) -> Response:
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type == "application/json":
            data = VersionRegisterSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            version = services.version_register(
                project=self.project,
                dataset_name=dataset,
                source_uri=data.validated_data["source_uri"],
                description=data.validated_data["description"],
                user=request.user,
            )
        elif content_type in FORM_TYPES:
            data = VersionUploadSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            upload = data.validated_data["file"]
            version = uploads.upload_from_stream(
                project=self.project,
                user=request.user,
                dataset_name=dataset,
                filename=upload.name,
                stream=upload,
                length=upload.size,
                content_type=upload.content_type or "",
                description=data.validated_data["description"],
            )
        else:
            version = uploads.upload_from_stream(
                project=self.project,
                user=request.user,
                dataset_name=dataset,
                filename=request.query_params.get("filename") or _default_filename(content_type),
                stream=request.stream,
                length=_content_length(request) if request.stream is not None else 0,
                content_type=content_type,
                description=request.query_params.get("description", ""),
                options={"encoding": request.query_params["encoding"]}
                if request.query_params.get("encoding")
                else None,
            )
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


def _default_filename(content_type: str) -> str:
    known = {"text/csv": ".csv", "text/tab-separated-values": ".tsv", "application/x-ndjson": ".jsonl"}
    return "data" + (known.get(content_type) or mimetypes.guess_extension(content_type or "") or "")


class VersionDetailApi(ProjectScopedView):
    serializer_class = VersionSerializer

    def get(self, request: Request, project: str, dataset: str, number: int) -> Response:
        version = selectors.version_get(selectors.dataset_get(self.project, dataset), number)
        return Response(VersionSerializer(version).data)


class VersionPreviewApi(ProjectScopedView):
    serializer_class = PreviewSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("page", int, description="1-based"),
            OpenApiParameter(
                "page_size", int, description=f"Rows per page, at most {services.PREVIEW_MAX_PAGE_SIZE}"
            ),
        ]
    )
    def get(self, request: Request, project: str, dataset: str, number: int) -> Response:
        version = selectors.version_get(selectors.dataset_get(self.project, dataset), number)
        try:
            page = int(request.query_params.get("page", 1))
            page_size = int(request.query_params.get("page_size", 50))
        except ValueError:
            return Response(
                {"page": ["page and page_size must be integers."]}, status=status.HTTP_400_BAD_REQUEST
            )
        if page < 1 or page_size < 1:
            return Response({"page": ["page and page_size start at 1."]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(services.version_preview(version, page=page, page_size=page_size))


class LineageApi(ProjectScopedView):
    serializer_class = LineageSerializer

    @extend_schema(responses={200: OpenApiResponse(LineageSerializer)})
    def get(self, request: Request, project: str, dataset: str) -> Response:
        return Response(
            LineageSerializer(selectors.lineage_of(selectors.dataset_get(self.project, dataset))).data
        )
