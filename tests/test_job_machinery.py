"""The job machinery without a broker: transitions, the driver (real subprocesses), stop, reaper."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from jobs.backends.local import LocalBackend, ResourceLimits
from jobs.models import IllegalTransition, Job, JobStatus, SecondaryStatus
from jobs.runner import JobRecorder, MetricParser, job_execute, jobs_reap
from jobs.selectors import job_log_read
from jobs.services import job_stop, processing_job_create
from studio.artifacts import store_for
from tests.conftest import SCRIPT_FAIL, SCRIPT_OK

# Also run on PostgreSQL in the full-stack pass: constraints and conditional updates differ by engine.
pytestmark = pytest.mark.fullstack


def create(project, user, name="job-1", script=SCRIPT_OK, **extra) -> Job:
    job, created = processing_job_create(
        project=project,
        user=user,
        name=name,
        script_file=io.BytesIO(script),
        script_filename="run.py",
        **extra,
    )
    assert created
    return job


@pytest.mark.django_db
class TestTransitions:
    def test_legal_moves_are_recorded_in_the_history(self, project, admin_user):
        job = create(project, admin_user)
        job.transition(JobStatus.IN_PROGRESS, secondary=SecondaryStatus.STARTING)
        job.transition(JobStatus.COMPLETED, secondary=SecondaryStatus.COMPLETED)
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED
        assert job.started_at is not None
        assert job.ended_at is not None
        assert list(job.events.values_list("status", flat=True)) == ["Pending", "InProgress", "Completed"]

    @pytest.mark.parametrize(
        ("first", "illegal"),
        [
            (None, JobStatus.COMPLETED),  # Pending cannot complete without running
            (None, JobStatus.STOPPING),
            (JobStatus.FAILED, JobStatus.IN_PROGRESS),  # terminal is terminal
            (JobStatus.STOPPED, JobStatus.COMPLETED),
        ],
    )
    def test_illegal_moves_raise_and_change_nothing(self, project, admin_user, first, illegal):
        job = create(project, admin_user)
        if first:
            job.transition(first, secondary=SecondaryStatus.FAILED)
        before = Job.objects.get(pk=job.pk).status
        with pytest.raises(IllegalTransition):
            job.transition(illegal, secondary=SecondaryStatus.COMPLETED)
        assert Job.objects.get(pk=job.pk).status == before

    def test_a_stale_copy_loses_the_race(self, project, admin_user):
        job = create(project, admin_user)
        stale = Job.objects.get(pk=job.pk)
        job.transition(JobStatus.IN_PROGRESS, secondary=SecondaryStatus.STARTING)
        with pytest.raises(IllegalTransition, match="InProgress"):
            stale.transition(JobStatus.IN_PROGRESS, secondary=SecondaryStatus.STARTING)


@pytest.mark.django_db
class TestDriver:
    def test_a_job_runs_to_completion_with_logs_metrics_and_outputs(self, project, admin_user, csv_artifact):
        job = create(
            project,
            admin_user,
            inputs=[{"name": "data", "source_uri": csv_artifact.uri}],
            outputs=[{"name": "result"}],
            metric_definitions=[{"name": "loss", "regex": r"loss=([0-9.]+)"}],
            arguments=["--input", "/opt/ml/processing/input/data"],
        )
        job_execute(job_id=job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED, job.failure_reason
        log = job_log_read(job)["text"]
        # SageMaker paths in arguments point into the job's own directory.
        assert "/opt/ml" not in log.split("arguments", 1)[1].splitlines()[0]
        assert "processing/input/data" in log
        assert list(job.metrics.values_list("value", flat=True)) == [1.0, 0.5, 0.3333]
        uri = job.outputs[0]["uri"] + "/summary.txt"
        with store_for(uri).open(uri) as handle:
            assert handle.read() == b"rows=300"
        assert project.artifacts.filter(uri=uri, origin=f"processing-job/{job.name}").exists()

    def test_a_failing_script_fails_with_its_last_output(self, project, admin_user):
        job = create(project, admin_user, script=SCRIPT_FAIL)
        job_execute(job_id=job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.FAILED
        assert job.failure_reason.startswith("AlgorithmError: the script exited with code 1")
        assert "ValueError: the data has no label column" in job.failure_reason

    def test_the_failure_file_wins_over_the_log_tail(self, project, admin_user):
        script = b"import sys\nopen('output/failure','w').write('bad hyperparameter: eta')\nsys.exit(3)\n"
        job = create(project, admin_user, script=script)
        job_execute(job_id=job.pk)
        job.refresh_from_db()
        assert (job.status, job.exit_code, job.failure_reason) == (
            JobStatus.FAILED,
            3,
            "bad hyperparameter: eta",
        )

    def test_max_runtime_stops_the_job(self, project, admin_user, settings):
        settings.STUDIO_STOP_GRACE_SECONDS = 0.5
        job = create(project, admin_user, script=b"import time\ntime.sleep(60)\n", max_runtime_seconds=1)
        job_execute(job_id=job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.STOPPED
        assert job.secondary_status == SecondaryStatus.MAX_RUNTIME_EXCEEDED
        assert job.duration_seconds < 10

    def test_a_term_ignoring_script_is_killed_after_the_grace_period(self, project, admin_user, settings):
        settings.STUDIO_STOP_GRACE_SECONDS = 0.5
        script = b"import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)\n"
        job = create(project, admin_user, script=script, max_runtime_seconds=1)
        job_execute(job_id=job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.STOPPED
        assert job.exit_code == -9

    def test_a_script_changed_in_the_store_is_refused(self, project, admin_user):
        job = create(project, admin_user)
        uri = job.spec["script"]["uri"]
        store_for(uri).put(uri, io.BytesIO(b"print('tampered')\n"))
        job_execute(job_id=job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.FAILED
        assert "changed since the job was created" in job.failure_reason

    def test_an_input_removed_after_creation_fails_the_job_with_its_name(
        self, project, admin_user, csv_artifact
    ):
        job = create(project, admin_user, inputs=[{"name": "data", "source_uri": csv_artifact.uri}])
        store_for(csv_artifact.uri).delete(csv_artifact.uri)
        job_execute(job_id=job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.FAILED
        assert job.failure_reason.startswith("Input 'data': nothing found at")

    def test_a_job_already_claimed_is_not_run_again(self, project, admin_user):
        job = create(project, admin_user)
        job.transition(JobStatus.IN_PROGRESS, secondary=SecondaryStatus.STARTING)
        job_execute(job_id=job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.IN_PROGRESS
        assert job.log_size == 0

    def test_a_missing_job_is_a_no_op(self, db):
        job_execute(job_id=987654)

    def test_the_memory_limit_of_the_instance_type_applies(self, project, admin_user):
        # ml.t3.medium has 4 GiB: allocating 6 GiB fails inside the script.
        script = b"try:\n    x = bytearray(6 * 1024**3)\nexcept MemoryError:\n    print('limited')\n"
        job = create(project, admin_user, script=script, instance_type="ml.t3.medium")
        job_execute(job_id=job.pk)
        job.refresh_from_db()
        assert "limited" in job_log_read(job)["text"]


@pytest.mark.django_db
class TestStop:
    def test_a_pending_job_stops_at_once(self, project, admin_user):
        job = job_stop(job=create(project, admin_user), user=admin_user)
        assert job.status == JobStatus.STOPPED
        job_execute(job_id=job.pk)  # a late delivery does nothing
        assert Job.objects.get(pk=job.pk).status == JobStatus.STOPPED
        assert project.audit_events.filter(action="stop", target_name=job.name).exists()

    def test_a_running_job_goes_stopping(self, project, admin_user):
        job = create(project, admin_user)
        job.transition(JobStatus.IN_PROGRESS, secondary=SecondaryStatus.PROCESSING)
        assert job_stop(job=job, user=admin_user).status == JobStatus.STOPPING

    def test_a_finished_job_cannot_be_stopped(self, project, admin_user):
        job = create(project, admin_user)
        job.transition(JobStatus.FAILED, secondary=SecondaryStatus.FAILED)
        with pytest.raises(ValidationError) as error:
            job_stop(job=job, user=admin_user)
        assert "status" in error.value.message_dict


@pytest.mark.django_db
class TestReaper:
    def test_a_job_without_heartbeat_is_failed(self, project, admin_user, settings):
        job = create(project, admin_user)
        job.transition(
            JobStatus.IN_PROGRESS, secondary=SecondaryStatus.PROCESSING, extra={"worker": "host:42"}
        )
        Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
        fresh = create(project, admin_user, name="fresh")
        fresh.transition(JobStatus.IN_PROGRESS, secondary=SecondaryStatus.PROCESSING)

        assert jobs_reap()["failed"] == 1
        job.refresh_from_db()
        assert job.status == JobStatus.FAILED
        assert "host:42" in job.failure_reason
        assert "stopped sending heartbeats" in job.failure_reason
        assert Job.objects.get(pk=fresh.pk).status == JobStatus.IN_PROGRESS

    def test_a_job_no_worker_picked_up_is_queued_again_once(
        self, project, admin_user, settings, django_capture_on_commit_callbacks
    ):
        from unittest import mock

        job = create(project, admin_user)
        Job.objects.filter(pk=job.pk).update(queued_at=timezone.now() - timedelta(hours=1))
        with (
            mock.patch("jobs.tasks.execute_job.apply_async") as send,
            django_capture_on_commit_callbacks(execute=True),
        ):
            assert jobs_reap()["requeued"] == 1
            assert jobs_reap()["requeued"] == 0  # not again until the interval passes
        send.assert_called_once_with(args=[job.pk])

    def test_the_reaper_is_on_the_beat_schedule(self, settings):
        from studio.celery import app

        schedule = settings.CELERY_BEAT_SCHEDULE["reap-stale-jobs"]
        assert schedule["task"] == "jobs.reap"
        assert "jobs.reap" in app.tasks


class TestParsingAndRecording:
    def test_metric_regexes_take_the_first_group_and_count_steps(self):
        parser = MetricParser(
            [{"name": "loss", "regex": r"loss=(\S+)"}, {"name": "acc", "regex": r"acc=([0-9.]+)"}]
        )
        assert parser.parse("epoch 1 loss=0.5 acc=0.9") == [("loss", 0.5, 0), ("acc", 0.9, 0)]
        assert parser.parse("loss=nan") == []
        assert parser.parse("loss=abc") == []
        assert parser.parse("loss=0.25") == [("loss", 0.25, 1)]

    @pytest.mark.django_db
    def test_logs_are_batched_and_readable_from_any_offset(self, project, admin_user):
        job = create(project, admin_user)
        recorder = JobRecorder(job)
        recorder.write("first line\nsecond ")
        recorder.flush()
        recorder.write("line\nthird line\n")
        recorder.flush()
        assert job.log_chunks.count() == 2
        whole = job_log_read(job)
        assert whole["text"] == "first line\nsecond line\nthird line\n"
        tail = job_log_read(job, offset=len("first line\nsec"))
        assert tail["text"] == "ond line\nthird line\n"
        assert job_log_read(job, offset=whole["next_offset"])["text"] == ""

    def test_resource_limits_follow_the_instance_type(self):
        limits = ResourceLimits.for_instance("ml.m5.4xlarge")
        env = limits.environment()
        assert limits.memory_bytes == 64 * 1024**3
        assert int(env["SM_NUM_CPUS"]) == len(limits.cpus) >= 1
        assert env["OMP_NUM_THREADS"] == env["SM_NUM_CPUS"]

    def test_sagemaker_paths_in_arguments_map_to_the_job_directory(self, tmp_path):
        assert LocalBackend._local_path("/opt/ml/processing/input/x", tmp_path) == str(
            tmp_path / "processing/input/x"
        )
        assert LocalBackend._local_path("--flag", tmp_path) == "--flag"


def test_processing_job_config_is_written_like_sagemaker(tmp_path, db, project, admin_user):
    job = create(project, admin_user, outputs=[{"name": "out"}], environment={"MODE": "fast"})
    (tmp_path / "config").mkdir()
    LocalBackend._write_config(job, tmp_path)
    config = json.loads((tmp_path / "config/processingjobconfig.json").read_text())
    assert config["ProcessingJobName"] == job.name
    assert config["Environment"] == {"MODE": "fast"}
    output = config["ProcessingOutputConfig"]["Outputs"][0]
    assert output["S3Output"]["LocalPath"] == "/opt/ml/processing/output/out"
    assert json.loads((tmp_path / "config/resourceconfig.json").read_text())["current_host"] == "algo-1"


@pytest.mark.django_db
class TestBuiltinJobs:
    def test_a_builtin_module_runs_and_its_hook_records_the_results(self, project, admin_user):
        from jobs.services import builtin_job_create

        job = builtin_job_create(
            project=project,
            user=admin_user,
            name="builtin-1",
            module="tests.builtin_job",
            outputs=[{"name": "result"}],
            arguments=["--flag", "x"],
            on_complete="tests.builtin_job.record_outputs",
            context={"dataset": "iris"},
        )
        job_execute(job_id=job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED, job.failure_reason
        assert "built-in job ran with ['--flag', 'x']" in job_log_read(job)["text"]
        event = project.audit_events.get(action="recorded")
        assert event.target_name == job.outputs[0]["uri"]
        assert event.details == {"context": {"dataset": "iris"}}

    def test_a_failing_hook_fails_the_job_with_its_reason(self, project, admin_user):
        from jobs.services import builtin_job_create

        job = builtin_job_create(
            project=project,
            user=admin_user,
            name="builtin-2",
            module="tests.builtin_job",
            outputs=[{"name": "result"}],
            on_complete="tests.builtin_job.failing_hook",
        )
        job_execute(job_id=job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.FAILED
        assert job.failure_reason == "Could not record the results: column 'label' is missing"
