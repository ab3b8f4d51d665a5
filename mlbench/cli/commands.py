"""The mlbench command: a thin layer of click over mlbench.api.

Exit codes: 0 every job ok or skipped; 1 some job failed, timed out or crashed; 2 bad input
(nothing ran); 3 the dataset could not be had; 4 the disk filled; 5 `mlbench compare
--fail-on`: a later run breaks a threshold (one line per breach; the comparison is still
written); 6 `compare --fail-on` broke nothing but could not judge everything (one line
saying why: jobs disturbed, nothing in common, runs not like for like); 7 `mlbench export`:
the tracker could not be reached or refused the export (one line; the run is untouched,
export again); 130 interrupted
by Ctrl-C, 143 stopped by SIGTERM (for 4, 130 and 143 finished jobs are kept and --resume
finishes the run).
The options of ``mlbench run`` are made from mlbench.running.settings, which the Python API's
keyword arguments come from too.
A run ends with its report; a report that cannot be written is a warning, never a change of
exit code: the results are saved before it starts.
"""

from __future__ import annotations

import _thread
import atexit
import gc
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from mlbench.errors import DatasetUnavailable, DiskFull, Terminated, UsageError
from mlbench.running.contention import BusyWatch
from mlbench.running.local_executor import start_workers
from mlbench.running.settings import (
    CLI_SETTINGS,
    RUN_SETTINGS,
    SETTINGS,
    Setting,
    bind,
    to_config,
)

if TYPE_CHECKING:  # imported where used: `mlbench --help` stays fast
    import pandas as pd
    from rich.table import Table
    from rich.text import Text

    from mlbench.contract.registry import ModelEntry, Registry
    from mlbench.results.run import Run

EXIT_JOBS_FAILED, EXIT_USAGE, EXIT_DATASET, EXIT_DISK_FULL, EXIT_INTERRUPTED = 1, 2, 3, 4, 130
EXIT_FAIL_ON = 5  # compare --fail-on: a threshold broken, as pytest-benchmark's compare-fail
EXIT_INCONCLUSIVE = 6  # compare --fail-on: nothing broken, but something could not be judged
EXIT_EXPORT = 7  # export: the tracker unreachable or refusing; the run folder is untouched
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143, the shell's convention for a SIGTERM death


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"mlbench: error: {message}", err=True)
    sys.exit(code)


def warn(message: str) -> None:
    """One warning line on stderr: something was skipped, and the command went on."""
    click.echo(f"mlbench: warning: {message}", err=True)


def friendly(function: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the errors a user can fix into one line and an exit code, never a traceback."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
        # Ctrl-C as Python handles it, but recorded: where ignored (a background job) or
        # handled by someone else, left alone.
        counted = main_thread and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        if counted:
            signal.signal(signal.SIGINT, _interrupt)
        unraisable = sys.unraisablehook
        sys.unraisablehook = _stops_not_swallowed(unraisable)
        _terminated.clear()
        _interrupted.clear()
        try:
            result = function(*args, **kwargs)
            if _interrupted.is_set():  # swallowed where it landed (a finalizer): still a stop
                raise KeyboardInterrupt
            return result
        except UsageError as error:
            fail(str(error))
        except DatasetUnavailable as error:
            fail(str(error), EXIT_DATASET)
        except DiskFull as error:
            fail(str(error), EXIT_DISK_FULL)
        except Terminated:
            sys.exit(EXIT_TERMINATED)
        except KeyboardInterrupt:
            sys.exit(EXIT_INTERRUPTED)
        except Exception:
            if _terminated.is_set():
                # SIGTERM landed while a C extension was importing or calling back, and it
                # turned our Terminated into its own error (pybind11: "ImportError:
                # initialization failed"): still a termination, not a failure.
                sys.exit(EXIT_TERMINATED)
            raise
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)
            if counted:
                signal.signal(signal.SIGINT, signal.default_int_handler)
            sys.unraisablehook = unraisable

    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    return wrapper


_terminated = threading.Event()  # set by SIGTERM, whatever becomes of the exception it raises


def _terminate(signum: int, frame: Any) -> None:
    _terminated.set()
    raise Terminated()


# Set by Ctrl-C (SIGINT). Python raises KeyboardInterrupt wherever the signal lands, and one
# that lands in a finalizer (a multiprocessing connection's __del__) is printed as
# "Exception ignored in ..." and lost: the command checks this instead of trusting it.
_interrupted = threading.Event()


def _interrupt(signum: int, frame: Any) -> None:
    _interrupted.set()
    raise KeyboardInterrupt


def _stops_not_swallowed(
        previous: Callable[[sys.UnraisableHookArgs], Any]
) -> Callable[[sys.UnraisableHookArgs], Any]:
    """An unraisable-exception hook that takes a Ctrl-C or SIGTERM which landed in a
    finalizer, where Python would print "Exception ignored in ..." and go on, and raises it
    again in the main thread as the signal it was, where it stops the command."""

    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        kind = unraisable.exc_type
        if kind is None or not issubclass(kind, KeyboardInterrupt):
            previous(unraisable)
            return
        stop = signal.SIGTERM if issubclass(kind, Terminated) else signal.SIGINT
        (_terminated if stop == signal.SIGTERM else _interrupted).set()
        # From another thread, so it lands once this hook and the finalizer have returned
        # (raised in here, it would be swallowed again); one that lands in another
        # finalizer comes back here.
        again = threading.Timer(0.01, _thread.interrupt_main, (stop,))
        again.daemon = True
        again.start()

    return hook


class OneLineErrors(click.Group):
    """click's own parse errors (a bad option name, a value of the wrong type) as one line and
    exit 2, like every other bad input, instead of click's three-line usage message."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("standalone_mode", True) is False:
            return super().main(*args, **kwargs)
        # Everything is written and closed when a command returns: spare the interpreter's
        # garbage collections at exit, about 0.2 s with pandas loaded, on every command.
        atexit.unregister(gc.freeze)  # once, however often main is called in one process
        atexit.register(gc.freeze)
        try:
            return super().main(*args, **{**kwargs, "standalone_mode": False})
        except click.exceptions.NoArgsIsHelpError as error:  # plain `mlbench`: the help
            error.show()
            sys.exit(error.exit_code)
        except click.UsageError as error:
            command = error.ctx.command_path if error.ctx else "mlbench"
            fail(f"{' '.join(error.format_message().split())} (see {command} --help)")
        except click.ClickException as error:
            error.show()
            sys.exit(error.exit_code)
        except click.Abort:
            sys.exit(EXIT_INTERRUPTED)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlbench")
def main() -> None:
    """Compare classifiers on MNIST fairly and fast."""


def complete_models(ctx: click.Context, param: click.Parameter,
                    incomplete: str) -> list[str]:
    """Shell completion of --models: model and tag names, after any already given."""
    from mlbench.contract.registry import load_registry

    given, comma, last = incomplete.rpartition(",")
    registry = load_registry()
    return [given + comma + name for name in sorted({*registry.models, *registry.tags()})
            if name.startswith(last)]


def complete_datasets(ctx: click.Context, param: click.Parameter,
                      incomplete: str) -> list[str]:
    """Shell completion of --dataset: the datasets the plugins register."""
    from mlbench.contract.registry import load_registry

    return [name for name in sorted(load_registry().datasets) if name.startswith(incomplete)]


COMPLETIONS = {"models": complete_models, "dataset": complete_datasets}


def option(setting: Setting) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The click option of one setting."""
    kind: dict[str, Any] = {} if setting.is_flag else {
        "type": click.Choice(setting.choices) if setting.choices else setting.cli_type}
    if setting.flag_value is not None:  # the value may be left out: --mlflow alone
        kind["flag_value"] = setting.flag_value
    return click.option(
        setting.option, *setting.aliases, *([setting.short] if setting.short else []),
        setting.name,
        default=setting.default, help=setting.help, metavar=setting.metavar,
        show_default=setting.show_default, multiple=setting.multiple,
        shell_complete=COMPLETIONS.get(setting.name), is_flag=setting.is_flag, **kind)


def setting_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Every command-line setting as a click option, in the declaration's order."""
    for setting in reversed(CLI_SETTINGS):
        command = option(setting)(command)
    return command


plugin_option = option(next(setting for setting in SETTINGS if setting.name == "plugins"))


@main.command()
@setting_options
@click.pass_context
@friendly
def run(ctx: click.Context, resume: str | None, quiet: bool, no_report: bool,
        columns: str | None, wide: bool, output_format: str, mlflow: str | None,
        **settings: Any) -> None:
    """Train and test models, print the results table sorted by accuracy, then write the
    report (report.html, report.md, charts) into the run folder."""
    as_json = output_format == "json"
    # With --format json, stdout holds the one JSON document alone: whatever else would
    # print there meanwhile (a plugin as it loads, a library) goes to stderr.
    with redirect_stdout(sys.stderr) if as_json else nullcontext():
        results, report, saved = run_and_report(ctx, resume, quiet, no_report, columns, wide,
                                                as_json, mlflow, settings)
    if as_json:
        from mlbench.reporting import json_documents

        echo_json(json_documents.estimate_document(results) if saved is None else
                  json_documents.run_document(saved, report))
    if not settings["estimate"] and not results["status"].isin(["ok", "skipped"]).all():
        sys.exit(EXIT_JOBS_FAILED)


def run_and_report(ctx: click.Context, resume: str | None, quiet: bool, no_report: bool,
                   columns: str | None, wide: bool, as_json: bool, mlflow: str | None,
                   settings: dict[str, Any]
                   ) -> tuple[pd.DataFrame, dict[str, Path] | None, Run | None]:
    """``mlbench run``'s work: the results (or the estimate), the report's files where one
    was written, and the saved run, opened once for the table, the report and the JSON (None
    for an estimate); the tables on stdout unless ``as_json``."""
    # Watched from here until the first job starts (or, for --estimate, until it ends), so
    # the 0.3 s or more it needs overlaps with the start-up below.
    busy = BusyWatch()
    from mlbench.cli.extra_columns import check_columns

    extra = check_columns(columns)
    if mlflow is not None and not settings["estimate"]:
        check_mlflow_option(mlflow or None)  # no MLflow, or a dead server: before any job
    checked = None if resume else to_config(bind((), settings))  # once: api.run_config takes it
    if checked is not None and checked[0].executor == "local":
        # Once the settings are known to be good: the workers' server preloads scikit-learn
        # and discovers the plugins (about a second) while this process imports the rest and
        # loads the data. Jobs re-run the `mlbench` script, which imports the CLI: preloaded
        # too.
        start_workers(preload=["mlbench.cli.commands"], plugin_paths=checked[0].plugin_paths)
    from mlbench.cli.live_progress import ConsoleProgress
    from mlbench.running import api

    progress = ConsoleProgress(quiet=quiet, extra=extra, busy=busy,
                               table=not as_json, wide=wide)
    if checked is None:
        given = [setting.option for setting in RUN_SETTINGS
                 if ctx.get_parameter_source(setting.name)
                 == click.core.ParameterSource.COMMANDLINE]
        if given:
            fail(f"--resume takes its settings from {resume}/run.json; drop {', '.join(given)}")
        results = api.resume(str(resume), progress=progress)
    else:
        results = api.run_config(*checked, progress=progress, output_dir=settings["output_dir"],
                                 name=settings["name"], estimate=settings["estimate"])
    if settings["estimate"]:
        if not as_json:
            from mlbench.cli.estimate_table import print_estimate

            print_estimate(results)
        line = busy.busy_line(estimate=True)
        if line is not None:
            click.echo(line, err=True)
        return results, None, None
    if not quiet:  # a model that did not converge ends ok: its warning must not stay unseen
        from mlbench.reporting.tables import warning_lines

        for line in warning_lines(results):
            click.echo(f"mlbench: note: {line}", err=True)
    run_dir = results.attrs.get("run_dir") or str(resume)
    from mlbench.results.run import Run

    saved = progress.run or Run.open(run_dir, warn=warn)  # the table's, where it printed one
    report = None if no_report else report_after_run(run_dir, quiet, saved)
    if mlflow is not None:
        export_after_run(run_dir, mlflow or None, quiet)
    return results, report, saved


def echo_json(document: dict[str, Any]) -> None:
    """One JSON document on stdout: strict JSON, NaN and infinity as null."""
    from mlbench.reporting.json_documents import dumps

    click.echo(dumps(document))


def report_after_run(run_dir: str, quiet: bool, run: Run | None = None
                     ) -> dict[str, Path] | None:
    """The report at the end of a run (``run``: the saved run as the terminal read it, so
    no file is read twice): its failure is one warning, the results stay. Returns the
    report's files, or None where it was not written."""
    try:
        with report_interrupts(run_dir):
            from mlbench.reporting.report import build_report
            from mlbench.results.run import Run

            written = build_report(run or Run.open(run_dir, warn=warn))
    except Exception as error:  # any report bug must not cost the run
        click.echo(f"mlbench: warning: report not written ({type(error).__name__}: {error}); "
                   f"the results are saved; retry with: mlbench report {run_dir}", err=True)
        return None
    if not quiet:
        click.echo(f"mlbench: report in {written.html}", err=True)
    return written._asdict()


EVERY_MODEL = "*"  # `list --params` given without a value


def check_mlflow_option(tracking_uri: str | None) -> None:
    """--mlflow's tracker checked before the run: bad input, so exit 2 and nothing run."""
    from mlbench.reporting.mlflow_export import ExportFailed, check_tracker

    try:
        check_tracker(tracking_uri)
    except ExportFailed as error:
        fail(f"--mlflow: {error}")


def export_after_run(run_dir: str, tracking_uri: str | None, quiet: bool) -> None:
    """The export at the end of a run (--mlflow): its failure is one warning, the results
    stay, and the line says how to export them later."""
    retry = shlex.join(["mlbench", "export", "mlflow", run_dir,
                        *(["--tracking-uri", tracking_uri] if tracking_uri else [])])
    from mlbench.reporting.mlflow_export import ExportFailed, export_run
    from mlbench.results.run import Run

    try:
        exported = export_run(Run.open(run_dir), tracking_uri)
    except Exception as error:  # an export that fails, even by a bug, must not cost the run
        said = (str(error) if isinstance(error, ExportFailed | UsageError)
                else f"{type(error).__name__}: {error}")
        warn(f"not exported to MLflow: {said}; the results are saved; retry with: {retry}")
        return
    if not quiet:
        click.echo(f"mlbench: {exported.message()}", err=True)


@main.command(name="list")
@plugin_option
@click.option("--params", "show_params", is_flag=False, flag_value=EVERY_MODEL, default=None,
              metavar="[MODELS]", shell_complete=complete_models,
              help="Also list each model's parameters and their defaults (set them with "
                   "--param MODEL.NAME=VALUE); --params svm,knn (models or tags) lists only "
                   "theirs.")
@friendly
def list_(plugins: tuple[str, ...], show_params: str | None) -> None:
    """Show models (and whether their framework is installed), datasets and plugins, and
    where each came from."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from mlbench.contract.registry import load_registry

    registry = load_registry(plugins)
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 1000)
    if show_params not in (None, EVERY_MODEL):  # the params of the models named, alone
        console.print(params_table(registry, registry.select_models(show_params)))
        return

    models = Table(title="Models", title_justify="left")
    for column in ("name", "tags", "input", "devices", "plugin", "framework", "description"):
        models.add_column(column)
    for name in sorted(registry.models):
        entry = registry.models[name]
        models.add_row(*(Text(value) for value in (
            name, ", ".join(entry.tags), entry.input, ", ".join(entry.devices), entry.plugin)),
            framework_cell(entry), Text(entry.description))
    tables = [models]
    if show_params:
        tables.append(params_table(registry))
    datasets = Table(title="Datasets", title_justify="left")
    for column in ("name", "plugin", "description"):
        datasets.add_column(column)
    for name in sorted(registry.datasets):
        item = registry.datasets[name]
        datasets.add_row(Text(name), Text(item.plugin), Text(item.description))
    sources = Table(title="Plugins", title_justify="left")
    for column in ("name", "source", "registers", "status"):
        sources.add_column(column)
    for info in registry.plugins.values():
        registers = ", ".join(info.models + info.datasets)
        # A plugin that loaded but had what it registered refused is not "ok".
        trouble = info.error or "; ".join(problem.split(": ", 1)[-1] for problem in info.problems)
        status = Text(trouble, style="red") if trouble else Text("ok", style="green")
        sources.add_row(Text(info.name), Text(info.source), Text(registers), status)
    tags = Table(title="Tags", title_justify="left")
    tags.add_column("tag")
    tags.add_column("models")
    for tag, names in registry.tags().items():
        tags.add_row(Text(tag), Text(", ".join(names)))
    for table in (*tables, frameworks_table(), tags, datasets, sources):
        console.print(table)
    for problem in registry.problems:
        click.echo(f"mlbench: warning: {problem}", err=True)


def frameworks_table() -> Table:
    """The deep-learning frameworks installed and which build each is (CPU, CUDA 12.8):
    a CPU build never sees a GPU, whatever the machine has."""
    from rich.table import Table

    from mlbench.running.environment import framework_builds, library_versions

    versions = library_versions()
    table = Table(title="Frameworks", title_justify="left")
    for column in ("framework", "version", "build"):
        table.add_column(column)
    for framework, build in framework_builds().items():
        version = versions.get(framework) or versions.get(f"{framework}-cpu", "?")
        table.add_row(framework, version, build)
    return table


def framework_cell(entry: ModelEntry) -> Text:
    """What a model needs to run: its modules, found or not (and how to install them)."""
    from rich.text import Text

    if not entry.requires:
        return Text("")
    missing = entry.missing()
    if not missing:
        return Text(f"{', '.join(entry.requires)}: installed", style="green")
    hint = f"; {entry.install}" if entry.install else ""
    return Text(f"{', '.join(missing)}: not installed{hint}", style="red")


def params_table(registry: Registry, names: list[str] | None = None) -> Table:
    """The parameters of each model (of ``names``, else all) with their defaults, as --param
    takes them."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Parameters (set with --param MODEL.NAME=VALUE, vary with --sweep)",
                  title_justify="left")
    for column in ("model", "param", "default"):
        table.add_column(column)
    for name in names or sorted(registry.models):
        for param, default in registry.models[name].defaults.items():
            table.add_row(Text(name), Text(param), Text(repr(default)))
    return table


@contextmanager
def report_interrupts(run_dir: str) -> Iterator[None]:
    """Ctrl-C (or SIGTERM) before or while a report is written: one line (the results are
    saved, how to write the report again) and exit 130 (143). Also where the KeyboardInterrupt
    was swallowed on its way (``_interrupted``)."""
    try:
        if _interrupted.is_set():
            raise KeyboardInterrupt
        yield
        if _interrupted.is_set():
            raise KeyboardInterrupt
    except KeyboardInterrupt as stop:
        click.echo(f"mlbench: interrupted while writing the report; the results are saved "
                   f"in {run_dir}; write the report with: mlbench report {run_dir}", err=True)
        sys.exit(EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED)


@main.command()
@click.argument("run_dir", metavar="RUN_DIR")
@click.option("--output-dir", "-o", "output", metavar="DIR",
              help="Write report.html, report.md and charts/ into DIR instead of the run "
                   "folder (one you cannot write, say).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]),
              default="text", show_default=True,
              help="text: the report's paths; json: one JSON document with every results "
                   "column, the Summary and the report's paths.")
@friendly
def report(run_dir: str, output: str | None, output_format: str) -> None:
    """Write charts, report.html and report.md for a saved run folder; prints their paths."""
    with report_interrupts(run_dir):
        from mlbench.reporting.report import build_report
        from mlbench.results.run import Run

        saved = Run.open(run_dir, warn=warn)
        written = build_report(saved, output)
    if output_format == "json":
        from mlbench.reporting.json_documents import run_document

        echo_json(run_document(saved, written._asdict()))
        return
    for path in written:
        click.echo(str(path))


@main.command()
@click.argument("run_dirs", nargs=-1, metavar="RUN_A RUN_B [RUN ...]")
@click.option("--output-dir", "--output", "-o", "output", metavar="DIR",
              help="Folder for compare.html, compare.md and charts (default: beside the "
                   "runs, in the last run's folder as compare-<A>).")
@click.option("--fail-on", "fail_on", multiple=True, metavar="THRESHOLD",
              help="Exit 5 when a later run breaks it: accuracy:POINTS (accuracy lower beyond "
                   "chance and by more than POINTS percentage points), fit:PERCENT% or "
                   "predict:PERCENT% (time longer beyond the noise within and between runs "
                   "and by more than PERCENT); exit 6 when it cannot decide (jobs disturbed, "
                   "nothing in common, runs not like for like). Repeatable.")
@click.option("--run-noise", "run_noise", type=click.FloatRange(0, 100), default=None,
              metavar="PERCENT",
              help="The noise of a time between two runs, as a standard deviation in percent "
                   "(default: the one measured on 2-core machines, in BENCHMARKS.md; the "
                   "comparison states the one it used).")
@click.option("--allow-unlike", is_flag=True,
              help="Gate times with --fail-on even when the runs are not like for like "
                   "(another machine, other library versions).")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]),
              default="table", show_default=True,
              help="json: one JSON document on stdout instead of the tables (each run's "
                   "results, the figures, the changes and the verdicts).")
@friendly
def compare(run_dirs: tuple[str, ...], output: str | None, fail_on: tuple[str, ...],
            run_noise: float | None, allow_unlike: bool, output_format: str) -> None:
    """Compare saved runs: each later run against the first, per model: accuracy change in
    points and time ratios with 95% intervals, coloured where beyond chance or the timing
    noise (green better, red worse), and what differs between the runs. Writes compare.html,
    compare.md and charts; the last line says where."""
    from mlbench.cli.compare_display import print_comparison
    from mlbench.reporting.compare import compare_runs, open_runs
    from mlbench.reporting.compare_gate import fail_on_section, gate, parse_fail_on
    from mlbench.reporting.compare_report import write_report

    thresholds = parse_fail_on(fail_on)  # a bad threshold fails before anything is read
    comparison = compare_runs(open_runs(run_dirs, warn=warn), **(
        {} if run_noise is None else {"between": run_noise / 100}))
    found = gate(comparison, thresholds, allow_unlike)
    as_json = output_format == "json"
    if not as_json:
        print_comparison(comparison)
    folder = write_report(comparison, output,
                          fail_on_section(thresholds, found) if thresholds else None)
    if as_json:
        from mlbench.reporting.json_documents import comparison_document

        echo_json(comparison_document(comparison, found if thresholds else None,
                                      {"html": folder.html, "markdown": folder.markdown}))
    for line in found.broken:
        click.echo(f"mlbench: fail-on: {line}", err=True)
    click.echo(f"mlbench: comparison in {folder.html} (compare.md and charts/ beside it)",
               err=as_json)
    if found.broken:
        sys.exit(EXIT_FAIL_ON)
    if thresholds and found.undecided:
        more = f" (and {len(found.undecided) - 1} more: see {folder.markdown.name})" if len(
            found.undecided) > 1 else ""
        click.echo(f"mlbench: fail-on inconclusive: {found.undecided[0]}{more}", err=True)
        sys.exit(EXIT_INCONCLUSIVE)


@main.command()
@click.argument("folder", required=False, metavar="[FOLDER]",
                default=next(setting.default for setting in SETTINGS
                             if setting.name == "output_dir"))
@click.option("--format", "output_format",
              type=click.Choice(["table", "csv", "markdown", "json"]), default="table",
              show_default=True, help="How to print it: rich tables, one CSV table (a row per "
              "result, its dataset and machine in columns), Markdown, or one JSON document.")
@friendly
def leaderboard(folder: str, output_format: str) -> None:
    """Every run under FOLDER (default: results): per dataset and machine, each model's
    best and latest result, ranked by test accuracy, with the run and commit each came
    from. Unfinished or damaged runs are named on stderr and left out."""
    from mlbench.cli.leaderboard import print_leaderboard
    from mlbench.reporting.leaderboard import build_leaderboard, skipped_line

    board = build_leaderboard(folder)
    for skipped in board.skipped:
        warn(skipped_line(skipped))
    if board.results.empty:
        warn(f"no finished run with an ok job under {folder}")
    print_leaderboard(board, output_format)


@main.group()
def export() -> None:
    """Send a saved run to an experiment tracker."""


@export.command(name="mlflow")
@click.argument("run_dir", metavar="RUN_DIR")
@click.option("--tracking-uri", metavar="URI",
              help="MLflow tracking server or store, e.g. http://127.0.0.1:5000 (default: "
                   "MLflow's own: $MLFLOW_TRACKING_URI, else its local store in the current "
                   "folder).")
@click.option("--experiment", metavar="NAME",
              help="MLflow experiment to put the run in, made if missing (default: mlbench).")
@friendly
def export_mlflow(run_dir: str, tracking_uri: str | None, experiment: str | None) -> None:
    """One MLflow run per job, nested under one for the saved run: params, metrics (accuracy
    and its 95% interval, times, memory, the per-epoch history by step), tags (model,
    device, dataset, commit, machine) and the report as artifacts. Exporting a run again
    adds only the jobs MLflow lacks."""
    from mlbench.reporting.mlflow_export import ExportFailed, export_run
    from mlbench.results.run import Run

    run = Run.open(run_dir, warn=warn)
    try:
        exported = export_run(run, tracking_uri, experiment)
    except ExportFailed as error:
        fail(str(error), EXIT_EXPORT)
    if exported.report_missing:
        warn(f"{run_dir} has no report to attach; mlbench report {run_dir} writes one, "
             "and exporting again attaches it")
    click.echo(f"mlbench: {exported.message()}")


@main.command(name="new-plugin")
@click.argument("name")
@click.option("--dir", "directory", default=".", show_default=True, metavar="DIR",
              help="Where to create the plugin's folder.")
@click.option("--from", "estimator", metavar="CLASS",
              help="Wrap this scikit-learn style classifier (a dotted path, e.g. "
                   "sklearn.ensemble.ExtraTreesClassifier), its params read from it.")
@plugin_option
@friendly
def new_plugin(name: str, directory: str, estimator: str | None,
               plugins: tuple[str, ...]) -> None:
    """Create a working plugin package NAME to start from: model, entry point, test."""
    from mlbench.contract import scaffold
    from mlbench.contract.registry import load_registry

    registry = load_registry(plugins)
    if name in registry.models or name in registry.tags():
        owner = (f"a model of plugin '{registry.models[name].plugin}'"
                 if name in registry.models else "a tag")
        raise UsageError(f"{name!r} is already {owner}; a plugin model needs a name of its "
                         "own (e.g. my-" + name + ")")
    target = scaffold.new_plugin(name, directory, estimator)
    click.echo(f"Created {target}/. Try it:\n" + "\n".join(
        f"  {command}" for command in scaffold.next_steps(name, target)))

