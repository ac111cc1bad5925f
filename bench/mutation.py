"""Mutation testing of the modules that carry the product's promises: does the offline
suite notice a small, realistic change to their behaviour?

Each mutant changes one thing in one module (a comparison flipped, ``and`` for ``or``, a
``not`` dropped, a number off by one, ``True`` for ``False``, a ``return`` or ``raise`` that
no longer happens, a keyword argument's value replaced) in a private copy of ``src/``; the
module's tests then run against that copy. A mutant is *caught* when they fail (or hang
past the timeout), and *survives* when they pass. Not part of the default test run.

    .venv/bin/python bench/mutation.py                      # every module, every mutant
    .venv/bin/python bench/mutation.py --sample 20          # 20 mutants per module, spread
    .venv/bin/python bench/mutation.py --module dispatch    # one module
    .venv/bin/python bench/mutation.py --survivors out.txt  # also list what survived
    .venv/bin/python bench/mutation.py --sample 20 --again out.txt  # re-run those only

Prints a table of mutants caught per module and lists the survivors (file, line, change).
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "outbound_caller"

# module -> the tests that speak for it (the offline suite's relevant part: running all of
# it for every mutant would take hours)
MODULES: dict[str, tuple[str, list[str]]] = {
    "telephony": (
        "call/telephony.py",
        ["tests/call/test_telephony.py", "tests/call/test_conversation.py"],
    ),
    "line": (
        "call/line.py",
        [
            "tests/call/test_telephony.py",
            "tests/call/test_greeting.py",
            "tests/call/test_silence.py",
            "tests/call/test_voicemail.py",
            "tests/test_entrypoint.py",
            "tests/test_worker.py",
        ],
    ),
    "outcome": ("outcome.py", ["tests/call/test_telephony.py", "tests/store/test_store_calls.py"]),
    "agent tools": (
        "call/agent.py",
        [
            "tests/call/test_conversation.py",
            "tests/call/test_guards.py",
            "tests/call/test_greeting.py",
            "tests/store/test_store_calls.py",
            "tests/test_worker.py",
        ],
    ),
    "booking": (
        "store/appointments.py",
        ["tests/store/test_store.py", "tests/store/test_store_calls.py"],
    ),
    "availability": (
        "store/availability.py",
        ["tests/store/test_availability.py", "tests/store/test_store.py"],
    ),
    "campaign rules": (
        "campaigns/runner.py",
        ["tests/campaigns/test_campaign.py", "tests/cli/test_campaign_cli.py"],
    ),
    "dispatch": ("dispatch.py", ["tests/test_dispatch.py", "tests/cli/test_placing.py"]),
    "config": ("config.py", ["tests/test_config.py"]),
}

FLIP = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


@dataclass(frozen=True)
class Mutant:
    module: str
    path: str
    line: int
    change: str
    source: str


class _Mutator(ast.NodeTransformer):
    """Applies the ``target``-th possible change, counting every possible one."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.seen = 0
        self.change: tuple[int, str] | None = None

    def _hit(self, node: ast.AST, change: str) -> bool:
        hit = self.seen == self.target
        self.seen += 1
        if hit:
            self.change = (getattr(node, "lineno", 0), change)
        return hit

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        node.body = [self.visit(b) for b in node.body]  # defaults and annotations: not behaviour
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return node  # a docstring
        return self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        op = type(node.ops[0])
        if op in FLIP and self._hit(node, f"{op.__name__} -> {FLIP[op].__name__}"):
            node.ops = [FLIP[op](), *node.ops[1:]]
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        other = ast.Or if isinstance(node.op, ast.And) else ast.And
        if self._hit(node, f"{type(node.op).__name__} -> {other.__name__}"):
            node.op = other()
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not) and self._hit(node, "not x -> x"):
            return node.operand
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if isinstance(value, bool):
            if self._hit(node, f"{value} -> {not value}"):
                return ast.copy_location(ast.Constant(not value), node)
        elif isinstance(value, int | float) and self._hit(node, f"{value} -> {value + 1}"):
            return ast.copy_location(ast.Constant(value + 1), node)
        return node

    def visit_If(self, node: ast.If) -> ast.AST:
        self.generic_visit(node)
        if self._hit(node, "if condition -> if False"):
            node.test = ast.copy_location(ast.Constant(False), node.test)
        return node

    def visit_Return(self, node: ast.Return) -> ast.AST:
        self.generic_visit(node)
        returns_none = isinstance(node.value, ast.Constant) and node.value.value is None
        if (
            node.value is not None
            and not returns_none
            and self._hit(node, "return value -> return None")
        ):
            node.value = ast.copy_location(ast.Constant(None), node)
        return node

    def visit_Raise(self, node: ast.Raise) -> ast.AST:
        self.generic_visit(node)
        if self._hit(node, "raise -> pass"):
            return ast.copy_location(ast.Pass(), node)
        return node

    def visit_keyword(self, node: ast.keyword) -> ast.AST:
        self.generic_visit(node)
        already_none = isinstance(node.value, ast.Constant) and node.value.value is None
        if (
            node.arg is not None
            and not already_none
            and self._hit(node, f"{node.arg}=... -> {node.arg}=None")
        ):
            node.value = ast.copy_location(ast.Constant(None), node.value)
        return node


def mutants(module: str, relative: str) -> Iterator[Mutant]:
    source = (SRC / relative).read_text()
    tree = ast.parse(source)
    counter = _Mutator(-1)
    counter.visit(copy.deepcopy(tree))
    for n in range(counter.seen):
        mutator = _Mutator(n)
        mutated = mutator.visit(copy.deepcopy(tree))
        assert mutator.change is not None
        line, change = mutator.change
        yield Mutant(
            module, relative, line, change, ast.unparse(ast.fix_missing_locations(mutated))
        )


def spread(items: list[Mutant], count: int | None) -> list[Mutant]:
    if count is None or len(items) <= count:
        return items
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def run_tests(work: Path, tests: list[str], timeout: float) -> str:
    """'caught', 'caught (timeout)' or 'survived'."""
    env = {**os.environ, "PYTHONPATH": str(work / "src"), "RIG_REQUIRED": ""}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return "caught (timeout)"
    return "survived" if done.returncode == 0 else "caught"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", choices=sorted(MODULES))
    parser.add_argument("--sample", type=int, help="mutants per module, spread over the file")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per mutant")
    parser.add_argument("--survivors", type=Path, help="also write the survivors here")
    parser.add_argument(
        "--again", type=Path, help="only the mutants listed in this file (an earlier --survivors)"
    )
    args = parser.parse_args()
    again = set(args.again.read_text().splitlines()) if args.again else None

    chosen = args.module or list(MODULES)
    rows: list[tuple[str, int, int, float]] = []
    survivors: list[Mutant] = []
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__"))
        baseline_ok = {}
        for module in chosen:
            relative, tests = MODULES[module]
            baseline_ok[module] = run_tests(work, tests, args.timeout) == "survived"
            if not baseline_ok[module]:
                print(f"{module}: its tests fail without any mutant; skipped", file=sys.stderr)
                continue
            target = work / "src" / "outbound_caller" / relative
            original = target.read_text()
            caught = total = 0
            started = time.monotonic()
            chosen_mutants = spread(list(mutants(module, relative)), args.sample)
            if again is not None:
                chosen_mutants = [
                    m for m in chosen_mutants if f"{m.path}:{m.line}: {m.change}" in again
                ]
            for mutant in chosen_mutants:
                target.write_text(mutant.source)
                try:
                    verdict = run_tests(work, tests, args.timeout)
                finally:
                    target.write_text(original)
                total += 1
                if verdict == "survived":
                    survivors.append(mutant)
                else:
                    caught += 1
                print(f"  {module} line {mutant.line}: {mutant.change}: {verdict}", flush=True)
            rows.append((module, caught, total, time.monotonic() - started))

    print("\n| module | file | mutants | caught | share | minutes |")
    print("|---|---|---:|---:|---:|---:|")
    for module, caught, total, seconds in rows:
        share = f"{100 * caught / total:.0f}%" if total else "-"
        print(
            f"| {module} | {MODULES[module][0]} | {total} | {caught} | {share} | "
            f"{seconds / 60:.1f} |"
        )
    all_caught = sum(r[1] for r in rows)
    all_total = sum(r[2] for r in rows)
    if all_total:
        print(f"| all | | {all_total} | {all_caught} | {100 * all_caught / all_total:.0f}% | |")
    if survivors:
        listing = "\n".join(f"{m.path}:{m.line}: {m.change}" for m in survivors)
        print("\nSurvivors:\n" + listing)
        if args.survivors:
            args.survivors.write_text(listing + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
