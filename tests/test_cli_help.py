"""Every option of every subcommand has a one-line help that gives its real default (issue 17: `lecture
--help` said "steps per octave" and offered a weighted --layer it refuses; `--steps default:
toyworld.train.STEPS` named a Python constant; `fetch` did not list the nets)."""

import argparse
import re

import pytest

from scratchdream.cli import build_parser
from scratchdream.nets import zoo


def _commands():
    top = build_parser()
    (subs,) = (a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return subs.choices


def _options():
    for name, parser in _commands().items():
        for action in parser._actions:
            if action.option_strings and not isinstance(action, argparse._HelpAction):
                yield pytest.param(parser, action, id=f"{name} {action.option_strings[-1]}")


@pytest.mark.parametrize("parser, action", list(_options()))
def test_every_option_says_what_it_is_and_its_default(parser, action):
    text = parser._get_formatter()._expand_help(action) if action.help else ""
    assert text.strip(), "no help"
    assert not re.search(r"\b[a-z_]+\.[a-z_]+\.[A-Z_]+\b", text), "a Python name instead of a value"
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return  # a switch: off unless given
    assert "default" in text, "no default"
    if action.default not in (None, False) and isinstance(action.default, (int, float, str)):
        assert str(action.default) in text, f"the default {action.default!r} is not shown"


def test_lecture_help_speaks_of_its_own_steps_and_one_layer():
    lecture = _commands()["lecture"].format_help()
    assert "per octave" not in lecture and "steps in all" in lecture
    assert "NAME[:WEIGHT]" not in lecture and "INPUT_dream.png" not in lecture
    assert "INPUT_lecture.png" in lecture


def test_fetch_help_lists_the_zoo():
    text = " ".join(_commands()["fetch"].format_help().split())
    assert all(name in text for name in zoo.ZOO)
