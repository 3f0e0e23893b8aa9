"""The port's verification checklist, per original file, checked off from parity results.

Every original Monolith file has the same ten checklist items (a port's "Verification
Checklist (Must be Checked Off)", as the port plan this project was started from words
it; the items are in :data:`ITEMS`). This module says, for each file and item,
which scenarios back it, and renders the list from a run's results: an item is checked
only when at least one scenario backs it and every backing scenario *passed* (an expected
deviation is a known difference, so it leaves the item open). Items no scenario can back
(performance notes, the port's own unit tests) stay open and say so.

Which scenarios back an item is decided from the scenario (family, config, steps) and its
golden output (which events the trace holds, which kinds of file it writes), so new
scenarios are picked up without editing this module:

- mapped / cross-language parity: every scenario of the file's families (each family needs
  at least one); for a test file, the scenarios that reproduce each original test method
  (named in :data:`FILES`; a family's whole corpus where the plan does not list methods);
- normal inputs: scenarios whose golden trace has no ``error`` or ``logged_error`` event;
- error handling: scenarios whose golden trace has one;
- config precedence: scenarios that set one of the file's config keys (the hooks read
  constructor arguments only, no environment variables);
- I/O formats: scenarios whose goldens hold a file of the file's artifact kinds (families
  that write no file: all their scenarios, whose listings pin that nothing is written);
- threading: scenarios that let time pass or run other threads (families without
  threads: all their scenarios, whose traces pin the call order);
- logging: scenarios whose golden trace has ``log`` or ``logged_error`` events (families
  that never log: all their scenarios, whose traces pin that nothing is logged).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.artifacts import (
    ActionFileKind,
    ActionResponseKind,
    CkptInfoKind,
    ExampleBatchStreamKind,
    kind_of,
)
from harness.compare import files_under
from harness.golden import GOLDEN_DIR, golden_dirs
from harness.runner import EXPECTED_DEVIATION, PASSED, UNEXPECTED_PASS, ScenarioResult
from harness.safe_text import shown
from harness.scenario import Scenario

ITEMS = (
    "All public functions/classes mapped to Rust",
    "Behavior matches Python on normal inputs",
    "Error handling parity confirmed",
    "Config/env precedence parity confirmed",
    "I/O formats identical (proto/JSON/TFRecord/pbtxt)",
    "Threading/concurrency semantics preserved",
    "Logging/metrics parity confirmed",
    "Performance risks documented",
    "Rust tests added and passing",
    "Cross-language parity test completed",
)
MAPPED, NORMAL, ERRORS, CONFIG, IO, THREADING, LOGGING, PERFORMANCE, PORT_TESTS, PARITY = ITEMS

# Items no parity run can prove: they stay open for the port to tick, saying why. (A
# passing scenario shows behaviour matches; it cannot show that every public name of the
# original has a counterpart in the port.)
MANUAL = {
    MAPPED: "no run can show it; check the port's module map against the original's public "
    "functions and classes",
    PERFORMANCE: "the parity suite cannot back it; review the port's performance notes",
    PORT_TESTS: "the parity suite cannot back it; the port's own tests must pass in its CI",
}

ERROR_EVENTS = frozenset({"error", "logged_error"})
LOG_EVENTS = frozenset({"log", "logged_error"})
THREAD_OPS = frozenset({"advance", "wait", "start_workers", "join_workers"})


@dataclass(frozen=True)
class Facts:
    """What the checklist needs to know of one scenario and its golden output."""

    id: str
    family: str
    config: Mapping[str, Any]
    steps: Sequence[Mapping[str, Any]]
    events: frozenset[str]  # event kinds in the golden trace
    artifacts: frozenset[str]  # artifact kind names of the golden files/ (CkptInfoKind.name, ...)

    @property
    def ops(self) -> frozenset[str]:
        return frozenset(str(s.get("op")) for s in self.steps)

    def fetches(self) -> set[str]:
        return {str(s["fetch"]) for s in self.steps if s.get("op") == "run" and "fetch" in s}


def facts(scenario: Scenario, golden_root: Path = GOLDEN_DIR) -> Facts:
    events: set[str] = set()
    artifacts: set[str] = set()
    for _, golden in golden_dirs(scenario, golden_root):  # every legal outcome's
        trace = golden / "trace.jsonl"
        if trace.is_file():
            for line in trace.read_text(encoding="utf-8").splitlines():
                try:
                    events.add(str(json.loads(line).get("event")))
                except (ValueError, AttributeError):
                    continue
        artifacts |= {kind_of(rel).name for rel in files_under(golden / "files")}
    return Facts(
        scenario.id,
        scenario.family,
        scenario.config,
        scenario.steps,
        frozenset(events),
        frozenset(artifacts),
    )


Select = Callable[[Facts], bool]


@dataclass(frozen=True)
class OriginalFile:
    """One original file: the families that exercise it and what is particular to it."""

    path: str
    families: tuple[str, ...]
    config_keys: tuple[str, ...] = ()
    artifacts: tuple[str, ...] = ()  # artifact kinds it writes; () = writes no file
    threads: bool = False  # starts or waits on threads
    logs: bool = False  # logs anything
    # For a test file: original test method -> which scenarios reproduce it.
    test_methods: Mapping[str, Select] = field(default_factory=dict)
    in_plan: bool = True  # the port plan lists this file (else: added by this project)


def _ids(*ids: str) -> Select:
    """The named scenarios (an original test reproduced one to one)."""
    return lambda f: f.id in ids


def _family(name: str) -> Select:
    return lambda f: f.family == name


CONTROLLER_KEYS = ("model_dir", "num_ps", "trigger_save", "stop_helper", "barrier",
                   "query_action", "query_interval")  # fmt: skip
FEATURE_KEYS = ("model_dir", "server_type", "index", "cap", "uuids")
SLOT_COUNT_KEYS = ("model_dir", "multi_hash_tables", "wrap")
BARRIER_KEYS = ("capacity", "wait_seconds", "name_prefix", "stop_helper")

FILES: tuple[OriginalFile, ...] = (
    OriginalFile(
        "monolith/native_training/hooks/ckpt_info_test.py",
        ("slot_count",),
        SLOT_COUNT_KEYS,
        (CkptInfoKind.name,),
        test_methods={"FidCountListener.test_basic": _ids("slot_count/basic")},
    ),
    OriginalFile(
        "monolith/native_training/hooks/controller_hooks.py",
        ("controller",),
        CONTROLLER_KEYS,
        (ActionFileKind.name, ActionResponseKind.name),
        threads=True,
        logs=True,
    ),
    OriginalFile(
        "monolith/native_training/hooks/controller_hooks_test.py",
        ("controller",),
        CONTROLLER_KEYS,
        (ActionFileKind.name, ActionResponseKind.name),
        threads=True,
        logs=True,
        test_methods={
            "ControllerHookTest.testStop": _ids("controller/stop_capacity_one"),
            "ControllerHookTest.testSave": _ids("controller/trigger_save_op"),
            "QueryActionHookTest.testStop": _ids("controller/query_trigger_save"),
        },
    ),
    OriginalFile(
        "monolith/native_training/hooks/feature_engineering_hooks.py",
        ("feature_dump",),
        FEATURE_KEYS,
        (ExampleBatchStreamKind.name,),
        logs=True,
    ),
    OriginalFile("monolith/native_training/hooks/hook_utils.py", ("hook_utils",), ("listeners",)),
    # Not in the port plan's list; this project covers them as well.
    OriginalFile(
        "monolith/native_training/hooks/ckpt_info.py",
        ("slot_count",),
        SLOT_COUNT_KEYS,
        (CkptInfoKind.name,),
        in_plan=False,
    ),
    OriginalFile(
        "monolith/native_training/hooks/hook_utils_test.py",
        ("hook_utils",),
        ("listeners",),
        test_methods={"HookUtilsTest (all)": _family("hook_utils")},
        in_plan=False,
    ),
    OriginalFile(
        "monolith/native_training/barrier_ops.py",
        ("barrier",),
        BARRIER_KEYS,
        threads=True,
        logs=True,
        in_plan=False,
    ),
    OriginalFile(
        "monolith/native_training/barrier_ops_test.py",
        ("barrier",),
        BARRIER_KEYS,
        threads=True,
        logs=True,
        test_methods={"BarrierOpsTest (all)": _family("barrier")},
        in_plan=False,
    ),
)


# -- which scenarios back an item ----------------------------------------------------


@dataclass(frozen=True)
class Backing:
    """The scenarios that back one item, in named groups that must each be non-empty."""

    groups: Mapping[str, tuple[str, ...]]
    note: str = ""

    @property
    def ids(self) -> list[str]:
        return sorted({i for ids in self.groups.values() for i in ids})


def backing(item: str, spec: OriginalFile, corpus: Sequence[Facts]) -> Backing | None:
    """Which scenarios back ``item`` for ``spec`` (None: the suite cannot back it)."""
    if item in MANUAL:
        return None
    mine = [f for f in corpus if f.family in spec.families]

    def by_family(select: Select, note: str = "") -> Backing:
        return Backing(
            {
                fam: tuple(f.id for f in mine if f.family == fam and select(f))
                for fam in spec.families
            },
            note,
        )

    if item == PARITY:
        if spec.test_methods:
            return Backing(
                {m: tuple(f.id for f in mine if sel(f)) for m, sel in spec.test_methods.items()},
                "the scenarios reproducing each original test method",
            )
        return by_family(lambda f: True, "every scenario of the file's families")
    if item == NORMAL:
        return by_family(lambda f: not (f.events & ERROR_EVENTS), "scenarios without errors")
    if item == ERRORS:
        return by_family(
            lambda f: bool(f.events & ERROR_EVENTS), "scenarios that raise or log errors"
        )
    if item == CONFIG:
        keys = set(spec.config_keys)
        return by_family(
            lambda f: bool(keys & set(f.config)),
            f"scenarios setting {', '.join(spec.config_keys)} (no environment variables are read)",
        )
    if item == IO:
        if not spec.artifacts:
            return by_family(lambda f: True, "writes no file: every listing pins that")
        kinds = set(spec.artifacts)
        return by_family(
            lambda f: bool(kinds & f.artifacts), f"scenarios writing {', '.join(kinds)}"
        )
    if item == THREADING:
        if not spec.threads:
            return by_family(lambda f: True, "starts no thread: every trace pins the call order")
        return by_family(
            lambda f: bool(f.ops & THREAD_OPS) or bool(f.config.get("workers")),
            "scenarios that let time pass or run worker threads",
        )
    if item == LOGGING:
        if not spec.logs:
            return by_family(lambda f: True, "logs nothing: every trace pins that")
        return by_family(lambda f: bool(f.events & LOG_EVENTS), "scenarios whose trace logs")
    raise KeyError(item)


# -- evaluation and rendering ----------------------------------------------------------


@dataclass(frozen=True)
class ItemState:
    item: str
    checked: bool
    why: str  # one line: what backs it, or what is missing
    scenarios: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileChecklist:
    path: str
    items: tuple[ItemState, ...]
    in_plan: bool = True

    @property
    def done(self) -> int:
        return sum(i.checked for i in self.items)


def _state(item: str, back: Backing | None, results: Mapping[str, ScenarioResult]) -> ItemState:
    if back is None:
        return ItemState(item, False, "manual: " + MANUAL[item])
    empty = [g for g, ids in back.groups.items() if not ids]
    if empty:
        return ItemState(item, False, f"no scenario backs it yet ({', '.join(empty)})")
    ids = back.ids
    by_status: dict[str, list[str]] = {}
    for i in ids:
        status = results[i].status if i in results else "not run"
        by_status.setdefault(status, []).append(i)
    if set(by_status) == {PASSED}:
        note = f"; {back.note}" if back.note else ""
        return ItemState(item, True, f"{len(ids)}/{len(ids)} scenarios passed{note}", tuple(ids))
    order = ("failed", UNEXPECTED_PASS, EXPECTED_DEVIATION, "not run", PASSED)
    parts = [
        f"{status}: {', '.join(by_status[status])}"
        if status != PASSED
        else f"{len(by_status[PASSED])} passed"
        for status in order
        if status in by_status
    ]
    return ItemState(item, False, "; ".join(parts), tuple(ids))


def evaluate(
    results: Sequence[ScenarioResult],
    scenarios: Sequence[Scenario],
    golden_root: Path = GOLDEN_DIR,
    files: Sequence[OriginalFile] = FILES,
) -> list[FileChecklist]:
    """The checklist of every original file, from one implementation's results."""
    corpus = [facts(s, golden_root) for s in scenarios]
    by_id = {r.scenario: r for r in results}
    return [
        FileChecklist(
            spec.path,
            tuple(_state(item, backing(item, spec, corpus), by_id) for item in ITEMS),
            spec.in_plan,
        )
        for spec in files
    ]


def label(item: str, implementation: str = "") -> str:
    """The item as shown: the plan's wording names Rust; the report speaks of the port
    (the implementation's name is in the checklist's title, not spliced into a sentence)."""
    return item.replace("mapped to Rust", "mapped in the port").replace(
        "Rust tests", "the port's own tests"
    )


def reason_class(state: ItemState) -> str:
    """How the reason reads: ``passed``, ``manual``, ``missing`` (no scenario backs it)
    or ``failing`` (a backing scenario did not pass)."""
    if state.checked:
        return "passed"
    if state.why.startswith("manual:"):
        return "manual"
    return "missing" if state.why.startswith("no scenario backs it") else "failing"


def _one_line(text: str) -> str:
    """Text as rendered: on one line, every character a testee could slip in (an
    implementation's name, a scenario id) escaped (:func:`harness.safe_text.shown`)."""
    return shown(text, multiline=False)


def render_markdown(checklists: Sequence[FileChecklist], implementation: str = "") -> str:
    """The checklist as markdown; any text in any field gives valid UTF-8 with no control
    character but newlines."""
    title = "Verification checklist" + (f": {implementation}" if implementation else "")
    lines = [f"## {_one_line(title)}", ""]
    for cl in checklists:
        origin = "" if cl.in_plan else " (added by this project)"
        lines.append(f"### `{_one_line(cl.path)}`{origin} ({cl.done}/{len(cl.items)})")
        lines.append("")
        for it in cl.items:
            mark = "x" if it.checked else " "
            item, why = _one_line(label(it.item, implementation)), _one_line(it.why)
            lines.append(f"- [{mark}] {item} — {why}")
        lines.append("")
    return "\n".join(lines)


def render_html(checklists: Sequence[FileChecklist], implementation: str = "") -> str:
    """An HTML fragment (no ``<html>``/``<body>``) for the parity page; any text in any
    field gives valid UTF-8 with no control character but newlines."""

    def esc(text: str) -> str:
        return html.escape(_one_line(text))

    title = "Verification checklist" + (f": {implementation}" if implementation else "")
    out = [f'<section class="checklist">\n<h2>{esc(title)}</h2>']
    for cl in checklists:
        origin = "" if cl.in_plan else " <small>(added by this project)</small>"
        out.append(
            f"<h3><code>{esc(cl.path)}</code>{origin} "
            f'<span class="count">{cl.done}/{len(cl.items)}</span></h3>\n<ul>'
        )
        for it in cl.items:
            checked = " checked" if it.checked else ""
            cls = "done" if it.checked else "open"
            out.append(
                f'<li class="{cls}"><input type="checkbox" disabled{checked}> '
                f"{esc(label(it.item, implementation))} "
                f'<span class="why why-{reason_class(it)}">{esc(it.why)}</span></li>'
            )
        out.append("</ul>")
    out.append("</section>")
    return "\n".join(out)


def markdown(
    results: Sequence[ScenarioResult], scenarios: Sequence[Scenario], golden_root: Path = GOLDEN_DIR
) -> str:
    """Convenience: evaluate and render as markdown, titled with the implementation."""
    impl = results[0].implementation if results else ""
    return render_markdown(evaluate(results, scenarios, golden_root), impl)
