"""The ``course-utils`` command line: rebuild the shipped assets, train from a recipe, report on a model,
and the instructor's tools (student build, answer keys, gradebook, run check; see ``course_utils.instructor``)."""
from __future__ import annotations

import argparse
import sys
import time

from course_utils.instructor import commands as instructor_commands


def report(model_name: str, per_task: int) -> None:
    """Print a model's held-out perplexity on the corpus and its score on held-out instructions."""
    from course_utils.evaluate import evaluate_model, perplexity
    from course_utils.models import load_model
    from course_utils.shipped import load_corpus, load_instructions

    model, tokenizer = load_model(model_name)
    started = time.perf_counter()
    ppl = perplexity(model, tokenizer, [row["text"] for row in load_corpus("validation")])
    print(f"{model_name}: perplexity on the corpus validation split = {ppl:.3f}")
    test = load_instructions("test")
    rows = [r for task in dict.fromkeys(r["task"] for r in test) for r in [x for x in test if x["task"] == task][:per_task]]
    evaluation = evaluate_model(model, tokenizer, rows)
    print(f"{model_name}: {len(rows)} held-out instruction prompts (test split), scores per task type:")
    print(evaluation.table.to_string())
    print(f"overall instruction-following rate (correct answers): {evaluation.overall:.3f}")
    print("examples of answers:")
    print(evaluation.answers.groupby("task").head(1)[["task", "answer"]].to_string(index=False, max_colwidth=90))
    print(f"({time.perf_counter() - started:.0f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course-utils", description="Tools of the LLM foundations workbook.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build-assets", help="rebuild data/ from seeds (same as python -m course_utils.assets)",
                        add_help=False)
    run = commands.add_parser("train", help="train from a YAML recipe (see course_utils.recipe)")
    run.add_argument("recipe", help="path to the recipe's YAML file")
    rep = commands.add_parser("report", help="perplexity and instruction scores of a model")
    rep.add_argument("--model", default="tiny-base", help="shipped name, local folder or hub id")
    rep.add_argument("--per-task", type=int, default=25, help="test prompts per task type (8 types)")
    instructor_commands.add_parsers(commands)
    args, rest = parser.parse_known_args(argv)
    if args.command in instructor_commands.COMMANDS:
        if rest:
            parser.error(f"unrecognised arguments: {' '.join(rest)}")
        return instructor_commands.run(args)
    if args.command == "build-assets":
        from course_utils import assets

        assets.main(rest)
    elif args.command == "train":
        from course_utils.recipe import Recipe, run as run_recipe

        run_recipe(Recipe.from_yaml(args.recipe))
    else:
        if rest:
            parser.error(f"unrecognised arguments: {' '.join(rest)}")
        report(args.model, args.per_task)
    return 0


if __name__ == "__main__":
    sys.exit(main())
