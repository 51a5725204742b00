"""Reading chunks into a consistent shape: each column's kind, and its values in that kind."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd

from datasets.profiling.options import BOOLEAN, BOOLEAN_WORDS, CATEGORICAL, DATETIME, NUMERIC


def _infer_kind(values: pd.Series) -> str:
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return BOOLEAN
    if pd.api.types.is_numeric_dtype(dtype):
        return NUMERIC
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return DATETIME
    if pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(values, skipna=True) == "boolean":
        return BOOLEAN
    return CATEGORICAL


def _normalize(values: pd.Series, kind: str) -> tuple[pd.Series, int]:
    """The column in its kind's representation, and how many present values did not convert.

    numeric and boolean: float64 (booleans 0/1); datetime: datetime64[us] (naive UTC);
    categorical and text: pandas strings. Missing stays missing.
    """
    dtype = values.dtype
    if kind == NUMERIC:
        if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            converted = pd.Series(values.to_numpy(dtype="float64", na_value=np.nan), index=values.index)
        else:
            converted = pd.to_numeric(values, errors="coerce").astype("float64")
        converted = converted + 0.0  # -0.0 and 0.0 are one value
    elif kind == BOOLEAN:
        if pd.api.types.is_bool_dtype(dtype):
            converted = values.astype("float64")
        elif pd.api.types.is_numeric_dtype(dtype):
            converted = values.astype("float64").where(values.isin([0, 1]))
        else:
            converted = values.astype("str").str.strip().str.lower().map(BOOLEAN_WORDS).astype("float64")
    elif kind == DATETIME:
        if pd.api.types.is_datetime64_any_dtype(dtype):
            converted = values
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "could not infer format": it falls back per value
                converted = pd.to_datetime(values, errors="coerce", utc=True)
        if getattr(converted.dt, "tz", None) is not None:
            converted = converted.dt.tz_convert("UTC").dt.tz_localize(None)
        converted = converted.dt.as_unit("us")
    else:
        if isinstance(dtype, pd.StringDtype):
            return values, 0
        if pd.api.types.is_float_dtype(dtype):
            finite = values.dropna()
            if len(finite) and np.all(np.isfinite(finite)) and np.all(finite == np.floor(finite)):
                values = values.astype("Int64")  # 3.0 reads as "3", as it would without missing values
        return values.astype("str"), 0
    invalid = int((converted.isna() & values.notna()).sum())
    return converted, invalid


def _schema_types(schema: Iterable[dict] | dict[str, str] | None) -> dict[str, str]:
    if not schema:
        return {}
    if isinstance(schema, dict):
        return {str(name): str(kind) for name, kind in schema.items()}
    return {str(item["name"]): str(item.get("type", "")) for item in schema}
