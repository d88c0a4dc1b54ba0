"""The ``course-utils`` command line: copy the notebooks out of the package, rebuild the shipped assets,
train from a recipe, report on a model, and the instructor's tools (student build, answer keys,
gradebook, run check; see ``course_utils.instructor``)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from course_utils.instructor import commands as instructor_commands


def report(model_name: str, per_task: int) -> None:
    """Print a model's scorecard (see ``course_utils.scorecard``) and an example answer per task."""
    from course_utils.models import load_model
    from course_utils.scorecard import held_out_prompts, score_model

    model, tokenizer = load_model(model_name)
    started = time.perf_counter()
    prompts = held_out_prompts(per_task)
    card, evaluation = score_model(model, tokenizer, prompts)
    print(f"{model_name}: perplexity on the corpus validation split = {card.perplexity:.3f}")
    print(f"{model_name}: names and numbers predicted when they recur in a document = {card.copying:.3f} "
          f"(first mentions: {card.first_mentions:.3f})")
    print(f"{model_name}: {len(prompts)} held-out instruction prompts (test split), scores per task type:")
    print(evaluation.table.to_string())
    print(f"overall instruction-following rate (correct answers): {card.instruction_following:.3f}")
    print("examples of answers:")
    print(evaluation.answers.groupby("task").head(1)[["task", "answer"]].to_string(index=False, max_colwidth=90))
    print(f"({time.perf_counter() - started:.0f} s)")


def train(recipe_path: str) -> int:
    """Run a recipe. Exit status 2, with one line on stderr, after an error in the recipe (found before
    anything loads), in a row of its data, in its model, in a checkpoint of another run, or when the run
    would not fit in the GPU's memory; 130 after an interrupt (what the run had is saved), as a shell
    expects after Ctrl-C."""
    from course_utils.checkpoints import CheckpointError
    from course_utils.memory import MemoryEstimateError
    from course_utils.models import ModelNotAvailableError
    from course_utils.recipe import Recipe, RecipeError, run as run_recipe
    from course_utils.sft import DataError

    try:
        result = run_recipe(Recipe.from_yaml(recipe_path))
    except (RecipeError, DataError, CheckpointError, ModelNotAvailableError, MemoryEstimateError) as err:
        print(f"course-utils train: error: {err}", file=sys.stderr)
        return 2
    return 130 if result.state.interrupted else 0


def copy_notebooks(dest: Path, overwrite: bool) -> None:
    """Copy the learner notebooks into ``dest``, asking (on a terminal) before replacing a changed one."""
    from course_utils.notebooks import copy_notebooks as copy

    report = copy(dest, ask=_ask_to_replace if sys.stdin.isatty() else None, overwrite=overwrite)
    for name in report.copied:
        print(f"  copied     {name}")
    for name in report.unchanged:
        print(f"  up to date {name}")
    for name, backup in report.replaced:
        print(f"  replaced   {name} (your copy is kept as {backup.name})")
    for name in report.kept:
        print(f"  kept       {name}: your copy differs from this release's and was left as it was "
              f"(--overwrite replaces it, keeping yours as a .bak file)")
    print(f"{len(report.copied)} notebooks copied into {report.dest}. Open them with: jupyter lab {report.dest}")


def _ask_to_replace(path: Path) -> bool:
    answer = input(f"{path} differs from this release's copy (your changes?). Replace it, keeping yours "
                   f"as a .bak file? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course-utils", description="Tools of the LLM foundations workbook.")
    commands = parser.add_subparsers(dest="command", required=True)
    nbs = commands.add_parser("notebooks", help="copy the workbook's notebooks (learner copies) into a folder")
    nbs.add_argument("dest", type=Path, help="the folder to copy them into (made if missing)")
    nbs.add_argument("--overwrite", action="store_true",
                     help="replace notebooks you changed without asking (yours are kept as .bak files)")
    commands.add_parser("build-assets", help="rebuild data/ from seeds (same as python -m course_utils.synth.assets)",
                        add_help=False)
    run = commands.add_parser("train", help="train from a YAML recipe (see course_utils.recipe)")
    run.add_argument("recipe", help="path to the recipe's YAML file")
    rep = commands.add_parser("report", help="perplexity and instruction scores of a model")
    rep.add_argument("--model", default="tiny-base", help="shipped name, local folder or hub id")
    rep.add_argument("--per-task", type=int, default=100, help="test prompts per task type (8 types, 100 each)")
    instructor_commands.add_parsers(commands)
    args, rest = parser.parse_known_args(argv)
    if args.command == "build-assets":
        from course_utils.synth import assets

        assets.main(rest)
        return 0
    if rest:
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    if args.command in instructor_commands.COMMANDS:
        return instructor_commands.run(args)
    if args.command == "notebooks":
        try:
            copy_notebooks(args.dest, args.overwrite)
        except OSError as err:
            print(f"course-utils notebooks: error: {err}", file=sys.stderr)
            return 2
    elif args.command == "train":
        return train(args.recipe)
    else:
        report(args.model, args.per_task)
    return 0

if __name__ == "__main__":
    sys.exit(main())
