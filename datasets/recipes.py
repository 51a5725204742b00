"""Preparation recipes: an ordered list of declarative steps, checked against a schema, applied to a
DataFrame, and written out as a standalone pandas script.

Django-free on purpose: the recipe job (``datasets.runtime.recipe``) imports this in its own
process, where there are no settings.

A step is a JSON object ``{"op": ..., <parameters>}``. Each kind of step (a :class:`Step`) does three
things, and all three must agree:

- ``check`` validates its parameters against the columns known at that point of the recipe (the
  input version's schema, as changed by the steps before it) and returns the step with its
  defaults filled in;
- ``apply`` runs it on a DataFrame (the job and the preview);
- ``code`` writes the same operation as Python source (the exported script). A few operations
  call a helper function defined in this module; the script carries that function's source, so
  the job and the script run the very same code for them.

Fitted statistics (means, medians, modes, scaling ranges, quantiles, category lists) are computed
on all the rows that reach the step, **before** the split: the split is always the last step, so
every part is transformed with the same statistics, and the job, the preview and the exported
script agree on that. (The preview computes them on its sample, so its numbers can differ a
little from a full run.) To keep test statistics out of training, split first into separate
versions, then run a recipe on the train version and apply its fitted values by hand.

Missing values: a comparison (``==``, ``<``, ``in``, ...) never matches a missing value; only
``is null`` does.
"""

from __future__ import annotations

import inspect
import json
import math
import textwrap
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np
import pandas as pd

COLUMN_TYPES = ("integer", "float", "boolean", "datetime", "categorical", "text")
NUMERIC = frozenset({"integer", "float"})
TEXTUAL = frozenset({"categorical", "text"})
PARTS = ("train", "validation", "test")
OUTPUT_FORMATS = ("csv", "csv-label-first", "parquet")
SPLIT_METHODS = ("random", "stratified", "time")
DATETIME_PARTS = ("year", "month", "day", "weekday", "hour")
FILTER_OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in", "is null", "not null")
MAX_STEPS = 100
MAX_LIST_ITEMS = 1000
MAX_ONE_HOT_CATEGORIES = 1000
DEFAULT_ONE_HOT_CATEGORIES = 100
WRITE_CHUNK_ROWS = 100_000


class Column(TypedDict):
    name: str
    type: str


# --- Errors ----------------------------------------------------------------------------------------


class RecipeError(ValueError):
    """A recipe that cannot run as written: ``errors`` maps a field to its messages.

    Step problems are keyed ``steps[<index>]`` (0-based, as in the JSON list); each message also
    names the step the way people count them ("Step 3 (impute): ...").
    """

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(message for messages in errors.values() for message in messages))
        self.errors = errors


class StepFailed(ValueError):
    """A step that failed on the data itself (a negative value for log1p, a value that does not cast)."""

    def __init__(self, index: int, op: str, message: str) -> None:
        super().__init__(f"Step {index + 1} ({op}): {message}")
        self.index = index
        self.op = op
        self.key = f"steps[{index}]"


# --- Helpers shared by the job and the exported script ----------------------------------------------
# Each is self-contained (pandas, numpy, warnings only), because the exported script carries its source.


def cast_column(series, to, on_error="fail", name="", date_format=None):
    """``series`` as type ``to``. Values that do not fit fail the step (``on_error="fail"``) or
    become missing (``on_error="null"``)."""
    present = series.notna()
    if to in ("integer", "float"):
        if to == "integer" and pd.api.types.is_integer_dtype(series):
            return series.astype("Int64")
        if pd.api.types.is_bool_dtype(series):
            numbers = series.astype("Float64").astype("float64")
        elif pd.api.types.is_numeric_dtype(series):
            numbers = series.astype("float64")
        else:
            numbers = pd.to_numeric(series.astype("str").str.strip(), errors="coerce").astype("float64")
        bad = present & numbers.isna()
        what = "a number"
        if to == "integer":
            bad = bad | (present & numbers.notna() & (numbers % 1 != 0))
            what = "a whole number"
        numbers = _cast_failures(series, numbers, bad, on_error, name, what)
        return numbers.astype("Int64") if to == "integer" else numbers
    if to == "boolean":
        if pd.api.types.is_bool_dtype(series):
            return series.astype("boolean")
        words = {"true": True, "t": True, "yes": True, "y": True, "1": True, "1.0": True}
        words.update({"false": False, "f": False, "no": False, "n": False, "0": False, "0.0": False})
        mapped = series.astype("str").str.strip().str.lower().map(words).astype("object")
        bad = present & mapped.isna()
        mapped = _cast_failures(series, mapped, bad, on_error, name, "true or false")
        return mapped.where(present).astype("boolean")
    if to == "datetime":
        if pd.api.types.is_datetime64_any_dtype(series):
            return series
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "could not infer format": the failures are counted below
            parsed = pd.to_datetime(series.astype("str"), errors="coerce", format=date_format or "mixed")
        return _cast_failures(series, parsed, present & parsed.isna(), on_error, name, "a date/time")
    if to == "categorical":
        return series.astype("category")
    if to == "text":
        return series.astype("str")
    raise ValueError(f"unknown type {to!r}")


def _cast_failures(series, result, bad, on_error, name, what):
    if not bad.any():
        return result
    if on_error == "fail":
        example = series[bad].iloc[0]
        example = example.item() if hasattr(example, "item") else example
        count = int(bad.sum())
        raise ValueError(
            f"column {name!r}: {example!r} is not {what} ({count} value{'s' if count != 1 else ''}); "
            "fix the data, or set on_error to 'null' to make such values missing"
        )
    return result.where(~bad)


def fill_constant(series, value):
    """``series`` with missing values replaced by ``value`` (added to a categorical column's categories)."""
    if isinstance(series.dtype, pd.CategoricalDtype) and value not in series.cat.categories:
        series = series.cat.add_categories([value])
    if pd.api.types.is_datetime64_any_dtype(series):
        value = pd.Timestamp(value)
    return series.fillna(value)


def one_hot_encode(df, columns, max_categories):
    """One 0/1 column ``<column>_<value>`` per distinct value, in place of each column."""
    for column in columns:
        count = df[column].nunique(dropna=True)
        if count > max_categories:
            raise ValueError(
                f"column {column!r} has {count} distinct values, more than max_categories "
                f"({max_categories}); raise the limit or use ordinal_encode"
            )
    encoded = pd.get_dummies(df, columns=list(columns), prefix=list(columns), prefix_sep="_", dtype="int64")
    twice = encoded.columns[encoded.columns.duplicated()]
    if len(twice):
        raise ValueError(
            f"one-hot encoding makes a column {twice[0]!r} that already exists; rename one first"
        )
    return encoded


def ordinal_encode(series, categories=None):
    """Integer codes 0, 1, 2... in ``categories`` order (default: the sorted distinct values)."""
    if categories:
        order = list(categories)
    else:
        values = series.dropna().unique().tolist()
        try:
            order = sorted(values)
        except TypeError:  # mixed kinds of values: order them by their text
            order = sorted(values, key=str)
    codes = {value: code for code, value in enumerate(order)}
    return series.astype("object").map(codes).astype("Int64")


def datetime_parts(df, column, parts, drop_original):
    """New integer columns ``<column>_<part>`` (year, month, day, weekday with Monday=0, hour)."""
    values = df[column]
    if not pd.api.types.is_datetime64_any_dtype(values):
        raise ValueError(
            f"column {column!r} holds {values.dtype} values, not dates; cast it to datetime first"
        )
    df = df.copy()
    for part in parts:
        name = f"{column}_{part}"
        if name in df.columns:
            raise ValueError(f"column {name!r} already exists; rename or drop it first")
        df[name] = getattr(values.dt, "day_of_week" if part == "weekday" else part).astype("Int64")
    if drop_original:
        df = df.drop(columns=[column])
    return df


def split_positions(df, fractions, method, column, seed):
    """Row positions of each part (train, validation, test) with a share above zero.

    random: a seeded shuffle, then cut by the fractions; stratified: the same within each value of
    ``column``, so every part keeps its class proportions; time: rows ordered by ``column`` (missing
    times last), the earliest to train and the latest to test. Random and stratified parts keep
    the input's row order; time parts are in time order.
    """
    names = [part for part in ("train", "validation", "test") if fractions.get(part, 0) > 0]
    shares = np.cumsum([fractions[part] for part in names])

    def cut(positions):
        bounds = np.round(shares * len(positions)).astype(int)
        bounds[-1] = len(positions)
        return np.split(positions, bounds[:-1])

    if method == "time":
        times = df[column].reset_index(drop=True)
        if not pd.api.types.is_datetime64_any_dtype(times):
            raise ValueError(
                f"column {column!r} holds {times.dtype} values, not dates; cast it to datetime first"
            )
        order = times.sort_values(kind="stable", na_position="last").index.to_numpy()
        chunks = cut(order)
    elif method == "random":
        rng = np.random.default_rng(seed)
        chunks = [np.sort(chunk) for chunk in cut(rng.permutation(len(df)))]
    else:
        rng = np.random.default_rng(seed)
        codes, _ = pd.factorize(df[column], sort=True)  # -1 for a missing value: a class of its own
        pieces = [[] for _ in names]
        for code in np.unique(codes):
            members = np.flatnonzero(codes == code)
            for piece, chunk in zip(pieces, cut(rng.permutation(members)), strict=True):
                piece.append(chunk)
        chunks = [np.sort(np.concatenate(piece)) if piece else np.array([], dtype=int) for piece in pieces]
    return dict(zip(names, chunks, strict=True))


def write_part(df, path, output_format, label=None):
    """Write one output file, in chunks (CSV) or row groups (Parquet) that readers can stream.

    ``csv-label-first`` is the built-in algorithms' format: the label column first, no header,
    booleans as 0/1, every column numeric. Returns the frame as written.
    """
    if output_format == "csv-label-first":
        df = df[[label] + [column for column in df.columns if column != label]].copy()
        for column in df.columns:
            if pd.api.types.is_bool_dtype(df[column]):
                df[column] = df[column].astype("Int64")
            elif not pd.api.types.is_numeric_dtype(df[column]):
                raise ValueError(
                    f"column {column!r} holds {df[column].dtype} values; csv-label-first needs numbers "
                    "(encode, cast or drop it)"
                )
        df.to_csv(path, index=False, header=False, chunksize=100_000)
    elif output_format == "csv":
        df.to_csv(path, index=False, chunksize=100_000)
    else:
        df.to_parquet(path, index=False, row_group_size=100_000)
    return df


HELPERS: dict[str, Callable] = {
    "cast_column": cast_column,
    "_cast_failures": _cast_failures,
    "fill_constant": fill_constant,
    "one_hot_encode": one_hot_encode,
    "ordinal_encode": ordinal_encode,
    "datetime_parts": datetime_parts,
    "split_positions": split_positions,
    "write_part": write_part,
}
HELPER_NEEDS = {"cast_column": ("_cast_failures",)}


# --- Checking steps against the columns they will see -----------------------------------------------


class Columns:
    """The columns (and their types) at one point of the recipe, as far as they can be known.

    ``None`` as the schema means "unknown" (a dataset without versions): then any column name is
    accepted. One-hot encoding makes columns named after values no one knows yet; a name that
    starts with such a column's prefix is accepted as an integer column.
    """

    def __init__(self, schema: list[dict] | None) -> None:
        self.known = schema is not None
        self.types: dict[str, str | None] = {str(item["name"]): item.get("type") for item in schema or []}
        self.prefixes: list[str] = []

    def has(self, name: str) -> bool:
        return not self.known or name in self.types or self._generated(name)

    def _generated(self, name: str) -> bool:
        return any(name.startswith(prefix) for prefix in self.prefixes)

    def type_of(self, name: str) -> str | None:
        if name in self.types:
            return self.types[name]
        return "integer" if self._generated(name) else None

    def names(self) -> list[str]:
        return list(self.types)

    def schema(self) -> list[Column]:
        return [Column(name=name, type=kind or "text") for name, kind in self.types.items()]

    def describe(self) -> str:
        names = self.names()
        shown = ", ".join(repr(name) for name in names[:20]) + (", ..." if len(names) > 20 else "")
        return shown or "none"


class _Check:
    """Checks one step's parameters; problems are collected, not raised, so all are reported at once."""

    def __init__(self, index: int, op: str, raw: dict, columns: Columns, errors: dict[str, list[str]]):
        self.index, self.op, self.raw, self.columns, self.errors = index, op, raw, columns, errors
        self.failed = False

    def error(self, message: str) -> None:
        self.failed = True
        self.errors.setdefault(f"steps[{self.index}]", []).append(
            f"Step {self.index + 1} ({self.op}): {message}"
        )

    def column_exists(self, name: str, types: frozenset[str] | None = None, why: str = "") -> bool:
        if not self.columns.has(name):
            self.error(
                f"column {name!r} is not in the data at this step (columns: {self.columns.describe()})"
            )
            return False
        kind = self.columns.type_of(name)
        if types is not None and kind is not None and kind not in types:
            self.error(f"column {name!r} is {kind}; {why or 'this step needs ' + ' or '.join(sorted(types))}")
            return False
        return True

    def columns_param(
        self, key: str = "columns", types: frozenset[str] | None = None, why: str = "", required: bool = True
    ) -> list[str]:
        value = self.raw.get(key)
        if value is None and not required:
            return []
        if (
            not isinstance(value, list)
            or not value
            or len(value) > MAX_LIST_ITEMS
            or not all(isinstance(item, str) and item for item in value)
        ):
            self.error(f"'{key}' must be a non-empty list of column names")
            return []
        if len(set(value)) != len(value):
            self.error(f"'{key}' names a column twice")
            return []
        return [name for name in value if self.column_exists(name, types, why)]

    def numeric_columns_param(self, why: str) -> list[str]:
        """Numeric columns the step turns into floats (scaling, logs, clipping, mean/median)."""
        columns = self.columns_param(types=NUMERIC, why=why)
        for name in columns:
            self.columns.types[name] = "float"
        return columns

    def column_param(self, key: str = "column", types: frozenset[str] | None = None, why: str = "") -> str:
        value = self.raw.get(key)
        if not isinstance(value, str) or not value:
            self.error(f"'{key}' must name a column")
            return ""
        return value if self.column_exists(value, types, why) else ""

    def choice(self, key: str, options: tuple[str, ...], default: str | None = None) -> str:
        value = self.raw.get(key, default)
        if value not in options:
            self.error(f"'{key}' must be one of {', '.join(repr(option) for option in options)}")
            return options[0]
        return value

    def number(
        self, key: str, default: float, *, low: float, high: float, integer: bool = False, strict_low=False
    ) -> float:
        value = self.raw.get(key, default)
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if ok and integer:
            ok = float(value).is_integer()
        if ok:
            ok = (value > low if strict_low else value >= low) and value <= high
        if not ok:
            bound = ">" if strict_low else "≥"
            kind = "a whole number" if integer else "a number"
            self.error(f"'{key}' must be {kind} {bound} {low} and ≤ {high}")
            return default
        return int(value) if integer else value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            self.error(f"'{key}' must be true or false")
            return default
        return value


@dataclass
class Field:
    """One parameter of a step, as the recipe builder shows it."""

    name: str
    kind: str  # columns, column, choice, number, integer, bool, text, value, values, mapping, fractions
    label: str
    options: tuple[str, ...] = ()
    default: Any = None
    required: bool = True
    help: str = ""
    show_if: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        data = {"name": self.name, "kind": self.kind, "label": self.label, "required": self.required}
        if self.options:
            data["options"] = list(self.options)
        if self.default is not None:
            data["default"] = self.default
        if self.help:
            data["help"] = self.help
        if self.show_if:
            data["show_if"] = {key: list(values) for key, values in self.show_if.items()}
        return data


class Step:
    op = ""
    label = ""
    description = ""
    fields: tuple[Field, ...] = ()
    helpers: tuple[str, ...] = ()

    def check(self, c: _Check) -> dict:
        raise NotImplementedError

    def apply(self, df: pd.DataFrame, step: dict) -> pd.DataFrame:
        raise NotImplementedError

    def code(self, step: dict) -> str:
        raise NotImplementedError

    def catalogue(self) -> dict:
        return {
            "op": self.op,
            "label": self.label,
            "description": self.description,
            "fields": [item.as_dict() for item in self.fields],
        }


def _r(value: object) -> str:
    """A validated JSON value as Python source (str, int, float, bool, None, lists and dicts of them)."""
    return repr(value)


class DropColumns(Step):
    op, label = "drop_columns", "Drop columns"
    description = "Remove columns."
    fields = (Field("columns", "columns", "Columns"),)

    def check(self, c: _Check) -> dict:
        columns = c.columns_param()
        for name in columns:
            c.columns.types.pop(name, None)
        return {"columns": columns}

    def apply(self, df, step):
        return df.drop(columns=step["columns"])

    def code(self, step):
        return f"df = df.drop(columns={_r(step['columns'])})"


class RenameColumns(Step):
    op, label = "rename_columns", "Rename columns"
    description = "Give columns new names."
    fields = (Field("mapping", "mapping", "Old name → new name"),)

    def check(self, c: _Check) -> dict:
        mapping = c.raw.get("mapping")
        if (
            not isinstance(mapping, dict)
            or not mapping
            or len(mapping) > MAX_LIST_ITEMS
            or not all(isinstance(new, str) and new.strip() and len(new) <= 255 for new in mapping.values())
        ):
            c.error(
                "'mapping' must be an object of old name → new name (non-empty text, at most 255 characters)"
            )
            return {"mapping": {}}
        mapping = {old: new.strip() for old, new in mapping.items()}
        for old in mapping:
            c.column_exists(old)
        if len(set(mapping.values())) != len(mapping):
            c.error("two columns would get the same new name")
        remaining = set(c.columns.names()) - set(mapping)
        for new in mapping.values():
            if new in remaining:
                c.error(f"column {new!r} already exists; drop or rename it first")
        if not c.failed:
            c.columns.types = {mapping.get(name, name): kind for name, kind in c.columns.types.items()}
        return {"mapping": mapping}

    def apply(self, df, step):
        return df.rename(columns=step["mapping"])

    def code(self, step):
        return f"df = df.rename(columns={_r(step['mapping'])})"


class Cast(Step):
    op, label = "cast", "Change type"
    description = "Convert columns to another type."
    fields = (
        Field("columns", "columns", "Columns"),
        Field("to", "choice", "New type", options=COLUMN_TYPES, default="float"),
        Field(
            "on_error",
            "choice",
            "Values that do not convert",
            options=("fail", "null"),
            default="fail",
            help="fail: stop with an example; null: make them missing",
        ),
        Field(
            "date_format",
            "text",
            "Date format",
            required=False,
            help="strftime format such as %d/%m/%Y; empty: recognise each value",
            show_if={"to": ("datetime",)},
        ),
    )
    helpers = ("cast_column",)

    def check(self, c: _Check) -> dict:
        to = c.choice("to", COLUMN_TYPES)
        columns = c.columns_param()
        on_error = c.choice("on_error", ("fail", "null"), "fail")
        step = {"columns": columns, "to": to, "on_error": on_error}
        date_format = c.raw.get("date_format") or None
        if date_format is not None:
            if not isinstance(date_format, str) or "%" not in date_format or len(date_format) > 64:
                c.error("'date_format' must be a strftime format such as '%Y-%m-%d'")
            elif to != "datetime":
                c.error("'date_format' applies only when casting to datetime")
            else:
                step["date_format"] = date_format
        for name in columns:
            kind = c.columns.type_of(name)
            if kind == "datetime" and to in {"integer", "float", "boolean"}:
                c.error(f"column {name!r} is datetime; it cannot become {to} (use datetime_parts)")
            elif kind in NUMERIC | {"boolean"} and to == "datetime":
                c.error(f"column {name!r} is {kind}; only text becomes datetime")
            c.columns.types[name] = to
        return step

    def apply(self, df, step):
        df = df.copy()
        for name in step["columns"]:
            df[name] = cast_column(df[name], step["to"], step["on_error"], name, step.get("date_format"))
        return df

    def code(self, step):
        return (
            f"for column in {_r(step['columns'])}:\n"
            f"    df[column] = cast_column(df[column], {_r(step['to'])}, {_r(step['on_error'])}, column, "
            f"{_r(step.get('date_format'))})"
        )


class Impute(Step):
    op, label = "impute", "Fill missing values"
    description = "Replace missing values with the mean, median, most frequent value or a constant."
    fields = (
        Field("columns", "columns", "Columns"),
        Field("strategy", "choice", "With", options=("mean", "median", "mode", "constant"), default="median"),
        Field("value", "value", "Constant", show_if={"strategy": ("constant",)}),
    )
    helpers = ("fill_constant",)

    def check(self, c: _Check) -> dict:
        strategy = c.choice("strategy", ("mean", "median", "mode", "constant"))
        if strategy in {"mean", "median"}:
            why = f"the {strategy} is defined for numbers only (use 'mode' or 'constant')"
            columns = c.numeric_columns_param(why)
            return {"columns": columns, "strategy": strategy}
        columns = c.columns_param()
        if strategy == "mode":
            return {"columns": columns, "strategy": strategy}
        if c.raw.get("value") is None:
            c.error("'value' is required with strategy 'constant'")
            return {"columns": columns, "strategy": strategy, "value": None}
        checked = [
            _check_value(c, name, c.raw["value"], "value", allow_float_for_integer=False) for name in columns
        ]
        return {"columns": columns, "strategy": strategy, "value": checked[0] if checked else c.raw["value"]}

    def apply(self, df, step):
        df = df.copy()
        for name in step["columns"]:
            strategy = step["strategy"]
            if strategy in {"mean", "median"}:
                values = df[name].astype("float64")
                df[name] = values.fillna(values.mean() if strategy == "mean" else values.median())
            elif strategy == "mode":
                mode = df[name].mode(dropna=True)
                if len(mode):
                    df[name] = df[name].fillna(mode.iloc[0])
            else:
                df[name] = fill_constant(df[name], step["value"])
        return df

    def code(self, step):
        columns, strategy = _r(step["columns"]), step["strategy"]
        if strategy in {"mean", "median"}:
            return (
                f"for column in {columns}:\n"
                "    values = df[column].astype('float64')\n"
                f"    df[column] = values.fillna(values.{strategy}())"
            )
        if strategy == "mode":
            return (
                f"for column in {columns}:\n"
                "    mode = df[column].mode(dropna=True)\n"
                "    if len(mode):\n"
                "        df[column] = df[column].fillna(mode.iloc[0])"
            )
        return f"for column in {columns}:\n    df[column] = fill_constant(df[column], {_r(step['value'])})"


class OneHot(Step):
    op, label = "one_hot", "One-hot encode"
    description = "Replace each column by one 0/1 column per distinct value, named <column>_<value>."
    fields = (
        Field("columns", "columns", "Columns"),
        Field("max_categories", "integer", "At most this many values", default=DEFAULT_ONE_HOT_CATEGORIES),
    )
    helpers = ("one_hot_encode",)
    encodable = frozenset({"integer", "boolean", "categorical", "text"})

    def check(self, c: _Check) -> dict:
        columns = c.columns_param(types=self.encodable, why="one-hot encoding needs a column of categories")
        limit = c.number(
            "max_categories", DEFAULT_ONE_HOT_CATEGORIES, low=1, high=MAX_ONE_HOT_CATEGORIES, integer=True
        )
        for name in columns:
            c.columns.types.pop(name, None)
            c.columns.prefixes.append(f"{name}_")
        return {"columns": columns, "max_categories": limit}

    def apply(self, df, step):
        return one_hot_encode(df, step["columns"], step["max_categories"])

    def code(self, step):
        return f"df = one_hot_encode(df, {_r(step['columns'])}, {_r(step['max_categories'])})"


class OrdinalEncode(Step):
    op, label = "ordinal_encode", "Ordinal encode"
    description = "Replace values by integer codes 0, 1, 2... (sorted values, or the order you give)."
    fields = (
        Field("columns", "columns", "Columns"),
        Field(
            "categories",
            "values",
            "Order of the values",
            required=False,
            help="one column only; values not listed become missing",
        ),
    )
    helpers = ("ordinal_encode",)

    def check(self, c: _Check) -> dict:
        columns = c.columns_param(
            types=frozenset({"integer", "boolean", "categorical", "text"}),
            why="ordinal encoding needs a column of categories",
        )
        step: dict = {"columns": columns}
        categories = c.raw.get("categories")
        if categories not in (None, []):
            if not isinstance(categories, list) or len(categories) > MAX_LIST_ITEMS:
                c.error("'categories' must be a list of values")
            elif len(columns) != 1:
                c.error("'categories' gives the order for exactly one column")
            elif len(set(map(json.dumps, categories))) != len(categories):
                c.error("'categories' lists a value twice")
            else:
                step["categories"] = [
                    _check_value(c, columns[0], value, "categories") for value in categories
                ]
        for name in columns:
            c.columns.types[name] = "integer"
        return step

    def apply(self, df, step):
        df = df.copy()
        for name in step["columns"]:
            df[name] = ordinal_encode(df[name], step.get("categories"))
        return df

    def code(self, step):
        return (
            f"for column in {_r(step['columns'])}:\n"
            f"    df[column] = ordinal_encode(df[column], {_r(step.get('categories'))})"
        )


class StandardScale(Step):
    op, label = "standard_scale", "Standard scale"
    description = "Centre on the mean and divide by the standard deviation (population, ddof=0)."
    fields = (Field("columns", "columns", "Columns"),)

    def check(self, c: _Check) -> dict:
        columns = c.numeric_columns_param("scaling needs numbers")
        return {"columns": columns}

    def apply(self, df, step):
        df = df.copy()
        for name in step["columns"]:
            values = df[name].astype("float64")
            std = values.std(ddof=0)
            df[name] = (values - values.mean()) / (std if std else 1.0)
        return df

    def code(self, step):
        return (
            f"for column in {_r(step['columns'])}:\n"
            "    values = df[column].astype('float64')\n"
            "    std = values.std(ddof=0)\n"
            "    df[column] = (values - values.mean()) / (std if std else 1.0)"
        )


class MinMaxScale(Step):
    op, label = "minmax_scale", "Min-max scale"
    description = "Rescale to [0, 1]: (x - min) / (max - min)."
    fields = (Field("columns", "columns", "Columns"),)

    def check(self, c: _Check) -> dict:
        columns = c.numeric_columns_param("scaling needs numbers")
        return {"columns": columns}

    def apply(self, df, step):
        df = df.copy()
        for name in step["columns"]:
            values = df[name].astype("float64")
            low, span = values.min(), values.max() - values.min()
            df[name] = (values - low) / (span if span else 1.0)
        return df

    def code(self, step):
        return (
            f"for column in {_r(step['columns'])}:\n"
            "    values = df[column].astype('float64')\n"
            "    low, span = values.min(), values.max() - values.min()\n"
            "    df[column] = (values - low) / (span if span else 1.0)"
        )


class LogTransform(Step):
    op, label = "log_transform", "Log transform"
    description = "log(1 + x); refuses negative values."
    fields = (Field("columns", "columns", "Columns"),)

    def check(self, c: _Check) -> dict:
        columns = c.numeric_columns_param("the logarithm needs numbers")
        return {"columns": columns}

    def apply(self, df, step):
        df = df.copy()
        for name in step["columns"]:
            values = df[name].astype("float64")
            if (values < 0).any():
                raise ValueError(
                    f"column {name!r} has {int((values < 0).sum())} negative value(s) (the smallest is "
                    f"{float(values.min())!r}); log1p needs values ≥ 0: clip or shift the column first"
                )
            df[name] = np.log1p(values)
        return df

    def code(self, step):
        return (
            f"for column in {_r(step['columns'])}:\n"
            "    values = df[column].astype('float64')\n"
            "    if (values < 0).any():\n"
            "        raise ValueError(f'column {column!r} has negative values; log1p needs values >= 0')\n"
            "    df[column] = np.log1p(values)"
        )


class ClipOutliers(Step):
    op, label = "clip_outliers", "Clip outliers"
    description = "Clip to [Q1 - k·IQR, Q3 + k·IQR], or to the given lower and upper quantiles."
    fields = (
        Field("columns", "columns", "Columns"),
        Field("method", "choice", "Bounds", options=("iqr", "quantile"), default="iqr"),
        Field("factor", "number", "k (times the IQR)", default=1.5, show_if={"method": ("iqr",)}),
        Field("lower", "number", "Lower quantile", default=0.01, show_if={"method": ("quantile",)}),
        Field("upper", "number", "Upper quantile", default=0.99, show_if={"method": ("quantile",)}),
    )

    def check(self, c: _Check) -> dict:
        columns = c.numeric_columns_param("clipping needs numbers")
        method = c.choice("method", ("iqr", "quantile"), "iqr")
        if method == "iqr":
            return {"columns": columns, "method": method, "factor": c.number("factor", 1.5, low=0, high=100)}
        lower = c.number("lower", 0.01, low=0, high=1)
        upper = c.number("upper", 0.99, low=0, high=1)
        if lower >= upper:
            c.error("'lower' must be below 'upper'")
        return {"columns": columns, "method": method, "lower": lower, "upper": upper}

    def apply(self, df, step):
        df = df.copy()
        for name in step["columns"]:
            values = df[name].astype("float64")
            if step["method"] == "iqr":
                q1, q3 = values.quantile(0.25), values.quantile(0.75)
                low, high = q1 - step["factor"] * (q3 - q1), q3 + step["factor"] * (q3 - q1)
            else:
                low, high = values.quantile(step["lower"]), values.quantile(step["upper"])
            df[name] = values.clip(low, high)
        return df

    def code(self, step):
        if step["method"] == "iqr":
            k = _r(step["factor"])
            bounds = (
                "    q1, q3 = values.quantile(0.25), values.quantile(0.75)\n"
                f"    low, high = q1 - {k} * (q3 - q1), q3 + {k} * (q3 - q1)\n"
            )
        else:
            lower, upper = _r(step["lower"]), _r(step["upper"])
            bounds = f"    low, high = values.quantile({lower}), values.quantile({upper})\n"
        return (
            f"for column in {_r(step['columns'])}:\n"
            "    values = df[column].astype('float64')\n"
            f"{bounds}"
            "    df[column] = values.clip(low, high)"
        )


_COMPARISONS: dict[str, Callable[[pd.Series, Any], pd.Series]] = {
    "==": lambda series, value: series == value,
    "!=": lambda series, value: series != value,
    "<": lambda series, value: series < value,
    "<=": lambda series, value: series <= value,
    ">": lambda series, value: series > value,
    ">=": lambda series, value: series >= value,
}


class FilterRows(Step):
    op, label = "filter_rows", "Filter rows"
    description = "Keep the rows where a condition holds (missing values match only 'is null')."
    fields = (
        Field("column", "column", "Column"),
        Field("operator", "choice", "Operator", options=FILTER_OPERATORS, default="=="),
        Field("value", "value", "Value", show_if={"operator": ("==", "!=", "<", "<=", ">", ">=")}),
        Field("value", "values", "Values", show_if={"operator": ("in", "not in")}),
    )

    def check(self, c: _Check) -> dict:
        column = c.column_param()
        operator = c.raw.get("operator")
        if operator not in FILTER_OPERATORS:
            c.error(f"unknown operator {operator!r}; use one of {', '.join(FILTER_OPERATORS)}")
            return {"column": column, "operator": "==", "value": None}
        step: dict = {"column": column, "operator": operator}
        kind = c.columns.type_of(column) if column else None
        if operator in {"is null", "not null"}:
            return step
        value = c.raw.get("value")
        if operator in {"in", "not in"}:
            if not isinstance(value, list) or not value or len(value) > MAX_LIST_ITEMS:
                c.error(f"'value' must be a non-empty list with '{operator}'")
                value = []
            step["value"] = [_check_value(c, column, item, "value") for item in value]
        else:
            if operator in {"<", "<=", ">", ">="} and kind in TEXTUAL | {"boolean"}:
                c.error(f"column {column!r} is {kind}; '{operator}' compares numbers and dates only")
            step["value"] = _check_value(c, column, value, "value")
        if kind == "datetime":
            step["datetime"] = True
        return step

    @staticmethod
    def _value(step: dict):
        value = step.get("value")
        if step.get("datetime"):
            return [pd.Timestamp(item) for item in value] if isinstance(value, list) else pd.Timestamp(value)
        return value

    def apply(self, df, step):
        values, operator = df[step["column"]], step["operator"]
        if operator == "is null":
            mask = values.isna()
        elif operator == "not null":
            mask = values.notna()
        else:
            value = self._value(step)
            if operator in {"in", "not in"}:
                matches = values.isin(value)
                matches = ~matches if operator == "not in" else matches
            else:
                matches = _COMPARISONS[operator](values, value)
            mask = values.notna() & matches.fillna(False).astype(bool)
        return df[mask.to_numpy()].reset_index(drop=True)

    def code(self, step):
        column, operator = _r(step["column"]), step["operator"]
        if operator == "is null":
            return f"df = df[df[{column}].isna()].reset_index(drop=True)"
        if operator == "not null":
            return f"df = df[df[{column}].notna()].reset_index(drop=True)"
        value = step["value"]
        if step.get("datetime"):
            literal = (
                "[" + ", ".join(f"pd.Timestamp({_r(item)})" for item in value) + "]"
                if isinstance(value, list)
                else f"pd.Timestamp({_r(value)})"
            )
        else:
            literal = _r(value)
        if operator == "in":
            condition = f"df[{column}].isin({literal})"
        elif operator == "not in":
            condition = f"~df[{column}].isin({literal})"
        else:
            condition = f"(df[{column}] {operator} {literal})"
        return (
            f"matches = {condition}\n"
            f"keep = df[{column}].notna() & matches.fillna(False).astype(bool)\n"
            "df = df[keep.to_numpy()].reset_index(drop=True)"
        )


class DropDuplicates(Step):
    op, label = "drop_duplicates", "Drop duplicates"
    description = "Remove repeated rows (equal in every column, or in the columns given)."
    fields = (
        Field("subset", "columns", "Compare only these columns", required=False),
        Field("keep", "choice", "Keep", options=("first", "last"), default="first"),
    )

    def check(self, c: _Check) -> dict:
        subset = c.columns_param("subset", required=False) if c.raw.get("subset") not in (None, []) else []
        return {"subset": subset or None, "keep": c.choice("keep", ("first", "last"), "first")}

    def apply(self, df, step):
        return df.drop_duplicates(subset=step["subset"], keep=step["keep"]).reset_index(drop=True)

    def code(self, step):
        return (
            f"df = df.drop_duplicates(subset={_r(step['subset'])}, keep={_r(step['keep'])})"
            ".reset_index(drop=True)"
        )


class DatetimeParts(Step):
    op, label = "datetime_parts", "Date parts"
    description = "New integer columns <column>_year, _month, _day, _weekday (Monday=0), _hour."
    fields = (
        Field("column", "column", "Date column"),
        Field("parts", "choices", "Parts", options=DATETIME_PARTS, default=["year", "month", "day"]),
        Field("drop_original", "bool", "Drop the date column", default=False),
    )
    helpers = ("datetime_parts",)

    def check(self, c: _Check) -> dict:
        column = c.column_param(
            types=frozenset({"datetime"}), why="add a 'cast' step to datetime before this one"
        )
        parts = c.raw.get("parts", ["year", "month", "day"])
        if (
            not isinstance(parts, list)
            or not parts
            or any(part not in DATETIME_PARTS for part in parts)
            or len(set(parts)) != len(parts)
        ):
            c.error(f"'parts' must be a list of distinct parts among {', '.join(DATETIME_PARTS)}")
            parts = []
        drop = c.boolean("drop_original", False)
        if column:
            for part in parts:
                name = f"{column}_{part}"
                if name in c.columns.types:
                    c.error(f"column {name!r} already exists; rename or drop it first")
                c.columns.types[name] = "integer"
            if drop:
                c.columns.types.pop(column, None)
        return {"column": column, "parts": parts, "drop_original": drop}

    def apply(self, df, step):
        return datetime_parts(df, step["column"], step["parts"], step["drop_original"])

    def code(self, step):
        return (
            f"df = datetime_parts(df, {_r(step['column'])}, {_r(step['parts'])}, {_r(step['drop_original'])})"
        )


class LowercaseText(Step):
    op, label = "lowercase_text", "Lower-case text"
    description = "Lower-case text (and optionally strip surrounding spaces)."
    fields = (
        Field("columns", "columns", "Columns"),
        Field("strip", "bool", "Also strip spaces", default=False),
    )

    def check(self, c: _Check) -> dict:
        columns = c.columns_param(types=TEXTUAL, why="lower-casing needs text")
        return {"columns": columns, "strip": c.boolean("strip", False)}

    def apply(self, df, step):
        df = df.copy()
        for name in step["columns"]:
            values = df[name].astype("str").str.lower()
            if step["strip"]:
                values = values.str.strip()
            df[name] = (
                values.astype("category") if isinstance(df[name].dtype, pd.CategoricalDtype) else values
            )
        return df

    def code(self, step):
        strip = ".str.strip()" if step["strip"] else ""
        return (
            f"for column in {_r(step['columns'])}:\n"
            f"    values = df[column].astype('str').str.lower(){strip}\n"
            "    categorical = isinstance(df[column].dtype, pd.CategoricalDtype)\n"
            "    df[column] = values.astype('category') if categorical else values"
        )


class Split(Step):
    op, label = "split", "Split"
    description = "Train / validation / test parts; always the last step."
    fields = (
        Field(
            "fractions", "fractions", "Fractions", default={"train": 0.7, "validation": 0.15, "test": 0.15}
        ),
        Field("method", "choice", "Method", options=SPLIT_METHODS, default="random"),
        Field("column", "column", "Column", show_if={"method": ("stratified", "time")}),
        Field("seed", "integer", "Seed", default=42, show_if={"method": ("random", "stratified")}),
    )
    helpers = ("split_positions",)

    def check(self, c: _Check) -> dict:
        fractions = c.raw.get("fractions", {"train": 0.7, "validation": 0.15, "test": 0.15})
        clean: dict[str, float] = {}
        if not isinstance(fractions, dict) or not fractions or set(fractions) - set(PARTS):
            c.error("'fractions' must be an object with train, validation and test shares")
        else:
            for part in PARTS:
                share = fractions.get(part, 0)
                if (
                    not isinstance(share, int | float)
                    or isinstance(share, bool)
                    or not math.isfinite(share)
                    or not 0 <= share <= 1
                ):
                    c.error(f"the {part} fraction must be a number between 0 and 1")
                    continue
                clean[part] = share
            if len(clean) == len(PARTS):
                if clean["train"] <= 0:
                    c.error("the train fraction must be above 0")
                elif sum(1 for share in clean.values() if share > 0) < 2:
                    c.error("give at least two parts a fraction above 0")
                elif abs(sum(clean.values()) - 1) > 1e-6:
                    c.error(f"the fractions must add up to 1 (they add up to {sum(clean.values()):g})")
        method = c.choice("method", SPLIT_METHODS, "random")
        step: dict = {"fractions": clean, "method": method}
        if method == "stratified":
            step["column"] = c.column_param(
                types=frozenset({"integer", "boolean", "categorical", "text"}),
                why="stratify by a column of classes",
            )
        elif method == "time":
            step["column"] = c.column_param(
                types=frozenset({"datetime"}), why="a time split needs a datetime column (cast it first)"
            )
        if method != "time":
            step["seed"] = c.number("seed", 42, low=0, high=2**32 - 1, integer=True)
        return step

    def apply(self, df, step):  # pragma: no cover - splitting is run_steps' last move, not a frame step
        raise NotImplementedError

    def code(self, step):
        return (
            f"positions = split_positions(df, {_r(step['fractions'])}, {_r(step['method'])}, "
            f"{_r(step.get('column'))}, {_r(step.get('seed'))})\n"
            "parts = {name: df.iloc[rows].reset_index(drop=True) for name, rows in positions.items()}"
        )


def _check_value(c: _Check, column: str, value: object, key: str, *, allow_float_for_integer: bool = True):
    """A scalar that fits the column's type (numbers for numbers, dates as ISO text, ...)."""
    kind = c.columns.type_of(column) if column else None
    if isinstance(value, list | dict) or value is None:
        c.error(f"'{key}' must be a single value")
        return None
    if isinstance(value, float) and not math.isfinite(value):
        c.error(f"'{key}' must be a finite number")
        return None
    if kind in NUMERIC:
        if isinstance(value, bool) or not isinstance(value, int | float):
            c.error(f"column {column!r} is {kind}: '{key}' must be a number, not {value!r}")
            return None
        if kind == "integer" and not allow_float_for_integer and not float(value).is_integer():
            c.error(f"column {column!r} is integer: '{key}' must be a whole number, not {value!r}")
            return None
    elif kind == "boolean":
        if not isinstance(value, bool):
            c.error(f"column {column!r} is boolean: '{key}' must be true or false")
            return None
    elif kind == "datetime":
        try:
            return pd.Timestamp(str(value)).isoformat()
        except (ValueError, TypeError):
            c.error(
                f"column {column!r} is datetime: {value!r} is not a date/time (use 2024-01-31 or ISO 8601)"
            )
            return None
    elif kind in TEXTUAL and not isinstance(value, str):
        c.error(f"column {column!r} is {kind}: '{key}' must be text, not {value!r}")
        return None
    return value


STEPS: dict[str, Step] = {
    step.op: step
    for step in (
        DropColumns(),
        RenameColumns(),
        Cast(),
        Impute(),
        OneHot(),
        OrdinalEncode(),
        StandardScale(),
        MinMaxScale(),
        LogTransform(),
        ClipOutliers(),
        FilterRows(),
        DropDuplicates(),
        DatetimeParts(),
        LowercaseText(),
        Split(),
    )
}


def catalogue() -> list[dict]:
    """Every operation with its parameters, for the recipe builder."""
    return [step.catalogue() for step in STEPS.values()]


# --- A whole recipe ----------------------------------------------------------------------------------


@dataclass
class Plan:
    """A checked recipe: its steps with defaults filled in, the output, and what it will produce."""

    steps: list[dict]
    output: dict
    schema: list[Column] | None  # the columns at the end (None when the input schema is unknown)
    parts: list[str]  # "output", or the split's parts
    columns_before: list[list[Column] | None]  # the columns each step sees (for the builder's pickers)

    @property
    def split(self) -> dict | None:
        return self.steps[-1] if self.steps and self.steps[-1]["op"] == "split" else None

    def as_dict(self) -> dict:
        return {"steps": self.steps, "output": self.output}


def check_recipe(steps: object, output: object, schema: list[dict] | None) -> Plan:
    """Validate ``steps`` and ``output`` against the input ``schema`` (None: unknown columns).

    Raises RecipeError with every problem found, keyed by field (``steps[2]``, ``output``).
    """
    errors: dict[str, list[str]] = {}
    if not isinstance(steps, list) or len(steps) > MAX_STEPS:
        raise RecipeError({"steps": [f"'steps' must be a list of at most {MAX_STEPS} steps"]})
    columns = Columns(schema)
    checked: list[dict] = []
    before: list[list[Column] | None] = []
    for index, raw in enumerate(steps):
        before.append(columns.schema() if columns.known else None)
        op = raw.get("op") if isinstance(raw, dict) else None
        check = _Check(index, str(op), raw if isinstance(raw, dict) else {}, columns, errors)
        if not isinstance(raw, dict):
            check.error("a step must be an object with an 'op'")
            continue
        if op not in STEPS:
            check.error(f"unknown operation {op!r}; use one of {', '.join(STEPS)}")
            continue
        step = STEPS[op]
        allowed = {"op", *(item.name for item in step.fields)}
        for key in raw:
            if key not in allowed:
                check.error(
                    f"unknown parameter {key!r} (this step takes {', '.join(sorted(allowed - {'op'}))})"
                )
        if op == "split" and index != len(steps) - 1:
            check.error("the split must be the last step")
        checked.append({"op": op, **step.check(check)})
    clean_output = _check_output(output, columns, errors)
    if errors:
        raise RecipeError(errors)
    split = checked[-1] if checked and checked[-1]["op"] == "split" else None
    parts = [part for part in PARTS if split["fractions"].get(part, 0) > 0] if split else ["output"]
    return Plan(
        steps=checked,
        output=clean_output,
        schema=columns.schema() if columns.known else None,
        parts=parts,
        columns_before=before,
    )


def _check_output(output: object, columns: Columns, errors: dict[str, list[str]]) -> dict:
    if output in (None, {}):
        output = {"format": "csv"}
    if not isinstance(output, dict) or set(output) - {"format", "label"}:
        errors.setdefault("output", []).append("'output' must be an object with a 'format' (and a 'label')")
        return {"format": "csv"}
    fmt = output.get("format", "csv")
    label = output.get("label") or None
    problems = []
    if fmt not in OUTPUT_FORMATS:
        problems.append(f"unknown format {fmt!r}; use one of {', '.join(OUTPUT_FORMATS)}")
    if label is not None and (not isinstance(label, str) or not columns.has(label)):
        problems.append(f"the label column {label!r} is not among the recipe's output columns")
    if fmt == "csv-label-first":
        if label is None:
            problems.append("csv-label-first (the built-in algorithms' format) needs the 'label' column")
        elif columns.known and not problems:
            for name in columns.names():
                kind = columns.type_of(name)
                if kind is not None and kind not in NUMERIC | {"boolean"}:
                    problems.append(
                        f"column {name!r} is {kind}; csv-label-first needs numbers only "
                        "(one-hot or ordinal encode it, or drop it)"
                    )
    if problems:
        errors.setdefault("output", []).extend(problems)
    return {"format": fmt, **({"label": label} if label else {})}


# --- Running -------------------------------------------------------------------------------------------


@dataclass
class Result:
    parts: dict[str, pd.DataFrame]
    counts: list[dict]  # per step: {"index", "op", "rows", "columns"} (+ "parts" for the split)
    frame: pd.DataFrame  # the data after the last step before the split


def apply_types(df: pd.DataFrame, schema: list[dict] | None) -> pd.DataFrame:
    """Give each column its type from the input version's schema (values that do not fit become missing)."""
    df = df.copy()
    for column in schema or []:
        name = column["name"]
        if name not in df.columns:
            raise ValueError(f"column {name!r} is in the input version's schema but not in its data")
        df[name] = cast_column(df[name], column["type"], "null", name)
    return df


def run_steps(df: pd.DataFrame, plan: Plan) -> Result:
    """Apply every step of ``plan`` to ``df``; a step that fails raises StepFailed naming it."""
    counts: list[dict] = []
    parts = {"output": df}
    for index, step in enumerate(plan.steps):
        op = step["op"]
        try:
            if op == "split":
                positions = split_positions(
                    df, step["fractions"], step["method"], step.get("column"), step.get("seed")
                )
                parts = {name: df.iloc[rows].reset_index(drop=True) for name, rows in positions.items()}
            else:
                df = STEPS[op].apply(df, step)
                parts = {"output": df}
        except Exception as exc:  # whatever pandas raises on this data, the user reads it on the step
            raise StepFailed(index, op, _exception_text(exc)) from exc
        count = {"index": index, "op": op, "rows": len(df), "columns": len(df.columns)}
        if op == "split":
            count["parts"] = {name: len(part) for name, part in parts.items()}
        counts.append(count)
    return Result(parts=parts, counts=counts, frame=df)


def _exception_text(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"column {exc.args[0]!r} is not in the data" if exc.args else "a column is missing"
    return str(exc) or type(exc).__name__


def part_filename(part: str, output_format: str) -> str:
    return f"{part}.parquet" if output_format == "parquet" else f"{part}.csv"


def read_options_for(output: dict, written: pd.DataFrame) -> tuple[str, dict]:
    """The version format and read options of a written part, for datasets.readers."""
    if output["format"] == "parquet":
        return "parquet", {}
    if output["format"] == "csv-label-first":
        return "csv", {"delimiter": ",", "header": False, "columns": [str(name) for name in written.columns]}
    return "csv", {"delimiter": ",", "header": True}


# --- The exported script --------------------------------------------------------------------------------


def _helper_source(names: set[str]) -> str:
    wanted = set(names)
    for name in list(wanted):
        wanted.update(HELPER_NEEDS.get(name, ()))
    return "\n\n".join(inspect.getsource(HELPERS[name]).rstrip() for name in HELPERS if name in wanted)


def _readers_source() -> str:
    """Studio's readers (datasets/readers.py, Django-free): the script reads exactly as the job does."""
    from datasets import readers

    source = inspect.getsource(readers)
    lines = [line for line in source.splitlines() if line.strip() != "from __future__ import annotations"]
    body = "\n".join(lines)
    # Drop the module docstring: the script has its own.
    if body.lstrip().startswith('"""'):
        start = body.index('"""')
        body = body[body.index('"""', start + 3) + 3 :]
    return body.strip()


def _no_triple_quotes(text: str) -> str:
    return text.replace('"""', "'''")


def script_for(
    plan: Plan,
    *,
    input_format: str,
    read_options: dict,
    schema: list[dict] | None,
    title: str,
    source: str = "",
) -> str:
    """A standalone Python script (pandas, NumPy, PyArrow) that reproduces the recipe job.

    Usage: ``python script.py INPUT OUTPUT_DIR``; INPUT is a file or a folder of files in the
    input version's format; each part goes to ``OUTPUT_DIR/<part>/<part>.<csv|parquet>``, as the
    job writes it.
    """
    helpers = {"cast_column", "write_part"}
    for step in plan.steps:
        helpers.update(STEPS[step["op"]].helpers)
    types = [(column["name"], column["type"]) for column in schema or []]
    body = [
        "# The input version's column types (values that do not fit become missing).",
        f"for column, kind in {_r(types)}:",
        "    df[column] = cast_column(df[column], kind, 'null', column)",
    ]
    for index, step in enumerate(plan.steps):
        summary = ", ".join(f"{key}={value!r}" for key, value in step.items() if key != "op")
        body.append("")
        body.append(f"# Step {index + 1}: {step['op']} ({summary})"[:200])
        body.append(STEPS[step["op"]].code(step))
    if plan.split is None:
        body.append("parts = {'output': df}")
    output = plan.output
    lines = [
        "#!/usr/bin/env python3",
        '"""' + _no_triple_quotes(title),
        "",
        "Reproduces the recipe job with pandas and NumPy, step by step:",
        "",
        "    python this_script.py INPUT OUTPUT_DIR",
        "",
        f"INPUT is a file, or a folder of files, in the input's format ({input_format}). Each output goes to",
        f"OUTPUT_DIR/<part>/<part>.{'parquet' if output['format'] == 'parquet' else 'csv'}"
        f" ({', '.join(plan.parts)}), as the recipe job writes it.",
        "Fitted statistics are computed on all rows before the split, as in the job.",
        *([_no_triple_quotes(source)] if source else []),
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import sys",
        "import warnings",
        "",
        "import numpy as np",
        "",
        "# --- Reading: Studio's own reader (datasets/readers.py), as the recipe job reads ---",
        _readers_source(),
        "",
        "",
        f"INPUT_FORMAT = {_r(input_format)}",
        f"READ_OPTIONS = {_r(read_options or {})}",
        f"OUTPUT = {_r(output)}",
        "",
        "",
        "# --- The steps' helpers (datasets/recipes.py), shared with the recipe job ---",
        "",
        "",
        _helper_source(helpers),
        "",
        "",
        "def prepare(df):",
        '    """Apply the recipe: returns {part name: DataFrame}."""',
        textwrap.indent("\n".join(body), "    "),
        "    return parts",
        "",
        "",
        "def main(argv):",
        "    if len(argv) != 3:",
        "        sys.exit(f'usage: {argv[0]} INPUT OUTPUT_DIR')",
        "    frames = list(iter_frames(Path(argv[1]), INPUT_FORMAT, READ_OPTIONS))",
        "    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()",
        "    for name, part in prepare(df).items():",
        "        folder = Path(argv[2]) / name",
        "        folder.mkdir(parents=True, exist_ok=True)",
        "        suffix = 'parquet' if OUTPUT['format'] == 'parquet' else 'csv'",
        "        write_part(part, folder / f'{name}.{suffix}', OUTPUT['format'], OUTPUT.get('label'))",
        "        print(f'{name}: {len(part)} rows, {len(part.columns)} columns')",
        "",
        "",
        'if __name__ == "__main__":',
        "    main(sys.argv)",
        "",
    ]
    return "\n".join(lines)
