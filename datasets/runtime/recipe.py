"""The recipe job: ``python -m datasets.runtime.recipe``, run by a processing job.

Inputs (SageMaker's processing layout, under ``$STUDIO_ML_ROOT`` or ``/opt/ml``):
``processing/input/data/`` holds the input version's file(s), ``processing/input/recipe/recipe.json``
the recipe (its steps, output and the input's format, read options and schema). Each produced
part goes to ``processing/output/<part>/<part>.<csv|parquet>``, and ``processing/output/manifest/
manifest.json`` describes them (rows, columns, schema, read options) for the completion hook,
which records the versions. A failure writes its reason to ``output/failure``.

No Django here: this runs in the job's own process.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

import pandas as pd

from datasets import readers, recipes
from datasets.schema import infer_schema


def ml_root() -> Path:
    return Path(os.environ.get("STUDIO_ML_ROOT", "/opt/ml"))


def run(root: Path) -> dict:
    """Run the recipe in ``root``; returns the manifest it wrote."""
    spec = json.loads((root / "processing/input/recipe/recipe.json").read_text())
    source = spec["input"]
    plan = recipes.check_recipe(spec["steps"], spec["output"], source["schema"])
    started = time.monotonic()
    frames = list(
        readers.iter_frames(root / "processing/input/data", source["format"], source["read_options"])
    )
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    del frames
    print(f"read rows={len(df)} columns={len(df.columns)} in {time.monotonic() - started:.2f} s", flush=True)
    df = recipes.apply_types(df, source["schema"])
    result = recipes.run_steps(df, plan)
    del df
    for count in result.counts:
        parts = "".join(f" {name}={rows}" for name, rows in count.get("parts", {}).items())
        print(
            f"step {count['index'] + 1} {count['op']}: rows={count['rows']} columns={count['columns']}{parts}"
        )
    output = plan.output
    manifest: dict = {"outputs": []}
    for name, part in result.parts.items():
        folder = root / "processing/output" / name
        folder.mkdir(parents=True, exist_ok=True)
        filename = recipes.part_filename(name, output["format"])
        written = recipes.write_part(part, folder / filename, output["format"], output.get("label"))
        fmt, read_options = recipes.read_options_for(output, written)
        manifest["outputs"].append(
            {
                "name": name,
                "file": filename,
                "format": fmt,
                "read_options": read_options,
                "rows": len(written),
                "columns": len(written.columns),
                "schema": infer_schema(written),
            }
        )
        print(f"wrote {name}: rows={len(written)} columns={len(written.columns)} to {filename}", flush=True)
    folder = root / "processing/output/manifest"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def main() -> int:
    root = ml_root()
    try:
        run(root)
    except Exception as exc:  # the job's failure reason: what went wrong, in the user's words if we can
        if isinstance(
            exc, recipes.RecipeError | recipes.StepFailed | readers.ReadError | ValueError | OSError
        ):
            reason = str(exc)
        else:
            traceback.print_exc()
            reason = f"{type(exc).__name__}: {exc}"
        print(f"recipe failed: {reason}", file=sys.stderr, flush=True)
        (root / "output").mkdir(parents=True, exist_ok=True)
        (root / "output/failure").write_text(reason[:1024])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
