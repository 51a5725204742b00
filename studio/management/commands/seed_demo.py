from __future__ import annotations

from django.core.management.base import BaseCommand

from studio.demo import DEMO_USER, demo_seed


class Command(BaseCommand):
    help = "Create the demo admin, project, dataset, finished jobs and an endpoint (idempotent)."

    def handle(self, *args, **options) -> None:
        result = demo_seed()
        if result.password:
            self.stdout.write(self.style.SUCCESS("Demo admin created. These are shown once; keep them:"))
            self.stdout.write(
                f"  username: {DEMO_USER}\n  password: {result.password}\n  API key:  {result.api_key}"
            )
        else:
            self.stdout.write(
                f"Demo admin {DEMO_USER!r} exists (reset its password with "
                f"`python manage.py changepassword {DEMO_USER}`)."
            )
        for job in (result.job, result.training_job):
            self.stdout.write(f"Project {result.project.name!r}: demo job {job.name} is {job.status}.")
        if result.endpoint is not None:
            url = f"/api/v1/projects/{result.project.name}/endpoints/{result.endpoint.name}/invocations"
            self.stdout.write(
                f"Demo endpoint {result.endpoint.name} ({result.endpoint.status}; the serving supervisor "
                f"brings it up): curl -H 'Authorization: Bearer <API key>' -H 'Content-Type: text/csv' "
                f"--data '5.1,3.5,1.4,0.2' http://127.0.0.1:8000{url}"
            )
