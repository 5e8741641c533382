"""The check registry: every check envcheck runs, in report order, and its policy.

A check id is spelled here and nowhere else: stages build their results through the
:class:`Check` objects below (``checks.LOAD.result(findings)``), the pipeline asks the
registry what a failure blocks and what ``--strict`` does, and the renderers take a
passing check's one-line summary from it.  Ids are a public contract (DESIGN.md): a new
check gets a new entry; an entry's id never changes meaning.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable

from envcheck.model.findings import CheckResult, Finding, Severity, Status


class Stage(str, enum.Enum):
    """The pipeline stage that produces a check (the subpackage that owns it)."""

    READ = "read"
    INSPECT = "inspect"
    ENV = "env"
    PROBE = "probe"
    COMPARE = "compare"


class Strict(enum.Enum):
    """What ``--strict`` does to a check that warns."""

    FAIL = "fail"  # the status becomes fail; the findings keep their severity
    ESCALATE = "escalate"  # every warning finding becomes an error (so the status fails)


class Blocks(enum.Enum):
    """What a failure of the check makes meaningless downstream."""

    NOTHING = "nothing"
    ENV = "env"  # no environment is built, no installer runs (and nothing of it runs)
    PROBE = "probe"  # the package's code is not run


@dataclass(frozen=True)
class Check:
    id: str
    stage: Stage
    summary: str  # what a pass with nothing to report means, for the one-line verdict
    strict: Strict = Strict.FAIL
    blocks: Blocks = Blocks.NOTHING
    blocked_reason: str = ""  # why downstream was skipped, when this check failed
    # Who established the verdict: "envcheck" (read, inspected, installed: the package
    # cannot forge it) or "package process" (what the probe reported from inside the
    # package's own process, which the package could forge).
    source: str = "envcheck"
    block_rank: int = 9  # when several blockers failed, the lowest rank is the reason given

    def result(self, findings: Iterable[Finding], duration_s: float = 0.0) -> CheckResult:
        """Status from the worst finding (error -> fail, warning -> warn, else pass)."""
        result = CheckResult.from_findings(self.id, findings, duration_s)
        result.source = self.source
        return result

    def with_status(self, status: Status, findings: Iterable[Finding],
                    duration_s: float = 0.0) -> CheckResult:
        return CheckResult(self.id, status, list(findings), duration_s, source=self.source)

    def skipped(self, reason: str) -> CheckResult:
        return CheckResult.skipped(self.id, reason)

    def apply_strict(self, result: CheckResult) -> CheckResult:
        """``--strict``: a warning is a failure, the way this check's entry says."""
        if result.status is not Status.WARN:
            return result
        if self.strict is Strict.ESCALATE:
            for finding in result.findings:
                if finding.severity is Severity.WARNING:
                    finding.severity = Severity.ERROR
        result.status = Status.FAIL
        return result


PACKAGE_LAYOUT = Check("package.layout", Stage.READ, "metadata, requirements, interface and "
                       "model present", blocks=Blocks.ENV, block_rank=1,
                       blocked_reason="the package is incomplete (see package.layout)")
METADATA_SCHEMA = Check("metadata.schema", Stage.READ, "metadata matches the schema")
PACKAGE_SETTINGS = Check("package.settings", Stage.READ,
                         "no setting of the package loosens the gate")
REQUIREMENTS_PARSE = Check("requirements.parse", Stage.READ, "requirements readable",
                           blocks=Blocks.ENV, block_rank=3, blocked_reason="requirements.txt could not be "
                           "read: no environment to build")
REQUIREMENTS_PINNED = Check("requirements.pinned", Stage.READ,
                            "every requirement pinned with ==")
INTERFACE_CONTRACT = Check("interface.contract", Stage.READ, "load_model defined; imports "
                           "covered by requirements", blocks=Blocks.ENV,
                           block_rank=2, blocked_reason="interface.py cannot provide load_model (see "
                           "interface.contract)")
ARTIFACTS_INTEGRITY = Check("artifacts.integrity", Stage.COMPARE,
                            "artifacts match the recorded digests")
PICKLE_SAFETY = Check("pickle.safety", Stage.INSPECT, "every pickle imports only allowed "
                      "globals", blocks=Blocks.ENV, block_rank=0,
                      blocked_reason="pickle.safety failed: nothing from this package was "
                      "loaded, and no environment was built for it")
PICKLE_VERSIONS = Check("pickle.versions", Stage.INSPECT,
                        "versions recorded in the artifacts match the requirements")
ENV_PYTHON = Check("env.python", Stage.ENV, "interpreter found")
ENV_BUILD = Check("env.build", Stage.ENV, "environment built", blocks=Blocks.PROBE,
                  blocked_reason="the environment could not be built (see env.build)")
ENV_CONSISTENCY = Check("env.consistency", Stage.ENV, "no broken or conflicting dependencies")
ENV_DRIFT = Check("env.drift", Stage.ENV, "installed versions match the recorded ones",
                  strict=Strict.ESCALATE)
PROBE_SANDBOX = Check("probe.sandbox", Stage.PROBE, "every isolation layer held")
_PACKAGE = "package process"
LOAD = Check("load", Stage.PROBE, "the model loaded", blocks=Blocks.PROBE, source=_PACKAGE,
             blocked_reason="the model did not load (see load)")
LOAD_WARNINGS = Check("load.warnings", Stage.PROBE, "no warnings while importing and loading",
                      source=_PACKAGE)
# Output width/names/types that metadata documents wrongly are warnings; --strict fails them.
PREDICT_SCHEMA = Check("predict.schema", Stage.COMPARE, "predictions match the declared output",
                       source=_PACKAGE, strict=Strict.ESCALATE)
PREDICT_SMOKE = Check("predict.smoke", Stage.COMPARE, "predictions match the reference",
                      source=_PACKAGE)
PREDICT_DETERMINISM = Check("predict.determinism", Stage.COMPARE,
                            "the same inputs gave the same outputs twice", source=_PACKAGE)

REGISTRY: tuple[Check, ...] = (
    PACKAGE_LAYOUT, METADATA_SCHEMA, PACKAGE_SETTINGS, REQUIREMENTS_PARSE, REQUIREMENTS_PINNED,
    INTERFACE_CONTRACT, ARTIFACTS_INTEGRITY, PICKLE_SAFETY, PICKLE_VERSIONS, ENV_PYTHON,
    ENV_BUILD, ENV_CONSISTENCY, ENV_DRIFT, PROBE_SANDBOX, LOAD, LOAD_WARNINGS, PREDICT_SCHEMA, PREDICT_SMOKE,
    PREDICT_DETERMINISM,
)
CHECK_IDS: tuple[str, ...] = tuple(check.id for check in REGISTRY)
BY_ID: dict[str, Check] = {check.id: check for check in REGISTRY}
ORDER: dict[str, int] = {check.id: i for i, check in enumerate(REGISTRY)}


def get(check_id: str) -> Check:
    """The registry entry of ``check_id``; KeyError for an id envcheck does not have."""
    return BY_ID[check_id]
