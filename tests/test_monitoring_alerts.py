"""Model Monitor alerts: raising, de-duplicating and clearing from executions, acknowledgement,
deliveries by email and to a real webhook receiver on 127.0.0.1 (with retries and back-off), the
delivery sweep, notification channels, and the API."""

from __future__ import annotations

import json
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from endpoints.models import Endpoint, EndpointConfig, Model, ProductionVariant
from monitoring import alert_tasks
from monitoring.alerts import (
    AlertStateError,
    _record_violation,
    alert_acknowledge,
    alerts_evaluate,
    alerts_open_for_endpoint,
    channel_create,
    channel_delete,
    channel_update,
)
from monitoring.models import (
    Alert,
    AlertDelivery,
    AlertStatus,
    DeliveryStatus,
    ExecutionStatus,
    MonitoringExecution,
    MonitoringSchedule,
    MonitoringType,
    NotificationChannel,
)
from monitoring.notifications import alert_delivery_send
from studio.models import AuditEvent
from tests.conftest import api_client_for

ALERTS_URL = "/api/v1/projects/vision/alerts/"
CHANNELS_URL = "/api/v1/projects/vision/notification-channels/"


# --- fixtures and helpers ------------------------------------------------------------------------


def make_endpoint(project, name: str = "churn") -> Endpoint:
    """An InService endpoint row (no serving processes)."""
    model = Model.objects.create(
        project=project,
        name=f"{name}-model",
        source="Upload",
        artifact_uri="file:///nowhere/model.tar.gz",
        artifact_sha256="0" * 64,
        artifact_size=1,
    )
    config = EndpointConfig.objects.create(project=project, name=f"{name}-config")
    ProductionVariant.objects.create(config=config, name="main", model=model, instance_type="ml.m5.large")
    return Endpoint.objects.create(
        project=project, name=name, config=config, status="InService", weights={"main": 1.0}
    )


@pytest.fixture
def endpoint(project):
    return make_endpoint(project)


@pytest.fixture
def schedule(project, endpoint, admin_user):
    return MonitoringSchedule.objects.create(
        project=project, name="hourly-drift", endpoint=endpoint, created_by=admin_user
    )


class Clock:
    """Execution windows, one hour apart."""

    def __init__(self) -> None:
        self.end = timezone.now().replace(microsecond=0) - timedelta(days=1)

    def next(self) -> tuple:
        self.end += timedelta(hours=1)
        return self.end - timedelta(hours=1), self.end


@pytest.fixture
def clock() -> Clock:
    return Clock()


def violation(feature: str, check: str = "data_drift_check", description: str = "") -> dict:
    return {
        "feature_name": feature,
        "constraint_check_type": check,
        "description": description or f"{feature} drifted",
    }


def execute(schedule, clock: Clock, violations: list[dict], *, records: int = 100, **extra):
    start, end = clock.next()
    status = ExecutionStatus.COMPLETED_WITH_VIOLATIONS if violations else ExecutionStatus.COMPLETED
    execution = MonitoringExecution.objects.create(
        schedule=schedule,
        status=extra.pop("status", status),
        window_start=start,
        window_end=end,
        record_count=records,
        violations=violations,
        ended_at=end,
        **extra,
    )
    return execution


def open_alerts(schedule) -> dict[tuple[str, str], Alert]:
    return {
        (alert.check_type, alert.feature_name): alert
        for alert in Alert.objects.filter(schedule=schedule).exclude(status=AlertStatus.CLEARED)
    }


class Receiver:
    """A real HTTP server on 127.0.0.1 that records each POST and answers the next planned status."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        self.plan: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.headers.append(dict(self.headers))
                code = receiver.plan.pop(0) if receiver.plan else 200
                body = b"ok" if code < 300 else b"receiver is down"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@pytest.fixture
def requeued(monkeypatch) -> list[dict]:
    """The countdowns deliver_alert asks for (no broker)."""
    calls: list[dict] = []
    monkeypatch.setattr(
        alert_tasks.deliver_alert,
        "apply_async",
        lambda args, countdown: calls.append({"args": args, "countdown": countdown}),
    )
    return calls


def time_passes(delivery: AlertDelivery) -> None:
    """The back-off has elapsed: the delivery is due now."""
    AlertDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


@pytest.fixture
def alert_settings(settings):
    settings.STUDIO_ALERT_MAX_ATTEMPTS = 3
    settings.STUDIO_ALERT_RETRY_BASE_SECONDS = 10.0
    settings.STUDIO_ALERT_RETRY_MAX_SECONDS = 15.0
    settings.STUDIO_ALERT_WEBHOOK_TIMEOUT_SECONDS = 5.0
    settings.STUDIO_PUBLIC_URL = "https://studio.example.com"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.STUDIO_ALERT_ALLOW_PRIVATE_WEBHOOKS = True  # the receivers listen on 127.0.0.1
    return settings


def raise_alert(project, schedule, clock, admin_user, kind: str, target: str) -> AlertDelivery:
    channel_create(project=project, user=admin_user, kind=kind, target=target)
    alerts_evaluate(execute(schedule, clock, [violation("age", description="age: KS 0.41 > 0.1")]))
    return AlertDelivery.objects.select_related("channel").get(channel__target=target)


# --- evaluating executions -----------------------------------------------------------------------


def test_a_violation_raises_an_open_alert_and_queues_a_delivery_per_enabled_channel(
    project, schedule, clock, admin_user, alert_settings, django_capture_on_commit_callbacks, monkeypatch
):
    channel_create(project=project, user=admin_user, kind="email", target="ops@example.com")
    channel_create(project=project, user=admin_user, kind="webhook", target="https://hooks.example.com/x")
    muted = channel_create(
        project=project, user=admin_user, kind="webhook", target="https://muted.example.com/", enabled=False
    )
    sent: list[int] = []
    monkeypatch.setattr(alert_tasks.deliver_alert, "delay", sent.append)
    execution = execute(schedule, clock, [violation("age"), violation("city", "categorical_values_check")])

    with django_capture_on_commit_callbacks(execute=True):
        result = alerts_evaluate(execution)

    assert {(alert.check_type, alert.feature_name) for alert in result} == {
        ("data_drift_check", "age"),
        ("categorical_values_check", "city"),
    }
    alert = Alert.objects.get(feature_name="age")
    assert alert.status == AlertStatus.OPEN
    assert alert.occurrences == 1
    assert alert.first_execution == execution == alert.last_execution
    assert alert.description == "age drifted"
    deliveries = AlertDelivery.objects.filter(alert=alert)
    assert sorted(d.channel.target for d in deliveries) == ["https://hooks.example.com/x", "ops@example.com"]
    assert not AlertDelivery.objects.filter(channel=muted).exists()
    assert sorted(sent) == sorted(AlertDelivery.objects.values_list("pk", flat=True))
    payload = deliveries.first().payload
    assert payload["endpoint"] == "churn"
    assert payload["schedule"] == "hourly-drift"
    assert payload["url"].startswith("https://studio.example.com/projects/vision/")


def test_the_same_violation_in_later_executions_counts_on_the_open_alert(
    project, schedule, clock, admin_user, alert_settings
):
    channel_create(project=project, user=admin_user, kind="email", target="ops@example.com")
    first = execute(schedule, clock, [violation("age", description="KS 0.3")])
    alerts_evaluate(first)
    second = execute(schedule, clock, [violation("age", description="KS 0.5")])

    alerts_evaluate(second)

    alert = Alert.objects.get()
    assert alert.occurrences == 2
    assert alert.first_execution == first
    assert alert.last_execution == second
    assert alert.description == "KS 0.5"
    assert alert.last_seen >= alert.first_seen
    assert AlertDelivery.objects.count() == 1, "one message per alert, not per execution"


def test_a_check_that_stops_violating_clears_and_raises_again_later(project, schedule, clock, admin_user):
    channel_create(project=project, user=admin_user, kind="email", target="ops@example.com")
    alerts_evaluate(execute(schedule, clock, [violation("age"), violation("income")]))

    alerts_evaluate(execute(schedule, clock, [violation("income")]))

    age = Alert.objects.get(feature_name="age")
    assert age.status == AlertStatus.CLEARED
    assert age.cleared_at is not None
    assert open_alerts(schedule).keys() == {("data_drift_check", "income")}

    alerts_evaluate(execute(schedule, clock, [violation("age"), violation("income")]))

    assert Alert.objects.filter(feature_name="age").count() == 2
    again = Alert.objects.get(feature_name="age", status=AlertStatus.OPEN)
    assert again.occurrences == 1
    assert AlertDelivery.objects.filter(alert__feature_name="age").count() == 2


def test_an_execution_that_saw_no_data_or_did_not_complete_changes_nothing(schedule, clock):
    alerts_evaluate(execute(schedule, clock, [violation("age")]))

    assert alerts_evaluate(execute(schedule, clock, [], records=0)) == []
    assert alerts_evaluate(execute(schedule, clock, [], status=ExecutionStatus.FAILED)) == []
    assert (
        alerts_evaluate(execute(schedule, clock, [violation("x")], status=ExecutionStatus.IN_PROGRESS)) == []
    )

    alert = Alert.objects.get()
    assert alert.status == AlertStatus.OPEN
    assert alert.occurrences == 1


def test_an_older_execution_finishing_late_does_not_clear_a_newer_alert(schedule, clock):
    older = execute(schedule, clock, [])
    newer = execute(schedule, clock, [violation("age")])
    alerts_evaluate(newer)

    alerts_evaluate(older)

    assert Alert.objects.get().status == AlertStatus.OPEN


def test_model_quality_violations_are_keyed_by_metric(project, endpoint, clock):
    quality = MonitoringSchedule.objects.create(
        project=project, name="quality", endpoint=endpoint, monitoring_type=MonitoringType.MODEL_QUALITY
    )
    check = {
        "metric_name": "accuracy",
        "constraint_check_type": "LessThanThreshold",
        "description": "accuracy 0.61 < 0.8",
    }

    alerts_evaluate(execute(quality, clock, [check]))
    alerts_evaluate(execute(quality, clock, [check, check]))

    alert = Alert.objects.get()
    assert (alert.check_type, alert.feature_name, alert.occurrences) == ("LessThanThreshold", "accuracy", 2)


def test_a_lost_race_counts_on_the_winner_instead_of_raising_a_second_alert(schedule, clock):
    """Two executions finishing together both see no open alert; the partial unique constraint lets
    one insert win, and the loser counts on it."""
    first = execute(schedule, clock, [violation("age")])
    second = execute(schedule, clock, [violation("age")])
    alerts_evaluate(first)

    alert, raised = _record_violation(
        schedule=schedule,
        execution=second,
        key=("data_drift_check", "age"),
        description="age drifted again",
        known=None,  # what the loser read before the winner committed
        now=timezone.now(),
    )

    assert raised is False
    assert Alert.objects.count() == 1
    assert alert.occurrences == 2
    assert alert.last_execution == second


def test_an_acknowledged_alert_that_keeps_violating_is_not_sent_again(
    project, schedule, clock, admin_user, editor_user
):
    channel_create(project=project, user=admin_user, kind="email", target="ops@example.com")
    alerts_evaluate(execute(schedule, clock, [violation("age")]))
    alert = Alert.objects.get()

    alert = alert_acknowledge(alert=alert, user=editor_user)
    alerts_evaluate(execute(schedule, clock, [violation("age")]))

    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED
    assert alert.acknowledged_by == editor_user
    assert alert.acknowledged_at is not None
    assert alert.occurrences == 2
    assert AlertDelivery.objects.count() == 1
    assert AuditEvent.objects.filter(action="alert.acknowledge", actor=editor_user).count() == 1
    assert [a.pk for a in alerts_open_for_endpoint(schedule.endpoint)] == [alert.pk]

    # Acknowledging again changes nothing; once it clears, there is nothing to acknowledge.
    alert_acknowledge(alert=alert, user=admin_user)
    alert.refresh_from_db()
    assert alert.acknowledged_by == editor_user
    alerts_evaluate(execute(schedule, clock, []))
    with pytest.raises(AlertStateError):
        alert_acknowledge(alert=alert, user=editor_user)
    assert list(alerts_open_for_endpoint(schedule.endpoint)) == []


# --- deliveries ----------------------------------------------------------------------------------


def test_a_webhook_is_delivered_to_a_real_receiver_with_a_slack_compatible_body(
    project, schedule, clock, admin_user, alert_settings, receiver, requeued
):
    delivery = raise_alert(project, schedule, clock, admin_user, "webhook", receiver.url)

    assert alert_tasks.deliver_alert(delivery.pk) is None

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 1
    assert delivery.delivered_at is not None
    assert delivery.last_error == ""
    assert requeued == []
    (body,) = receiver.bodies
    assert receiver.headers[0]["Content-Type"] == "application/json"
    assert isinstance(body["text"], str)
    assert "data_drift_check" in body["text"]
    assert "age" in body["text"]
    assert {
        key: body[key] for key in ("project", "endpoint", "schedule", "check_type", "feature", "status")
    } == {
        "project": "vision",
        "endpoint": "churn",
        "schedule": "hourly-drift",
        "check_type": "data_drift_check",
        "feature": "age",
        "status": "Open",
    }
    assert body["description"] == "age: KS 0.41 > 0.1"
    assert body["url"].startswith("https://studio.example.com/projects/vision/")
    assert body["first_seen"]
    assert body["last_seen"]
    assert body == delivery.payload

    # A second message for the same delivery (a redelivered task) sends nothing more.
    assert alert_tasks.deliver_alert(delivery.pk) is None
    assert len(receiver.bodies) == 1


def test_a_failing_receiver_is_retried_with_back_off_then_recorded_as_failed(
    project, schedule, clock, admin_user, alert_settings, receiver, requeued
):
    receiver.plan = [500, 500, 500]
    delivery = raise_alert(project, schedule, clock, admin_user, "webhook", receiver.url)
    payload = dict(delivery.payload)

    before = timezone.now()
    assert alert_tasks.deliver_alert(delivery.pk) == 10.0
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.attempts == 1
    assert delivery.last_error == "webhook: HTTP 500 Internal Server Error"
    assert "receiver is down" not in delivery.last_error, "the receiver's body is never kept (viewers see it)"
    assert before + timedelta(seconds=9) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=11)
    assert requeued == [{"args": [delivery.pk], "countdown": 10.0}]

    # Too early: the task that arrives before its time sends nothing.
    assert alert_tasks.deliver_alert(delivery.pk) is None
    assert len(receiver.bodies) == 1

    time_passes(delivery)
    assert alert_tasks.deliver_alert(delivery.pk) == 15.0  # 10 * 2, capped at 15
    time_passes(delivery)
    assert alert_tasks.deliver_alert(delivery.pk) is None

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == 3
    assert "HTTP 500" in delivery.last_error
    assert delivery.next_attempt_at is None
    assert delivery.payload == payload, "nothing lost: the payload is kept on the failed delivery"
    assert len(receiver.bodies) == 3
    assert all(body == payload for body in receiver.bodies)
    assert [call["countdown"] for call in requeued] == [10.0, 15.0]

    # A failed delivery stays visible on the alert.
    viewer = api_client_for(admin_user)
    detail = viewer.get(f"{ALERTS_URL}{delivery.alert_id}/").json()
    assert detail["deliveries"][0]["status"] == "Failed"
    assert "HTTP 500" in detail["deliveries"][0]["last_error"]


def test_a_receiver_that_recovers_gets_the_message_on_the_retry(
    project, schedule, clock, admin_user, alert_settings, receiver, requeued
):
    receiver.plan = [503]
    delivery = raise_alert(project, schedule, clock, admin_user, "webhook", receiver.url)

    assert alert_tasks.deliver_alert(delivery.pk) == 10.0
    time_passes(delivery)
    assert alert_tasks.deliver_alert(delivery.pk) is None

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert len(receiver.bodies) == 2


def test_a_refused_connection_is_retried_then_failed_with_the_error(
    project, schedule, clock, admin_user, alert_settings, requeued
):
    alert_settings.STUDIO_ALERT_MAX_ATTEMPTS = 2
    delivery = raise_alert(project, schedule, clock, admin_user, "webhook", closed_port_url())

    assert alert_tasks.deliver_alert(delivery.pk) == 10.0
    time_passes(delivery)
    assert alert_tasks.deliver_alert(delivery.pk) is None

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == 2
    assert "refused" in delivery.last_error.lower()
    assert delivery.payload["feature"] == "age"


def test_email_names_the_endpoint_schedule_check_feature_and_link(
    project, schedule, clock, admin_user, alert_settings, mailoutbox
):
    alert_settings.DEFAULT_FROM_EMAIL = "studio@example.com"
    delivery = raise_alert(project, schedule, clock, admin_user, "email", "ops@example.com")

    assert alert_tasks.deliver_alert(delivery.pk) is None

    (message,) = mailoutbox
    assert message.to == ["ops@example.com"]
    assert message.from_email == "studio@example.com"
    assert "churn" in message.subject
    assert "data_drift_check on age" in message.subject
    for text in ("churn", "hourly-drift", "data_drift_check", "age", "age: KS 0.41 > 0.1"):
        assert text in message.body
    assert "https://studio.example.com/projects/vision/" in message.body
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED


def test_an_unreachable_mail_server_is_retried(
    project, schedule, clock, admin_user, alert_settings, requeued
):
    alert_settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    alert_settings.EMAIL_HOST = "127.0.0.1"
    alert_settings.EMAIL_PORT = int(closed_port_url().rsplit(":", 1)[1].split("/")[0])
    alert_settings.EMAIL_TIMEOUT = 2.0
    delivery = raise_alert(project, schedule, clock, admin_user, "email", "ops@example.com")

    assert alert_tasks.deliver_alert(delivery.pk) == 10.0

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.last_error.startswith("email:")


class GarbageServer:
    """A raw TCP server on 127.0.0.1 that answers each connection with bytes that are not HTTP."""

    def __init__(self, answer: bytes = b"SSH-2.0-OpenSSH_9.6 not http\r\n") -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.answer = answer
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(self.answer)


def test_a_receiver_that_does_not_speak_http_is_retried_then_failed(
    project, schedule, clock, admin_user, alert_settings, requeued
):
    server = GarbageServer()
    try:
        delivery = raise_alert(project, schedule, clock, admin_user, "webhook", server.url)

        assert alert_tasks.deliver_alert(delivery.pk) == 10.0
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
        assert "BadStatusLine" in delivery.last_error

        time_passes(delivery)
        time_passes(delivery)
        assert alert_tasks.deliver_alert(delivery.pk) == 15.0
        time_passes(delivery)
        assert alert_tasks.deliver_alert(delivery.pk) is None
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 3)
        assert delivery.next_attempt_at is None
    finally:
        server.sock.close()


def test_a_feature_name_with_a_newline_is_emailed_on_one_subject_line(
    project, schedule, clock, admin_user, alert_settings, mailoutbox
):
    channel_create(project=project, user=admin_user, kind="email", target="ops@example.com")
    alerts_evaluate(execute(schedule, clock, [violation("age\nBcc: evil@example.com\r\x00")]))
    delivery = AlertDelivery.objects.get()

    assert alert_tasks.deliver_alert(delivery.pk) is None

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 1)
    (message,) = mailoutbox
    assert message.subject == "[Studio] vision/churn: data_drift_check on age Bcc: evil@example.com"
    assert message.to == ["ops@example.com"]
    assert message.bcc == []


def test_an_email_that_cannot_be_built_is_retried_not_left_claimed(
    project, schedule, clock, admin_user, alert_settings, requeued, monkeypatch
):
    from django.core.mail import BadHeaderError

    from monitoring import notifications

    delivery = raise_alert(project, schedule, clock, admin_user, "email", "ops@example.com")

    def refuse(*args, **kwargs):
        raise BadHeaderError("Header values can't contain newlines")

    monkeypatch.setattr(notifications, "send_mail", refuse)
    assert alert_tasks.deliver_alert(delivery.pk) == 10.0
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    assert delivery.last_error.startswith("email: BadHeaderError")


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/hook",
        "https://192.168.1.1/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_webhooks_to_internal_addresses_are_refused_by_default(project, admin_user, target):
    with pytest.raises(ValidationError) as caught:
        channel_create(project=project, user=admin_user, kind="webhook", target=target)

    assert list(caught.value.message_dict) == ["target"]
    assert not NotificationChannel.objects.exists()


def test_the_api_refuses_a_loopback_webhook_with_400_naming_target(project, editor_user):
    response = api_client_for(editor_user).post(
        CHANNELS_URL, {"kind": "webhook", "target": "http://127.0.0.1:8000/hook"}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["target"]
    assert not NotificationChannel.objects.exists()


def test_sending_checks_the_address_again(
    project, schedule, clock, admin_user, alert_settings, receiver, requeued
):
    delivery = raise_alert(project, schedule, clock, admin_user, "webhook", receiver.url)
    alert_settings.STUDIO_ALERT_ALLOW_PRIVATE_WEBHOOKS = False  # as if the name now resolved inside

    assert alert_tasks.deliver_alert(delivery.pk) == 10.0

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    assert "private or reserved address" in delivery.last_error
    assert receiver.bodies == []


def test_an_empty_public_url_is_warned_about_once(
    project, schedule, clock, admin_user, alert_settings, mailoutbox, caplog, monkeypatch
):
    from monitoring import notifications

    monkeypatch.setattr(notifications, "_warned_relative_links", False)
    alert_settings.STUDIO_PUBLIC_URL = ""
    channel_create(project=project, user=admin_user, kind="email", target="ops@example.com")
    channel_create(project=project, user=admin_user, kind="email", target="dev@example.com")
    alerts_evaluate(execute(schedule, clock, [violation("age")]))

    with caplog.at_level("WARNING", logger="monitoring.notifications"):
        for delivery in AlertDelivery.objects.all():
            alert_tasks.deliver_alert(delivery.pk)

    warnings = [record for record in caplog.records if "STUDIO_PUBLIC_URL" in record.getMessage()]
    assert len(warnings) == 1
    assert len(mailoutbox) == 2


def test_the_task_ignores_a_missing_or_finished_delivery(requeued, db):
    assert alert_tasks.deliver_alert(123456) is None
    assert requeued == []


def test_the_sweep_resends_only_overdue_pending_deliveries(
    project, schedule, clock, admin_user, alert_settings, monkeypatch, settings
):
    channel_create(project=project, user=admin_user, kind="email", target="a@example.com")
    channel_create(project=project, user=admin_user, kind="email", target="b@example.com")
    channel_create(project=project, user=admin_user, kind="email", target="c@example.com")
    alerts_evaluate(execute(schedule, clock, [violation("age")]))
    lost, _fresh, done = AlertDelivery.objects.order_by("channel__target")
    AlertDelivery.objects.filter(pk=lost.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=5))
    AlertDelivery.objects.filter(pk=done.pk).update(
        status=DeliveryStatus.DELIVERED, next_attempt_at=timezone.now() - timedelta(minutes=5)
    )
    sent: list[int] = []
    monkeypatch.setattr(alert_tasks.deliver_alert, "delay", sent.append)

    assert alert_tasks.retry_deliveries() == 1

    assert sent == [lost.pk]
    entry = settings.CELERY_BEAT_SCHEDULE["retry-alert-deliveries"]
    assert entry == {"task": "monitoring.retry_deliveries", "schedule": 60.0}


def test_a_delivery_claimed_by_another_worker_is_not_sent_twice(
    project, schedule, clock, admin_user, alert_settings, receiver
):
    delivery = raise_alert(project, schedule, clock, admin_user, "webhook", receiver.url)
    stale = AlertDelivery.objects.get(pk=delivery.pk)
    # Another worker claims it first (moves next_attempt_at past its send's timeout).
    AlertDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() + timedelta(seconds=40)
    )

    assert alert_delivery_send(delivery_id=stale.pk, now=stale.next_attempt_at) is None
    assert receiver.bodies == []


# --- channels ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "target", "field"),
    [
        ("email", "not-an-address", "target"),
        ("email", "", "target"),
        ("webhook", "ftp://files.example.com/hook", "target"),
        ("webhook", "file:///etc/passwd", "target"),
        ("webhook", "hooks.example.com/no-scheme", "target"),
        ("sms", "+15555550100", "kind"),
    ],
)
def test_a_bad_channel_is_refused_naming_the_field(project, admin_user, kind, target, field):
    with pytest.raises(ValidationError) as caught:
        channel_create(project=project, user=admin_user, kind=kind, target=target)

    assert list(caught.value.message_dict) == [field]
    assert not NotificationChannel.objects.exists()


def test_channels_are_unique_per_project_and_can_be_disabled_or_deleted(project, admin_user, settings):
    settings.STUDIO_ALERT_ALLOW_PRIVATE_WEBHOOKS = True
    channel = channel_create(project=project, user=admin_user, kind="webhook", target="http://127.0.0.1:9/h")
    with pytest.raises(ValidationError) as caught:
        channel_create(project=project, user=admin_user, kind="webhook", target="http://127.0.0.1:9/h")
    assert "target" in caught.value.message_dict

    channel_update(channel=channel, user=admin_user, enabled=False)
    assert NotificationChannel.objects.get().enabled is False
    with pytest.raises(ValidationError):
        channel_update(channel=channel, user=admin_user, target="javascript:alert(1)")

    channel_delete(channel=channel, user=admin_user)
    assert not NotificationChannel.objects.exists()
    assert AuditEvent.objects.filter(action__startswith="notification_channel.").count() == 3


# --- API -----------------------------------------------------------------------------------------


def test_the_alert_list_filters_by_status_with_a_bounded_number_of_queries(
    project, schedule, clock, viewer_user, django_assert_num_queries
):
    client = api_client_for(viewer_user)
    alerts_evaluate(execute(schedule, clock, [violation(f"f{index}") for index in range(3)]))
    client.get(CHANNELS_URL)  # the key's first use records last_used_at (a write)
    # API key (with its user), project, membership, count, the page (alerts with schedule, endpoint,
    # acknowledger and executions joined).
    with django_assert_num_queries(5):
        small = client.get(ALERTS_URL)
    assert small.status_code == 200
    assert small.json()["count"] == 3

    alerts_evaluate(execute(schedule, clock, [violation(f"f{index}") for index in range(1, 30)]))
    with django_assert_num_queries(5):
        everything = client.get(ALERTS_URL).json()
    with django_assert_num_queries(5):
        cleared = client.get(ALERTS_URL, {"status": "Cleared"}).json()

    assert everything["count"] == 30
    assert [item["feature_name"] for item in cleared["results"]] == ["f0"]
    item = cleared["results"][0]
    assert item["status"] == "Cleared"
    assert item["endpoint"] == "churn"
    assert item["schedule"] == "hourly-drift"
    assert item["cleared_at"] is not None
    assert client.get(ALERTS_URL, {"status": "Open"}).json()["count"] == 29
    bad = client.get(ALERTS_URL, {"status": "Whatever"})
    assert bad.status_code == 400
    assert "status" in bad.json()


def test_the_alert_detail_shows_its_deliveries(project, schedule, clock, admin_user, viewer_user):
    channel_create(project=project, user=admin_user, kind="email", target="ops@example.com")
    alerts_evaluate(execute(schedule, clock, [violation("age")]))
    alert = Alert.objects.get()

    body = api_client_for(viewer_user).get(f"{ALERTS_URL}{alert.pk}/").json()

    assert body["id"] == alert.pk
    assert body["occurrences"] == 1
    (delivery,) = body["deliveries"]
    assert delivery["channel"]["kind"] == "email"
    assert delivery["status"] == "Pending"
    assert delivery["payload"]["feature"] == "age"


def test_acknowledge_over_the_api(project, schedule, clock, viewer_user, editor_user, outsider_user):
    alerts_evaluate(execute(schedule, clock, [violation("age")]))
    alert = Alert.objects.get()
    url = f"{ALERTS_URL}{alert.pk}/acknowledge/"

    assert api_client_for(viewer_user).post(url).status_code == 403
    assert api_client_for(outsider_user).post(url).status_code == 404
    assert Alert.objects.get().status == AlertStatus.OPEN

    response = api_client_for(editor_user).post(url)

    assert response.status_code == 200
    assert response.json()["status"] == "Acknowledged"
    assert response.json()["acknowledged_by"] == "erin"

    alerts_evaluate(execute(schedule, clock, []))
    conflict = api_client_for(editor_user).post(url)
    assert conflict.status_code == 409
    assert "status" in conflict.json()


def test_channels_over_the_api(project, viewer_user, editor_user, outsider_user):
    editor = api_client_for(editor_user)

    refused = api_client_for(viewer_user).post(
        CHANNELS_URL, {"kind": "email", "target": "a@b.co"}, format="json"
    )
    assert refused.status_code == 403
    bad = editor.post(CHANNELS_URL, {"kind": "webhook", "target": "not a url"}, format="json")
    assert bad.status_code == 400
    assert list(bad.json()) == ["target"]
    bad_kind = editor.post(CHANNELS_URL, {"kind": "pager", "target": "x"}, format="json")
    assert bad_kind.status_code == 400
    assert "kind" in bad_kind.json()

    created = editor.post(
        CHANNELS_URL, {"kind": "webhook", "target": "https://hooks.slack.com/services/T/B/X"}, format="json"
    )
    assert created.status_code == 201
    channel_id = created.json()["id"]
    assert created.json()["enabled"] is True
    duplicate = editor.post(
        CHANNELS_URL, {"kind": "webhook", "target": "https://hooks.slack.com/services/T/B/X"}, format="json"
    )
    assert duplicate.status_code == 400

    listed = api_client_for(viewer_user).get(CHANNELS_URL).json()
    assert [item["target"] for item in listed["results"]] == ["https://hooks.slack.com/services/T/B/X"]
    assert api_client_for(outsider_user).get(CHANNELS_URL).status_code == 404

    patched = editor.patch(f"{CHANNELS_URL}{channel_id}/", {"enabled": False}, format="json")
    assert patched.status_code == 200
    assert patched.json()["enabled"] is False

    assert api_client_for(viewer_user).delete(f"{CHANNELS_URL}{channel_id}/").status_code == 403
    assert editor.delete(f"{CHANNELS_URL}{channel_id}/").status_code == 204
    assert not NotificationChannel.objects.exists()
    assert editor.delete(f"{CHANNELS_URL}{channel_id}/").status_code == 404


def test_alerts_of_another_project_are_not_found(project, schedule, clock, outsider_user, admin_user):
    alerts_evaluate(execute(schedule, clock, [violation("age")]))
    alert = Alert.objects.get()
    other = api_client_for(outsider_user)

    assert other.get(f"/api/v1/projects/other/alerts/{alert.pk}/").status_code == 404
    assert other.get("/api/v1/projects/other/alerts/").json()["count"] == 0
