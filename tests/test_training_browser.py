"""A training job in a real browser: launch XGBoost from the form, follow its curves live, read its
evaluation, clone it, and compare the two runs. Debian's Chromium driven by Playwright."""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

import pytest

from datasets.uploads import upload_from_stream
from jobs.models import Job, JobStatus
from tests.test_browser import background_worker, browser, log_in, page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

JOB_TIMEOUT_MS = 60_000
SCREENSHOTS = Path("/tmp")
NUM_ROUND = 30


def churn_csv(rows: int, seed: int) -> bytes:
    """Label first, no header (SageMaker's CSV convention): a noisy threshold on two features."""
    rnd = random.Random(seed)
    lines = []
    for _ in range(rows):
        x1, x2, x3 = rnd.random(), rnd.random(), rnd.random()
        label = int(x1 + 0.5 * x2 + 0.3 * rnd.random() > 0.95)
        lines.append(f"{label},{x1:.4f},{x2:.4f},{x3:.4f}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def churn_versions(project, admin_user, settings, tmp_path) -> None:
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    for name, rows, seed in (("churn-train", 600, 1), ("churn-validation", 200, 2)):
        upload_from_stream(
            project=project,
            user=admin_user,
            dataset_name=name,
            filename=f"{name}.csv",
            stream=io.BytesIO(churn_csv(rows, seed)),
            options={"header": False},
        )


def trace_lengths(tab, chart_id: str) -> list[int]:
    """How many points each Plotly trace of a chart holds ([] before it is drawn, or mid-reload)."""
    try:
        return tab.evaluate(
            """(id) => {
                const chart = document.getElementById(id);
                return chart && chart.data ? chart.data.map((trace) => trace.x.length) : [];
            }""",
            chart_id,
        )
    except Exception:  # the page reloads itself when the job ends: its context is gone for a moment
        return []


def test_a_data_scientist_trains_xgboost_reads_its_evaluation_and_compares_a_clone(
    page,  # noqa: F811 (the fixture)
    live_server,
    admin_user,
    churn_versions,
    background_worker,  # noqa: F811 (the fixture)
):
    log_in(page, live_server, "alice")
    page.get_by_role("link", name="New training job").first.click()
    page.wait_for_url(re.compile(r"/jobs/new/training/$"))

    page.get_by_label("Name", exact=True).fill("churn-xgb")
    page.locator("#id_algorithm").select_option("xgboost")
    assert page.locator("#id_hp__xgboost__num_round").is_visible()
    assert not page.locator("#id_hp__k-means__k").is_visible()  # other algorithms' fields stay hidden
    page.locator("#id_channel_train_dataset").select_option("dataset://churn-train/1")
    page.locator("#id_channel_validation_dataset").select_option("dataset://churn-validation/1")
    page.locator("#id_hp__xgboost__num_round").fill(str(NUM_ROUND))
    page.locator("#id_hp__xgboost__objective").select_option("binary:logistic")
    page.screenshot(path=str(SCREENSHOTS / "studio-training-form.png"), full_page=True)
    page.get_by_role("button", name="Create training job").click()
    page.wait_for_url(re.compile(r"/jobs/training/churn-xgb/$"))

    # The curves are drawn while the job runs and gain points until it ends (then the page reloads
    # itself once, with the evaluation and the artifacts).
    chart = "metric-chart-logloss"
    page.locator(f"#{chart}[data-rendered='true']").wait_for(timeout=JOB_TIMEOUT_MS)
    seen = {sum(trace_lengths(page, chart))}
    badge = page.locator("#job-live h1 .badge", has_text="Completed")
    while not badge.count():
        seen.add(sum(trace_lengths(page, chart)))
        page.wait_for_timeout(250)
    badge.wait_for(timeout=JOB_TIMEOUT_MS)
    page.locator("#evaluation").wait_for(timeout=JOB_TIMEOUT_MS)
    page.locator(f"#{chart}[data-rendered='true']").wait_for()
    # train and validation: a point per round, and the final line printed after reloading the model.
    assert trace_lengths(page, chart) == [NUM_ROUND + 1, NUM_ROUND + 1]
    assert max(seen) <= 2 * (NUM_ROUND + 1)
    legend = page.locator(f"#{chart} .legendtext").all_text_contents()
    assert sorted(legend) == ["train", "validation"]

    # The evaluation: metrics, the ROC curve, the confusion matrix.
    page.locator("#figure-roc[data-rendered='true'] .main-svg").first.wait_for()
    page.locator("#figure-confusion[data-rendered='true'] .main-svg").first.wait_for()
    assert page.locator("#evaluation .evaluation-metrics tbody tr").count() >= 3
    job = Job.objects.get(name="churn-xgb")
    assert job.status == JobStatus.COMPLETED
    model = next(output for output in job.outputs if output["name"] == "model")
    assert page.locator("#artifacts").get_by_text(model["sha256"]).is_visible()
    assert page.locator("#job-log").inner_text().strip()
    page.screenshot(path=str(SCREENSHOTS / "studio-training-job.png"), full_page=True)

    # Clone it with another learning rate; compare the two from the job list.
    page.get_by_role("link", name="Clone").click()
    page.wait_for_url(re.compile(r"/jobs/new/training/\?clone=churn-xgb$"))
    assert page.get_by_label("Name", exact=True).input_value() == "churn-xgb-clone"
    assert page.locator("#id_hp__xgboost__num_round").input_value() == str(NUM_ROUND)
    page.locator("#id_hp__xgboost__eta").fill("0.1")
    page.get_by_role("button", name="Create training job").click()
    page.wait_for_url(re.compile(r"/jobs/training/churn-xgb-clone/$"))
    # Completed, and reloaded as finished (else the page's own reload could cancel the next visit).
    page.locator("#training-page[data-terminal='true'] #job-live h1 .badge", has_text="Completed").wait_for(
        timeout=JOB_TIMEOUT_MS
    )

    page.goto(live_server.url + "/projects/vision/jobs/?kind=training")
    page.get_by_label("Compare churn-xgb", exact=True).check()
    page.get_by_label("Compare churn-xgb-clone", exact=True).check()
    page.screenshot(path=str(SCREENSHOTS / "studio-training-list.png"), full_page=True)
    page.get_by_role("button", name="Compare selected").click()
    # The list is newest first, so the clone comes first.
    page.wait_for_url(re.compile(r"/jobs/compare/training/\?names=churn-xgb-clone&names=churn-xgb$"))
    table = page.locator("#compare-table")
    assert table.locator("thead th a").all_text_contents() == ["churn-xgb-clone", "churn-xgb"]
    assert table.locator("tr[data-hyperparameter='eta'] td").all_text_contents() == ["0.1", "0.3"]
    assert table.locator("tr[data-metric='validation:logloss'] td.best").count() == 1
    page.locator("#figure-parallel[data-rendered='true'] .main-svg").first.wait_for()
    curve = page.locator("#curves [data-metric='validation:logloss']")
    curve.locator(".main-svg").first.wait_for()
    assert trace_lengths(page, curve.get_attribute("id")) == [NUM_ROUND + 1, NUM_ROUND + 1]
    page.screenshot(path=str(SCREENSHOTS / "studio-training-compare.png"), full_page=True)
