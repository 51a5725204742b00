"""The UI in a real browser: Debian's Chromium driven by Playwright against pytest-django's live server."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections, transaction

from jobs.models import Job, JobStatus
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOT = Path("/tmp/studio-job.png")
TIMEOUT_MS = 20_000

TRAIN_SCRIPT = b"""import time
print("loading data", flush=True)
for step in range(6):
    print(f"step {step}: loss={1.0 / (step + 1):.4f} accuracy={0.5 + step * 0.08:.2f}", flush=True)
    time.sleep(0.1)
print("training done", flush=True)
"""

# Slow enough that the page sees it InProgress and has to follow it live.
SLOW_SCRIPT = b"""import time
for step in range(8):
    print(f"tick {step} loss={10 - step}", flush=True)
    time.sleep(0.4)
print("slow job done", flush=True)
"""

SLEEP_SCRIPT = b"""import time
print("waiting to be stopped", flush=True)
time.sleep(120)
"""


@pytest.fixture
def browser() -> Iterator:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server, monkeypatch):
    # Playwright's sync API runs an event loop in this thread, and Django refuses ORM calls from a
    # thread with a running loop; the test's own reads are plain blocking calls, so allow them.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())  # the Stop button's confirm()
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def eager_celery(settings) -> Iterator[None]:
    """Run jobs in the web request that queues them, as a worker would, without a worker process."""
    from studio.celery import app

    # Read before changing Django's settings: the app's configuration looks through to them.
    previous = app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # The Celery app may have cached its configuration already; tell it directly too.
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def background_worker(monkeypatch) -> Iterator[list[threading.Thread]]:
    """Run each queued job in a thread, so the page has a running job to follow live."""
    from jobs import runner
    from jobs.services import common as services

    threads: list[threading.Thread] = []

    def run(job_id: int) -> None:
        try:
            runner.job_execute(job_id=job_id)
        finally:
            connections.close_all()

    def enqueue(job: Job) -> None:
        def start() -> None:
            thread = threading.Thread(target=run, args=(job.pk,), daemon=True)
            thread.start()
            threads.append(thread)

        transaction.on_commit(start)

    monkeypatch.setattr(services, "job_enqueue", enqueue)
    yield threads
    for thread in threads:  # before the database is flushed under it
        thread.join(timeout=60)


def log_in(page, live_server, username: str) -> None:
    page.goto(live_server.url + "/")
    assert "/login/" in page.url
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/projects/vision/$"))


def launch(page, *, name: str, script: bytes, metrics: str = "") -> None:
    page.get_by_role("link", name="New processing job").first.click()
    page.wait_for_url(re.compile(r"/jobs/new/processing/$"))
    page.get_by_label("Name", exact=True).fill(name)
    page.set_input_files(
        "#id_script", files=[{"name": "train.py", "mimeType": "text/x-python", "buffer": script}]
    )
    if metrics:
        page.get_by_label("Metric definitions").fill(metrics)
    page.get_by_role("button", name="Create job").click()
    page.wait_for_url(re.compile(rf"/jobs/processing/{name}/$"))


def test_a_data_scientist_launches_a_job_and_watches_it_complete(
    page, live_server, editor_user, eager_celery
):
    log_in(page, live_server, "erin")
    assert page.locator("h1").first.inner_text().strip() == "vision"
    assert page.get_by_text("No endpoints yet").is_visible()
    assert page.locator(".mainnav [aria-disabled='true']").count() == 1  # Labeling: not built yet

    launch(
        page,
        name="browser-train-1",
        script=TRAIN_SCRIPT,
        metrics="loss=loss=([0-9.]+)\naccuracy=accuracy=([0-9.]+)",
    )

    badge = page.locator("#job-live h1 .badge")
    badge.filter(has_text="Completed").wait_for()
    log = page.locator("#job-log")
    assert "step 5: loss=0.1667" in log.inner_text()
    assert "training done" in log.inner_text()
    page.locator("#metrics-chart[data-rendered='true'] .main-svg").first.wait_for()
    legend = page.locator("#metrics-chart .legendtext").all_text_contents()
    assert sorted(legend) == ["accuracy", "loss"]
    assert page.locator(".timeline li").count() >= 4
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    job = Job.objects.get(name="browser-train-1")
    assert job.status == JobStatus.COMPLETED
    assert job.metrics.filter(name="loss").count() == 6


def test_the_detail_page_follows_a_running_job_live(page, live_server, editor_user, background_worker):
    log_in(page, live_server, "erin")
    launch(page, name="browser-slow-1", script=SLOW_SCRIPT, metrics="loss=loss=([0-9.]+)")

    # The page arrives while the job runs, then follows it without a reload.
    assert page.locator("#job-page").get_attribute("data-polling") == "active"
    page.locator("#job-live h1 .badge", has_text="InProgress").wait_for()
    page.locator("#job-live h1 .badge", has_text="Completed").wait_for()
    page.locator("#job-page[data-polling='done']").wait_for()
    log = page.locator("#job-log").inner_text()
    assert "tick 0 loss=10" in log
    assert "slow job done" in log
    assert log.count("tick 3 loss=7") == 1  # each piece of the log appended once
    page.locator("#metrics-chart[data-rendered='true'] .main-svg").first.wait_for()
    assert page.locator("#metrics-chart .scatterlayer .trace").count() == 1


def test_a_running_job_is_stopped_from_its_page(page, live_server, editor_user, background_worker):
    log_in(page, live_server, "erin")
    launch(page, name="browser-stop-1", script=SLEEP_SCRIPT)
    page.get_by_text("waiting to be stopped").wait_for()
    page.get_by_role("button", name="Stop job").click()
    page.locator("#job-live h1 .badge", has_text="Stopped").wait_for()
    assert page.get_by_role("button", name="Stop job").count() == 0
    assert Job.objects.get(name="browser-stop-1").status == JobStatus.STOPPED


def test_a_viewer_browses_without_write_controls(page, live_server, viewer_user, csv_artifact):
    log_in(page, live_server, "victor")
    assert page.get_by_role("link", name="New processing job").count() == 0
    page.locator(".mainnav").get_by_role("link", name="Data").click()
    page.wait_for_url(re.compile(r"/projects/vision/datasets/$"))
    page.get_by_role("link", name="Files").first.click()
    page.wait_for_url(re.compile(r"/projects/vision/data/$"))
    assert page.get_by_text(csv_artifact.uri).is_visible()
    assert page.locator("#upload").count() == 0
    page.locator(".mainnav").get_by_role("link", name="Jobs").click()
    page.wait_for_url(re.compile(r"/projects/vision/jobs/$"))
    assert page.get_by_text("No jobs yet.").is_visible()
