"""`python -m bench [--instances N] [--rounds R] [--quick] [--profile]`: see bench/__init__.py."""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results.json"
DEFAULTS = {"instances": 200, "rounds": 5, "warmup": 5}
QUICK = {"instances": 3, "rounds": 2, "warmup": 1}


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Time bench_ten_steps start to end: opsqa on SQLite, raw SpiffWorkflow in memory, and raw "
        "SpiffWorkflow with a JSON round trip around each user task (the spec by reference as opsqa stores it, "
        "and embedded as the library's own serializer does).",
    )
    parser.add_argument("--instances", type=int, help=f"instances per round and variant "
                        f"(default {DEFAULTS['instances']}; {QUICK['instances']} with --quick)")
    parser.add_argument("--rounds", type=int, help=f"timed rounds (default {DEFAULTS['rounds']})")
    parser.add_argument("--warmup", type=int, help=f"untimed instances per variant first "
                        f"(default {DEFAULTS['warmup']})")
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run; writes no results file")
    parser.add_argument("--output", type=Path, help="results file (default bench/results.json; none with --quick)")
    parser.add_argument("--dir", type=Path, help="where the temporary SQLite database lives (default: the temp dir)")
    parser.add_argument("--profile", action="store_true", help="then profile one round of the opsqa variant")
    parser.add_argument("--no-suite", action="store_true", help="skip the suite (tasks by role, cold start, "
                        "task complete, due-timer pass, a simulated year of 100 projects)")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else DEFAULTS
    for name, value in base.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.instances < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--instances and --rounds must be at least 1, --warmup at least 0")
    if args.output is None and not args.quick:
        args.output = RESULTS
    return args


def _round(variant, count: int) -> tuple[float, list]:
    """Run `count` instances; return instances per second and the results (checked after the clock stops)."""
    gc.collect()
    run_one = variant.run_one
    results = []
    start = time.perf_counter()
    for _ in range(count):
        results.append(run_one())
    elapsed = time.perf_counter() - start
    for result in results:
        variant.check(result)
    return count / elapsed, results


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _environment() -> dict[str, Any]:
    import sqlalchemy
    from SpiffWorkflow.version import __version__ as spiff_version

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "python": platform.python_version(), "implementation": platform.python_implementation(),
        "SpiffWorkflow": spiff_version, "SQLAlchemy": sqlalchemy.__version__, "sqlite": sqlite3.sqlite_version,
        "cores": os.cpu_count(), "cores_usable": affinity, "cpu": _cpu_model(), "platform": platform.platform(),
    }


def _table(variants, rates: dict[str, list[float]]) -> tuple[str, dict[str, Any]]:
    opsqa_median = statistics.median(rates[variants[0].key])
    figures: dict[str, Any] = {}
    header = f"{'variant':<40}{'median /s':>11}{'min /s':>10}{'max /s':>10}{'ms/inst':>9}{'opsqa/variant':>15}"
    lines = [header, "-" * len(header)]
    for variant in variants:
        values = rates[variant.key]
        median = statistics.median(values)
        ratio = opsqa_median / median
        figures[variant.key] = {
            "name": variant.name, "median_per_s": round(median, 2), "min_per_s": round(min(values), 2),
            "max_per_s": round(max(values), 2), "ms_per_instance_median": round(1000 / median, 3),
            "rounds_per_s": [round(v, 2) for v in values], "opsqa_over_this": round(ratio, 4),
        }
        lines.append(f"{variant.name:<40}{median:>11.1f}{min(values):>10.1f}{max(values):>10.1f}"
                     f"{1000 / median:>9.2f}{ratio:>15.3f}")
    return "\n".join(lines), figures


def _profile(opsqa, count: int) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    ids = [opsqa.run_one() for _ in range(count)]
    profiler.disable()
    for instance_id in ids:
        opsqa.check(instance_id)
    print(f"\nprofile of {count} opsqa instances (top 20 by own time, then by cumulative time)")
    stats = pstats.Stats(profiler, stream=sys.stdout).strip_dirs()
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(30)


TARGETS = [  # (figure, how it is read from the suite, target, which way)
    ("tasks --role R: engine, all 10,000 of 100,000", ("tasks", "engine_all_ms"), 50, "ms"),
    ("tasks --role R: engine, first 100", ("tasks", "engine_first_100_ms"), 50, "ms"),
    ("tasks --role R: whole CLI, default page (200)", ("tasks", "cli_default_page_ms"), 300, "ms"),
    ("tasks --role R: whole CLI, all 10,000 rows", ("tasks", "cli_all_rows_ms"), 300, "ms"),
    ("opsqa --help / python -c 'import click'", ("cold", "ratio"), 1.5, "x"),
    ("task complete, whole CLI, 10,000 instances (median)", ("complete", "median_ms"), 400, "ms"),
    ("due-timer pass: 1,000 due of 100,000 waiting", ("timers", "seconds"), 3, "s"),
    ("simulated year, 100 projects", ("year", "seconds"), 60, "s"),
    ("web: inbox of 10,000 among 100,000 open tasks (p95)", ("web", "inbox_p95_ms"), 50, "ms"),
    ("web: task completion POST (p95)", ("web", "completion_p95_ms"), 60, "ms"),
    ("web: the year's overview (p95)", ("web", "overview_p95_ms"), 100, "ms"),
]


def _byte_compile() -> None:
    """Byte-compile opsqa's own modules, as `pip install` does: the CLI figures are then those of an
    installed opsqa (an editable install under PYTHONDONTWRITEBYTECODE=1 would compile on every run)."""
    import compileall

    root = Path(__file__).resolve().parent.parent
    for package in ("cli", "engine", "store", "handlers", "i18n", "bench"):
        compileall.compile_dir(str(root / package), quiet=1)


class _Progress:
    """A bar on stderr at a terminal (advanced between timed rounds, never inside one); plain lines
    for a log otherwise."""

    def __init__(self, length: int, label: str):
        self._bar = None
        if sys.stderr.isatty():
            import click

            self._bar = click.progressbar(length=length, label=label, file=sys.stderr, show_eta=False)

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def step(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def say(self, line: str) -> None:
        if self._bar is None:
            print(line, file=sys.stderr)


def _suite() -> dict[str, Any]:
    from . import suite, web

    _byte_compile()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="opsqa-suite-") as directory:
        folder = Path(directory)
        parts = (("tasks", suite.tasks_by_role), ("cold", lambda _folder: suite.cold_start()),
                 ("complete", suite.task_complete), ("timers", suite.due_timer_pass), ("year", suite.simulated_year),
                 ("web", web.web_pages))
        with _Progress(len(parts), "suite") as progress:
            for key, run in parts:
                progress.say(f"suite: {key}...")
                part = folder / key
                part.mkdir()
                figures[key] = run(part)
                progress.step()
    print(f"\n{'figure':<56}{'measured':>12}{'target':>10}  verdict")
    for label, (group, name), target, unit in TARGETS:
        value = figures[group][name]
        verdict = "met" if value <= target else "MISSED"
        print(f"{label:<56}{value:>10}{unit:>2}{'≤' + str(target) + unit:>10}  {verdict}")
    timers = figures["timers"]
    print(f"due-timer pass loaded {timers['instances_loaded']:,} instances for {timers['fired']:,} timers fired")
    states = figures["year"]["annual_cycle_states"]
    print("annual-cycle state: " + ", ".join(f"{year} {s['state_bytes']:,} B ({s['status']})" for year, s in
                                             states.items()))
    return figures


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    began = time.perf_counter()
    from .variants import BenchFailure, Opsqa, RawInMemory, RawSerialized, RawSerializedLibrary, state_sizes

    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="opsqa-bench-", dir=args.dir) as directory:
        variants = [Opsqa(Path(directory)), RawInMemory(), RawSerialized(), RawSerializedLibrary()]
        opsqa = variants[0]
        try:
            for variant in variants:
                if args.warmup:
                    _round(variant, args.warmup)
            rates: dict[str, list[float]] = {variant.key: [] for variant in variants}
            last_opsqa_id = None
            with _Progress(args.rounds * len(variants), "rounds") as progress:
                for number in range(1, args.rounds + 1):  # interleaved, so drift hits every variant alike
                    for variant in variants:
                        rate, results = _round(variant, args.instances)  # the bar moves between rounds only
                        rates[variant.key].append(rate)
                        progress.step()
                        if variant is opsqa:
                            last_opsqa_id = results[-1]
                    done = ", ".join(f"{variant.key} {rates[variant.key][-1]:.1f}/s" for variant in variants)
                    progress.say(f"round {number}/{args.rounds}: {done}")
            sizes = state_sizes(opsqa, last_opsqa_id)
            settings = opsqa.settings()
            if args.profile:
                _profile(opsqa, args.instances)
        except BenchFailure as exc:
            print(f"bench: FAILED: {exc}", file=sys.stderr)
            return 1
        finally:
            for variant in variants:
                variant.close()

    table, figures = _table(variants, rates)
    environment = _environment()
    ratios = {
        "opsqa_over_raw_in_memory": figures["raw_in_memory"]["opsqa_over_this"],
        "opsqa_over_raw_serialized": figures["raw_serialized"]["opsqa_over_this"],
        "opsqa_over_raw_serialized_library": figures["raw_serialized_library"]["opsqa_over_this"],
    }
    print(f"\nbench_ten_steps (5 user tasks, 4 service tasks, 1 gateway), start to end: {args.rounds} rounds x "
          f"{args.instances} instances, {args.warmup} warm-up; SQLite {settings['journal_mode']}, "
          f"synchronous={settings['synchronous']}; {environment['cores']} cores, Python {environment['python']}, "
          f"SpiffWorkflow {environment['SpiffWorkflow']}, SQLAlchemy {environment['SQLAlchemy']}\n")
    print(table)
    print(f"\nopsqa / raw in memory: {ratios['opsqa_over_raw_in_memory']:.3f} "
          f"({1 / ratios['opsqa_over_raw_in_memory']:.1f}x slower); "
          f"opsqa / raw + JSON round trip: {ratios['opsqa_over_raw_serialized']:.3f} with the spec by reference, "
          f"{ratios['opsqa_over_raw_serialized_library']:.3f} with the library's serializer (spec embedded); "
          f"target ≥ 0.5")
    print(f"state of one completed instance: opsqa {sizes['opsqa_state_json']:,} B (spec by reference; the spec, "
          f"{sizes['opsqa_spec_json_per_version']:,} B, is stored once per version); library default with the "
          f"spec embedded {sizes['library_default_embedded_spec']:,} B")

    suite = {} if args.quick or args.no_suite else _suite()

    if args.output is not None:
        results = {
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "process": "bench/processes/bench_ten_steps.bpmn",
            "settings": {
                "instances_per_round": args.instances,
                "rounds": args.rounds,
                "warmup": args.warmup,
                "quick": args.quick,
                "statistic": "median of the rounds' instances/s",
                "sqlite": {k: v for k, v in settings.items() if k != "file"},
            },
            "environment": environment,
            "variants": figures,
            "ratios": ratios,
            "state_bytes": sizes,
            "suite": suite,
            "wall_seconds": round(time.perf_counter() - began, 1),
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
