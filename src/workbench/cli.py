"""The ``workbench`` command: a thin layer over the Python API.

Each subcommand parses its arguments and calls one library function; everything it does
can be done from Python (and the tests call both).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from workbench.errors import WorkbenchError

__all__ = ["build_parser", "main"]


def _cmd_run(args: argparse.Namespace) -> int:
    from workbench.runner import load_suite, run_suite

    if args.resume is None and args.suite is None:
        raise SystemExit("workbench run: give --suite NAME_OR_PATH (or --resume RUN_ID)")
    if args.dry_run:
        suite = load_suite(args.suite)
        print(f"suite {suite.name!r} ({suite.path}) is valid: {len(suite.runs)} notebook runs")
        for r in suite.runs:
            print(f"  {r.label:40s} timeout {r.timeout_s:g} s  {dict(r.parameters)}")
        return 0
    outcome = run_suite(
        args.suite,
        run_id=args.run_id,
        resume=args.resume,
        jobs=args.jobs,
        progress=not args.no_progress,
    )
    print(
        f"run {outcome.run_id}: {len(outcome.statuses) - len(outcome.failed)}/"
        f"{len(outcome.statuses)} notebooks finished"
    )
    for label in outcome.failed:
        entry = next(e for e in outcome.meta["notebooks"] if e["label"] == label)
        print(f"  {entry['status']}: {label}: {entry.get('error', '')}", file=sys.stderr)
    if outcome.report is not None:
        print(f"report: {outcome.report}")
    code = 0 if outcome.ok else 1
    if args.fail_on_regression is not None:
        from workbench.compare import regression_gate

        code = max(code, regression_gate(outcome.run_id, args.fail_on_regression))
    return code


def _cmd_report(args: argparse.Namespace) -> int:
    from workbench.config import reports_dir
    from workbench.report import build_report
    from workbench.results import run_dir_for

    run_dir = reports_dir() / "latest" if args.run_id == "latest" else run_dir_for(args.run_id)
    if not run_dir.is_dir():
        raise WorkbenchError(f"no such run: {run_dir}")
    page = build_report(run_dir.resolve())
    print(page)
    if args.check:
        from workbench.report.browser import check_in_browser

        check = check_in_browser(page, page.parent / "screenshot.png")
        print(
            f"chromium: {check.tables} tables, {check.svgs} plots, {check.images} images "
            f"shown; screenshot {check.screenshot}"
        )
        for problem in check.console_errors + check.external_requests:
            print(f"  problem: {problem}", file=sys.stderr)
        return 0 if check.ok else 1
    return 0


def _cmd_claims(args: argparse.Namespace) -> int:
    from workbench.claims import audit, load_claims

    findings = audit(load_claims(), include_ok=args.all)
    for f in findings:
        nums = ", ".join(f"{k} = {v:g}" for k, v in f.numbers.items())
        print(f"[{f.severity}] {f.message}\n    {nums}")
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from workbench.results import list_runs

    for run_id in list_runs():
        print(run_id)
    return 0


def _add_command(sub, name: str, help_: str, module: str) -> None:
    """Wire a subcommand implemented in ``module`` as ``add_<name>_arguments(parser)`` and
    ``run_<name>(args) -> int``. The module is imported here, so ``--help`` lists its options;
    an import error in it is a bug and surfaces as one."""
    impl = importlib.import_module(module)
    p = sub.add_parser(name, help=help_, description=help_)
    getattr(impl, f"add_{name}_arguments")(p)
    p.set_defaults(func=getattr(impl, f"run_{name}"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Turn the migration plan's performance promises into evidence: run "
        "benchmark suites of notebooks, serve the reference services, load-test them, and "
        "build the HTML report.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "run",
        help="run a suite of notebooks and build its report",
        description="Validate a suite, execute its notebooks with papermill into "
        "reports/<run-id>/, keep every result that finished, build index.html "
        "and point reports/latest at it. Exits 1 if any notebook failed.",
    )
    p.add_argument(
        "--suite",
        help="suite name in data/suites/ (quick, default, full) or a path to a suite YAML file",
    )
    p.add_argument("--jobs", type=int, default=1, help="notebooks run at once (default 1)")
    p.add_argument(
        "--resume", metavar="RUN_ID", help="re-run only the notebooks of RUN_ID that did not finish"
    )
    p.add_argument("--run-id", help="name of the new run (default: time-suite-random)")
    p.add_argument(
        "--fail-on-regression",
        type=float,
        metavar="PCT",
        help="exit non-zero when a figure is PCT%% worse than the baseline run",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="validate the suite and list what would run, without running it",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "report",
        help="(re)build the HTML report of a run",
        description="Write reports/<RUN_ID>/index.html from the run's results.",
    )
    p.add_argument("run_id", metavar="RUN_ID", help="a run id, or 'latest'")
    p.add_argument(
        "--check",
        action="store_true",
        help="open the page in headless Chromium: fail on console errors, external requests "
        "or broken images, and keep screenshot.png in the run folder",
    )
    p.set_defaults(func=_cmd_report)

    _add_command(
        sub,
        "serve",
        "start the reference services (foreground, Ctrl-C stops)",
        "workbench.services.launcher",
    )
    _add_command(sub, "load", "run a Locust load test against the services", "workbench.load")
    _add_command(sub, "compare", "compare two runs figure by figure", "workbench.compare")

    p = sub.add_parser("claims", help="print the audit of the plan's own numbers")
    p.add_argument("--all", action="store_true", help="also list the checks that passed")
    p.set_defaults(func=_cmd_claims)

    p = sub.add_parser("runs", help="list the runs in reports/")
    p.set_defaults(func=_cmd_runs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``workbench`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except WorkbenchError as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("workbench: interrupted; finished results were kept", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
