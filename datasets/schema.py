"""Column types of a dataset: inferred from a sample, edited by people, applied when reading.

Django-free on purpose: job modules (profiling, recipes) import it in the job's own process.
A schema is a list of ``{"name": str, "type": str}`` with the types below, in column order.
"""

from __future__ import annotations

import warnings
from typing import TypedDict

import numpy as np
import pandas as pd

COLUMN_TYPES = ("integer", "float", "boolean", "datetime", "categorical", "text")

# Strings people and tools write for true/false. Compared case-insensitively, after stripping.
_TRUE = frozenset({"true", "t", "yes", "y"})
_FALSE = frozenset({"false", "f", "no", "n"})
_BOOLEAN_WORDS = _TRUE | _FALSE
# A text column with few distinct values (relative to its rows, and in absolute terms) is a category.
CATEGORICAL_MAX_DISTINCT = 50
CATEGORICAL_MAX_RATIO = 0.5
# Values a type is first tried on, before the whole column.
SAMPLE_VALUES = 200


class Column(TypedDict):
    name: str
    type: str


class SchemaError(ValueError):
    """A schema that does not fit the data (or is malformed); the message names the column."""

    def __init__(self, message: str, *, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


def infer_schema(frame: pd.DataFrame) -> list[Column]:
    """The type of every column of ``frame`` (a sample of the data), in column order.

    For data read in chunks, feed every chunk to a :class:`SchemaInferrer` instead: a column
    whose first chunk looks like integers and a later one like text is text.
    """
    inferrer = SchemaInferrer()
    inferrer.update(frame)
    return inferrer.schema()


def infer_column_type(series: pd.Series) -> str:
    """The type of one column, on its own."""
    return infer_schema(series.to_frame())[0]["type"]


class _ColumnState:
    __slots__ = ("distinct", "kind", "present")

    def __init__(self) -> None:
        self.kind: str | None = None  # None until a value is seen; "string" stands for categorical/text
        self.present = 0
        self.distinct: set | None = set()  # None once past CATEGORICAL_MAX_DISTINCT


class SchemaInferrer:
    """Infers a schema over data seen chunk by chunk, widening types where chunks disagree:
    integer + float is float; anything else that disagrees is text. Categorical or text is decided
    at the end, from the distinct values of the whole column."""

    def __init__(self) -> None:
        self._columns: dict[str, _ColumnState] = {}

    def update(self, frame: pd.DataFrame) -> None:
        for name in frame.columns:
            state = self._columns.setdefault(str(name), _ColumnState())
            series = frame[name]
            values = series.dropna()
            if not len(values):
                continue
            state.present += len(values)
            if state.distinct is not None:
                state.distinct.update(values.unique()[: CATEGORICAL_MAX_DISTINCT + 1].tolist())
                if len(state.distinct) > CATEGORICAL_MAX_DISTINCT:
                    state.distinct = None
            if state.kind == "string":
                continue  # text absorbs everything: no need to look at these values again
            state.kind = _merge(state.kind, _chunk_kind(series, values))

    def schema(self) -> list[Column]:
        return [Column(name=name, type=self._final(state)) for name, state in self._columns.items()]

    @staticmethod
    def _final(state: _ColumnState) -> str:
        if state.kind is None:
            return "text"  # never a value: nothing to go on
        if state.kind != "string":
            return state.kind
        distinct = state.distinct
        if distinct is not None and len(distinct) <= max(1, state.present * CATEGORICAL_MAX_RATIO):
            return "categorical"
        return "text"


def _merge(known: str | None, seen: str) -> str:
    if known is None or known == seen:
        return seen
    if {known, seen} == {"integer", "float"}:
        return "float"
    return "string"


def _chunk_kind(series: pd.Series, values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_float_dtype(series):
        # Integers with missing values come back as floats from CSV: keep them integers.
        integral = bool((values == values.round()).all()) and float(values.abs().max()) < 2**53
        return "integer" if integral else "float"
    if pd.api.types.is_numeric_dtype(series):
        return "float"
    if series.dtype == object and values.map(type).eq(bool).all():  # JSON true/false
        return "boolean"
    strings = values.astype(str).str.strip()
    # Each test runs on a sample first: most text columns fail it at once, and the costly
    # whole-column conversion runs only on columns that may pass.
    sample = strings.head(SAMPLE_VALUES)
    lowered = sample.str.lower()
    if lowered.isin(_BOOLEAN_WORDS).all() and strings.str.lower().isin(_BOOLEAN_WORDS).all():
        return "boolean"
    if pd.to_numeric(sample, errors="coerce").notna().all():
        numbers = pd.to_numeric(strings, errors="coerce")
        if numbers.notna().all():
            return "integer" if bool((numbers == numbers.round()).all()) else "float"
    if _parse_dates(sample) is not None and _parse_dates(strings) is not None:
        return "datetime"
    return "string"


def _parse_dates(strings: pd.Series) -> pd.Series | None:
    """``strings`` as datetimes if every one parses, else None.

    Tries the fast vectorized parsers first (ISO 8601, then the format of the first value) and
    only then pandas' per-value "mixed" parsing, on a sample before the whole column.
    """
    # Plain numbers parse as dates too (epoch offsets): a date needs a separator.
    if not strings.str.contains(r"[-/:T ]", regex=True).all():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "could not infer format": only success counts here
        for fmt in ("ISO8601", None):
            try:
                return pd.to_datetime(strings, format=fmt)
            except (ValueError, TypeError, OverflowError):
                continue
        sample = strings.head(200)
        if pd.to_datetime(sample, errors="coerce", format="mixed").isna().any():
            return None
        parsed = pd.to_datetime(strings, errors="coerce", format="mixed")
    return None if parsed.isna().any() else parsed


def validate_schema(schema: object) -> list[Column]:
    """``schema`` as a clean list of columns, or SchemaError saying what is wrong with it."""
    if not isinstance(schema, list):
        raise SchemaError("schema must be a list of {name, type} objects")
    columns: list[Column] = []
    seen: set[str] = set()
    for position, item in enumerate(schema, 1):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise SchemaError(f"schema item {position} must be an object with a 'name' and a 'type'")
        name, kind = item["name"], item.get("type")
        if kind not in COLUMN_TYPES:
            raise SchemaError(
                f"column {name!r}: unknown type {kind!r}; use one of {', '.join(COLUMN_TYPES)}", column=name
            )
        if name in seen:
            raise SchemaError(f"column {name!r} appears twice in the schema", column=name)
        seen.add(name)
        columns.append(Column(name=name, type=kind))
    return columns


def apply_schema(frame: pd.DataFrame, schema: list[Column] | list[dict]) -> pd.DataFrame:
    """``frame`` with every column cast to its schema type.

    Raises SchemaError naming the first column whose values do not fit (with an example value),
    or a column the schema names that the data lacks. Columns the schema does not name are kept as read.
    """
    result = frame.copy()
    for column in validate_schema(schema):
        name = column["name"]
        if name not in result.columns:
            raise SchemaError(f"column {name!r} is in the schema but not in the data", column=name)
        result[name] = cast_series(result[name], column["type"], name)
    return result


def cast_series(series: pd.Series, kind: str, name: str) -> pd.Series:
    present = series.notna()
    if kind == "integer":
        numbers = pd.to_numeric(series, errors="coerce")
        bad = present & (numbers.isna() | (numbers != numbers.round()))
        _refuse(series, bad, name, "an integer")
        return numbers.astype("Int64")
    if kind == "float":
        numbers = pd.to_numeric(series, errors="coerce")
        _refuse(series, present & numbers.isna(), name, "a number")
        return numbers.astype("float64")
    if kind == "boolean":
        if pd.api.types.is_bool_dtype(series):
            return series.astype("boolean")
        words = series.astype(str).str.strip().str.lower()
        mapped = words.map(
            lambda word: (
                True if word in _TRUE | {"1", "1.0"} else False if word in _FALSE | {"0", "0.0"} else None
            )
        )
        _refuse(series, present & mapped.isna(), name, "true/false")
        return mapped.where(present).astype("boolean")
    if kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(series):
            return series
        strings = series.astype("string").str.strip()
        parsed = _parse_dates(strings[present])
        if parsed is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                attempt = pd.to_datetime(strings, errors="coerce", format="mixed")
            _refuse(series, present & attempt.isna(), name, "a date/time")
            # Every value parsed one by one but not all together (e.g. mixed time zones).
            raise SchemaError(f"column {name!r}: the values do not parse as one date/time type", column=name)
        return parsed.reindex(series.index)
    if kind == "categorical":
        return series.astype("category")
    if kind == "text":
        return series.astype("string")
    raise SchemaError(f"column {name!r}: unknown type {kind!r}", column=name)


def _refuse(series: pd.Series, bad: pd.Series, name: str, what: str) -> None:
    if not bool(bad.any()):
        return
    first = bad[bad].index[0]
    example = series[first]
    example = example.item() if hasattr(example, "item") else example  # numpy scalar → plain value
    count = int(bad.sum())
    where = f"row {first + 1}" if isinstance(first, int | np.integer) else f"row {first!r}"
    others = f", and {count - 1} more" if count > 1 else ""
    raise SchemaError(
        f"column {name!r}: {example!r} is not {what} ({where}{others}); choose another type for this column",
        column=name,
    )
