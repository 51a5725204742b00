"""The ``sagemaker`` compute backend: Studio's jobs and models as Amazon SageMaker requests."""
