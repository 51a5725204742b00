"""The operator's view of jobs: find them, read their timeline, stop stuck ones.

Nothing here edits a job: its status moves only through ``Job.transition`` (the stop action calls
``job_stop``, which does), and the rest of the row is what its service validated at creation.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import ngettext

from jobs.models import Job, JobEvaluation, JobLogChunk, JobMetric, JobStatus, JobStatusEvent
from jobs.services import job_stop
from studio.admin import ReadOnlyAdmin


class JobStatusEventInline(admin.TabularInline):
    model = JobStatusEvent
    fields = ["created_at", "status", "secondary_status", "message"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "kind",
        "project",
        "status",
        "secondary_status",
        "instance_type",
        "created_by",
        "created_at",
    ]
    list_select_related = ["project", "created_by"]
    list_filter = ["status", "kind", "backend", "project"]
    raw_id_fields = ["tuning_job"]
    search_fields = ["name", "project__name", "created_by__username"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "uuid",
                    "project",
                    "kind",
                    "name",
                    "created_by",
                    "client_token",
                    "tuning_job",
                    "tags",
                ]
            },
        ),
        ("Status", {"fields": ["status", "secondary_status", "failure_reason", "exit_code", "worker"]}),
        ("Resources", {"fields": ["backend", "instance_type", "instance_count", "max_runtime_seconds"]}),
        ("Request", {"fields": ["spec", "metric_definitions", "outputs", "log_size"]}),
        (
            "Times",
            {
                "fields": [
                    "created_at",
                    "queued_at",
                    "started_at",
                    "heartbeat_at",
                    "ended_at",
                    "updated_at",
                ]
            },
        ),
    ]
    inlines = [JobStatusEventInline]
    actions = ["stop_jobs"]

    def has_stop_permission(self, request: HttpRequest) -> bool:
        # The change permission stands for "may operate jobs"; the form itself stays read-only.
        return request.user.has_perm("jobs.change_job")

    @admin.action(description="Stop selected jobs", permissions=["stop"])
    def stop_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        stopped = stopping = 0
        refused = []
        for job in queryset.select_related("project"):
            try:
                job_stop(job=job, user=request.user)
            except ValidationError as exc:
                refused.append(f"{job.name} ({' '.join(exc.messages)})")
            else:
                if job.status == JobStatus.STOPPED:
                    stopped += 1
                else:
                    stopping += 1
        if stopped:
            self.message_user(
                request, ngettext("Stopped %d job.", "Stopped %d jobs.", stopped) % stopped, messages.SUCCESS
            )
        if stopping:
            self.message_user(
                request,
                ngettext(
                    "%d running job is stopping; its worker ends it within the grace period.",
                    "%d running jobs are stopping; their workers end them within the grace period.",
                    stopping,
                )
                % stopping,
                messages.SUCCESS,
            )
        if refused:
            self.message_user(
                request,
                ngettext("Could not stop %d job: ", "Could not stop %d jobs: ", len(refused)) % len(refused)
                + "; ".join(refused),
                messages.WARNING,
            )


@admin.register(JobStatusEvent)
class JobStatusEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "job", "project", "status", "secondary_status", "message"]
    list_select_related = ["job__project"]
    list_filter = ["status"]
    search_fields = ["job__name", "job__project__name", "message"]

    @admin.display(description="Project", ordering="job__project__name")
    def project(self, obj: JobStatusEvent) -> str:
        return obj.job.project.name


@admin.register(JobLogChunk)
class JobLogChunkAdmin(ReadOnlyAdmin):
    list_display = ["job", "start", "end", "created_at"]
    list_select_related = ["job"]
    search_fields = ["job__name"]


@admin.register(JobMetric)
class JobMetricAdmin(ReadOnlyAdmin):
    list_display = ["job", "name", "step", "value", "timestamp"]
    list_select_related = ["job"]
    search_fields = ["job__name", "name"]


@admin.register(JobEvaluation)
class JobEvaluationAdmin(ReadOnlyAdmin):
    list_display = ["job", "problem", "channel", "created_at"]
    list_select_related = ["job"]
    list_filter = ["problem"]
    search_fields = ["job__name", "job__project__name"]
