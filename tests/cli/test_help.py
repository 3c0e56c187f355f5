"""Issue 12.4: ``rnnlab --version``; every option has help text and shows its default once."""

from __future__ import annotations

import argparse
import re

import pytest

import rnnlab
from rnnlab.cli.main import build_parser


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


PARSER = build_parser()
SUBPARSERS = _subparsers(PARSER)
OPTIONS = [
    (name, action)
    for name, sub in SUBPARSERS.items()
    for action in sub._actions
    if not isinstance(action, argparse._HelpAction)
]


def _expanded_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The help line as ``--help`` prints it (formatter additions and %(default)s included)."""
    formatter = parser._get_formatter()
    return formatter._expand_help(action) if action.help else ""


def test_every_subcommand_is_walked():
    assert set(SUBPARSERS) == {
        "info", "demo", "compare", "recommend", "train", "predict", "generate", "gradflow",
        "bench",
    }  # fmt: skip
    assert len(OPTIONS) > 50


@pytest.mark.parametrize(("command", "action"), OPTIONS, ids=[f"{n}:{a.dest}" for n, a in OPTIONS])
def test_every_option_has_help_and_its_default_once(command, action):
    parser = SUBPARSERS[command]
    text = _expanded_help(parser, action)
    assert action.help not in (None, argparse.SUPPRESS), f"{command} {action.option_strings}"
    assert len(text.strip()) > 5
    mentions = len(re.findall(r"\bdefault\b", text))
    assert mentions <= 1, text
    assert "(default: None)" not in text
    shown_default = action.default not in (None, False, argparse.SUPPRESS) and not action.required
    if shown_default:
        assert mentions == 1, f"{command} {action.option_strings}: {text!r} hides its default"
        default = action.default
        value = (
            repr(default) if isinstance(default, str) and default.strip() != default else default
        )
        assert str(value) in text, f"{command} {action.option_strings}: {text!r}"


@pytest.mark.parametrize("command", sorted(SUBPARSERS))
def test_help_pages_show_no_doubled_default(command):
    text = " ".join(SUBPARSERS[command].format_help().split())  # help lines are wrapped
    assert not re.search(r"\(default[^()]*\) \(default", text), text
    assert "(default: None)" not in text


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        PARSER.parse_args(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"rnnlab {rnnlab.__version__}"


def test_demo_shows_progress_and_says_it_compiles(capsys):
    from rnnlab.cli.main import main

    assert main(["demo", "--steps", "2"]) == 0
    captured = capsys.readouterr()
    assert "compiles the Numba kernels" in captured.err
    for name, hidden in (("RNN", 32), ("LSTM", 64), ("GRU", 48)):
        assert f"{name} (hidden {hidden}): forward, then 2 training steps..." in captured.err
    assert "compiles" not in captured.out  # the table on stdout stays clean
