"""The error a built-in algorithm raises for problems the user must fix (SageMaker's ``ClientError``)."""

from __future__ import annotations


class ClientError(Exception):
    """A problem with the job's request or data, not with the algorithm.

    The job writes ``ClientError: <message>`` to ``output/failure`` without a traceback, so the
    message must say what is wrong and where (channel, file, column, row).
    """
