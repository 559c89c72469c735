"""The command line's names for the library's settings, and the argparse pieces every subcommand shares.

The library's errors name its parameters (errors.SettingError: `sd.dream(steps=0)` says "steps must be
..."); FLAGS is the one table that turns each parameter into the flag that sets it, so the same mistake
on the command line says "--steps must be ...". Numbers that only the command line has (bench's
repeats, toyworld's training steps, layers' --size) get their range here, in their argparse type.
"""

import argparse
import os
import re

from ..errors import UsageError

FLAGS = {  # the library's parameter -> the flag that sets it
    "layers": "--layer",
    "layer": "--layer",
    "channel": "--channel",
    "neuron": "--neuron",
    "octaves": "--octaves",
    "octave_scale": "--octave-scale",
    "steps": "--steps",
    "step_size": "--step-size",
    "eta": "--step-size",  # the lecture's step is eta itself
    "jitter": "--jitter",
    "normalize": "--normalize",
    "smooth": "--smooth",
    "tile": "--tile",
    "tile_margin": "--tile-margin",
    "guide": "--guide",
    "belief": "--belief",
    "start": "--from",
    "seed": "--seed",
    "frames": "--frames",
    "factor": "--zoom",
    "net": "--net",
    "prototxt": "--prototxt",
    "weights_dir": "--weights-dir",
    "max_size": "--max-size",
    "top": "--top",  # survey
    "channels_of": "--channels",  # survey
    "max_memory": "--max-memory",
}


class Parser(argparse.ArgumentParser):
    """argparse, whose own mistakes (an unknown option, a number that is not one) are one line, exit 2."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message} (see --help)")


class Given(argparse.Action):
    """An option that stores its value and notes in `given` that the user gave it, so that the settings
    a net or a recipe brings (deepdream/defaults.py) never override what was typed."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.given = getattr(namespace, "given", frozenset()) | {self.dest}


def _formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def command(subs, name, help, example):
    """The parser of one subcommand: its one-line help, and an example under --help."""
    return subs.add_parser(
        name, help=help, description=f"{help}\n\nexample:\n  {example}", formatter_class=_formatter
    )


def top_parser(description):
    """The parser of `scratchdream` itself."""
    return Parser(prog="scratchdream", description=description, formatter_class=_formatter)


def reword(p, dest, help, metavar=None):
    """The help (and metavar) of an option shared with dream (add_net_options) but used in its own way."""
    (action,) = (a for a in p._actions if a.dest == dest)
    action.help = help
    action.metavar = metavar or action.metavar


# ---- argparse types for the numbers only the command line has ---------------------------------------
def whole(lo, hi, meaning):
    """An argparse type: a whole number from lo to hi (None: no upper bound), else one line saying so."""
    bounds = f">= {lo}" if hi is None else f"from {lo} to {hi}"

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be a whole number {bounds} ({meaning}), got {text!r}")
        return value

    return parse


def wholes(lo, hi, meaning):
    """An argparse type: comma-separated whole numbers, each from lo to hi; the text itself is kept."""
    one = whole(lo, hi, meaning)

    def parse(text):
        parts = [v for v in str(text).split(",") if v.strip()]
        if not parts:
            raise argparse.ArgumentTypeError(f"give comma-separated whole numbers ({meaning}), got {text!r}")
        for v in parts:
            one(v.strip())
        return text

    return parse


def margin(text):
    """argparse type for --tile-margin: a whole number of pixels (its range: DreamOptions) or 'exact'."""
    if text == "exact":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number of pixels or 'exact', got {text!r}"
        ) from None


UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def memory_size(text):
    """argparse type for --max-memory: 2G, 512M, 1.5GiB, 800MB or a number of bytes -> bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]?)(?:I?B)?\s*", str(text), re.IGNORECASE)
    value = float(m.group(1)) * UNITS[m.group(2).upper()] if m else 0
    if not m or not 1 <= value < 2**50:
        raise argparse.ArgumentTypeError(f"must be a size such as 2G, 512M or 1.5GiB, got {text!r}")
    return int(value)


def cores():
    """How many threads Numba can run: NUMBA_NUM_THREADS when set (checked by cli.main), else this
    machine's cores (Numba's own default)."""
    if os.environ.get("NUMBA_NUM_THREADS"):
        return int(os.environ["NUMBA_NUM_THREADS"])
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
