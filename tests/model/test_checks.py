"""The check registry: every id once, in report order, with its policy."""

from __future__ import annotations

from envcheck.model import checks
from envcheck.model.findings import Severity, Status, warning


def test_ids_are_unique_and_the_contract_ones_keep_their_order() -> None:
    assert len(set(checks.CHECK_IDS)) == len(checks.CHECK_IDS)
    contract = ["package.layout", "metadata.schema", "requirements.parse",
                "requirements.pinned", "interface.contract", "artifacts.integrity",
                "pickle.safety", "pickle.versions", "env.python", "env.build",
                "env.consistency", "env.drift", "load", "load.warnings", "predict.schema",
                "predict.smoke", "predict.determinism"]
    assert [i for i in checks.CHECK_IDS if i in contract] == contract  # extended, not changed
    assert set(checks.CHECK_IDS) - set(contract) == {"package.settings", "probe.sandbox"}


def test_strict_fails_a_warning_the_way_the_registry_says() -> None:
    pinned = checks.REQUIREMENTS_PINNED.apply_strict(
        checks.REQUIREMENTS_PINNED.result([warning("numpy is not pinned")]))
    assert pinned.status is Status.FAIL and pinned.findings[0].severity is Severity.WARNING
    drift = checks.ENV_DRIFT.apply_strict(checks.ENV_DRIFT.result([warning("drift")]))
    assert drift.status is Status.FAIL and drift.findings[0].severity is Severity.ERROR


def test_what_a_failure_blocks() -> None:
    blocks_env = {c.id for c in checks.REGISTRY if c.blocks is checks.Blocks.ENV}
    assert blocks_env == {"package.layout", "requirements.parse", "interface.contract",
                          "pickle.safety"}
    assert all(c.blocked_reason for c in checks.REGISTRY if c.blocks is not checks.Blocks.NOTHING)


def test_sources() -> None:
    from_package = {c.id for c in checks.REGISTRY if c.source == "package process"}
    assert from_package == {"load", "load.warnings", "predict.schema", "predict.smoke",
                            "predict.determinism"}
    assert checks.PICKLE_VERSIONS.result([]).to_dict()["source"] == "envcheck"
