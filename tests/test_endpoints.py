"""Models, endpoint configs and endpoints through the API, served by real serving processes and
invoked over HTTP through the gateway: content types, errors, variants, shadow, blue/green, capture,
metrics, restarts."""

from __future__ import annotations

import io
import json
import os
import threading
import time

import numpy as np
import pytest

from endpoints.models import Endpoint, EndpointMetric, InstanceStatus, Model, ServingInstance
from studio.artifacts import store_for
from studio.models import AuditEvent
from studio.services import api_key_create
from tests.conftest import api_client_for
from tests.serving_support import (
    constant_handler_archive,
    model_archive,
    sklearn_archive,
    wait_for_status,
    wait_until,
)

# Also on the full-stack pass: PostgreSQL under the supervisor's and the gateway's threads, and the
# models and captured data on the S3 server.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.fullstack]
BASE = "/api/v1/projects/vision"


def upload_model(api, name: str, archive: io.BytesIO, **fields) -> dict:
    response = api.post(
        f"{BASE}/models/", {"name": name, "model_file": archive, **fields}, format="multipart"
    )
    assert response.status_code == 201, response.content
    return response.json()


def deploy(api, name: str, variants: list[dict], **config) -> Endpoint:
    response = api.post(
        f"{BASE}/endpoint-configs/", {"name": f"{name}-config", "variants": variants, **config}, format="json"
    )
    assert response.status_code == 201, response.content
    response = api.post(
        f"{BASE}/endpoints/", {"name": name, "endpoint_config": f"{name}-config"}, format="json"
    )
    assert response.status_code == 201, response.content
    return Endpoint.objects.get(name=name)


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def key_for(user, **kwargs) -> str:
    return api_key_create(user=user, name="invoke", **kwargs)[1]


# --- models ------------------------------------------------------------------------------------------


def test_an_uploaded_pickle_needs_a_project_admins_trust_before_it_deploys(project, admin_user, editor_user):
    editor = api_client_for(editor_user)
    model = upload_model(editor, "churn", sklearn_archive())
    assert model["pickle_files"] == ["model.joblib"]
    assert model["needs_trust"] is True

    refused = editor.post(
        f"{BASE}/endpoint-configs/",
        {"name": "c", "variants": [{"name": "main", "model": "churn"}]},
        format="json",
    )
    assert refused.status_code == 400
    assert "trust" in refused.json()["variants[0]"][0]
    assert editor.post(f"{BASE}/models/churn/trust/").status_code == 403

    trusted = api_client_for(admin_user).post(f"{BASE}/models/churn/trust/")

    assert trusted.status_code == 200
    assert trusted.json()["needs_trust"] is False
    assert trusted.json()["trusted_by"] == "alice"
    event = AuditEvent.objects.get(action="trust", target_name="churn")
    assert event.details["pickle_files"] == ["model.joblib"]
    accepted = editor.post(
        f"{BASE}/endpoint-configs/",
        {"name": "c", "variants": [{"name": "main", "model": "churn"}]},
        format="json",
    )
    assert accepted.status_code == 201, accepted.content


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "bad name!"}, "name", "letters"),
        ({}, "training_job", "exactly one"),
        ({"training_job": "nope"}, "training_job", "No training job"),
        ({"model_data_uri": "file:///etc/passwd"}, "model_data_uri", "outside this project"),
    ],
)
def test_model_create_errors_name_their_field(project, admin_user, fields, field, message):
    response = api_client_for(admin_user).post(f"{BASE}/models/", {"name": "m", **fields}, format="json")

    assert response.status_code == 400
    assert message in " ".join(response.json()[field])


def test_an_archive_without_inference_code_or_a_model_is_refused(project, admin_user):
    response = api_client_for(admin_user).post(
        f"{BASE}/models/",
        {"name": "m", "model_file": model_archive({"notes.txt": b"hi"})},
        format="multipart",
    )
    assert response.status_code == 400
    assert "no inference code" in response.json()["model_file"][0]

    garbage = io.BytesIO(b"not a tarball")
    garbage.name = "model.tar.gz"
    response = api_client_for(admin_user).post(
        f"{BASE}/models/", {"name": "m", "model_file": garbage}, format="multipart"
    )
    assert response.status_code == 400
    assert "model.tar.gz" in response.json()["model_file"][0]


def test_config_rules_are_checked(project, admin_user):
    api = api_client_for(admin_user)
    upload_model(api, "const", constant_handler_archive("1"))
    cases = [
        ({"variants": []}, "variants"),
        ({"variants": [{"name": "a", "model": "missing"}]}, "variants[0]"),
        ({"variants": [{"name": "a", "model": "const", "instance_type": "ml.nope"}]}, "variants[0]"),
        ({"variants": [{"name": "a", "model": "const", "instance_count": 0}]}, "variants[0]"),
        ({"variants": [{"name": "a", "model": "const"}, {"name": "a", "model": "const"}]}, "variants"),
        ({"variants": [{"name": "a", "model": "const", "initial_weight": 0}]}, "variants"),
        (
            {
                "variants": [{"name": "a", "model": "const"}, {"name": "b", "model": "const"}],
                "shadow_variant": {"name": "s", "model": "const"},
            },
            "shadow_variant",
        ),
        (
            {"variants": [{"name": "a", "model": "const"}], "data_capture": {"sampling_percentage": 101}},
            "data_capture",
        ),
        (
            {"variants": [{"name": "a", "model": "const"}], "data_capture": {"capture_modes": ["Both"]}},
            "data_capture",
        ),
    ]
    for body, field in cases:
        response = api.post(f"{BASE}/endpoint-configs/", {"name": "c", **body}, format="json")
        assert response.status_code == 400, body
        assert field in response.json(), (body, response.json())


def test_a_retried_create_with_the_same_client_token_returns_the_same_resources(project, admin_user):
    api = api_client_for(admin_user)
    upload_model(api, "const", constant_handler_archive("1"))
    body = {"name": "c", "variants": [{"name": "a", "model": "const"}], "client_token": "tok-1"}
    first = api.post(f"{BASE}/endpoint-configs/", body, format="json")
    again = api.post(f"{BASE}/endpoint-configs/", body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["uuid"] == again.json()["uuid"]
    other = api.post(f"{BASE}/endpoint-configs/", {**body, "name": "d"}, format="json")
    assert other.status_code == 400
    assert "client_token" in other.json()


def test_lists_are_paginated_with_bounded_queries(project, admin_user, django_assert_max_num_queries):
    api = api_client_for(admin_user)
    upload_model(api, "const", constant_handler_archive("1"))
    for index in range(12):
        api.post(
            f"{BASE}/endpoint-configs/",
            {"name": f"c{index}", "variants": [{"name": "a", "model": "const"}]},
            format="json",
        )
        api.post(f"{BASE}/endpoints/", {"name": f"e{index}", "endpoint_config": f"c{index}"}, format="json")
    for path in ("models", "endpoint-configs", "endpoints"):
        with django_assert_max_num_queries(10):
            response = api.get(f"{BASE}/{path}/")
        assert response.status_code == 200
        assert response.json()["count"] >= 1


# --- serving -----------------------------------------------------------------------------------------


def test_deploy_an_uploaded_model_and_invoke_in_every_content_type(project, admin_user, serving):
    api = api_client_for(admin_user)
    upload_model(api, "churn", sklearn_archive())
    api.post(f"{BASE}/models/churn/trust/")
    endpoint = deploy(api, "churn-live", [{"name": "main", "model": "churn", "instance_count": 2}])
    wait_for_status(endpoint, "InService")
    described = api.get(f"{BASE}/endpoints/churn-live/").json()
    assert described["production_variants"][0]["current_instance_count"] == 2
    assert [event["status"] for event in described["events"]] == ["Creating", "InService"]

    url = serving.invocations("vision", "churn-live")
    rows = np.array([[2.0, 1.0, 0.0, 0.0], [-2.0, -1.0, 0.0, 0.0], [1.5, 0.2, 3.0, -1.0]])
    expected = ["1", "0", "1"]
    npy = io.BytesIO()
    np.save(npy, rows)
    bodies = {
        "text/csv": "\n".join(",".join(map(str, row)) for row in rows).encode(),
        "application/json": json.dumps({"instances": rows.tolist()}).encode(),
        "application/jsonlines": "".join(json.dumps(row) + "\n" for row in rows.tolist()).encode(),
        "application/x-npy": npy.getvalue(),
    }
    with serving.client(key_for(admin_user)) as http:
        for content_type, body in bodies.items():
            for accept, parse in (
                ("text/csv", lambda r: r.text.split()),
                ("application/json", lambda r: [str(v) for v in r.json()]),
                ("application/x-npy", lambda r: [str(v) for v in np.load(io.BytesIO(r.content))]),
            ):
                response = http.post(
                    url, content=body, headers={"Content-Type": content_type, "Accept": accept}
                )
                assert response.status_code == 200, (content_type, response.text)
                assert response.headers["content-type"].startswith(accept)
                assert response.headers["x-amzn-invoked-production-variant"] == "main"
                assert parse(response) == expected, (content_type, accept)


def test_bad_requests_get_clear_errors_and_the_endpoint_keeps_serving(
    project, admin_user, viewer_user, serving
):
    api = api_client_for(admin_user)
    upload_model(api, "churn", sklearn_archive())
    api.post(f"{BASE}/models/churn/trust/")
    wait_for_status(deploy(api, "churn-live", [{"name": "main", "model": "churn"}]), "InService")
    url = serving.invocations("vision", "churn-live")
    csv = {"Content-Type": "text/csv"}
    with serving.client(key_for(admin_user)) as http:
        malformed = http.post(url, content=b"1,2,x,4", headers=csv)
        assert malformed.status_code == 400
        assert "could not convert string 'x'" in malformed.json()["message"]
        wrong_width = http.post(url, content=b"1,2,3", headers=csv)
        assert wrong_width.status_code == 400
        assert "features" in wrong_width.json()["message"]
        assert http.post(url, content=b"1,2,3,4", headers={"Content-Type": "text/html"}).status_code == 415
        assert http.post(url, content=b"1,2,3,4", headers={**csv, "Accept": "image/png"}).status_code == 406
        too_big = http.post(url, content=b"1," * (3 * 1024 * 1024 + 1), headers=csv)
        assert too_big.status_code == 413
        unknown = http.post(serving.invocations("vision", "nope"), content=b"1", headers=csv)
        assert unknown.status_code == 404
        bad_variant = http.post(
            url, content=b"1,2,3,4", headers={**csv, "X-Amzn-SageMaker-Target-Variant": "x"}
        )
        assert bad_variant.status_code == 400
        assert "no variant 'x'" in bad_variant.json()["message"]
        assert http.post(url, content=b"1,2,3,4", headers=csv).status_code == 200
    assert serving.client("sk-nope").post(url, content=b"1,2,3,4", headers=csv).status_code == 401
    assert serving.client(key_for(viewer_user)).post(url, content=b"1,2,3,4", headers=csv).status_code == 403
    limited = key_for(admin_user, invoke_only="vision/other-endpoint")
    assert serving.client(limited).post(url, content=b"1,2,3,4", headers=csv).status_code == 403
    own = key_for(admin_user, invoke_only="vision/churn-live")
    assert serving.client(own).post(url, content=b"1,2,3,4", headers=csv).status_code == 200
    # A key limited to one endpoint is no key for the rest of the API.
    assert (
        serving.client(own).get(f"{BASE}/models/", headers={"Accept": "application/json"}).status_code == 403
    )


def test_custom_handlers_and_a_model_error_that_does_not_stop_the_endpoint(project, admin_user, serving):
    code = b"""
import json

def model_fn(model_dir):
    return {"scale": 3}

def transform_fn(model, body, content_type, accept, context):
    values = [float(v) for v in body.decode().split(",")]
    if values[0] < 0:
        raise RuntimeError("negative input is not allowed")
    context.response_custom_attributes = "seen=" + context.custom_attributes
    return json.dumps([v * model["scale"] for v in values]), "application/json"
"""
    api = api_client_for(admin_user)
    model = upload_model(api, "scaler", model_archive({"code/inference.py": code}))
    assert model["needs_trust"] is False
    wait_for_status(deploy(api, "scaler-live", [{"name": "main", "model": "scaler"}]), "InService")
    url = serving.invocations("vision", "scaler-live")
    with serving.client(key_for(admin_user)) as http:
        answer = http.post(
            url,
            content=b"1,2",
            headers={"Content-Type": "text/csv", "X-Amzn-SageMaker-Custom-Attributes": "trace=7"},
        )
        assert answer.status_code == 200
        assert answer.json() == [3.0, 6.0]
        assert answer.headers["x-amzn-sagemaker-custom-attributes"] == "seen=trace=7"
        failed = http.post(url, content=b"-1,2", headers={"Content-Type": "text/csv"})
        assert failed.status_code == 424
        assert failed.json()["error"] == "ModelError"
        assert "RuntimeError: negative input is not allowed" in failed.json()["message"]
        assert http.post(url, content=b"2,2", headers={"Content-Type": "text/csv"}).json() == [6.0, 6.0]


def test_a_model_that_cannot_load_fails_the_endpoint_with_its_error(project, admin_user, serving):
    code = b"def model_fn(model_dir):\n    raise ValueError('weights file is corrupt')\n"
    api = api_client_for(admin_user)
    upload_model(api, "broken", model_archive({"code/inference.py": code}))
    endpoint = wait_for_status(deploy(api, "broken-live", [{"name": "main", "model": "broken"}]), "Failed")
    assert "weights file is corrupt" in endpoint.failure_reason
    assert "broken" in endpoint.failure_reason
    assert not ServingInstance.objects.filter(endpoint=endpoint).exists()


def test_two_variants_split_traffic_by_weight_and_weights_change_without_redeploy(
    project, admin_user, serving
):
    api = api_client_for(admin_user)
    upload_model(api, "one", constant_handler_archive("1"))
    upload_model(api, "two", constant_handler_archive("2"))
    endpoint = deploy(
        api,
        "split",
        [
            {"name": "a", "model": "one", "initial_weight": 7},
            {"name": "b", "model": "two", "initial_weight": 3},
        ],
    )
    wait_for_status(endpoint, "InService")
    url = serving.invocations("vision", "split")
    served = {"a": 0, "b": 0}
    with serving.client(key_for(admin_user)) as http:
        for _ in range(1000):
            response = http.post(url, content=b"0", headers={"Content-Type": "text/csv"})
            variant = response.headers["x-amzn-invoked-production-variant"]
            assert response.text.strip() == {"a": "1", "b": "2"}[variant]
            served[variant] += 1
        # 700 expected; 4.5 standard deviations (about 65) either way.
        assert 635 <= served["a"] <= 765, served
        targeted = http.post(
            url, content=b"0", headers={"Content-Type": "text/csv", "X-Amzn-SageMaker-Target-Variant": "b"}
        )
        assert targeted.text.strip() == "2"

        response = api.post(f"{BASE}/endpoints/split/weights/", {"weights": {"a": 0}}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["weights"] == {"a": 0.0, "b": 3.0}
        time.sleep(0.5)  # the gateway's routes are at most one refresh old
        variants = {
            http.post(url, content=b"0", headers={"Content-Type": "text/csv"}).text.strip() for _ in range(50)
        }
        assert variants == {"2"}
    bad = api.post(f"{BASE}/endpoints/split/weights/", {"weights": {"zzz": 1}}, format="json")
    assert bad.status_code == 400


def test_a_shadow_variants_answers_are_captured_and_compared_never_returned(project, admin_user, serving):
    api = api_client_for(admin_user)
    upload_model(api, "prod", constant_handler_archive("1"))
    upload_model(api, "candidate", constant_handler_archive("2"))
    endpoint = deploy(
        api,
        "shadowed",
        [{"name": "main", "model": "prod"}],
        shadow_variant={"name": "shadow", "model": "candidate"},
        data_capture={"sampling_percentage": 100},
    )
    wait_for_status(endpoint, "InService")
    url = serving.invocations("vision", "shadowed")
    with serving.client(key_for(admin_user)) as http:
        for _ in range(30):
            response = http.post(url, content=b"5", headers={"Content-Type": "text/csv"})
            assert response.text.strip() == "1"
            assert response.headers["x-amzn-invoked-production-variant"] == "main"
        forced = http.post(
            url,
            content=b"5",
            headers={"Content-Type": "text/csv", "X-Amzn-SageMaker-Target-Variant": "shadow"},
        )
        assert forced.status_code == 400  # a shadow is never a production variant

    destination = endpoint.config.data_capture["destination_uri"]

    def captured(variant: str) -> list[dict]:
        lines = []
        for item in store_for(destination).list(f"{destination}/shadowed/{variant}/"):
            with store_for(item.uri).open(item.uri) as handle:
                lines.extend(json.loads(line) for line in handle.read().decode().splitlines())
        return lines

    wait_until(lambda: len(captured("shadow")) >= 30, 10, "shadow answers captured")
    assert {line["captureData"]["endpointOutput"]["data"].strip() for line in captured("shadow")} == {"2"}
    assert {line["captureData"]["endpointOutput"]["data"].strip() for line in captured("main")} == {"1"}
    wait_until(
        lambda: (
            sum(
                EndpointMetric.objects.filter(endpoint=endpoint, variant="shadow").values_list(
                    "shadow_compared", flat=True
                )
            )
            >= 30
        ),
        10,
        "shadow comparisons counted",
    )
    metrics = api.get(f"{BASE}/endpoints/shadowed/metrics/").json()
    assert metrics["shadow"]["compared"] >= 30
    assert metrics["shadow"]["agreed"] == 0


def test_capture_files_are_sagemakers_json_lines(project, admin_user, serving):
    api = api_client_for(admin_user)
    upload_model(api, "churn", sklearn_archive())
    api.post(f"{BASE}/models/churn/trust/")
    endpoint = deploy(
        api, "captured", [{"name": "main", "model": "churn"}], data_capture={"sampling_percentage": 100}
    )
    wait_for_status(endpoint, "InService")
    url = serving.invocations("vision", "captured")
    npy = io.BytesIO()
    np.save(npy, np.array([[1.0, 2.0, 3.0, 4.0]]))
    with serving.client(key_for(admin_user)) as http:
        http.post(
            url,
            content=b"1,2,3,4",
            headers={"Content-Type": "text/csv", "X-Amzn-SageMaker-Inference-Id": "req-42"},
        )
        http.post(
            url,
            content=json.dumps([[1, 2, 3, 4]]),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        http.post(url, content=npy.getvalue(), headers={"Content-Type": "application/x-npy"})
    destination = endpoint.config.data_capture["destination_uri"]

    def lines() -> list[tuple[str, dict]]:
        found = []
        for item in store_for(destination).list(f"{destination}/captured/main/"):
            with store_for(item.uri).open(item.uri) as handle:
                found.extend((item.uri, json.loads(line)) for line in handle.read().decode().splitlines())
        return found

    wait_until(lambda: len(lines()) == 3, 10, "three captured requests")
    by_type = {
        line["captureData"]["endpointInput"]["observedContentType"]: (uri, line) for uri, line in lines()
    }
    uri, csv_line = by_type["text/csv"]
    # <destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/<MM>-<SS>-<mmm>-<uuid>.jsonl
    parts = uri[len(destination) + 1 :].split("/")
    assert parts[:2] == ["captured", "main"]
    assert len(parts) == 7
    assert parts[-1].endswith(".jsonl")
    assert csv_line["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": "1,2,3,4",
        "encoding": "CSV",
    }
    assert csv_line["captureData"]["endpointOutput"]["mode"] == "OUTPUT"
    assert csv_line["captureData"]["endpointOutput"]["encoding"] == "CSV"
    assert csv_line["eventMetadata"]["inferenceId"] == "req-42"
    assert len(csv_line["eventMetadata"]["eventId"]) == 36
    time.strptime(csv_line["eventMetadata"]["inferenceTime"], "%Y-%m-%dT%H:%M:%SZ")
    assert csv_line["eventVersion"] == "0"
    assert by_type["application/json"][1]["captureData"]["endpointInput"]["encoding"] == "JSON"
    assert by_type["application/x-npy"][1]["captureData"]["endpointInput"]["encoding"] == "BASE64"


def test_blue_green_update_fails_no_request_and_switches_answers(project, admin_user, serving):
    api = api_client_for(admin_user)
    upload_model(api, "one", constant_handler_archive("1"))
    upload_model(api, "two", constant_handler_archive("2"))
    endpoint = deploy(api, "bg", [{"name": "main", "model": "one", "instance_count": 2}])
    wait_for_status(endpoint, "InService")
    api.post(
        f"{BASE}/endpoint-configs/",
        {"name": "bg-v2", "variants": [{"name": "main", "model": "two"}]},
        format="json",
    )
    url = serving.invocations("vision", "bg")
    answers: list[tuple[int, str]] = []
    stop = threading.Event()
    key = key_for(admin_user)

    def closed_loop() -> None:
        with serving.client(key) as http:
            while not stop.is_set():
                response = http.post(url, content=b"0", headers={"Content-Type": "text/csv"})
                answers.append((response.status_code, response.text.strip()))

    loop = threading.Thread(target=closed_loop)
    loop.start()
    try:
        wait_until(lambda: len(answers) > 20, 10, "requests flowing")
        response = api.patch(f"{BASE}/endpoints/bg/", {"endpoint_config": "bg-v2"}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "Updating"
        assert (
            api.patch(f"{BASE}/endpoints/bg/", {"endpoint_config": "bg-config"}, format="json").status_code
            == 409
        )
        wait_for_status(endpoint, "InService")
        wait_until(lambda: answers[-1][1] == "2", 10, "answers from the new model")
        # The old processes drain, then stop.
        wait_until(
            lambda: not ServingInstance.objects.filter(endpoint=endpoint, config__name="bg-config").exists(),
            15,
            "old instances gone",
        )
        count = len(answers)
        wait_until(lambda: len(answers) > count + 20, 10, "requests still flowing")
    finally:
        stop.set()
        loop.join(30)
    assert [a for a in answers if a[0] != 200] == []
    values = [value for _, value in answers]
    switch = values.index("2")
    assert set(values[:switch]) == {"1"}
    assert set(values[switch + 50 :]) <= {"2"}
    events = [event["status"] for event in api.get(f"{BASE}/endpoints/bg/").json()["events"]]
    assert events == ["Creating", "InService", "Updating", "InService"]


def test_an_update_that_cannot_start_rolls_back_and_keeps_serving(project, admin_user, serving):
    api = api_client_for(admin_user)
    upload_model(api, "one", constant_handler_archive("1"))
    upload_model(
        api, "broken", model_archive({"code/inference.py": b"def model_fn(d):\n    raise OSError('disk')\n"})
    )
    endpoint = deploy(api, "rb", [{"name": "main", "model": "one"}])
    wait_for_status(endpoint, "InService")
    api.post(
        f"{BASE}/endpoint-configs/",
        {"name": "rb-bad", "variants": [{"name": "main", "model": "broken"}]},
        format="json",
    )
    api.patch(f"{BASE}/endpoints/rb/", {"endpoint_config": "rb-bad"}, format="json")

    wait_until(lambda: Endpoint.objects.get(pk=endpoint.pk).failure_reason != "", 30, "the update failed")

    endpoint.refresh_from_db()
    assert endpoint.status == "InService"
    assert endpoint.config.name == "rb-config"
    assert endpoint.pending_config is None
    assert "disk" in endpoint.failure_reason
    assert "still serving rb-config" in endpoint.failure_reason
    with serving.client(key_for(admin_user)) as http:
        assert http.post(serving.invocations("vision", "rb"), content=b"0").text.strip() == "1"


def test_a_crashed_serving_process_is_restarted(project, admin_user, serving):
    import signal

    api = api_client_for(admin_user)
    upload_model(api, "one", constant_handler_archive("1"))
    endpoint = deploy(api, "crashy", [{"name": "main", "model": "one", "instance_count": 2}])
    wait_for_status(endpoint, "InService")
    victim = ServingInstance.objects.filter(endpoint=endpoint).first()
    os.kill(victim.pid, signal.SIGKILL)

    wait_until(lambda: ServingInstance.objects.get(pk=victim.pk).restarts == 1, 15, "restart noticed")
    wait_until(
        lambda: ServingInstance.objects.get(pk=victim.pk).status == InstanceStatus.READY, 30, "ready again"
    )
    assert ServingInstance.objects.get(pk=victim.pk).pid != victim.pid
    with serving.client(key_for(admin_user)) as http:
        for _ in range(20):
            assert http.post(serving.invocations("vision", "crashy"), content=b"0").status_code == 200


def test_metrics_count_invocations_and_errors_per_variant(project, admin_user, serving):
    api = api_client_for(admin_user)
    upload_model(api, "churn", sklearn_archive())
    api.post(f"{BASE}/models/churn/trust/")
    wait_for_status(deploy(api, "metered", [{"name": "main", "model": "churn"}]), "InService")
    url = serving.invocations("vision", "metered")
    with serving.client(key_for(admin_user)) as http:
        for _ in range(7):
            http.post(url, content=b"1,2,3,4", headers={"Content-Type": "text/csv"})
        for _ in range(2):
            http.post(url, content=b"1,2", headers={"Content-Type": "text/csv"})

    def totals() -> dict:
        series = api.get(f"{BASE}/endpoints/metered/metrics/").json()["variants"].get("main", {})
        return {key: sum(series.get(key, [])) for key in ("invocations", "errors_4xx", "errors_5xx")}

    wait_until(
        lambda: totals() == {"invocations": 9, "errors_4xx": 2, "errors_5xx": 0}, 10, "metrics flushed"
    )
    assert api.get(f"{BASE}/endpoints/metered/metrics/?minutes=0").status_code == 400


def test_delete_stops_the_processes_and_in_use_resources_are_protected(project, admin_user, serving):
    api = api_client_for(admin_user)
    upload_model(api, "one", constant_handler_archive("1"))
    endpoint = deploy(api, "doomed", [{"name": "main", "model": "one"}])
    wait_for_status(endpoint, "InService")
    pid = ServingInstance.objects.get(endpoint=endpoint).pid
    assert api.delete(f"{BASE}/models/one/").status_code == 400
    assert api.delete(f"{BASE}/endpoint-configs/doomed-config/").status_code == 400

    assert api.delete(f"{BASE}/endpoints/doomed/").status_code == 202

    wait_until(lambda: not Endpoint.objects.filter(pk=endpoint.pk).exists(), 20, "endpoint deleted")
    wait_until(lambda: not process_exists(pid), 15, "the serving process stopped and reaped")
    assert api.delete(f"{BASE}/endpoint-configs/doomed-config/").status_code == 204
    assert api.delete(f"{BASE}/models/one/").status_code == 204
    assert not Model.objects.filter(name="one").exists()


def test_deploy_a_builtin_training_jobs_model_and_invoke_it(project, admin_user, serving):
    from jobs.models import JobStatus
    from jobs.runner import job_execute
    from jobs.services import training_job_create
    from studio.services import artifact_upload

    rng = np.random.default_rng(5)
    features = rng.normal(size=(300, 3))
    labels = (features[:, 0] - features[:, 1] > 0).astype(int)
    text = "\n".join(
        ",".join([str(label), *(f"{v:.4f}" for v in row)])
        for label, row in zip(labels, features, strict=True)
    )
    stored = artifact_upload(
        project=project, user=admin_user, path="data/train.csv", stream=io.BytesIO(text.encode())
    )
    job, _ = training_job_create(
        project=project,
        user=admin_user,
        name="xgb",
        algorithm="xgboost",
        instance_type="ml.m5.large",
        channels=[{"name": "train", "source_uri": stored.uri, "content_type": "text/csv"}],
        hyperparameters={"num_round": "20", "objective": "binary:logistic"},
    )
    job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.failure_reason
    api = api_client_for(admin_user)

    response = api.post(f"{BASE}/models/", {"name": "xgb-model", "training_job": "xgb"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["algorithm"] == "xgboost"
    assert response.json()["needs_trust"] is False
    wait_for_status(deploy(api, "xgb-live", [{"name": "main", "model": "xgb-model"}]), "InService")
    with serving.client(key_for(admin_user)) as http:
        url = serving.invocations("vision", "xgb-live")
        scores = http.post(url, content=b"2,-2,0\n-2,2,0", headers={"Content-Type": "text/csv"}).text.split()
        assert float(scores[0]) > 0.5 > float(scores[1])
        answer = http.post(
            url, content=b"2,-2,0", headers={"Content-Type": "text/csv", "Accept": "application/json"}
        )
        assert answer.json()["predictions"][0]["predicted_label"] == 1


def test_an_update_back_during_the_drain_keeps_the_old_processes_serving(project, admin_user, serving):
    api = api_client_for(admin_user)
    upload_model(api, "one", constant_handler_archive("1"))
    upload_model(api, "two", constant_handler_archive("2"))
    endpoint = deploy(api, "flip", [{"name": "main", "model": "one"}])
    wait_for_status(endpoint, "InService")
    api.post(f"{BASE}/endpoint-configs/", {"name": "flip-v2", "variants": [{"name": "main", "model": "two"}]},
             format="json")  # fmt: skip
    api.patch(f"{BASE}/endpoints/flip/", {"endpoint_config": "flip-v2"}, format="json")
    wait_for_status(endpoint, "InService")
    first_pid = ServingInstance.objects.get(endpoint=endpoint, config__name="flip-config").pid

    # Back to the first config while its processes still drain: they are kept, not restarted.
    response = api.patch(f"{BASE}/endpoints/flip/", {"endpoint_config": "flip-config"}, format="json")
    assert response.status_code == 200, response.content
    wait_for_status(endpoint, "InService")

    kept = ServingInstance.objects.get(endpoint=endpoint, config__name="flip-config")
    assert kept.pid == first_pid
    assert kept.status == InstanceStatus.READY
    time.sleep(0.5)
    with serving.client(key_for(admin_user)) as http:
        answers = {
            http.post(serving.invocations("vision", "flip"), content=b"0").text.strip() for _ in range(20)
        }
    assert answers == {"1"}


def test_a_model_error_with_a_huge_message_is_cut_and_the_process_keeps_serving(project, admin_user, serving):
    code = b"""
def model_fn(model_dir):
    return None

def transform_fn(model, body, content_type, accept):
    if body.startswith(b"boom"):
        raise ValueError("bad input " + "x" * 200000)
    return b"ok", "text/plain"
"""
    api = api_client_for(admin_user)
    upload_model(api, "loud", model_archive({"code/inference.py": code}))
    wait_for_status(deploy(api, "loud-live", [{"name": "main", "model": "loud"}]), "InService")
    url = serving.invocations("vision", "loud-live")
    with serving.client(key_for(admin_user)) as http:
        failed = http.post(url, content=b"boom")
        assert failed.status_code == 424
        assert "(cut)" in failed.json()["message"]
        assert len(failed.content) < 10_000
        assert http.post(url, content=b"fine").text == "ok"
