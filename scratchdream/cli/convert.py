"""`scratchdream convert FILE [--net NAME] [-o OUT] [--force]`: a checkpoint you already have -> our HDF5.

The output goes through the output transaction (OutputSet): never the checkpoint or the prototxt it
reads, however spelt (a link, `x/../`), even with --force; an existing file only with --force. A given
-o is checked before the (long) conversion, the default name (the net's, known once the file is read)
just after it.
"""

import os

from ..nets import zoo
from ..nets.convert import convert_file
from ..outputs import OutputSet
from ..weights_io import default_weights_dir, save_net
from .flags import command


def add_parser(subs):
    p = command(
        subs,
        "convert",
        "convert a checkpoint you already have (.caffemodel, .pth, Keras .h5, .onnx)",
        "scratchdream convert vgg16-397923af.pth -o weights/vgg16.h5",
    )
    p.add_argument("file", help="the publisher's checkpoint: .caffemodel, .pth, Keras .h5 or .onnx")
    p.add_argument(
        "--net",
        help="which architecture (default: recognised from the file); for .onnx the net's name (default: "
        "the file's; a zoo name also lends its preprocessing)",
    )
    p.add_argument("-o", "--output", help="the weights file to write (default: WEIGHTS_DIR/NET.h5)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument(
        "--prototxt",
        help="Caffe only: also check the architecture against this deploy.prototxt (default: none)",
    )


def run(args):
    if args.net is not None and not str(args.file).endswith(".onnx"):
        zoo.entry(args.net)
    with OutputSet(inputs=[args.file, args.prototxt], force=args.force) as outs:
        out = outs.add(args.output) if args.output else None  # refused now, not after the conversion
        net = convert_file(args.file, net=args.net, prototxt=args.prototxt)
        out = out or outs.add(os.path.join(default_weights_dir(), f"{net.name}.h5"))
        save_net(net, outs.temp(out))
    prov = net.spec["provenance"]
    if prov["matches_published"] is None:
        check = "no published checksum to compare with"
    else:
        note = "matches" if prov["matches_published"] else "does NOT match"
        check = f"the file {note} the published {prov['published_checksum'].split(':')[0]}"
    print(f"converted {args.file} -> {out} ({net.name}, {len(net.params)} layers with weights; {check})")
    return 0
