"""Model Monitor in a real browser (Debian's Chromium driven by Playwright): an endpoint whose captured
traffic drifted shows a banner on its page; its monitoring page draws the drift heatmap and, per
feature, the baseline and current distributions overlaid; acknowledging the alert clears the banner.
The rows are built by the test, so no monitoring job runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitoring.models import Alert, AlertStatus
from tests.test_browser import browser, log_in, page  # noqa: F401 (fixtures)
from tests.test_monitoring_pages import capture_endpoint, drifting_schedule, make_alert

pytestmark = pytest.mark.browser

SCREENSHOTS = Path("/tmp")


def test_the_monitoring_page_of_a_drifting_endpoint_draws_the_overlay_and_the_heatmap(
    page,  # noqa: F811 (the fixture)
    live_server,
    project,
    admin_user,
    editor_user,
):
    endpoint = capture_endpoint(project, admin_user)
    schedule, executions = drifting_schedule(project, admin_user, endpoint)
    alert = make_alert(schedule, executions[-1])

    log_in(page, live_server, "erin")
    page.goto(f"{live_server.url}/projects/vision/endpoints/{endpoint.name}/")
    banner = page.locator("#monitoring-banner")
    banner.wait_for()
    assert "1 open monitoring alert" in banner.inner_text()
    assert page.locator(f'#monitoring-schedules tr[data-schedule="{schedule.name}"]').count() == 1
    banner.get_by_role("link", name="See the drift and acknowledge").click()

    # The endpoint's monitoring page: Plotly drew the heatmap and every feature's overlay.
    page.wait_for_url(re.compile(rf"/projects/vision/monitoring/endpoints/{endpoint.name}/$"))
    page.locator("#chart-drift-heatmap[data-rendered='true'] .plot-container .main-svg").first.wait_for()
    assert page.locator("#chart-drift-heatmap .heatmaplayer image, #chart-drift-heatmap .hm").count() >= 1
    page.locator("#chart-violations-timeline[data-rendered='true'] .main-svg").first.wait_for()
    overlays = page.locator("#overlays [data-figure]")
    assert overlays.count() == 3
    for index in range(3):
        page.locator(f"#chart-overlay-{index}[data-rendered='true'] .plot-container").wait_for()
    # The numerical overlay has two bar traces (baseline, current) with bars drawn.
    age = page.locator("#overlay-0-figure")
    assert age.get_attribute("data-feature") == "age"
    assert age.locator(".barlayer .trace").count() == 2
    assert age.locator(".barlayer .point").count() >= 10
    legend = age.locator(".legend").text_content() or ""
    assert "baseline" in legend
    assert "current" in legend
    assert page.locator("#drift-scores tr.drifted").count() == 2
    page.screenshot(path=str(SCREENSHOTS / "studio-monitoring.png"), full_page=True)

    # Acknowledge the alert: it leaves the open list, and the endpoint's banner goes with it.
    page.locator(f'#endpoint-alerts [data-acknowledge="{alert.pk}"]').click()
    page.locator(".message-success", has_text="Alert acknowledged").wait_for()
    assert page.locator("#endpoint-alerts").count() == 0
    alert = Alert.objects.get(pk=alert.pk)
    assert alert.status == AlertStatus.ACKNOWLEDGED
    assert alert.acknowledged_by == editor_user
    page.goto(f"{live_server.url}/projects/vision/endpoints/{endpoint.name}/")
    page.locator("#monitoring-acknowledged").wait_for()
    assert page.locator("#monitoring-banner").count() == 0
