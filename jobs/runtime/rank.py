"""One rank of a distributed training job, started by ``torchrun -m jobs.runtime.rank entry.py args``.

torchrun gives each process its ``RANK``; SageMaker gives each instance its own host name. This
sets ``SM_CURRENT_HOST=algo-<rank+1>`` (and the host in ``SM_TRAINING_ENV`` /
``SM_RESOURCE_CONFIG``), then runs the user's entry point as ``__main__`` in this process, so the
distributed variables torchrun set stay in place. Django-free: it runs inside the job.
"""

from __future__ import annotations

import json
import os
import runpy
import sys


def _compact(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def environment_for_rank(env: dict[str, str], rank: int) -> dict[str, str]:
    host = f"algo-{rank + 1}"
    changed = {"SM_CURRENT_HOST": host}
    if "SM_TRAINING_ENV" in env:
        training_env = json.loads(env["SM_TRAINING_ENV"])
        training_env["current_host"] = host
        training_env["is_master"] = rank == 0
        training_env.setdefault("resource_config", {})["current_host"] = host
        changed["SM_TRAINING_ENV"] = _compact(training_env)
        changed["SM_RESOURCE_CONFIG"] = _compact(training_env["resource_config"])
    return changed


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m jobs.runtime.rank ENTRY_POINT [ARGS...]")
    os.environ.update(environment_for_rank(dict(os.environ), int(os.environ.get("RANK", "0"))))
    entry = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(entry)))
    runpy.run_path(entry, run_name="__main__")


if __name__ == "__main__":
    main()
