"""Job pages, a module per job kind: ``common`` (the job list and what the pages share),
``processing``, ``training``, ``compare`` (training jobs side by side) and ``tuning``."""
