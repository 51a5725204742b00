"""Job forms: turn the launch forms' inputs into the structures the job services take.

``common`` holds the line parsing and choices they share; one module per job kind holds its form.
"""

from jobs.forms.clone import JobCloneForm
from jobs.forms.common import (
    JobFilterForm,
    form_lines,
    form_pairs,
    instance_type_choices,
    instance_type_label,
)
from jobs.forms.processing import ProcessingJobForm
from jobs.forms.training import TRAINING_CHANNELS, TrainingJobForm, hyperparameter_field_name
from jobs.forms.tuning import TuningJobForm, parse_range_lines

__all__ = [
    "TRAINING_CHANNELS",
    "JobCloneForm",
    "JobFilterForm",
    "ProcessingJobForm",
    "TrainingJobForm",
    "TuningJobForm",
    "form_lines",
    "form_pairs",
    "hyperparameter_field_name",
    "instance_type_choices",
    "instance_type_label",
    "parse_range_lines",
]
