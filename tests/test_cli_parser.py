"""The ``synthtumor`` parser, pinned: what each subcommand parses and the help it prints.

For every subcommand, a digest over its prog, help line, description and, in the order they are
added, each argument's (dest, default, option strings, nargs, type, choices, required, action,
const, metavar, help). The digests were recorded from the parser before ``build_parser`` was
split into one function per subcommand (issue 17 item 6) and are the same after. A change of
any option or help text changes its subcommand's digest: if that is meant, update the digest in
the same commit and say so in its message. On a mismatch the test prints the rows.
"""

from __future__ import annotations

import argparse
import hashlib
import json

import pytest

from synthtumor.cli import build_parser

PINNED = {
    "": "2ec84bf4f7590cb0",
    "demo": "3aea1ca20d936a87",
    "evaluate": "6b7584881158b51c",
    "fit-preset": "c29cb42cc91f8a51",  # --rounds default 6 -> 10 (calibration keeps the later rounds mean)
    "generate": "b541d75cb6132c80",
    "info": "3aa87dbc4bf9c0b4",
    "phantom": "a3a9bfaebf4a928e",
    "predict": "c3c06e2ee1731b5b",
    "realism": "7f96cc0a858846c2",
    "study": "fc886b09d0b84b69",
    "train-diffusion": "e16afeaa21989d4a",
    "train-seg": "4411b3bdc6144dce",
}


def _rows(parser: argparse.ArgumentParser) -> list[list]:
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            rows.append(["<subcommands>", action.dest, action.required, action.metavar, list(action.choices)])
            continue
        rows.append([
            action.dest, repr(action.default), list(action.option_strings), repr(action.nargs),
            getattr(action.type, "__name__", repr(action.type)),
            list(action.choices) if action.choices is not None else None, action.required, type(action).__name__,
            repr(action.const), repr(action.metavar), action.help,
        ])
    return rows


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, dict]:
    """Per subcommand ("" for the top level): its prog, help, description and argument rows."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in sub._choices_actions}
    out = {"": {"prog": parser.prog, "description": parser.description, "rows": _rows(parser)}}
    for name, p in sub.choices.items():
        out[name] = {"prog": p.prog, "help": helps.get(name), "description": p.description, "rows": _rows(p)}
    return out


def _digest(record: dict) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


SUBCOMMANDS = _subcommands(build_parser())


def test_every_subcommand_is_pinned():
    assert sorted(SUBCOMMANDS) == sorted(PINNED)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_the_parser_is_unchanged(name):
    record = SUBCOMMANDS[name]
    assert _digest(record) == PINNED[name], json.dumps(record, indent=1)
