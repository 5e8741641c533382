"""The command line: ``envcheck check|record|lock|env``.  Exit codes: 0 pass, 1 a check
failed, 2 envcheck could not do its job, 130 interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Optional, Sequence

from envcheck.commands import env as env_command
from envcheck.commands.check import check_paths
from envcheck.commands.error_handler import EXIT_ERROR, EXIT_OK, error_handler
from envcheck.commands.lock import lock_package
from envcheck.commands.matrix import (
    parse_axis,
    render_matrix_json,
    render_matrix_text,
    run_matrix,
)
from envcheck.commands.merge import merge_reports
from envcheck.commands.record import record_package
from envcheck.commands.shard_output import render_plan_json, render_plan_text
from envcheck.commands.shards import check_count, check_shard, parse_shard, plan_shards
from envcheck.model.errors import FatalError, UsageError
from envcheck.model.files import write_text_atomic
from envcheck.model.findings import Report
from envcheck.model.options import Options
from envcheck.model.progress import Progress
from envcheck.model.version import __version__
from envcheck.render.report import FORMATS, render, use_colour

COMMANDS = ("check", "record", "lock", "env", "matrix", "merge")


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line raises UsageError (exit 2, one line) like the rest."""

    def error(self, message: str) -> "None":  # type: ignore[override]
        raise UsageError(f"{message} (see 'envcheck {self.prog.split()[-1]} --help')"
                         if " " in self.prog else f"{message} (see 'envcheck --help')")


def _add_env_options(parser: argparse.ArgumentParser) -> None:
    """Options of every command that builds or runs the package's environment."""
    parser.add_argument("--python", metavar="VERSION",
                        help="interpreter to use instead of the one the package asks for")
    parser.add_argument("--installer", choices=("auto", "uv", "pip"), default="auto",
                        help="installer for the environment (default: uv when available)")
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="limit for import+load+predict (default 300, or metadata envcheck.timeout)")
    parser.add_argument("--memory", metavar="SIZE",
                        help="address-space limit for the package's process, e.g. 512M, 4G")
    parser.add_argument("--cache-dir", type=Path, metavar="DIR",
                        help="environment cache (default: $ENVCHECK_CACHE_DIR or the user cache dir)")
    parser.add_argument("--allow-build", action="store_true",
                        help="let the installer build requirements that exist only as "
                             "sdists (their build backend runs, sandboxed); default: wheels only")
    parser.add_argument("--allow-network", action="store_true",
                        help="let the package's code reach the network (closed by default)")
    parser.add_argument("--require-sandbox", action="store_true",
                        help="fail the check when a sandbox layer could not be applied "
                             "(default: a warning naming what was not isolated)")
    parser.add_argument("--ignore-package-settings", action="store_true",
                        help="ignore the envcheck: settings in the package's metadata.yaml "
                             "(tolerances, timeout, allowed warnings, trusted globals)")


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="report format (default: text)")
    parser.add_argument("--output", "-o", type=Path, metavar="FILE",
                        help="write the report to FILE instead of stdout")


TRUST_METAVAR = "MODULE:NAME"  # as the README writes it
TRUST_HELP = "allow module:name or module.* in pickles, knowingly (repeatable)"

EXIT_CODES = """exit codes:
  0    every check passed (warnings allowed unless --strict)
  1    at least one check failed
  2    envcheck could not do its job: bad arguments, not a package, an internal error
  130  interrupted (Ctrl-C)"""

EXAMPLES = """examples:
  envcheck check ./pkg                     every check; builds (or reuses) the env
  envcheck check --static ./pkg            pickles and files only: nothing built, nothing run
  envcheck check --strict --format json -o report.json models/*
  envcheck record ./pkg                    write reference/ (smoke inputs and outputs)
  envcheck matrix ./pkg --with scikit-learn==1.3.2,1.5.2
  envcheck check --list-shards 50 --format json models/*   plan an audit on 50 runners
  envcheck check --shard 3/50 --format json -o shard-3.json models/*
  envcheck merge shard-*.json              one report (and exit code) from every shard
  envcheck env prune --older-than 30"""


def _add_shard_options(parser: argparse.ArgumentParser) -> None:
    """An audit over many CI runners: ``--list-shards N`` plans, ``--shard K/N`` checks."""
    shard = parser.add_mutually_exclusive_group()
    shard.add_argument("--shard", metavar="K/N",
                       help="check only shard K of N (packages sharing an environment stay "
                            "together); the JSON report records it for 'envcheck merge'")
    shard.add_argument("--list-shards", type=int, metavar="N",
                       help="print which packages and environments go to each of N shards "
                            "(text or --format json, a CI matrix), checking nothing")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="envcheck", description=(
        "Will this model package load and predict the same way on a fresh machine,\n"
        "from nothing but what the package declares?"), epilog=f"{EXAMPLES}\n\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"envcheck {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    check = sub.add_parser("check", help="check one or more model packages",
                           epilog=f"{EXAMPLES}\n\n{EXIT_CODES}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("packages", nargs="+", type=Path, metavar="PKG")
    _add_output_options(check)
    check.add_argument("--strict", action="store_true",
                       help="warnings fail too (unpinned requirements, env drift, output "
                            "metadata that does not describe predict(), ...)")
    check.add_argument("--static", action="store_true",
                       help="only read the package and inspect its pickles: no env, no code run")
    check.add_argument("--allow-warning", action="append", default=[], metavar="REGEX",
                       help="downgrade load warnings matching REGEX (repeatable)")
    check.add_argument("--trust-pickle", action="append", default=[], metavar=TRUST_METAVAR,
                       help=TRUST_HELP)
    check.add_argument("--rtol", type=float, help="relative tolerance for predictions (1e-05)")
    check.add_argument("--atol", type=float, help="absolute tolerance for predictions (1e-08)")
    check.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                       help="check N packages at once")
    _add_shard_options(check)
    _add_env_options(check)

    record = sub.add_parser("record", help="write reference/ from the package's own environment")
    record.add_argument("package", type=Path, metavar="PKG")
    record.add_argument("--inputs", type=Path, metavar="FILE",
                        help="smoke inputs, CSV or JSON (default: rows synthesized from metadata)")
    record.add_argument("--force", action="store_true", help="overwrite an existing reference/")
    record.add_argument("--trust-pickle", action="append", default=[], metavar=TRUST_METAVAR,
                        help="allow module:name or module.* in pickles, knowingly (repeatable)")
    _add_env_options(record)

    lock = sub.add_parser("lock", help="pin requirements.txt fully, with hashes (pip-tools)")
    lock.add_argument("package", type=Path, metavar="PKG")
    lock.add_argument("--output", "-o", type=Path, metavar="FILE",
                      help="lock file (default: PKG/requirements.lock)")
    lock.add_argument("--force", action="store_true", help="overwrite an existing lock")
    lock.add_argument("--python", metavar="VERSION", help="target Python version")

    matrix = sub.add_parser("matrix", help="check the package against other versions of "
                            "its dependencies: which ones can it safely move to?")
    matrix.add_argument("package", type=Path, metavar="PKG")
    matrix.add_argument("--with", dest="axes", action="append", required=True,
                        metavar="NAME==V1,V2", help="versions to try for NAME (repeatable: "
                        "every combination is checked)")
    matrix.add_argument("--format", choices=("text", "json"), default="text")
    matrix.add_argument("--output", "-o", type=Path, metavar="FILE")
    matrix.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                        help="check N combinations at once")
    matrix.add_argument("--allow-warning", action="append", default=[], metavar="REGEX")
    matrix.add_argument("--trust-pickle", action="append", default=[], metavar=TRUST_METAVAR,
                        help=TRUST_HELP)
    matrix.add_argument("--rtol", type=float)
    matrix.add_argument("--atol", type=float)
    _add_env_options(matrix)

    merge = sub.add_parser("merge", help="one report from the JSON reports of "
                           "'check --shard K/N' (every shard, once)")
    merge.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json")
    _add_output_options(merge)

    env = sub.add_parser("env", help="the environment cache")
    env_sub = env.add_subparsers(dest="env_command", parser_class=_Parser, metavar="ACTION")
    env_list = env_sub.add_parser("list", help="list cached environments")
    env_list.add_argument("--format", choices=("text", "json"), default="text")
    env_list.add_argument("--bytecode", action="store_true",
                          help="list the bytecode store's entries instead (with --format "
                          "json: an array of them)")
    env_list.add_argument("--cache-dir", type=Path, metavar="DIR")
    prune = env_sub.add_parser("prune", help="remove cached environments (by default only "
                               "incomplete and failed ones)")
    prune.add_argument("--older-than", type=float, metavar="DAYS",
                       help="remove environments not used for DAYS days")
    prune.add_argument("--all", action="store_true", help="remove every environment")
    prune.add_argument("--cache-dir", type=Path, metavar="DIR")
    return parser


def _normalize_argv(argv: Sequence[str]) -> list[str]:
    """``envcheck PKG`` means ``envcheck check PKG``."""
    args = list(argv)
    first = next((a for a in args if not a.startswith("-")), None)
    if first is not None and first not in COMMANDS and not any(
            a in ("-h", "--help", "--version") for a in args[:args.index(first)]):
        args.insert(args.index(first), "check")
    return args


def _options(args: argparse.Namespace) -> Options:
    return Options.validated(
        strict=getattr(args, "strict", False),
        static=getattr(args, "static", False),
        installer=getattr(args, "installer", "auto"),
        python=getattr(args, "python", None),
        timeout_s=getattr(args, "timeout", None),
        memory=getattr(args, "memory", None),
        allow_warnings=list(getattr(args, "allow_warning", []) or []),
        trust_pickle=list(getattr(args, "trust_pickle", []) or []),
        rtol=getattr(args, "rtol", None),
        atol=getattr(args, "atol", None),
        jobs=max(1, getattr(args, "jobs", 1) or 1),
        cache_dir=getattr(args, "cache_dir", None),
        allow_build=getattr(args, "allow_build", False),
        allow_network=getattr(args, "allow_network", False),
        require_sandbox=getattr(args, "require_sandbox", False),
        ignore_package_settings=getattr(args, "ignore_package_settings", False),
    )


def write_output(text: str, output: Optional[Path]) -> None:
    """Write to stdout, or to FILE atomically (a reader never sees half a report)."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return

    try:
        write_text_atomic(output.expanduser(), text)
    except OSError as exc:
        raise FatalError(f"cannot write the report to {output}: {exc.strerror or exc}") from exc


def _progress_for(fmt: str) -> Progress:
    """Progress goes to stderr, only for a person watching a terminal."""
    return Progress(enabled=fmt == "text")


def cmd_check(args: argparse.Namespace) -> int:
    options = _options(args)
    if args.shard is not None:  # a bad K/N is the first thing to hear about
        parse_shard(args.shard)
    if args.list_shards is not None:
        check_count(args.list_shards)
    for path in args.packages:
        if not path.exists():
            raise UsageError(f"{path}: no such file or directory")
    if args.list_shards is not None or args.shard is not None:
        return _cmd_sharded(args, options)
    report = check_paths(args.packages, options, _progress_for(args.format))
    return _write_report(report, args)


def _write_report(report: Report, args: argparse.Namespace) -> int:
    colour = args.output is None and use_colour(sys.stdout)
    write_output(render(report, args.format, colour=colour), args.output)
    return report.exit_code


def _cmd_sharded(args: argparse.Namespace, options: Options) -> int:
    """``--list-shards N`` prints the plan; ``--shard K/N`` checks shard K of it."""
    progress = _progress_for(args.format)
    if args.list_shards is not None:
        if args.format not in ("text", "json"):
            raise UsageError("--list-shards prints the plan as text or json, not "
                             f"{args.format}")
        plan = plan_shards(args.packages, args.list_shards, options, progress)
        write_output((render_plan_json if args.format == "json" else render_plan_text)(plan),
                     args.output)
        return EXIT_OK
    return _write_report(check_shard(args.packages, args.shard, options, progress), args)


def cmd_merge(args: argparse.Namespace) -> int:
    return _write_report(merge_reports(args.reports), args)


def cmd_record(args: argparse.Namespace) -> int:
    options = _options(args)
    message = record_package(args.package, options, args.inputs, args.force,
                             _progress_for("text"))
    print(message)
    return EXIT_OK


def cmd_lock(args: argparse.Namespace) -> int:
    message = lock_package(args.package, args.output, args.force, args.python)
    print(message)
    return EXIT_OK


def cmd_env(args: argparse.Namespace) -> int:
    if args.env_command not in ("list", "prune"):
        raise UsageError("env needs an action: list or prune (see 'envcheck env --help')")
    text = env_command.run(args.env_command, getattr(args, "cache_dir", None), args)
    write_output(text, None)
    return EXIT_OK


def cmd_matrix(args: argparse.Namespace) -> int:
    if not args.package.is_dir():
        raise UsageError(f"{args.package}: not a directory")
    axes = [parse_axis(text) for text in args.axes]
    combos = run_matrix(args.package, axes, _options(args))
    render = render_matrix_json if args.format == "json" else render_matrix_text
    write_output(render(args.package, combos), args.output)
    # 0 when at least one combination is safe to move to; 1 when none is.
    return EXIT_OK if any(c.status.value == "pass" for c in combos) else 1


HANDLERS = {"check": cmd_check, "record": cmd_record, "lock": cmd_lock, "env": cmd_env,
            "matrix": cmd_matrix, "merge": cmd_merge}


def _interruptible() -> None:
    """Ctrl-C ends envcheck with exit 130 even when it was started with SIGINT ignored or
    blocked (both are inherited across exec: a background job of a non-interactive shell, a
    thread of a test runner that masked it), so the exit-code contract always holds."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def main(argv: Optional[Sequence[str]] = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    _interruptible()
    with error_handler():
        args = build_parser().parse_args(_normalize_argv(raw))
        if not args.command:
            build_parser().print_help(sys.stderr)
            return EXIT_ERROR
        return HANDLERS[args.command](args)
    return EXIT_ERROR  # not reached: error_handler exits


if __name__ == "__main__":
    raise SystemExit(main())
