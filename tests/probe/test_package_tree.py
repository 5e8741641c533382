"""package_tree: the backstop that sees what the probe changed in the package folder."""

from __future__ import annotations

import os
from pathlib import Path

from envcheck.probe import package_tree


def test_added_removed_and_changed(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("1")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("2")
    before = package_tree.snapshot(tmp_path)
    assert set(before.entries) == {"a.txt", "sub", os.path.join("sub", "b.txt")}
    (tmp_path / "a.txt").write_text("longer")
    (tmp_path / "sub" / "b.txt").unlink()
    (tmp_path / "cache.bin").write_bytes(b"x")
    assert package_tree.changes(before, package_tree.snapshot(tmp_path)) == [
        "a.txt (changed)", "cache.bin (added)", "sub (changed)",
        os.path.join("sub", "b.txt") + " (removed)"]


def test_a_same_size_rewrite_through_a_hard_link_with_the_old_mtime_shows(
        tmp_path: Path) -> None:
    """The attack that beat 0.1.0's (size, mtime, mode) comparison."""
    pkg, scratch = tmp_path / "pkg", tmp_path / "tmp"
    pkg.mkdir()
    scratch.mkdir()
    target = pkg / "metadata.yaml"
    target.write_text("name: honest\n")
    old = target.stat()
    before = package_tree.snapshot(pkg)
    link = scratch / "handle"
    os.link(target, link)
    assert package_tree.changes(before, package_tree.snapshot(pkg)) == [
        "metadata.yaml (hard-linked from elsewhere)"]
    link.write_text("name: forged\n")  # same size
    os.utime(link, ns=(old.st_atime_ns, old.st_mtime_ns))
    link.unlink()  # the link count is back to 1: only the ctime tells
    after = package_tree.snapshot(pkg)
    assert target.stat().st_size == old.st_size and target.stat().st_mtime_ns == old.st_mtime_ns
    assert package_tree.changes(before, after) == ["metadata.yaml (changed)"]


def test_a_tree_past_the_limit_says_so(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"f{i}").write_text("x")
    snap = package_tree.snapshot(tmp_path, limit=3)
    assert snap.truncated and len(snap.entries) == 3
    assert not package_tree.snapshot(tmp_path).truncated
