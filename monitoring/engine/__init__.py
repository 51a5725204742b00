"""Model Monitor's engine: statistics, constraints, drift, capture parsing and quality metrics.

Django-free on purpose: it runs inside a monitoring job's own process (``monitoring.runtime``),
like ``datasets.runtime.profile``. File formats are SageMaker Model Monitor's
(``statistics.json``, ``constraints.json``, ``constraint_violations.json``).
"""
