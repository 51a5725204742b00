"""Processing jobs name dataset versions as inputs: dataset://<name>/<number>, or the latest."""

from __future__ import annotations

import json

import pytest

from jobs.models import Job, JobStatus
from jobs.runner import job_execute
from jobs.selectors import job_log_read
from tests.conftest import api_client_for, processing_request
from tests.test_datasets_recipes import customers_csv, make_version

pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/vision/processing-jobs/"
LIST_INPUT = b"""import os
print(sorted(os.listdir("processing/input/data")))
"""


@pytest.fixture
def versions(project, admin_user):
    first = make_version(project, admin_user, customers_csv(50))
    second = make_version(project, admin_user, customers_csv(60))
    return first, second


@pytest.mark.parametrize(("reference", "number"), [("dataset://customers/1", 1), ("dataset://customers", 2)])
def test_a_job_reads_the_named_dataset_version(project, admin_user, versions, reference, number):
    body = processing_request(
        "read-1", LIST_INPUT, inputs=json.dumps([{"name": "data", "source_uri": reference}])
    )

    response = api_client_for(admin_user).post(URL, body, format="multipart")

    assert response.status_code == 201, response.json()
    assert response.json()["inputs"] == [
        {"name": "data", "source_uri": versions[number - 1].uri, "dataset": "customers", "version": number}
    ]
    job = Job.objects.get()
    job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.failure_reason
    assert "['customers.csv']" in job_log_read(job)["text"]


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("dataset://nope/1", "no dataset named 'nope'"),
        ("dataset://customers/9", "has no version 9"),
        ("dataset://customers/x", "has no version x"),
    ],
)
def test_an_unknown_dataset_or_version_is_a_400_naming_inputs(
    project, admin_user, versions, reference, message
):
    body = processing_request(
        "read-2", LIST_INPUT, inputs=json.dumps([{"name": "data", "source_uri": reference}])
    )

    response = api_client_for(admin_user).post(URL, body, format="multipart")

    assert response.status_code == 400
    assert message in response.json()["inputs"][0]
    assert not Job.objects.exists()
