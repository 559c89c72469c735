"""`scratchdream replay OUT.png [IMAGE]`: make an output again from the manifest it carries, bit for bit.

The manifest (scratchdream/manifest.py) names the command, every setting, the net and the input, each
file with its sha256. Replay finds those files, checks each one's sha256 (one line naming the one that
differs), turns the settings back into the command's own command line, and runs that command's code
with the manifest's kernel set, writing only the requested output, under a new name: never over the
picture or an input. On the machine that made it, the new file has the same bytes; the closing line
says whether it has.
"""

import os
import shlex

from .. import manifest
from ..errors import UsageError, UserError
from ..nets import zoo
from ..outputs import OutputSet
from ..weights_io import default_weights_dir
from . import dream, lecture, zoom
from .common import summary
from .flags import FLAGS, command, top_parser
from .manifests import weights_file

COMMANDS = {"dream": dream, "lecture": lecture, "zoom": zoom}  # what a manifest may ask for


def add_parser(subs):
    p = command(
        subs,
        "replay",
        "make a scratchdream output again from the manifest it carries, bit for bit on the same machine",
        "scratchdream replay sky_dream.png",
    )
    p.add_argument("picture", help="a PNG, JPEG or GIF written by scratchdream (dream, lecture, zoom)")
    p.add_argument(
        "image",
        nargs="?",
        help="the input it was made from (default: the manifest's file name, beside the picture or here)",
    )
    p.add_argument(
        "-o", "--output", help="the new file (default beside the picture: PICTURE_replay, same extension)"
    )
    p.add_argument(
        "--net",
        help="the weights file, when the manifest's is not beside the picture or here (default: found)",
    )
    p.add_argument(
        "--guide", metavar="IMG", help="the guide picture of a guided dream (default: as the input)"
    )
    p.add_argument("--force", action="store_true", help="overwrite an earlier replay")
    p.add_argument(
        "--weights-dir", help="folder of converted weights (default: weights/ or $SCRATCHDREAM_WEIGHTS)"
    )


def run(args):
    ext = os.path.splitext(args.picture)[1]
    out = args.output or os.path.splitext(args.picture)[0] + "_replay" + ext
    if os.path.splitext(out)[1].lower() != ext.lower():
        raise UsageError(f"cannot write {out}: a replay of {args.picture} is a {ext} file; end -o in {ext}")
    with OutputSet([args.picture, args.image, args.guide, args.net], force=args.force) as outs:
        outs.add(out)  # checked first: never the picture, nor a file given, nor an old file without --force
        m = manifest.read(args.picture)
        if m["command"] not in COMMANDS:
            raise UserError(
                f"{args.picture} is a picture of `{shown(m, None, None)}`, which makes its pictures all "
                "together; run that command (minutes) to make them again"
            )
        image = find_file(args.image, m["input"], args.picture, "input")
        guide = None if m["guide"] is None else find_file(args.guide, m["guide"], args.picture, "guide")
        net = find_net(args, m["net"])
        _not_an_input(out, [image, guide, net])
        again = parse_command(m, image, net, guide, args.weights_dir)
        from ..layers import use_kernels  # the layers load Numba: only once the files are found

        use_kernels(m["kernels"])
        done = rebuild(m, again, outs, out)
    same = _bytes(out) == _bytes(args.picture)
    verdict = "identical to" if same else "DIFFERENT from (another machine or library version?)"
    summary(f"{done} -> {out}, {verdict} {args.picture} byte for byte")
    return 0


# ---- the files the manifest names -----------------------------------------------------------------------
def find_file(given, record, picture, what):
    """The input (or guide) file: `given`, else the manifest's file name beside the picture or here;
    one line if none is found or its sha256 is not the manifest's."""
    where = [given] if given else _beside(record["file"], picture)
    found = next((p for p in where if os.path.isfile(p)), None)
    if found is None:
        flag = "give it after the picture" if what == "input" else "give it with --guide"
        raise UserError(f"the {what} of {picture}, {record['file']}, is neither beside it nor here; {flag}")
    if manifest.sha256_file(found) != record["sha256"]:
        raise UserError(
            f"{found} is not the {what} {picture} was made from: its sha256 differs from the manifest's "
            f"({record['sha256'][:12]}...); give the original {what}"
        )
    return found


def find_net(args, record):
    """The weights file of the manifest's net (a zoo name; a file beside the picture, here or in the
    weights folder; or --net), its sha256 checked."""
    source = record["source"]
    if args.net:
        path = args.net
    elif source in zoo.known_names():
        path = weights_file(source, args.weights_dir)
    else:
        folder = args.weights_dir or default_weights_dir()
        where = _beside(source, args.picture) + [os.path.join(folder, os.path.basename(source))]
        path = next((p for p in where if os.path.isfile(p)), None)
        if path is None:
            raise UserError(
                f"{args.picture} asks for the net {record['name']} from {source}, which is no zoo name and "
                f"no file beside it, here or in {folder}; give its weights file with --net FILE"
            )
    if not os.path.isfile(path):
        raise UserError(f"--net {path} not found; check the path")
    if manifest.sha256_file(path) != record["sha256"]:
        raise UserError(
            f"the weights {path} are not those {args.picture} was made with: their sha256 differs from the "
            f"manifest's ({record['sha256'][:12]}...); give the original weights with --net FILE"
        )
    return path


def _not_an_input(out, found):
    """The files found from the manifest were not named on the command line: check them here (an existing
    output that is one of them, by any name or link, with --force)."""
    for path in found:
        if path is not None and os.path.exists(out) and os.path.samefile(out, path):
            raise UsageError(
                f"-o/--output {out} is the input itself ({path}); --force overwrites an earlier output, "
                "never the input: choose another name"
            )


def _beside(name, picture):
    """Where a file the manifest names by its base name may be: beside the picture, then here."""
    name = os.path.basename(name)
    return [os.path.join(os.path.dirname(os.path.abspath(picture)), name), name]


def _bytes(path):
    with open(path, "rb") as f:
        return f.read()


# ---- the command line again ---------------------------------------------------------------------------
def command_line(m, image, net, guide=None):
    """The manifest's run as a command line: a list of words (without `scratchdream`), every option as
    --flag=VALUE, so that no value (a layer name) can be read as an option."""
    if m["command"] == "toyworld":
        return ["toyworld", "demo", f"--seed={m['settings']['seed']}"]
    options = [("--net", net)]
    for name in manifest.SETTINGS[m["command"]]:  # in the schema's order, which is the help's
        value = m["settings"].get(name)  # a key added later (manifest.LATER) may be absent: None
        if value is None:
            continue
        if name == "layers":
            options += [("--layer", f"{layer}:{weight!r}") for layer, weight in value]
        elif name == "notebook":  # only a recipe sets it; every other setting is given explicitly
            options += [("--recipe", "google2015")] if value else []
        elif name in ("neuron", "belief"):
            options.append((FLAGS[name], ",".join(map(str, value))))
        else:
            options.append((FLAGS[name], repr(value) if isinstance(value, float) else str(value)))
    options += [("--guide", guide)] if guide else []
    return [m["command"], _not_an_option(image)] + [f"{flag}={value}" for flag, value in options]


def _not_an_option(path):
    return os.path.join(".", path) if path.startswith("-") else path


def shown(m, image, net, guide=None):
    """The command line as one could type it."""
    words = []
    for word in command_line(m, image, net, guide):
        flag, _, value = word.partition("=") if word.startswith("--") else ("", "", word)
        words.append(f"{flag} {shlex.quote(value)}" if flag else shlex.quote(value))
    return "scratchdream " + " ".join(words)


def parse_command(m, image, net, guide, weights_dir):
    """The argparse namespace of the manifest's command, as its own parser reads the command line."""
    parser = top_parser("replay")
    subs = parser.add_subparsers(dest="command")
    COMMANDS[m["command"]].add_parser(subs)
    more = [f"--weights-dir={weights_dir}"] if weights_dir else []
    return parser.parse_args(command_line(m, image, net, guide) + more)


def rebuild(m, args, outs, out):
    """Run the manifest's command on `args`, writing only the output the manifest describes, to `out`."""
    kind = m["output"]
    if m["command"] == "dream":
        pic, gif = (out, None) if kind == "picture" else (None, out)
        return dream._dream(args, dream.options_of(args), outs, pic, gif, stamp=m)
    if m["command"] == "lecture":
        pic, gif = (out, None) if kind == "picture" else (None, out)
        return lecture._lecture(args, *lecture.settings_of(args), outs, pic, gif, stamp=m)
    options, frames, factor = zoom.settings_of(args)
    if kind == "frame":
        if not 1 <= (m["frame"] or 0) <= frames:
            raise UserError(f"the manifest names frame {m['frame']} of a {frames}-frame zoom; it is damaged")
        paths, gif = [None] * (m["frame"] - 1) + [out], None
    else:
        paths, gif = [None] * frames, out
    return zoom._zoom(args, options, factor, outs, gif, paths, stamp=m)
