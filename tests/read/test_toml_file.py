"""envcheck.read.toml_file: TOML read safely, and the lines findings point at."""

from __future__ import annotations

from pathlib import Path

from envcheck.read.toml_file import load_toml

TEXT = '''# a lock
version = 1

[[package]]
name = "a"
"quoted" = 1

[[package]]  # second
name = "b"
deps = ['x']
'''


def test_lines_of_tables_keys_and_strings(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text(TEXT, encoding="utf-8")
    doc, problem = load_toml(path, "x.toml")
    assert problem is None and doc is not None
    assert [p["name"] for p in doc.data["package"]] == ["a", "b"]
    assert doc.table_lines("package") == [4, 8]
    assert doc.key_line("name", 8) == 9 and doc.key_line("quoted") == 6
    assert doc.key_line("name", 4, 5) is None  # [start, end)
    assert doc.string_line("x", 8) == 10 and doc.string_line("zz") is None
    assert doc.header_line("package") is None  # an array of tables is not [package]


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text('a = 1\nb = "unterminated\n', encoding="utf-8")
    doc, problem = load_toml(path, "x.toml")
    assert doc is None and problem is not None
    assert problem.line == 2 and problem.message.startswith("x.toml is not valid TOML: ")


def test_deep_nesting_is_refused_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text("a = " + "[" * 50_000 + "]" * 50_000 + "\n", encoding="utf-8")
    doc, problem = load_toml(path, "x.toml")
    assert doc is None and problem is not None and problem.file == "x.toml"
