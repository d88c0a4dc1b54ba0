"""The instructor subcommands of ``course-utils``: each turns parsed arguments into a report and an exit code.

The work is done by the modules of this package; here it is only printed. Results go to
stdout, warnings and progress to stderr, and the exit code is 0 on success, 1 when a check
fails (a leak, a failing notebook) and 2 when the command cannot run (a missing folder, a
stale quiz bank, unpaired markers).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from course_utils import settings
from course_utils.instructor import display_name, find_notebooks, source_notebooks_dir


def _warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def chosen_size(args: argparse.Namespace) -> str:
    """``--size`` if given, else the class's size: $COURSE_UTILS_SIZE, course_utils.yaml, or what this machine's GPU can take."""
    return args.size or settings.size()


def student_build(args: argparse.Namespace) -> int:
    """``course-utils student-build``: write the student notebooks, prove they leak nothing, optionally run them."""
    from course_utils.instructor import student

    if args.smoke and not args.check:
        raise ValueError("--smoke cuts the runs of --check: give both")
    report = student.build(find_notebooks(args.paths or [source_notebooks_dir()]), args.out)
    print(f"student build of {len(report.notebooks)} notebooks into {report.out} "
          f"(learner quiz banks up to date with instructor/quizzes)")
    for nb in report.notebooks:
        name = display_name(nb.source)
        if nb.problems:
            print(f"  {name}: NOT WRITTEN")
            print("\n".join(f"      {problem}" for problem in nb.problems))
        else:
            print(f"  {name}: {nb.changes.stubs} solution regions stubbed, "
                  f"{nb.changes.removed_cells} instructor cells removed -> {nb.target}")
        for note in nb.changes.notes:
            _warn(f"warning: {note}")
    for bank in report.instructor_banks:
        print(f"  {bank}: an instructor bank (with the answers) is in the student folder: delete it")
    if not args.paths:  # the whole course was built: anything else in the folder is left from an earlier build
        for stray in student.strays(report.out, [nb.target for nb in report.notebooks]):
            _warn(f"warning: {stray} has no notebook in this build (renamed or removed?): delete it before handing out")
    if not report.ok:
        print("the student build is NOT safe to hand out (see above)")
        return 1
    print("no solution text, no quiz key and no instructor bank in the student build")
    if args.check:
        return _check_student_notebooks([nb.target for nb in report.notebooks], chosen_size(args), args.timeout,
                                        args.smoke)
    return 0


def _check_student_notebooks(paths: list[Path], size: str, timeout: int, quick: bool) -> int:
    """Run every student notebook up to its first exercise and print one line each; ``quick`` is a smoke run."""
    from course_utils import smoke
    from course_utils.instructor import student

    env = smoke.kernel_env() if quick else {}
    failed = 0
    for path in paths:
        _warn(f"running {path} up to its first exercise (size {size}{', smoke' if quick else ''}) ...")
        run = student.check_until_first_exercise(path, size, timeout, env)
        stop = f"up to the exercise in cell {run.first_exercise}" if run.first_exercise else "to the end (no exercise)"
        status = "pass" if run.passed else f"FAIL: {run.error}"
        print(f"  {path}: ran {run.cells_run} code cells {stop}: {status}")
        failed += not run.passed
    print(f"{len(paths) - failed} of {len(paths)} student notebooks run up to their first exercise")
    return 1 if failed else 0


def answer_key(args: argparse.Namespace) -> int:
    """``course-utils answer-key``: one answer key per chapter."""
    from course_utils.instructor import answer_key as keys

    for path in keys.write_answer_keys(out=args.out, fmt=args.format):
        print(f"wrote {path}")
    return 0


def gradebook(args: argparse.Namespace) -> int:
    """``course-utils gradebook``: the progress files of a folder as one CSV; files skipped and names to check
    go to stderr. Question ids are checked against the quiz banks the package ships."""
    from course_utils.instructor import gradebook as grades

    book = grades.collect(args.folder, grades.bank_question_ids())
    for path, reason in book.skipped:
        _warn(f"warning: skipped {path}: {reason}")
    for line in book.warnings():
        _warn(f"warning: {line}")
    book.write_csv(args.out)
    if not book.rows:
        print(f"no quiz progress found in {args.folder}; wrote {args.out} with the header only")
    else:
        names = len({row.learner for row in book.rows})
        print(f"{len(book.rows)} answers under {names} learner names from {len(book.files_read)} files -> {args.out}")
    return 0


def check(args: argparse.Namespace) -> int:
    """``course-utils check``: run notebooks headless at a class size and print the table.

    ``--smoke`` cuts every run to a few steps (``course_utils.smoke``); ``--stand-in`` also loads
    every hub model from a cache of random stand-ins built here (``standins``), offline."""
    from course_utils import smoke
    from course_utils.instructor import runcheck

    if args.notebooks and args.chapter:
        raise ValueError("give either --chapter or notebooks, not both")
    size = chosen_size(args)
    notebooks = (find_notebooks(args.notebooks) if args.notebooks
                 else runcheck.chapter_notebooks(args.chapter) if args.chapter else find_notebooks())
    quick = args.smoke or args.stand_in
    env = smoke.kernel_env() if quick else {}
    with tempfile.TemporaryDirectory(prefix="course-utils-stand-ins-") as cache:
        if args.stand_in:
            env |= _stand_ins(Path(cache))
        runs = runcheck.run_all(notebooks, size, args.timeout, progress=_warn, env=env)
    print(runcheck.table(runs, size, claim_lines=not quick))
    if quick:
        print(f"(a smoke run: every training run cut to {smoke.DEFAULT_STEPS} steps"
              f"{', hub models replaced by random stand-ins' if args.stand_in else ''}; claims not met are expected)")
    return 0 if all(run.passed for run in runs) else 1


def _stand_ins(cache: Path) -> dict[str, str]:
    """Build the stand-in hub models into ``cache``; the kernel variables that load them from there, offline."""
    from course_utils.instructor import standins

    started = time.perf_counter()
    built = standins.build(cache)
    _warn(f"built stand-ins for {', '.join(built)} in {time.perf_counter() - started:.0f} s")
    return standins.hub_env(cache)


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """The four instructor subcommands, with their options and help."""
    from course_utils.instructor import answer_key as keys, kernel, runcheck, student

    sizes = list(settings.SIZES)
    build = commands.add_parser("student-build", help="student notebooks: solutions stubbed, instructor cells "
                                                       "removed, outputs cleared; checked for leaks")
    build.add_argument("paths", nargs="*", type=Path, help="notebooks or folders (default: notebooks/)")
    build.add_argument("--out", type=Path, default=student.DEFAULT_OUT, help="output folder (default: %(default)s)")
    build.add_argument("--check", action="store_true", help="also run each student notebook up to its first exercise")
    build.add_argument("--size", choices=sizes, help="run size for --check (default: the class's size)")
    build.add_argument("--smoke", action="store_true",
                       help="with --check, cut every training run and generation to a few steps (minutes)")
    build.add_argument("--timeout", type=int, default=300, help="seconds per cell for --check (default: %(default)s)")

    key = commands.add_parser("answer-key", help="a Markdown or HTML answer key per chapter from instructor/quizzes")
    key.add_argument("--format", choices=keys.FORMATS, default="md", help="md or html (default: %(default)s)")
    key.add_argument("--out", type=Path, default=keys.DEFAULT_OUT, help="output folder (default: %(default)s)")

    book = commands.add_parser("gradebook", help="learners' quiz progress files (JSON) into one CSV")
    book.add_argument("folder", type=Path, help="folder of progress files, searched recursively")
    book.add_argument("--out", type=Path, default=Path("grades.csv"), help="CSV to write (default: %(default)s)")

    run = commands.add_parser("check", help="execute notebooks headless at a class size; a pass/fail table")
    run.add_argument("notebooks", nargs="*", type=Path, help="notebooks or folders (default: all of notebooks/ in a clone "
                                                               "of the repository, else the learner copies)")
    run.add_argument("--size", choices=sizes, help="cpu, t4 or gpu (default: $COURSE_UTILS_SIZE, "
                                                  "course_utils.yaml, else what this machine's GPU can take)")
    run.add_argument("--smoke", action="store_true",
                     help="cut every training run and generation to a few steps: does every cell run? (minutes)")
    run.add_argument("--stand-in", action="store_true",
                     help="smoke run with random offline stand-ins for every hub model (rehearse t4 or gpu on a CPU)")
    run.add_argument("--chapter", choices=runcheck.CHAPTERS, help="only this chapter's notebooks")
    run.add_argument("--timeout", type=int, default=kernel.DEFAULT_TIMEOUT_S,
                     help="seconds per cell before a notebook fails (default: %(default)s)")


NOTEBOOK_TOOLS = frozenset({"nbformat", "nbclient", "nbconvert", "ipykernel"})  # pyproject.toml's "instructor" extra
COMMANDS = {"student-build": student_build, "answer-key": answer_key, "gradebook": gradebook, "check": check}


def run(args: argparse.Namespace) -> int:
    """Run one instructor subcommand; a problem that stops it is one line on stderr and exit code 2."""
    from course_utils.instructor.student import StaleBanksError

    try:
        return COMMANDS[args.command](args)
    except (FileNotFoundError, ValueError, StaleBanksError) as err:  # ValueError includes bad banks and markers
        _warn(f"course-utils {args.command}: error: {err}")
        return 2
    except ModuleNotFoundError as err:
        if err.name not in NOTEBOOK_TOOLS:
            raise
        _warn(f"course-utils {args.command}: error: it needs {err.name}, one of the instructor tools a plain install "
              f"leaves out: pip install \"llm-foundations-workbook[instructor]\"")
        return 2
