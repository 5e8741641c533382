"""Property-based tests (issue 7): the readers and the pickle inspector take anything.

For random and mutated inputs -- bytes, YAML-ish text, requirement-ish lines with
includes between three files, real pickles with flipped/inserted/deleted bytes, pickles
of random plain data at every protocol -- each reader must return findings, never raise,
and never hang (every example runs under a 20 s alarm; inputs are small, so a hang is a
loop, not slowness).  Some properties are stronger than "no exception":

* every finding names a file of the package and a line inside it;
* the normalized requirement lines the env cache hashes parse again without error;
* a pickle of plain data (what ``pickle.dumps`` makes of ints, strings, lists, dicts,
  sets...) is walked without error and is judged safe;
* findings stay JSON (the report is JSON).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import signal
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from conftest import FIXTURES
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from envcheck.inspect.pickles import INTERNAL_ERROR, inspect_pickle, is_pickle_artifact
from envcheck.model.findings import Finding, Severity
from envcheck.read.metadata import load_metadata, validate_metadata
from envcheck.read.requirements import check_parse, check_pinned, parse_requirements

SETTINGS = settings(max_examples=200, deadline=None, derandomize=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HANG_S = 20


class Hang(Exception):
    pass


@contextlib.contextmanager
def no_hang(seconds: int = HANG_S) -> Iterator[None]:
    """Fail the example (instead of the whole run stalling) when it takes ``seconds``."""
    fired: list[bool] = []
    message = f"no result after {seconds} s: a reader loops or blocks on this input"

    def alarm(signum: int, frame: Any) -> None:
        fired.append(True)
        raise Hang(message)

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if fired:  # the reader swallowed the Hang (e.g. a catch-all turned it into a finding)
        raise Hang(message)


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    # tempfile, not tmp_path: hypothesis runs many examples per test function.
    with tempfile.TemporaryDirectory(prefix="envcheck-prop-") as tmp:
        yield Path(tmp)


def assert_findings(findings: list[Finding], files: dict[str, bytes]) -> None:
    """Every finding is well-formed, JSON, and points into a file that exists, at a line
    that exists (a finding may also name no file)."""
    for finding in findings:
        assert isinstance(finding, Finding)
        assert isinstance(finding.severity, Severity)
        assert isinstance(finding.message, str) and finding.message.strip()
        json.dumps(finding.to_dict(), default=str)
        if finding.file is not None:
            assert finding.file in files, (finding.file, list(files))
            if finding.line is not None:
                # Lines as the readers count them (str.splitlines, as pip does; YAML
                # also breaks lines at \r, NEL, U+2028/9): a bound, not an exact count.
                text = files[finding.file].decode("utf-8", "replace")
                lines = len(text.splitlines()) + 1
                assert 1 <= finding.line <= lines, (finding, lines)


def mutate(data: bytes, draw: Any) -> bytes:
    """Up to 4 edits: flip a byte, insert bytes, delete a slice, duplicate a slice."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "truncate"]))
        at = draw(st.integers(0, max(0, len(out) - 1)))
        if kind == "flip" and out:
            out[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del out[at:at + draw(st.integers(1, 16))]
        elif kind == "duplicate":
            piece = out[at:at + draw(st.integers(1, 64))]
            where = draw(st.integers(0, len(out)))
            out[where:where] = piece
        else:
            del out[at:]
    return bytes(out)


# --------------------------------------------------------------------------- metadata.yaml

REAL_METADATA = [p.read_bytes() for p in sorted(FIXTURES.glob("packages/*/metadata.yaml"))]
YAML_CHARS = st.sampled_from(list("abcnz01239.:-_ []{},&*!?#|>'\"\n\n\n  \t%@`~") +
                             ["name", "version", "input_features", "output", "type",
                              "categories", "envcheck", "python_version", "&a ", "*a",
                              "<<: ", "!!binary ", "!!python/name:os.system ", "- ", ": ",
                              "\u00e9", "\ufeff", "\x00", "\x85", "3.10", "1e-6", "null"])
yaml_text = st.lists(YAML_CHARS, max_size=120).map("".join)

plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=12) | st.sampled_from(
        ["name", "version", "input_features", "output", "type", "categories", "envcheck",
         "python_version", "interface", "artifacts", "timeout", "rtol"]), children, max_size=5),
    max_leaves=30)


def _metadata(raw: bytes) -> None:
    with scratch() as root, no_hang():
        path = root / "metadata.yaml"
        path.write_bytes(raw)
        data, findings = load_metadata(path, "metadata.yaml")
    assert isinstance(data, dict)
    assert isinstance(findings, list)
    assert_findings(findings, {"metadata.yaml": raw})
    if not data:  # unreadable: said so, as an error
        assert any(f.severity is Severity.ERROR for f in findings)


@SETTINGS
@given(st.binary(max_size=600))
@example(b"a: &a [*a]\n")
@example(b"? !!binary aGk=\n: 1\n? !!binary aGk=\n: 2\n")
@example(b"name: x\nname: y\n")
def test_metadata_reader_takes_any_bytes(raw: bytes) -> None:
    _metadata(raw)


@SETTINGS
@given(yaml_text)
def test_metadata_reader_takes_yaml_like_text(text: str) -> None:
    _metadata(text.encode("utf-8", "surrogatepass"))


@SETTINGS
@given(st.data())
def test_metadata_reader_takes_mutated_real_metadata(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(REAL_METADATA))
    _metadata(mutate(base, data.draw))


@SETTINGS
@given(plain)
def test_metadata_validation_takes_any_plain_document(document: Any) -> None:
    raw = yaml.safe_dump(document, allow_unicode=True).encode("utf-8")
    _metadata(raw)
    if isinstance(document, dict) and all(isinstance(k, str) for k in document):
        with no_hang():
            findings = validate_metadata(document, "metadata.yaml")
        assert_findings(findings, {"metadata.yaml": raw})


# --------------------------------------------------------------------------- requirements

INCLUDE_TARGETS = ["a.txt", "b.txt", "requirements.txt", "../outside.txt", "missing.txt",
                   "sub/../a.txt", "/etc/hostname", "https://example.com/r.txt", "a.txt b.txt"]
REQ_TOKENS = st.sampled_from(
    ["scikit-learn", "numpy", "pandas", "Foo_Bar.baz", "x", "==", "===", ">=", "~=", "!=",
     "<", ",", "1.5.2", "1.*", "2", "0.24.2", "[extra]", "[a,b]", " @ ", "https://h/p-1.0.tar.gz",
     "git+https://g/r.git", "@" + "a" * 40, "#egg=r", "file:///tmp/x.whl", "./local", "C:\\x",
     " ; ", "python_version < \"3.8\"", "sys_platform == 'linux'", " and ", "extra == 'x'",
     " --hash=sha256:" + "0" * 64, " --hash=md5:00", "-e ", "--editable=", "-i ",
     "--index-url ", "--extra-index-url ", "--pre", "--no-binary :all:", "--frob", "-Z",
     " #", " # comment", "\\", "${TOKEN}", "\t", " ", "'", "\"", "\u00e9", "\x00", "=", ";"])
req_line = st.one_of(
    st.lists(REQ_TOKENS, max_size=8).map("".join),
    st.tuples(st.sampled_from(["-r ", "-c ", "--requirement=", "--constraint ", "-r"]),
              st.sampled_from(INCLUDE_TARGETS)).map("".join),
    st.text(max_size=40),
)
req_file = st.lists(req_line, max_size=10).map("\n".join)
PEP508_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


def _requirements(files: dict[str, bytes]) -> None:
    with scratch() as tmp:
        root = tmp / "pkg"
        (root / "sub").mkdir(parents=True)
        (tmp / "outside.txt").write_text("numpy==1.26.4\n")
        for name, content in files.items():
            (root / name).write_bytes(content)
        with no_hang():
            reqs = parse_requirements(root / "requirements.txt", root)
            parsed = check_parse(reqs)
            pinned = check_pinned(reqs, root=root) if reqs.readable else None
            lines = reqs.install_lines()
            constraints = reqs.constraint_lines()
            options = reqs.option_lines()
            reqs.pins()
        assert_findings(parsed.findings, files)
        if pinned is not None:
            assert_findings(pinned.findings, files)
        if reqs.ok and all(PEP508_NAME.fullmatch(r.requirement.name) for r in reqs.requirements):
            # (Names PEP 508 forbids but packaging accepts, like "foo_", are BUG-8: see
            # test_normalized_name_stays_a_valid_requirement.)
            # What the env cache hashes and the installer gets must itself be a clean
            # requirements file (the round trip the env build depends on).
            (root / "normalized.txt").write_text("\n".join(options + lines) + "\n")
            (root / "constraints.txt").write_text("\n".join(constraints) + "\n")
            with no_hang():
                again = parse_requirements(root / "normalized.txt", root)
                constrained = parse_requirements(root / "constraints.txt", root)
            assert again.ok, [f.message for f in again.findings]
            assert constrained.ok, [f.message for f in constrained.findings]
            assert again.install_lines() == lines


@SETTINGS
@given(req_file, req_file, req_file)
@example("-r a.txt\n", "-r b.txt\n", "-r a.txt\n")
@example("numpy==1 \\\n", "", "")
def test_requirements_reader_takes_random_lines_and_includes(top: str, a: str, b: str) -> None:
    _requirements({"requirements.txt": top.encode("utf-8", "surrogatepass"),
                   "a.txt": a.encode("utf-8", "surrogatepass"),
                   "b.txt": b.encode("utf-8", "surrogatepass")})


@SETTINGS
@given(st.binary(max_size=400))
@example(b"\xff\xfes\x00k\x00")
@example(b"\xef\xbb\xbfnumpy==1.26.4\n")
def test_requirements_reader_takes_any_bytes(raw: bytes) -> None:
    _requirements({"requirements.txt": raw})


def test_normalized_name_stays_a_valid_requirement() -> None:
    with scratch() as root:
        (root / "requirements.txt").write_text("foo_\n")
        reqs = parse_requirements(root / "requirements.txt", root)
        (root / "normalized.txt").write_text("\n".join(reqs.install_lines()) + "\n")
        again = parse_requirements(root / "normalized.txt", root)
    # Either the name is refused where it is written, or what the installer gets is valid.
    assert not reqs.ok or again.ok, [f.message for f in again.findings]


# --------------------------------------------------------------------------- pickles

REAL_PICKLES = [p.read_bytes() for p in sorted(FIXTURES.glob("packages/*/model.*"))]
picklable = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.text(max_size=20) | st.binary(max_size=20) | st.complex_numbers(allow_nan=True),
    lambda children: st.lists(children, max_size=5) | st.tuples(children, children)
    | st.dictionaries(st.text(max_size=8) | st.integers(), children, max_size=5)
    | st.frozensets(st.integers() | st.text(max_size=5), max_size=5)
    | st.sets(st.integers(), max_size=5) | st.builds(bytearray, st.binary(max_size=10)),
    max_leaves=25)


def _inspect(raw: bytes, suffix: str = ".pkl") -> Any:
    with scratch() as root, no_hang():
        path = root / f"model{suffix}"
        path.write_bytes(raw)
        result = inspect_pickle(path)
        is_pickle_artifact(path)
        inspect_pickle(path, max_bytes=64)  # the size limit path, too
    assert result.error is None or isinstance(result.error, str)
    if result.error is not None:
        assert not result.safe  # cannot be walked: fail closed
    return result


@SETTINGS
@given(st.binary(max_size=512))
@example(b"")
@example(b"\x80\x05\x95" + b"\xff" * 8)
@example(b"\x1f\x8b\x08\x00")
@example(b"ZF0x10\n")
def test_pickle_inspector_takes_any_bytes(raw: bytes) -> None:
    # inspect_pickle turns any exception into an error result: what must not happen is
    # an internal error (a crash), as opposed to a finding about the malformed file.
    for result in (_inspect(raw), _inspect(raw, ".joblib")):
        assert not (result.error or "").startswith(INTERNAL_ERROR), result.error


@SETTINGS
@given(st.binary(max_size=300), st.sampled_from([b"\x80\x02", b"\x80\x03", b"\x80\x04",
                                                 b"\x80\x05", b"(", b"c", b"\x80\x04\x95"]))
def test_pickle_inspector_takes_random_opcodes(body: bytes, head: bytes) -> None:
    result = _inspect(head + body)
    assert not (result.error or "").startswith(INTERNAL_ERROR), result.error


@SETTINGS
@given(st.data())
def test_pickle_inspector_takes_mutated_real_pickles(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(REAL_PICKLES))
    result = _inspect(mutate(base, data.draw))
    assert not (result.error or "").startswith(INTERNAL_ERROR), result.error


@SETTINGS
@given(picklable, st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_pickles_of_plain_data_are_walked_and_safe(value: Any, protocol: int) -> None:
    result = _inspect(pickle.dumps(value, protocol=protocol))
    assert result.error is None, result.error
    assert result.safe, result.unsafe


def test_real_fixture_pickles_are_walked() -> None:
    """The mutation bases themselves are clean (else the mutation tests prove little)."""
    for path in sorted(FIXTURES.glob("packages/*/model.*")):
        result = inspect_pickle(path)
        assert result.error is None, (path, result.error)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
@pytest.mark.parametrize("name", ["model.bin", "model.pkl"])
def test_inspector_never_blocks_on_a_fifo(name: str) -> None:
    with scratch() as root, no_hang(5):
        fifo = root / name
        os.mkfifo(fifo)
        assert is_pickle_artifact(fifo) in (True, False)
        assert inspect_pickle(fifo).error is not None
