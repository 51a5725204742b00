"""Recipe steps without Django: each step's checks, its pandas implementation, and the code it
generates for the exported script (which must compute exactly the same frame), and the split."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from datasets import recipes
from datasets.recipes import RecipeError, StepFailed, check_recipe, run_steps

SCHEMA = [
    {"name": "age", "type": "integer"},
    {"name": "income", "type": "float"},
    {"name": "city", "type": "categorical"},
    {"name": "note", "type": "text"},
    {"name": "joined", "type": "datetime"},
    {"name": "member", "type": "boolean"},
    {"name": "when", "type": "text"},
    {"name": "label", "type": "integer"},
]


def frame() -> pd.DataFrame:
    """Seven rows with every column type, missing values and one duplicated row (0 and 6)."""
    return pd.DataFrame(
        {
            "age": pd.array([30, None, 45, 22, 60, 35, 30], dtype="Int64"),
            "income": [1000.0, 2500.5, np.nan, 400.0, 99999.0, 1800.0, 1000.0],
            "city": pd.Series(["Paris", "lyon", None, "Paris", "Nice", "Lyon", "Paris"], dtype="category"),
            "note": pd.Series([" Hello ", "WORLD", None, "x", "y", "z", " Hello "], dtype="str"),
            "joined": pd.to_datetime(
                [
                    "2024-01-05 10:00",
                    "2023-12-31 23:00",
                    None,
                    "2024-03-01",
                    "2024-02-29 08:30",
                    "2024-02-01",
                    "2024-01-05 10:00",
                ],
                format="ISO8601",
            ),
            "member": pd.array([True, False, None, True, False, True, True], dtype="boolean"),
            "when": pd.Series(
                ["2024-01-01", "2024-02-15", "not a date", None, "2024-03-31", "2024-01-02", "2024-01-01"],
                dtype="str",
            ),
            "label": pd.array([1, 0, 1, 0, 1, 0, 1], dtype="Int64"),
        }
    )


def generated(steps: list[dict], df: pd.DataFrame, result: str = "df"):
    """Run the code the exported script would contain for ``steps`` (with the helpers' source);
    returns its ``df`` (or ``parts``, after a split)."""
    code = "\n".join(recipes.STEPS[step["op"]].code(step) for step in steps)
    helpers = recipes._helper_source(set(recipes.HELPERS))
    namespace: dict = {"pd": pd, "np": np, "warnings": warnings, "df": df.copy()}
    # The point of the test: the generated source itself must compute what the step computes.
    exec(compile(helpers + "\n\n" + code, "<recipe>", "exec"), namespace)  # noqa: S102
    return namespace[result]


def applied(steps: list[dict], df: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the steps' own result, the generated code's result) on the test frame."""
    plan = check_recipe(steps, {}, SCHEMA)
    df = frame() if df is None else df
    return run_steps(df, plan).frame, generated(plan.steps, df)


def errors_of(steps: list[dict], output: dict | None = None, schema=SCHEMA) -> dict[str, list[str]]:
    with pytest.raises(RecipeError) as caught:
        check_recipe(steps, output or {}, schema)
    return caught.value.errors


# Every operation, in several forms: (id, steps).
CASES = [
    ("drop", [{"op": "drop_columns", "columns": ["note", "member"]}]),
    ("rename", [{"op": "rename_columns", "mapping": {"age": "years", "city": "town"}}]),
    ("cast-integer-null", [{"op": "cast", "columns": ["income"], "to": "integer", "on_error": "null"}]),
    ("cast-float", [{"op": "cast", "columns": ["age", "member"], "to": "float"}]),
    ("cast-boolean", [{"op": "cast", "columns": ["label"], "to": "boolean"}]),
    ("cast-datetime-null", [{"op": "cast", "columns": ["when"], "to": "datetime", "on_error": "null"}]),
    (
        "cast-datetime-format",
        [
            {
                "op": "cast",
                "columns": ["when"],
                "to": "datetime",
                "on_error": "null",
                "date_format": "%Y-%m-%d",
            }
        ],
    ),
    ("cast-categorical", [{"op": "cast", "columns": ["note"], "to": "categorical"}]),
    ("cast-text", [{"op": "cast", "columns": ["age", "joined", "city"], "to": "text"}]),
    ("impute-mean", [{"op": "impute", "columns": ["age", "income"], "strategy": "mean"}]),
    ("impute-median", [{"op": "impute", "columns": ["income"], "strategy": "median"}]),
    ("impute-mode", [{"op": "impute", "columns": ["city", "member", "note"], "strategy": "mode"}]),
    (
        "impute-constant-category",
        [{"op": "impute", "columns": ["city"], "strategy": "constant", "value": "?"}],
    ),
    ("impute-constant-number", [{"op": "impute", "columns": ["age"], "strategy": "constant", "value": 0}]),
    (
        "impute-constant-date",
        [{"op": "impute", "columns": ["joined"], "strategy": "constant", "value": "2000-01-01"}],
    ),
    ("one-hot", [{"op": "one_hot", "columns": ["city", "member"]}]),
    ("ordinal", [{"op": "ordinal_encode", "columns": ["city", "note"]}]),
    (
        "ordinal-given",
        [{"op": "ordinal_encode", "columns": ["city"], "categories": ["Paris", "Lyon", "lyon"]}],
    ),
    ("standard-scale", [{"op": "standard_scale", "columns": ["age", "income"]}]),
    ("minmax-scale", [{"op": "minmax_scale", "columns": ["age", "income"]}]),
    ("log", [{"op": "log_transform", "columns": ["income", "age"]}]),
    ("clip-iqr", [{"op": "clip_outliers", "columns": ["income"], "method": "iqr", "factor": 1.5}]),
    (
        "clip-quantile",
        [
            {
                "op": "clip_outliers",
                "columns": ["income", "age"],
                "method": "quantile",
                "lower": 0.1,
                "upper": 0.9,
            }
        ],
    ),
    ("filter-eq", [{"op": "filter_rows", "column": "city", "operator": "==", "value": "Paris"}]),
    ("filter-ne", [{"op": "filter_rows", "column": "age", "operator": "!=", "value": 30}]),
    ("filter-lt", [{"op": "filter_rows", "column": "income", "operator": "<", "value": 2000}]),
    ("filter-le", [{"op": "filter_rows", "column": "age", "operator": "<=", "value": 35}]),
    ("filter-gt", [{"op": "filter_rows", "column": "joined", "operator": ">", "value": "2024-01-05"}]),
    ("filter-ge", [{"op": "filter_rows", "column": "income", "operator": ">=", "value": 1800}]),
    ("filter-in", [{"op": "filter_rows", "column": "city", "operator": "in", "value": ["Nice", "lyon"]}]),
    ("filter-not-in", [{"op": "filter_rows", "column": "label", "operator": "not in", "value": [0]}]),
    ("filter-null", [{"op": "filter_rows", "column": "income", "operator": "is null"}]),
    ("filter-not-null", [{"op": "filter_rows", "column": "note", "operator": "not null"}]),
    ("filter-boolean", [{"op": "filter_rows", "column": "member", "operator": "==", "value": True}]),
    ("dedupe", [{"op": "drop_duplicates"}]),
    ("dedupe-subset-last", [{"op": "drop_duplicates", "subset": ["city"], "keep": "last"}]),
    ("datetime-parts", [{"op": "datetime_parts", "column": "joined", "parts": list(recipes.DATETIME_PARTS)}]),
    (
        "datetime-parts-drop",
        [{"op": "datetime_parts", "column": "joined", "parts": ["year"], "drop_original": True}],
    ),
    ("lowercase", [{"op": "lowercase_text", "columns": ["note", "city"], "strip": True}]),
    (
        "chain",
        [
            {"op": "cast", "columns": ["when"], "to": "datetime", "on_error": "null"},
            {"op": "datetime_parts", "column": "when", "parts": ["month", "weekday"], "drop_original": True},
            {"op": "impute", "columns": ["when_month"], "strategy": "mode"},
            {"op": "one_hot", "columns": ["city"]},
            {"op": "filter_rows", "column": "city_Paris", "operator": "==", "value": 1},
        ],
    ),
]


@pytest.mark.parametrize(("case", "steps"), CASES, ids=[case for case, _ in CASES])
def test_each_step_and_its_generated_code_compute_the_same_frame(case, steps):
    ours, theirs = applied(steps)

    pd.testing.assert_frame_equal(ours, theirs, check_exact=True)


def test_every_operation_is_covered_by_the_equivalence_cases():
    covered = {step["op"] for _, steps in CASES for step in steps}

    assert covered == set(recipes.STEPS) - {"split"}


def test_the_steps_compute_what_they_say():
    df, _ = applied([{"op": "impute", "columns": ["income"], "strategy": "median"}])
    assert df["income"][2] == pytest.approx(1400.0)  # median of the six known incomes

    df, _ = applied([{"op": "impute", "columns": ["city"], "strategy": "constant", "value": "?"}])
    assert df["city"].tolist() == ["Paris", "lyon", "?", "Paris", "Nice", "Lyon", "Paris"]

    df, _ = applied([{"op": "one_hot", "columns": ["city"]}])
    assert [name for name in df.columns if name.startswith("city_")] == [
        "city_Lyon",
        "city_Nice",
        "city_Paris",
        "city_lyon",
    ]
    assert df.loc[2, ["city_Lyon", "city_Nice", "city_Paris", "city_lyon"]].tolist() == [0, 0, 0, 0]

    df, _ = applied([{"op": "ordinal_encode", "columns": ["city"], "categories": ["Paris", "Lyon"]}])
    assert df["city"].tolist() == [0, pd.NA, pd.NA, 0, pd.NA, 1, 0]

    df, _ = applied([{"op": "minmax_scale", "columns": ["age"]}])
    assert df["age"].min() == 0.0
    assert df["age"].max() == 1.0

    df, _ = applied([{"op": "standard_scale", "columns": ["income"]}])
    assert df["income"].mean() == pytest.approx(0.0)
    assert df["income"].std(ddof=0) == pytest.approx(1.0)

    df, _ = applied([{"op": "log_transform", "columns": ["income"]}])
    assert df["income"][0] == pytest.approx(np.log1p(1000.0))

    df, _ = applied([{"op": "clip_outliers", "columns": ["income"], "method": "iqr"}])
    assert df["income"].max() < 99999.0

    df, _ = applied([{"op": "drop_duplicates"}])
    assert len(df) == 6

    df, _ = applied([{"op": "datetime_parts", "column": "joined", "parts": ["year", "weekday", "hour"]}])
    assert df.loc[0, ["joined_year", "joined_weekday", "joined_hour"]].tolist() == [2024, 4, 10]  # a Friday

    df, _ = applied([{"op": "lowercase_text", "columns": ["note"], "strip": True}])
    assert df["note"][0] == "hello"
    assert df["note"][1] == "world"


@pytest.mark.parametrize(
    ("operator", "value", "kept"),
    [
        ("==", 30, [0, 6]),
        ("!=", 30, [2, 3, 4, 5]),  # the missing age (row 1) matches no comparison
        ("<", 35, [0, 3, 6]),
        ("<=", 35, [0, 3, 5, 6]),
        (">", 35, [2, 4]),
        (">=", 45, [2, 4]),
        ("in", [22, 60], [3, 4]),
        ("not in", [22, 60], [0, 2, 5, 6]),
        ("is null", None, [1]),
        ("not null", None, [0, 2, 3, 4, 5, 6]),
    ],
)
def test_filter_rows_keeps_the_rows_that_match_and_never_a_missing_value(operator, value, kept):
    step = {"op": "filter_rows", "column": "age", "operator": operator}
    if value is not None:
        step["value"] = value

    df, _ = applied([step])

    expected = frame()["income"].iloc[kept].reset_index(drop=True)
    pd.testing.assert_series_equal(df["income"], expected)


def test_a_cast_that_does_not_fit_fails_naming_an_example_or_makes_it_missing():
    plan = check_recipe([{"op": "cast", "columns": ["income"], "to": "integer"}], {}, SCHEMA)
    with pytest.raises(StepFailed) as caught:
        run_steps(frame(), plan)
    assert caught.value.key == "steps[0]"
    assert "Step 1 (cast)" in str(caught.value)
    assert "2500.5 is not a whole number" in str(caught.value)

    df, _ = applied([{"op": "cast", "columns": ["income"], "to": "integer", "on_error": "null"}])
    assert df["income"].dtype == "Int64"
    assert df["income"].isna().tolist() == [False, True, True, False, False, False, False]


def test_log_transform_refuses_negative_values_clearly():
    df = frame()
    df.loc[3, "income"] = -5.0
    plan = check_recipe([{"op": "log_transform", "columns": ["income"]}], {}, SCHEMA)

    with pytest.raises(StepFailed) as caught:
        run_steps(df, plan)

    assert "column 'income' has 1 negative value(s) (the smallest is -5.0)" in str(caught.value)


def test_one_hot_refuses_more_categories_than_allowed():
    plan = check_recipe([{"op": "one_hot", "columns": ["note"], "max_categories": 3}], {}, SCHEMA)

    with pytest.raises(StepFailed, match="column 'note' has 5 distinct values, more than max_categories"):
        run_steps(frame(), plan)


# --- Checks ------------------------------------------------------------------------------------------------


def test_a_step_naming_a_missing_column_names_the_step_and_the_column():
    errors = errors_of(
        [
            {"op": "drop_columns", "columns": ["note"]},
            {"op": "impute", "columns": ["nope"], "strategy": "mode"},
        ]
    )

    assert list(errors) == ["steps[1]"]
    assert errors["steps[1]"][0].startswith("Step 2 (impute): column 'nope' is not in the data at this step")


def test_a_column_dropped_by_an_earlier_step_is_missing_afterwards():
    errors = errors_of(
        [{"op": "drop_columns", "columns": ["note"]}, {"op": "lowercase_text", "columns": ["note"]}]
    )

    assert "column 'note' is not in the data at this step" in errors["steps[1]"][0]


def test_imputing_a_text_column_with_the_mean_is_refused():
    errors = errors_of([{"op": "impute", "columns": ["note"], "strategy": "mean"}])

    assert errors == {
        "steps[0]": [
            "Step 1 (impute): column 'note' is text; "
            "the mean is defined for numbers only (use 'mode' or 'constant')"
        ]
    }


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"op": "explode"}], "unknown operation 'explode'"),
        (["drop"], "a step must be an object"),
        ([{"op": "drop_columns", "columns": ["age"], "colour": 1}], "unknown parameter 'colour'"),
        ([{"op": "drop_columns", "columns": []}], "'columns' must be a non-empty list"),
        ([{"op": "filter_rows", "column": "age", "operator": "~=", "value": 1}], "unknown operator '~='"),
        ([{"op": "filter_rows", "column": "age", "operator": "==", "value": "thirty"}], "must be a number"),
        (
            [{"op": "filter_rows", "column": "note", "operator": "<", "value": "a"}],
            "compares numbers and dates",
        ),
        ([{"op": "filter_rows", "column": "age", "operator": "in", "value": 3}], "non-empty list"),
        ([{"op": "filter_rows", "column": "joined", "operator": ">", "value": "soon"}], "is not a date/time"),
        ([{"op": "cast", "columns": ["joined"], "to": "integer"}], "cannot become integer"),
        ([{"op": "cast", "columns": ["age"], "to": "money"}], "'to' must be one of"),
        ([{"op": "impute", "columns": ["age"], "strategy": "constant"}], "'value' is required"),
        ([{"op": "impute", "columns": ["age"], "strategy": "constant", "value": 1.5}], "whole number"),
        ([{"op": "impute", "columns": ["member"], "strategy": "median"}], "numbers only"),
        ([{"op": "one_hot", "columns": ["income"]}], "needs a column of categories"),
        ([{"op": "one_hot", "columns": ["city"], "max_categories": 0}], "'max_categories' must be"),
        ([{"op": "standard_scale", "columns": ["city"]}], "scaling needs numbers"),
        ([{"op": "log_transform", "columns": ["note"]}], "the logarithm needs numbers"),
        (
            [{"op": "clip_outliers", "columns": ["age"], "method": "quantile", "lower": 0.9, "upper": 0.1}],
            "'lower' must be below 'upper'",
        ),
        ([{"op": "datetime_parts", "column": "when"}], "add a 'cast' step to datetime"),
        ([{"op": "datetime_parts", "column": "joined", "parts": ["decade"]}], "'parts' must be a list"),
        ([{"op": "rename_columns", "mapping": {"age": "income"}}], "column 'income' already exists"),
        ([{"op": "lowercase_text", "columns": ["age"]}], "lower-casing needs text"),
        ([{"op": "drop_duplicates", "keep": "none"}], "'keep' must be one of"),
        ([{"op": "ordinal_encode", "columns": ["city", "note"], "categories": ["a"]}], "exactly one column"),
    ],
)
def test_each_step_checks_its_parameters(steps, message):
    errors = errors_of(steps)

    assert message in " ".join(errors["steps[0]"]), errors


def test_all_problems_are_reported_at_once():
    errors = errors_of(
        [{"op": "drop_columns", "columns": ["x"]}, {"op": "impute", "columns": ["y"], "strategy": "mean"}],
        {"format": "gzip"},
    )

    assert set(errors) == {"steps[0]", "steps[1]", "output"}


def test_columns_made_by_one_hot_can_be_named_by_later_steps():
    plan = check_recipe(
        [{"op": "one_hot", "columns": ["city"]}, {"op": "drop_columns", "columns": ["city_Paris"]}],
        {},
        SCHEMA,
    )

    assert plan.steps[1] == {"op": "drop_columns", "columns": ["city_Paris"]}


def test_defaults_are_filled_in_and_the_columns_each_step_sees_are_known():
    plan = check_recipe(
        [
            {"op": "rename_columns", "mapping": {"age": "years"}},
            {"op": "clip_outliers", "columns": ["years"]},
        ],
        {},
        SCHEMA,
    )

    assert plan.steps[1] == {"op": "clip_outliers", "columns": ["years"], "method": "iqr", "factor": 1.5}
    assert plan.columns_before[1][0] == {"name": "years", "type": "integer"}
    assert plan.schema[0] == {"name": "years", "type": "float"}
    assert plan.output == {"format": "csv"}
    assert plan.parts == ["output"]


def test_without_a_schema_any_column_name_is_accepted():
    plan = check_recipe([{"op": "impute", "columns": ["whatever"], "strategy": "mean"}], {}, None)

    assert plan.schema is None


SPLIT = {
    "op": "split",
    "fractions": {"train": 0.7, "validation": 0.2, "test": 0.1},
    "method": "random",
    "seed": 1,
}


@pytest.mark.parametrize(
    ("split", "message"),
    [
        (
            {"fractions": {"train": 0.7, "validation": 0.2, "test": 0.2}},
            "must add up to 1 (they add up to 1.1)",
        ),
        (
            {"fractions": {"train": 1.2, "validation": -0.2, "test": 0}},
            "fraction must be a number between 0 and 1",
        ),
        ({"fractions": {"train": 0, "validation": 0.5, "test": 0.5}}, "the train fraction must be above 0"),
        ({"fractions": {"train": 1, "validation": 0, "test": 0}}, "at least two parts"),
        ({"fractions": {"train": 0.5, "holdout": 0.5}}, "'fractions' must be an object"),
        ({"fractions": {"train": 0.5, "test": "half"}}, "fraction must be a number"),
        ({"method": "alphabetical"}, "'method' must be one of"),
        ({"method": "stratified"}, "'column' must name a column"),
        ({"method": "stratified", "column": "income"}, "stratify by a column of classes"),
        ({"method": "time", "column": "when"}, "a time split needs a datetime column"),
        ({"seed": -1}, "'seed' must be a whole number"),
    ],
)
def test_a_bad_split_is_refused(split, message):
    errors = errors_of([{**SPLIT, **split}])

    assert message in " ".join(errors["steps[0]"]), errors


def test_the_split_must_be_the_last_step():
    errors = errors_of([SPLIT, {"op": "drop_columns", "columns": ["note"]}])

    assert errors == {"steps[0]": ["Step 1 (split): the split must be the last step"]}


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ({"format": "xlsx"}, "unknown format 'xlsx'"),
        ({"format": "csv-label-first"}, "needs the 'label' column"),
        ({"format": "csv", "label": "nope"}, "the label column 'nope' is not among"),
        ({"format": "csv-label-first", "label": "label"}, "column 'city' is categorical; csv-label-first"),
        ({"format": "csv", "compression": "gzip"}, "'output' must be an object with a 'format'"),
    ],
)
def test_a_bad_output_is_refused(output, message):
    errors = errors_of([], output)

    assert message in " ".join(errors["output"]), errors


# --- Split ------------------------------------------------------------------------------------------------


def classes(rows: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "x": np.arange(rows),
            "label": pd.Series(rng.choice(["a", "b", "c"], rows, p=[0.6, 0.3, 0.1]), dtype="str"),
            "at": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.permutation(rows), unit="h"),
        }
    )


SPLIT_SCHEMA = [{"name": "x", "type": "integer"}, {"name": "label", "type": "categorical"}]
SPLIT_SCHEMA.append({"name": "at", "type": "datetime"})


def split_parts(df: pd.DataFrame, **split) -> dict[str, pd.DataFrame]:
    plan = check_recipe([{**SPLIT, **split}], {}, SPLIT_SCHEMA)
    result = run_steps(df, plan)
    theirs = generated(plan.steps, df, "parts")  # the exported script's split: the same rows in each part
    assert list(theirs) == list(result.parts)
    for name, part in result.parts.items():
        pd.testing.assert_frame_equal(part, theirs[name])
    return result.parts


def test_a_random_split_cuts_by_the_fractions_and_keeps_every_row_once():
    parts = split_parts(classes())

    assert {name: len(part) for name, part in parts.items()} == {"train": 700, "validation": 200, "test": 100}
    rows = pd.concat(parts.values())["x"]
    assert sorted(rows) == list(range(1000))
    assert parts["train"]["x"].is_monotonic_increasing  # the input's order is kept within a part


def test_a_part_with_no_share_is_not_produced():
    parts = split_parts(classes(), fractions={"train": 0.8, "validation": 0, "test": 0.2})

    assert list(parts) == ["train", "test"]


def test_the_same_seed_gives_the_same_parts_and_another_seed_other_parts():
    first = split_parts(classes(), seed=11)
    again = split_parts(classes(), seed=11)
    other = split_parts(classes(), seed=12)

    assert first["test"]["x"].tolist() == again["test"]["x"].tolist()
    assert first["test"]["x"].tolist() != other["test"]["x"].tolist()


def test_a_stratified_split_keeps_the_class_proportions_in_every_part():
    df = classes()
    overall = df["label"].value_counts(normalize=True)

    parts = split_parts(df, method="stratified", column="label")

    for part in parts.values():
        shares = part["label"].value_counts(normalize=True)
        for label, share in overall.items():
            assert abs(shares[label] - share) < 0.015, (label, shares[label], share)


def test_a_time_split_puts_the_earliest_rows_in_train_and_the_latest_in_test():
    parts = split_parts(classes(), method="time", column="at")

    assert parts["train"]["at"].max() < parts["validation"]["at"].min()
    assert parts["validation"]["at"].max() < parts["test"]["at"].min()
    assert parts["train"]["at"].is_monotonic_increasing
    assert (
        "seed" not in check_recipe([{**SPLIT, "method": "time", "column": "at"}], {}, SPLIT_SCHEMA).steps[0]
    )


def test_a_tiny_class_goes_to_train_rather_than_disappearing():
    df = pd.DataFrame({"x": range(11), "label": ["a"] * 10 + ["rare"], "at": pd.Timestamp("2024-01-01")})

    parts = split_parts(df, method="stratified", column="label")

    assert "rare" in parts["train"]["label"].tolist()


def test_the_split_counts_are_reported_with_the_step_counts():
    plan = check_recipe([{"op": "drop_duplicates"}, SPLIT], {}, SPLIT_SCHEMA)

    counts = run_steps(classes(), plan).counts

    assert counts[0] == {"index": 0, "op": "drop_duplicates", "rows": 1000, "columns": 3}
    assert counts[1]["parts"] == {"train": 700, "validation": 200, "test": 100}


# --- Writing ------------------------------------------------------------------------------------------


def test_csv_label_first_puts_the_label_first_without_a_header_and_booleans_as_numbers(tmp_path):
    df = pd.DataFrame({"a": [1.5, 2.0], "flag": pd.array([True, None], dtype="boolean"), "y": [0, 1]})

    written = recipes.write_part(df, tmp_path / "out.csv", "csv-label-first", "y")

    assert (tmp_path / "out.csv").read_text() == "0,1.5,1\n1,2.0,\n"
    assert list(written.columns) == ["y", "a", "flag"]
    assert recipes.read_options_for({"format": "csv-label-first"}, written) == (
        "csv",
        {"delimiter": ",", "header": False, "columns": ["y", "a", "flag"]},
    )


def test_csv_label_first_refuses_a_text_column_at_write_time(tmp_path):
    df = pd.DataFrame({"a": ["x", "y"], "y": [0, 1]})

    with pytest.raises(ValueError, match="column 'a' holds str values; csv-label-first needs numbers"):
        recipes.write_part(df, tmp_path / "out.csv", "csv-label-first", "y")


def test_the_catalogue_describes_every_operation_for_the_builder():
    catalogue = {item["op"]: item for item in recipes.catalogue()}

    assert set(catalogue) == set(recipes.STEPS)
    impute = {field["name"]: field for field in catalogue["impute"]["fields"]}
    assert impute["strategy"]["options"] == ["mean", "median", "mode", "constant"]
    assert impute["value"]["show_if"] == {"strategy": ["constant"]}
