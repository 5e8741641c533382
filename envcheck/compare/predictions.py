"""Compare what the probe saw with the metadata and the recorded reference: checks
``predict.schema``, ``predict.smoke`` and ``predict.determinism``.  Runs nothing.

Encoded predictions (produced by the probe): ``{"kind": ndarray|series|dataframe|list|
scalar, "dtype", "shape", "values", ["columns", "dtypes"]}`` with NaN/inf as
``{"$float": "nan"}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from envcheck.compare.inputs import InputsError, feature_type
from envcheck.compare.output_schema import output_findings
from envcheck.compare.reference import read_json, reference_dir
from envcheck.model import checks
from envcheck.model.findings import CheckResult, Finding, Severity, error, info, warning
from envcheck.model.options import DEFAULT_ATOL, DEFAULT_RTOL, Options
from envcheck.model.package import ModelPackage
from envcheck.probe import checks as probe_checks
from envcheck.probe.result import ProbeResult
from envcheck.probe.signatures import VersionFacts

SHOWN_ROWS = 5

# --------------------------------------------------------------------------- comparing


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "$float" in value:
        return float(value["$float"])
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            out.extend(_flatten(item))
        return out
    return [_decode(value)]


def _rows(encoded: dict[str, Any]) -> list[Any]:
    values = encoded.get("values")
    if not encoded.get("shape") or not isinstance(values, list):
        return [values]
    return values


def _same(recorded: Any, got: Any, rtol: float, atol: float) -> tuple[bool, Optional[float]]:
    """(equal within tolerance, absolute difference when both are numbers)."""
    if _is_number(recorded) and _is_number(got):
        r, g = float(recorded), float(got)
        if math.isnan(r) or math.isnan(g):
            return math.isnan(r) and math.isnan(g), None
        if math.isinf(r) or math.isinf(g):
            return r == g, None
        diff = abs(g - r)
        return diff <= atol + rtol * abs(r), diff
    return recorded == got, None


def _shape_text(encoded: dict[str, Any]) -> str:
    shape = encoded.get("shape") or []
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


@dataclass
class Comparison:
    findings: list[Finding] = field(default_factory=list)
    differing: int = 0
    total: int = 0

    @property
    def equal(self) -> bool:
        return not self.findings


def _side_by_side(rows: list[int], recorded_rows: list[Any], got_rows: list[Any]) -> list[dict[str, Any]]:
    out = []
    for row in rows[:SHOWN_ROWS]:
        out.append({"row": row,
                    "recorded": recorded_rows[row] if row < len(recorded_rows) else None,
                    "got": got_rows[row] if row < len(got_rows) else None})
    return out


def compare_outputs(recorded: dict[str, Any], got: dict[str, Any], rtol: float, atol: float,
                    what: str = "reference/outputs.json") -> Comparison:
    """Shape and dtype first, then values: numbers within rtol/atol, everything else exact."""
    result = Comparison()
    recorded_rows, got_rows = _rows(recorded), _rows(got)
    if list(recorded.get("shape") or []) != list(got.get("shape") or []):
        result.findings.append(error(
            f"predict() returned shape {_shape_text(got)}, {what} has {_shape_text(recorded)}",
            details={"recorded_shape": recorded.get("shape"), "got_shape": got.get("shape"),
                     "rows": _side_by_side(list(range(SHOWN_ROWS)), recorded_rows, got_rows)}))
        return result
    if recorded.get("kind") == "dataframe" and recorded.get("columns") != got.get("columns"):
        result.findings.append(error(
            f"predict() returned columns {got.get('columns')}, {what} has "
            f"{recorded.get('columns')}",
            details={"recorded_columns": recorded.get("columns"),
                     "got_columns": got.get("columns")}))
        return result
    if (recorded.get("dtype"), recorded.get("dtypes")) != (got.get("dtype"), got.get("dtypes")):
        result.findings.append(error(
            f"predict() returned dtype {got.get('dtypes') or got.get('dtype')} "
            f"({got.get('kind')}), {what} has {recorded.get('dtypes') or recorded.get('dtype')} "
            f"({recorded.get('kind')})",
            details={"recorded_dtype": recorded.get("dtype"), "got_dtype": got.get("dtype"),
                     "recorded_kind": recorded.get("kind"), "got_kind": got.get("kind")}))
    differing_rows: list[int] = []
    max_diff: Optional[float] = None
    max_row: Optional[int] = None
    for index, (r_row, g_row) in enumerate(zip(recorded_rows, got_rows)):
        r_values, g_values = _flatten(r_row), _flatten(g_row)
        if len(r_values) != len(g_values):  # ragged lists
            result.differing += max(len(r_values), len(g_values))
            result.total += max(len(r_values), len(g_values))
            differing_rows.append(index)
            continue
        row_differs = False
        for r_value, g_value in zip(r_values, g_values):
            result.total += 1
            same, diff = _same(r_value, g_value, rtol, atol)
            if diff is not None and diff > 0 and (max_diff is None or diff > max_diff):
                max_diff, max_row = diff, index
            if not same:
                result.differing += 1
                row_differs = True
        if row_differs:
            differing_rows.append(index)
    if result.differing:
        where = f"max abs diff {max_diff:.6g} at row {max_row}" if max_diff is not None \
            else f"first at row {differing_rows[0]}"
        result.findings.append(error(
            f"{result.differing} of {result.total} values differ from {what} ({where}; "
            f"rtol {rtol:g}, atol {atol:g})",
            details={"differing": result.differing, "total": result.total,
                     "max_abs_diff": max_diff, "max_diff_row": max_row,
                     "rtol": rtol, "atol": atol,
                     "rows": _side_by_side(differing_rows, recorded_rows, got_rows)}))
    return result


def resolve_tolerances(pkg: ModelPackage, options: Options) -> tuple[float, float]:
    """--rtol/--atol, else metadata's envcheck.rtol/atol, else numpy.allclose's defaults."""

    def pick(option: Optional[float], key: str, default: float) -> float:
        if option is not None:
            return float(option)
        value = pkg.settings.get(key)
        try:
            return float(value) if value is not None else default
        except (TypeError, ValueError):
            return default

    return pick(options.rtol, "rtol", DEFAULT_RTOL), pick(options.atol, "atol", DEFAULT_ATOL)


# --------------------------------------------------------------------------- checks


def _not_loaded(check_id: str, result: ProbeResult) -> Optional[CheckResult]:
    if not result.loaded:
        return CheckResult.skipped(check_id, "the model did not load (see load)")
    return None


_DTYPE_FAMILIES = {
    "float": ("float",),
    "int": ("int", "uint", "Int", "UInt"),
    "categorical": ("object", "category", "string", "str"),
    "string": ("object", "string", "str"),
    "bool": ("bool", "boolean"),
}


def _dtype_matches(kind: str, dtype: str) -> bool:
    return any(dtype.startswith(prefix) for prefix in _DTYPE_FAMILIES.get(kind, (dtype,)))


def check_predict_schema(pkg: ModelPackage, inputs: Optional[dict[str, Any]],
                         result: ProbeResult) -> CheckResult:
    """``predict.schema``: the DataFrame vs input_features (names, order, dtypes), the
    features the model declares vs metadata (failures: they break prediction), and the
    output vs metadata output (warnings: see envcheck.compare.output_schema)."""
    skipped = _not_loaded(checks.PREDICT_SCHEMA.id, result)
    if skipped is not None:
        return skipped

    metadata_file = pkg.relative(pkg.metadata_path)
    features = pkg.metadata.get("input_features")
    if not isinstance(features, list) or not features:
        return checks.PREDICT_SCHEMA.result([info(
            f"{metadata_file} declares no input_features: the input schema is not checked")])
    findings: list[Finding] = []
    names = [str(f.get("name")) for f in features if isinstance(f, dict)]
    kinds: dict[str, str] = {}
    for feature in features:
        if isinstance(feature, dict):
            try:
                kinds[str(feature.get("name"))] = feature_type(feature)
            except InputsError:
                pass
    frame = result.frame or ({"columns": inputs.get("columns"), "dtypes": None}
                             if inputs else None)
    if frame is not None:
        columns = [str(c) for c in frame.get("columns") or []]
        source = (inputs or {}).get("source", "the smoke inputs")
        if columns != names:
            findings.append(error(
                f"the DataFrame passed to predict() ({source}) has columns {columns}, "
                f"{metadata_file} input_features are {names} (in this order)",
                file=metadata_file, details={"columns": columns, "input_features": names}))
        for column, dtype in zip(columns, frame.get("dtypes") or []):
            kind = kinds.get(column)
            if kind is not None and not _dtype_matches(kind, str(dtype)):
                findings.append(error(
                    f"column {column!r} has dtype {dtype}, {metadata_file} says {kind}",
                    file=metadata_file, details={"column": column, "dtype": dtype,
                                                 "type": kind}))
    declared = result.model_features or {}
    found_on = declared.get("found_on", "model")
    # The frame goes straight into an estimator returned by load_model(): its features
    # must match.  A wrapper may engineer features first (one-hot encoding...), so there a
    # mismatch is only reported as information.
    severity = error if found_on == "model" else info
    model_names = declared.get("feature_names_in")
    if model_names is not None and list(model_names) != names:
        missing = [n for n in model_names if n not in names]
        extra = [n for n in names if n not in model_names]
        if missing or extra:
            how = "; ".join(part for part in (
                f"model expects {missing} which metadata does not declare" if missing else "",
                f"metadata declares {extra} which the model was not fitted on" if extra else "")
                if part)
        else:
            how = f"same names in a different order: the model was fitted on {list(model_names)}"
        findings.append(severity(
            f"{found_on}.feature_names_in_ does not match {metadata_file} input_features: {how}",
            file=metadata_file, details={"feature_names_in": list(model_names),
                                         "input_features": names, "found_on": found_on}))
    count = declared.get("n_features_in")
    if model_names is None and count is not None and int(count) != len(names):
        findings.append(severity(
            f"{found_on}.n_features_in_ is {count}, {metadata_file} declares {len(names)} "
            f"input_features", file=metadata_file,
            details={"n_features_in": count, "input_features": len(names),
                     "found_on": found_on}))
    findings.extend(output_findings(pkg.metadata, result.predictions, metadata_file))
    if not any(f.severity is not Severity.INFO for f in findings):
        # The verdict line shows the first finding: say what passed before any aside.
        findings.insert(0, info(f"{len(names)} input column(s) match {metadata_file} "
                                "input_features"))
    return checks.PREDICT_SCHEMA.result(findings)


def has_nan(encoded: dict[str, Any]) -> list[int]:
    rows = []
    for index, row in enumerate(_rows(encoded)):
        if any(isinstance(v, float) and math.isnan(v) for v in _flatten(row)):
            rows.append(index)
    return rows


def check_predict_smoke(pkg: ModelPackage, result: ProbeResult, options: Options,
                        facts: Optional[VersionFacts] = None) -> CheckResult:
    """``predict.smoke``: predict() ran on the smoke inputs, returned one well-formed row
    per input, and (when recorded) agrees with reference/outputs.json."""
    skipped = _not_loaded(checks.PREDICT_SMOKE.id, result)
    if skipped is not None:
        return skipped

    findings: list[Finding] = []
    predict_warnings = [w for w in result.warnings
                        if w.get("stage") in ("inputs", "predict", "predict-repeat")]
    findings.extend(probe_checks.warning_findings(predict_warnings,
                                            probe_checks.allow_patterns(pkg, options),
                                            "during predict()"))
    duration = result.timings.get("predict_s", 0.0)
    if result.predictions is None:
        if result.kind == "ok":
            return checks.PREDICT_SMOKE.skipped("no smoke inputs: declare input_features in metadata.yaml "
                "or run envcheck record --inputs FILE")
        # Loaded, no predictions, not ok: predict() (or the probe after it) failed --
        # raised, returned junk, or the probe was stopped (timeout, signal, flood) and
        # its predictions were lost with it.
        findings.append(probe_checks.failure_finding(pkg, result, facts))
        return checks.PREDICT_SMOKE.result(findings, duration)
    got = result.predictions
    if got is None:  # failed later (the repeat): judged by predict.determinism
        return checks.PREDICT_SMOKE.result(findings, duration)
    rows = (result.frame or {}).get("rows")
    shape = got.get("shape") or []
    interface = pkg.relative(Path(pkg.interface_path))  # predict() is entered through it
    if not shape:
        findings.append(error(f"predict() returned a single {got.get('dtype')} for "
                              f"{rows} input rows: return one prediction per row",
                              file=interface, details={"output": got}))
    elif rows is not None and shape[0] != rows:
        findings.append(error(f"predict() returned {shape[0]} rows for {rows} input rows",
                              file=interface, details={"shape": shape}))
    if result.input_mutated:
        findings.append(warning("predict() modified its input DataFrame in place"))
    directory = reference_dir(pkg)
    outputs_path = directory / "outputs.json" if directory is not None else None
    if outputs_path is None or not outputs_path.exists():
        nan_rows = has_nan(got)
        if nan_rows:
            findings.append(error(f"predict() returned NaN for {len(nan_rows)} of "
                                  f"{len(_rows(got))} rows (first: row {nan_rows[0]})",
                                  file=interface, details={"rows": nan_rows[:SHOWN_ROWS]}))
        findings.append(info("no reference recorded: run envcheck record to compare "
                             "predictions on every check"))
        return checks.PREDICT_SMOKE.result(findings, duration)
    data, problem = read_json(pkg, outputs_path)
    if problem is not None:
        findings.append(problem)
        return checks.PREDICT_SMOKE.result(findings, duration)
    recorded = data.get("output") if isinstance(data, dict) else None
    if not isinstance(recorded, dict):
        findings.append(error(f"{pkg.relative(outputs_path)} has no \"output\": re-run "
                              f"envcheck record", file=pkg.relative(outputs_path)))
        return checks.PREDICT_SMOKE.result(findings, duration)
    rtol, atol = resolve_tolerances(pkg, options)
    comparison = compare_outputs(recorded, got, rtol, atol,
                                 what=pkg.relative(outputs_path))
    for finding in comparison.findings:
        finding.file = pkg.relative(outputs_path)
    findings.extend(comparison.findings)
    if comparison.equal:
        findings.append(info(f"{comparison.total} predicted values match "
                             f"{pkg.relative(outputs_path)} (rtol {rtol:g}, atol {atol:g})"))
    return checks.PREDICT_SMOKE.result(findings, duration)


def check_determinism(result: ProbeResult) -> CheckResult:
    """``predict.determinism``: two predict() calls on the same input agree exactly."""
    skipped = _not_loaded(checks.PREDICT_DETERMINISM.id, result)
    if skipped is not None:
        return skipped
    if result.predictions is None:
        return checks.PREDICT_DETERMINISM.skipped("predict() did not return a result")
    if result.predictions_repeat is None:
        if result.stage == "predict-repeat" and result.kind != "ok":

            return checks.PREDICT_DETERMINISM.result([error(
                f"the first predict() succeeded but the second failed ({result.kind}): "
                f"{result.message}", details=probe_checks.failure_details(result))])
        return checks.PREDICT_DETERMINISM.skipped("predict() was called once")
    first, second = result.predictions, result.predictions_repeat
    if first == second:
        return checks.PREDICT_DETERMINISM.result([info(
            "two predict() calls on the same input returned identical results")],
            result.timings.get("predict-repeat_s", 0.0))
    comparison = compare_outputs(first, second, 0.0, 0.0, what="the first call")
    findings = []
    for finding in comparison.findings:
        findings.append(error("non-deterministic: two predict() calls on the same input "
                              "differ: " + finding.message, details=finding.details))
    if not findings:  # equal values, different encodings (e.g. -0.0 vs 0.0)
        findings.append(info("two predict() calls agree value by value"))
    return checks.PREDICT_DETERMINISM.result(findings,
                                     result.timings.get("predict-repeat_s", 0.0))
