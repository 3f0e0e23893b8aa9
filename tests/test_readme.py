"""README's promises that code can check: the Quickstart block, the commands it names,
and the exit statuses it lists (the same as ``monolith-parity --help``)."""

from __future__ import annotations

import re

from harness import cli
from harness.paths import CHECKOUT_ROOT

README = (CHECKOUT_ROOT / "README.md").read_text(encoding="utf-8")
QUICKSTART = (
    "python3 -m pip install --quiet nox && python3 -m nox -s parity",
    "python3 -m pip install --quiet nox && python3 -m nox",
)


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def test_quickstart_is_one_block_of_the_two_commands() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", section("Quickstart"), re.S)
    assert blocks == ["\n".join(QUICKSTART) + "\n"]


def test_every_command_named_exists() -> None:
    commands = set(cli.parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    named = set(re.findall(r"monolith-parity ([a-z]+)", README))
    assert named and named <= commands, named - commands


def test_exit_statuses_match_the_help() -> None:
    in_help = re.findall(r"^  (\d+) ", cli.EXIT_CODES, re.M)
    in_readme = re.findall(r"`(\d+)` ", README[README.index("Exit status:") :])
    assert in_help == in_readme == ["0", "1", "2", "130", "141"]
