"""`scratchdream dream --explain [--compare-net NET]`: "why dogs?", beside the dream.

The dream itself is written as always; the explanation is a second picture, OUTPUT_explain.png (the
input and the dream side by side, and beside them each net's classes whose probability rose most, before
-> after), so that the dream's own pixels and size never depend on the flag. With --compare-net a second
net classifies the same two pictures. Both nets must classify pictures; that is checked before the dream.
"""

from ..explain import explain, panel, require_classifier, worded
from ..image_io import save_image
from .common import load_net
from .paths import EXPLAIN_SUFFIX, output_path


def add_options(p):
    p.add_argument(
        "--explain",
        action="store_true",
        help=f"also write OUTPUT{EXPLAIN_SUFFIX}: the classes whose probability the dream raised most",
    )
    p.add_argument(
        "--compare-net",
        metavar="NET",
        help="with --explain (implied): a second net, e.g. toyworld, classifies the input and the dream too "
        "(default: none)",
    )


def wanted(args):
    return bool(args.explain or args.compare_net)


def panel_path(out):
    """OUTPUT_explain.png beside the dream, whatever the dream's own format."""
    return output_path(out, None, EXPLAIN_SUFFIX, "--explain", ".png")


def nets(args, net):
    """The nets that explain: the dreaming one, and --compare-net's; each checked to be a classifier."""
    found = [net] + ([load_net(args.compare_net, args.weights_dir)] if args.compare_net else [])
    for one, flag in zip(found, ["--explain", "--compare-net"]):
        require_classifier(one, flag)
    return found


def write(outs, path, nets, before, after):
    """Save the panel into the output set's temporary name; returns the rises in words, one net after
    another ("toyworld: dog 0.00->0.55, castle 0.05->0.36")."""
    sections = explain(nets, before, after)
    save_image(outs.temp(path), panel(before, after, sections))
    return "; ".join(
        f"{name}: {', '.join(worded(r) for r in found) or 'no class rose'}" for name, found in sections
    )
