"""Job use cases. Views, the API, tasks, the admin and other apps call these, never the models' writes."""

from jobs.services.common import job_enqueue, job_stop
from jobs.services.processing import builtin_job_create, processing_job_create
from jobs.services.training import training_job_create
from jobs.services.tuning import tuning_job_create

__all__ = [
    "builtin_job_create",
    "job_enqueue",
    "job_stop",
    "processing_job_create",
    "training_job_create",
    "tuning_job_create",
]
