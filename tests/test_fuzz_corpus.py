"""Replay the fuzzing corpora through the harnesses, without atheris (see docs/fuzzing.md).

Each kept input in ``fuzz/corpus/<harness>/`` goes through ``fuzz/fuzz_<harness>.py``'s
``check(data)``, the very function libFuzzer drives: it raises if the code under test lets
anything but its documented exception escape, or breaks an invariant the harness checks. So
every input that once reached new code keeps being run by the ordinary test suite.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
HARNESSES = ("frames", "greeting", "connection", "commands", "curve", "endpoints", "options")


@pytest.fixture(scope="module", autouse=True)
def fuzz_on_path() -> Iterator[None]:
    sys.path.insert(0, str(FUZZ))
    try:
        yield
    finally:
        sys.path.remove(str(FUZZ))


def harness_check(harness: str) -> Callable[[bytes], None]:
    return importlib.import_module(f"fuzz_{harness}").check  # type: ignore[no-any-return]


def replay(harness: str, inputs: list[tuple[str, bytes]]) -> list[str]:
    check = harness_check(harness)
    failures = []
    for name, data in inputs:
        try:
            check(data)
        except Exception as exc:  # collect them all: one report names every failing input
            failures.append(f"{harness}/{name}: {type(exc).__name__}: {exc}")
    return failures


def test_the_harness_list_matches_the_files() -> None:
    assert {p.stem.removeprefix("fuzz_") for p in FUZZ.glob("fuzz_*.py")} == set(HARNESSES)
    assert {p.name for p in (FUZZ / "corpus").iterdir() if p.is_dir()} == set(HARNESSES)
    run = ast.parse((FUZZ / "run").read_text())
    (listed,) = [
        ast.literal_eval(node.value)
        for node in run.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "HARNESSES"
    ]
    assert listed == HARNESSES


@pytest.mark.parametrize("harness", HARNESSES)
def test_corpus_replays_cleanly(harness: str) -> None:
    files = sorted(p for p in (FUZZ / "corpus" / harness).iterdir() if p.is_file())
    assert files, f"fuzz/corpus/{harness} is empty"
    failures = replay(harness, [(p.name, p.read_bytes()) for p in files])
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("harness", HARNESSES)
def test_seeds_replay_cleanly(harness: str) -> None:
    from fuzzseeds import SEEDS

    seeds = SEEDS[harness]()
    assert not replay(harness, [(f"seed {i}", data) for i, data in enumerate(seeds)])


@pytest.mark.parametrize("harness", HARNESSES)
def test_harnesses_take_any_input(harness: str) -> None:
    """Short, empty and all-ones inputs are programs too (the reader answers zeros past the
    end), so libFuzzer's first inputs never fail in the harness itself."""
    inputs = [b"", b"\x00", b"\xff", b"\xff" * 300, bytes(range(256)) * 2]
    inputs += [bytes((i,)) + b"\x01" * 40 for i in range(0, 256, 7)]
    assert not replay(harness, [(repr(data[:8]), data) for data in inputs])


def test_harness_modules_do_not_import_atheris() -> None:
    """Only the runner imports atheris: the tests replay on machines without it."""
    for path in [*FUZZ.glob("*.py"), FUZZ / "run"]:
        tree = ast.parse(path.read_text(), str(path))
        for node in tree.body:
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert "atheris" not in names, f"{path.name} imports atheris at module level"
