"""The target column: class balance or distribution, single-feature leakage, a baseline model."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from datasets.profiling.columns import _Column, numbers_of
from datasets.profiling.options import BOOLEAN, CATEGORICAL, NUMERIC, TEXT, ProfileOptions


def _encode_features(frame: pd.DataFrame, columns: dict[str, _Column], train_rows: np.ndarray) -> tuple:
    """Features as floats for scikit-learn: categories become codes of their 250 commonest training
    values (the rest share one code), so HistGradientBoosting can treat them as categorical."""
    encoded, categorical = {}, []
    for name in frame.columns:
        kind = columns[name].kind
        values = frame[name]
        if kind in (CATEGORICAL, TEXT):
            common = values.iloc[train_rows].value_counts().index[:250]
            codes = pd.Categorical(values, categories=common).codes.astype("float64")
            codes[(codes < 0) & values.notna().to_numpy()] = len(common)
            codes[values.isna().to_numpy()] = np.nan
            encoded[name] = codes
            categorical.append(True)
        else:
            encoded[name] = numbers_of(values)
            categorical.append(False)
    return pd.DataFrame(encoded), np.array(categorical, dtype=bool)


def _score(problem: str, y_true: np.ndarray, y_pred: np.ndarray) -> float | None:
    from sklearn.metrics import balanced_accuracy_score, r2_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if problem == "classification":
            return float(balanced_accuracy_score(y_true, y_pred))
        if len(np.unique(y_true)) < 2:
            return None
        return float(r2_score(y_true, y_pred))


def _single_feature_score(
    problem: str, x_raw: pd.Series, x: np.ndarray, is_category: bool, y: np.ndarray, train, test, depth: int
) -> float | None:
    """How well this one feature alone predicts the target on held-out rows."""
    if is_category:
        # A lookup from each training category to its commonest class (or mean): trees on arbitrary
        # codes would understate a category that determines the target.
        keys = x_raw.astype("object").where(x_raw.notna(), "\0missing")
        table = pd.DataFrame({"key": keys.iloc[train].to_numpy(), "y": y[train]})
        if problem == "classification":
            fallback = pd.Series(y[train]).mode().iloc[0]
            commonest = table.value_counts(["key", "y"], sort=True).reset_index().drop_duplicates("key")
            mapping = pd.Series(commonest["y"].to_numpy(), index=commonest["key"].to_numpy())
        else:
            fallback = float(np.mean(y[train]))
            mapping = table.groupby("key")["y"].mean()
        predicted = keys.iloc[test].map(mapping).to_numpy(dtype=object)
        predicted = np.where(pd.isna(predicted), fallback, predicted)
        return _score(problem, y[test], predicted.astype(y.dtype))
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if not np.isfinite(x[train]).any():
        return None
    model_class = DecisionTreeClassifier if problem == "classification" else DecisionTreeRegressor
    model = model_class(max_depth=depth, random_state=0)
    features = np.where(np.isinf(x), np.nan, x).reshape(-1, 1)
    model.fit(features[train], y[train])
    return _score(problem, y[test], model.predict(features[test]))


def target_analysis(
    sample: pd.DataFrame,
    columns: dict[str, _Column],
    column_reports: list[dict],
    target: str,
    options: ProfileOptions,
) -> dict:
    column = columns[target]
    report = next(item for item in column_reports if item["name"] == target)
    result: dict[str, Any] = {
        "column": target,
        "problem_type": None,
        "note": "",
        "leakage": None,
        "baseline": None,
    }
    distinct, distinct_exact = column.distinct.result()
    if column.kind in (CATEGORICAL, TEXT, BOOLEAN) or (
        column.kind == NUMERIC
        and column.integral
        and distinct_exact
        and distinct <= options.classification_max_classes
    ):
        problem = "classification"
        classes = column.top.items()
        counted = column.count or 1
        result["classes"] = [
            {"value": column._value(value), "count": count, "fraction": count / counted}
            for value, count in classes[: options.model_max_classes]
        ]
        result["classes_exact"] = column.top.exact
        result["imbalance_ratio"] = classes[-1][1] / classes[0][1] if len(classes) > 1 else None
    elif column.kind == NUMERIC:
        problem = "regression"
        result["distribution"] = {
            key: report.get(key) for key in ("histogram", "mean", "std", "min", "max", "quantiles")
        }
    else:
        result["note"] = f"A {column.kind} target is neither a class nor a number: no model was trained."
        return result
    result["problem_type"] = problem

    rows = sample[sample[target].notna()].reset_index(drop=True) if len(sample) else sample
    if problem == "classification" and distinct > options.model_max_classes:
        result["note"] = (
            f"The target has {distinct} classes (more than {options.model_max_classes}): no model."
        )
        return result
    if len(rows) < options.min_model_rows:
        result["note"] = f"Too few sample rows with a target ({len(rows)}) to train a model."
        return result
    if problem == "classification":
        y_values = rows[target]
        y = (
            y_values.to_numpy(dtype="float64").astype("int64")
            if column.kind in (NUMERIC, BOOLEAN)
            else y_values.astype("str").to_numpy(dtype=object)
        )
        if len(pd.unique(y)) < 2:
            result["note"] = "The target has a single class in the sample: no model."
            return result
    else:
        y = numbers_of(rows[target])
        finite = np.isfinite(y)
        rows, y = rows[finite].reset_index(drop=True), y[finite]

    rng = np.random.default_rng(options.seed)
    order = rng.permutation(len(rows))
    n_test = max(1, round(len(rows) * options.holdout_fraction))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    features = rows.drop(columns=[target])
    if features.shape[1] == 0:
        result["note"] = "There are no feature columns besides the target."
        return result
    x, categorical = _encode_features(features, columns, train)

    scores = []
    for position, name in enumerate(features.columns):
        score = _single_feature_score(
            problem,
            features[name],
            x[name].to_numpy(),
            bool(categorical[position]),
            y,
            train,
            test,
            options.leakage_tree_depth,
        )
        if score is not None:
            scores.append({"column": name, "score": score, "leaks": score >= options.leakage_threshold})
    scores.sort(key=lambda item: -item["score"])
    result["leakage"] = {
        "metric": "balanced_accuracy" if problem == "classification" else "r2",
        "threshold": options.leakage_threshold,
        "holdout_rows": len(test),
        "method": "one feature at a time: a decision tree (depth "
        f"{options.leakage_tree_depth}) on numbers, a category-to-target lookup on categories",
        "features": scores,
    }
    result["baseline"] = _baseline(problem, x, categorical, y, train, test, options)
    return result


def _baseline(problem, x: pd.DataFrame, categorical, y, train, test, options: ProfileOptions) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import accuracy_score, r2_score

    features = x.to_numpy(dtype="float64", copy=True)
    features[np.isinf(features)] = np.nan
    model_class = (
        HistGradientBoostingClassifier if problem == "classification" else HistGradientBoostingRegressor
    )
    model = model_class(
        max_iter=100,
        categorical_features=categorical if categorical.any() else None,
        early_stopping=True,  # a held-out tenth of the training rows decides when to stop
        n_iter_no_change=10,
        random_state=options.seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(features[train], y[train])
        predicted = model.predict(features[test])
        if problem == "classification":
            metric, score = "accuracy", float(accuracy_score(y[test], predicted))
            majority = pd.Series(y[train]).mode().iloc[0]
            naive = float(np.mean(y[test] == majority))
        else:
            metric = "r2"
            score = float(r2_score(y[test], predicted)) if len(np.unique(y[test])) > 1 else None
            naive = 0.0
        importance = permutation_importance(
            model, features[test], y[test], n_repeats=3, random_state=options.seed
        )
    importances = [
        {"column": name, "importance": float(mean), "std": float(std)}
        for name, mean, std in zip(
            x.columns, importance.importances_mean, importance.importances_std, strict=True
        )
    ]
    importances.sort(key=lambda item: -item["importance"])
    return {
        "model": model_class.__name__,
        "metric": metric,
        "score": score,
        "naive_score": naive,
        "naive_model": "the commonest class" if problem == "classification" else "the mean",
        "train_rows": len(train),
        "holdout_rows": len(test),
        "importance_method": "permutation importance on the holdout (3 repeats): the drop in " + metric,
        "importances": importances,
    }
