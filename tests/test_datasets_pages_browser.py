"""The upload in a real browser: chunks with a progress bar, a dropped connection resumed, the
review with an edited type, and the dataset page it ends on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from datasets.models import DatasetVersion, Upload, UploadStatus
from tests.test_browser import browser, log_in, page  # noqa: F401  (fixtures)
from tests.test_datasets_formats_data import isolated_data_dir  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.browser

SCREENSHOTS = Path("/tmp")
CHUNK = 64 * 1024


def sales_csv(rows: int = 6000) -> bytes:
    lines = ["order,amount,region,note"] + [
        f"{i},{i * 1.5:.2f},{['north', 'south', 'east'][i % 3]},order number {i}" for i in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def choose_file(page, data: bytes, name: str = "sales.csv") -> None:  # noqa: F811
    page.set_input_files("#id_file", files=[{"name": name, "mimeType": "text/csv", "buffer": data}])


def test_a_csv_goes_up_in_chunks_with_progress_then_is_reviewed_and_saved(
    page,  # noqa: F811
    live_server,
    editor_user,
    settings,
):
    settings.STUDIO_UPLOAD_CHUNK_BYTES = CHUNK
    data = sales_csv()
    puts: list[str] = []
    page.on(
        "request", lambda request: request.method == "PUT" and puts.append(request.headers["content-range"])
    )
    log_in(page, live_server, "erin")
    page.get_by_role("link", name="Data", exact=True).first.click()
    page.wait_for_url(re.compile(r"/projects/vision/datasets/$"))
    page.get_by_role("link", name="Upload data").click()
    page.locator("#upload-page[data-ready='true']").wait_for()

    choose_file(page, data)

    page.wait_for_url(re.compile(r"/datasets/uploads/[0-9a-f-]+/$"))
    assert len(puts) == -(-len(data) // CHUNK)  # every chunk once, in order
    assert puts[0] == f"bytes 0-{CHUNK - 1}/{len(data)}"
    assert page.locator("#upload-summary .badge").inner_text() == "staged"
    assert page.locator("#schema select").count() == 4
    assert page.get_by_label("region").input_value() == "categorical"
    page.get_by_label("order").select_option("text")
    page.get_by_label("Dataset").fill("sales")
    page.screenshot(path=str(SCREENSHOTS / "studio-upload-review.png"), full_page=True)
    page.get_by_role("button", name="Save version").click()

    page.wait_for_url(re.compile(r"/projects/vision/datasets/sales/\?version=1$"))
    assert "Saved as version 1 of sales" in page.locator(".messages").inner_text()
    assert page.locator("#data-preview tbody tr").count() == 25
    page.get_by_role("link", name="Next rows →").click()
    assert page.locator("#data-preview tbody tr").first.locator("td").first.inner_text() == "25"
    assert page.locator("#lineage svg circle").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "studio-dataset.png"), full_page=True)
    version = DatasetVersion.objects.get()
    assert version.row_count == 6000
    assert version.schema[0] == {"name": "order", "type": "text"}


def test_a_dropped_connection_is_resumed_from_what_the_server_has(
    page,  # noqa: F811
    live_server,
    editor_user,
    settings,
):
    settings.STUDIO_UPLOAD_CHUNK_BYTES = CHUNK
    data = sales_csv()
    dropped: list[str] = []

    def drop_the_third_chunk_once(route, request):
        if (
            request.method == "PUT"
            and request.headers.get("content-range", "").startswith(f"bytes {2 * CHUNK}-")
            and not dropped
        ):
            dropped.append(request.headers["content-range"])
            route.abort("connectionreset")
        else:
            route.continue_()

    log_in(page, live_server, "erin")
    page.route(re.compile(r".*/api/v1/projects/vision/uploads/.*"), drop_the_third_chunk_once)
    page.goto(f"{live_server.url}/projects/vision/datasets/upload/")
    page.locator("#upload-page[data-ready='true']").wait_for()

    choose_file(page, data)

    page.wait_for_url(re.compile(r"/datasets/uploads/[0-9a-f-]+/$"), timeout=30_000)
    assert dropped
    upload = Upload.objects.get()
    assert upload.status == UploadStatus.STAGED
    assert upload.received_bytes == len(data)
    assert upload.inspection["row_count"] == 6000


def test_a_bad_file_shows_the_servers_reason(page, live_server, editor_user):  # noqa: F811
    log_in(page, live_server, "erin")
    page.goto(f"{live_server.url}/projects/vision/datasets/upload/")
    page.locator("#upload-page[data-ready='true']").wait_for()

    choose_file(page, b"a,b,c\n1,2,3\n4,5\n", "broken.csv")

    error = page.locator("#upload-error")
    error.wait_for()
    assert "Line 3 has 2 fields, expected 3" in error.inner_text()
    assert Upload.objects.get().status == UploadStatus.FAILED
