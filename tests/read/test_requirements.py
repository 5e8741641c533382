"""requirements.txt: parsing with packaging, includes, options, pins, the malformed corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envcheck.model import checks
from envcheck.model.findings import Severity, Status
from envcheck.read.requirements import check_parse, check_pinned, parse_requirements

CORPUS = FIXTURES / "corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))["requirements"]
SHA = "sha256:" + "ab" * 32


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def errors(findings):  # noqa: ANN001, ANN201
    return [f for f in findings if f.severity is Severity.ERROR]


def warnings_(findings):  # noqa: ANN001, ANN201
    return [f for f in findings if f.severity is Severity.WARNING]


# --------------------------------------------------------------------------- the corpus

def test_corpus_is_complete() -> None:
    on_disk = {p.name for p in (CORPUS / "requirements").glob("*.txt")}
    assert on_disk == set(EXPECTED)
    assert len(on_disk) >= 15


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_fails_at_its_line(name: str) -> None:
    expected = EXPECTED[name]
    reqs = parse_requirements(CORPUS / "requirements" / name)
    assert not reqs.ok
    first = errors(reqs.findings)[0]
    assert first.file == name
    assert first.line == expected["line"], first.message
    assert expected["message"] in first.message
    result = check_parse(reqs)
    assert result.id == "requirements.parse" and result.status is Status.FAIL


# --------------------------------------------------------------------------- passing

def test_full_syntax(tmp_path: Path) -> None:
    write(tmp_path, "requirements.txt", f"""\
# the model's environment
--index-url https://pypi.org/simple
Scikit_Learn == 1.2.2   # trailing comment
pandas[Performance,excel]==2.0.3 ; python_version >= "3.8"
numpy==1.24.4 \\
    --hash={SHA} \\
    --hash=sha256:{"cd" * 32}
-r reqs/extra.txt
-c constraints.txt
--pre
""")
    write(tmp_path, "reqs/extra.txt", "joblib===1.3.2\nrequests>=2\n")
    write(tmp_path, "constraints.txt", "urllib3==2.0.7\n")
    reqs = parse_requirements(tmp_path / "requirements.txt")
    # numpy has hashes, the others do not: pip's hash-checking mode is the only error.
    assert {(f.file, f.line) for f in errors(reqs.findings)} == {
        ("requirements.txt", 3), ("requirements.txt", 4), ("reqs/extra.txt", 1),
        ("reqs/extra.txt", 2)}
    assert all("has no --hash" in f.message for f in errors(reqs.findings))
    assert reqs.install_lines() == [
        "joblib===1.3.2",
        f"numpy==1.24.4 --hash={SHA} --hash=sha256:{'cd' * 32}",
        'pandas[excel,performance]==2.0.3 ; python_version >= "3.8"',
        "requests>=2",
        "scikit-learn==1.2.2",
    ]
    assert reqs.constraint_lines() == ["urllib3==2.0.7"]
    assert reqs.option_lines() == ["--index-url https://pypi.org/simple", "--pre"]
    assert reqs.pins() == {"scikit-learn": "1.2.2", "pandas": "2.0.3", "numpy": "1.24.4",
                           "joblib": "1.3.2"}
    numpy = next(r for r in reqs.requirements if r.name == "numpy")
    assert numpy.line == 5 and numpy.hashes == [SHA, "sha256:" + "cd" * 32]
    extra = next(r for r in reqs.requirements if r.name == "requests")
    assert extra.file == (tmp_path / "reqs" / "extra.txt").resolve() and extra.line == 2
    assert len(reqs.files) == 3


def test_install_lines_round_trip(tmp_path: Path) -> None:
    """The normalized lines are requirement lines themselves: parsing them gives them back."""
    write(tmp_path, "requirements.txt",
          'scikit-learn==1.2.2\nPandas[Excel] == 2.0.3;python_version>="3.8"\n'
          "foo @ git+https://github.com/x/foo@0123456789abcdef0123456789abcdef01234567\n")
    lines = parse_requirements(tmp_path / "requirements.txt").install_lines()
    again = parse_requirements(write(tmp_path, "again.txt", "\n".join(lines) + "\n"))
    assert again.install_lines() == lines
    assert "foo @ git+https://github.com/x/foo@0123456789abcdef0123456789abcdef01234567" in lines


def test_constraint_file_pins_count(tmp_path: Path) -> None:
    write(tmp_path, "requirements.txt", "scikit-learn\n-c constraints.txt\nnumpy\n")
    write(tmp_path, "constraints.txt", "scikit-learn==1.2.2\n")
    reqs = parse_requirements(tmp_path / "requirements.txt")
    result = check_pinned(reqs)
    assert result.status is Status.WARN
    assert [(f.file, f.line) for f in result.findings] == [("requirements.txt", 3)]
    assert "numpy is not pinned" in result.findings[0].message


def test_all_pinned_passes(tmp_path: Path) -> None:
    reqs = parse_requirements(write(tmp_path, "requirements.txt", "a==1\nb===2.0\n"))
    assert check_parse(reqs).status is Status.PASS
    assert check_pinned(reqs).status is Status.PASS


def test_pinned_marker_variants(tmp_path: Path) -> None:
    reqs = parse_requirements(write(tmp_path, "requirements.txt",
                                    'numpy==1.21.6 ; python_version < "3.8"\nnumpy==1.24.4\n'))
    assert reqs.pins() == {"numpy": "1.24.4"}  # the unmarked pin wins
    assert warnings_(reqs.findings) == []  # different markers: not a contradiction


# --------------------------------------------------------------------------- failing

@pytest.mark.parametrize("line,reason", [
    ("numpy>=1.20", ">=1.20"), ("numpy", "any version"), ("numpy==1.24.*", "==1.24.*"),
    ("numpy~=1.24.0", "~=1.24.0"),
])
def test_unpinned_warns_and_strict_fails(tmp_path: Path, line: str, reason: str) -> None:
    reqs = parse_requirements(write(tmp_path, "requirements.txt", f"pandas==2.0.3\n{line}\n"))
    result = check_pinned(reqs)
    assert result.id == "requirements.pinned" and result.status is Status.WARN
    (finding,) = result.findings
    assert (finding.file, finding.line) == ("requirements.txt", 2)
    assert f"numpy is not pinned ({reason})" in finding.message
    assert checks.REQUIREMENTS_PINNED.apply_strict(check_pinned(reqs)).status is Status.FAIL


def test_cycle_names_both_files(tmp_path: Path) -> None:
    write(tmp_path, "requirements.txt", "a==1\n-r sub/b.txt\n")
    write(tmp_path, "sub/b.txt", "b==1\n\n--requirement=../requirements.txt\n")
    reqs = parse_requirements(tmp_path / "requirements.txt")
    (finding,) = errors(reqs.findings)
    assert (finding.file, finding.line) == ("sub/b.txt", 3)
    assert "sub/b.txt includes requirements.txt" in finding.message
    assert "already includes sub/b.txt" in finding.message


def test_missing_include_names_the_including_line(tmp_path: Path) -> None:
    write(tmp_path, "requirements.txt", "a==1\n-rbase.txt\n")
    (finding,) = errors(parse_requirements(tmp_path / "requirements.txt").findings)
    assert (finding.file, finding.line) == ("requirements.txt", 2)
    assert "base.txt does not exist" in finding.message


def test_include_relative_to_including_file(tmp_path: Path) -> None:
    write(tmp_path, "requirements.txt", "-r reqs/a.txt\n")
    write(tmp_path, "reqs/a.txt", "-r b.txt\n")  # reqs/b.txt, not ./b.txt
    write(tmp_path, "reqs/b.txt", "numpy==1.24.4\n")
    reqs = parse_requirements(tmp_path / "requirements.txt")
    assert reqs.ok and reqs.install_lines() == ["numpy==1.24.4"]


def test_env_var_warns(tmp_path: Path) -> None:
    reqs = parse_requirements(write(tmp_path, "requirements.txt",
                                    "a==1\n--extra-index-url https://${TOKEN}@pkgs.example.com/simple\n"))
    env_var, source = sorted(warnings_(reqs.findings), key=lambda f: "outside it" in f.message)
    assert env_var.line == 2 and "${TOKEN}" in env_var.message
    assert reqs.option_lines() == ["--extra-index-url https://${TOKEN}@pkgs.example.com/simple"]
    # The package choosing an index is never silent either.
    assert source.line == 2 and source.details == {
        "option": "--extra-index-url", "source": "https://${TOKEN}@pkgs.example.com/simple"}
    assert "points the installer at a source outside it" in source.message


def test_index_and_url_find_links_are_reported(tmp_path: Path) -> None:
    reqs = parse_requirements(write(tmp_path, "requirements.txt",
                                    "--index-url https://mirror.example/simple\n"
                                    "--find-links https://wheels.example/\nsix==1.16.0\n"))
    found = {(f.line, f.details.get("option")) for f in warnings_(reqs.findings)}
    assert found == {(1, "--index-url"), (2, "--find-links")}


def test_vcs_with_commit_warns_and_is_installable(tmp_path: Path) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    reqs = parse_requirements(write(tmp_path, "requirements.txt",
                                    f"git+https://github.com/x/mylib.git@{commit}#egg=mylib\n"))
    (finding,) = reqs.findings
    assert finding.severity is Severity.WARNING and finding.line == 1
    assert reqs.ok
    assert reqs.install_lines() == [f"mylib @ git+https://github.com/x/mylib.git@{commit}"]


def test_url_archive_warns(tmp_path: Path) -> None:
    reqs = parse_requirements(write(
        tmp_path, "requirements.txt",
        "https://files.example.com/mylib-1.0-py3-none-any.whl\n"))
    assert [f.severity for f in reqs.findings] == [Severity.WARNING]
    assert reqs.names() == {"mylib"}


def test_contradicting_duplicate_warns(tmp_path: Path) -> None:
    reqs = parse_requirements(write(tmp_path, "requirements.txt", "numpy==1.24.4\nnumpy==1.26.0\n"))
    (finding,) = warnings_(reqs.findings)
    assert finding.line == 2 and "required twice" in finding.message


def test_local_find_links_is_resolved_inside_the_package(tmp_path: Path) -> None:
    (tmp_path / "wheels").mkdir()
    write(tmp_path, "reqs/requirements.txt", "-f ../wheels\nnumpy==1.24.4\n")
    reqs = parse_requirements(tmp_path / "reqs" / "requirements.txt", tmp_path)
    assert reqs.ok
    assert reqs.option_lines() == [f"--find-links {(tmp_path / 'wheels').resolve()}"]
    write(tmp_path, "requirements.txt", "numpy==1.24.4\n--find-links=../elsewhere\n")
    (finding,) = errors(parse_requirements(tmp_path / "requirements.txt").findings)
    assert finding.line == 2 and "outside the package" in finding.message


def test_constraint_with_extras_fails(tmp_path: Path) -> None:
    write(tmp_path, "requirements.txt", "a==1\n-c c.txt\n")
    write(tmp_path, "c.txt", "pandas[excel]==2.0.3\n")
    (finding,) = errors(parse_requirements(tmp_path / "requirements.txt").findings)
    assert (finding.file, finding.line) == ("c.txt", 1)


def test_hash_without_pin_fails(tmp_path: Path) -> None:
    reqs = parse_requirements(write(tmp_path, "requirements.txt", f"numpy>=1 --hash={SHA}\n"))
    (finding,) = errors(reqs.findings)
    assert "not pinned with ==" in finding.message and finding.line == 1


def test_utf16_is_read_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_bytes("numpy==1.24.4\r\npandas==2.0.3\r\n".encode("utf-16"))
    reqs = parse_requirements(path)
    assert reqs.ok and reqs.install_lines() == ["numpy==1.24.4", "pandas==2.0.3"]
    assert "UTF-16" in warnings_(reqs.findings)[0].message


def test_missing_top_file_is_unreadable(tmp_path: Path) -> None:
    reqs = parse_requirements(tmp_path / "requirements.txt")
    assert not reqs.readable and not reqs.ok


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from(list("ab-=<>~!;[],.@#\\\n \"'$:/rce0123456789")),
                    max_size=80))
def test_never_raises(tmp_path: Path, text: str) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(text, encoding="utf-8")
    reqs = parse_requirements(path)
    check_parse(reqs)
    check_pinned(reqs)
    for line in reqs.install_lines():
        assert "\n" not in line


@pytest.mark.parametrize("line", ["foo_==1.0", "foo_bar_", "foo_[extra]==1.0 ; python_version>'3'",
                                  "_foo==1.0", "foo.==1.0"])
def test_names_pep508_forbids_are_refused_at_their_line(tmp_path: Path, line: str) -> None:
    """packaging accepts 'foo_' and normalizes it to 'foo-', not a requirement (BUG-8)."""
    path = write(tmp_path, "requirements.txt", f"numpy==1.26.4\n{line}\n")
    reqs = parse_requirements(path, tmp_path)
    assert not reqs.ok
    (finding,) = errors(reqs.findings)
    assert (finding.file, finding.line) == ("requirements.txt", 2)
    assert finding.message.startswith(f"not a valid requirement: {line!r}")
