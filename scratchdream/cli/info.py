"""`scratchdream info OUT.png`: the manifest a scratchdream output carries, one setting a line.

Ends with the two commands that matter: how to replay the picture, and the command line that made it.
"""

from .. import manifest
from .flags import command
from .replay import COMMANDS, shown


def add_parser(subs):
    p = command(
        subs,
        "info",
        "print the manifest of a scratchdream output: the net, the input, every setting",
        "scratchdream info sky_dream.png",
    )
    p.add_argument("picture", help="a PNG, JPEG or GIF written by scratchdream")


def run(args):
    print("\n".join(lines(manifest.read(args.picture), args.picture)))
    return 0


def lines(m, picture):
    """The manifest as lines of text: a heading, then `name  value` a line."""
    what = {"picture": "the picture", "gif": "the GIF", "frame": f"frame {m['frame']}"}[m["output"]]
    net, inp, guide = m["net"], m["input"], m["guide"]
    rows = [
        ("net", f"{net['name']} from {net['source']}, weights sha256 {net['sha256']}"),
        ("input", "(none: drawn by the run)" if inp is None else f"{inp['file']}, sha256 {inp['sha256']}"),
    ]
    if guide is not None:
        rows.append(("guide", f"{guide['file']}, sha256 {guide['sha256']}"))
    rows += [(name, _value(m["settings"][name])) for name in manifest.SETTINGS[m["command"]]]
    rows.append(("kernels", m["kernels"]))
    width = max(len(name) for name, _ in rows)
    made_by = shown(m, inp and inp["file"], net["source"], guide and guide["file"])
    return (
        [f"{picture}: {what} of a `scratchdream {m['command']}` run by scratchdream {m['scratchdream']}"]
        + [f"  {name:{width}s}  {value}" for name, value in rows]
        + ([f"replay with: scratchdream replay {picture}"] if m["command"] in COMMANDS else [])
        + ["made by:     " + made_by]
    )


def _value(value):
    if value is None:
        return "(none)"
    if value == []:
        return "(the net's suggested layer)"
    if isinstance(value, list) and value and isinstance(value[0], list):  # layers: name:weight, ...
        return ", ".join(f"{name}:{weight:g}" for name, weight in value)
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)
