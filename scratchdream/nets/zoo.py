"""The zoo: the pretrained networks scratchdream knows, where their publishers keep them, and how to check them.

Each entry names an architecture builder (nets/archs/), the publisher's URL and the checksum the
publisher (or, where marked, several independent third parties) gives for the file, the file format,
the license and the suggested dream layers. Facts and their sources: shared ZOO.md; weights/README.md
lists them for users. `ensure_weights(name)` turns a name into a converted HDF5 file on first use:
fetch the publisher's file, verify it, convert it (nets/convert.py), save it atomically.

Labels: none of these files carries class names (a .caffemodel, a state dict and a Keras weights file
hold numbers only), and ImageNet's names cannot be fetched here, so `labels` is None and a class is
named by its index (0..999) everywhere.
"""

import os
from dataclasses import dataclass, field

from ..errors import UsageError, UserError


@dataclass(frozen=True)
class Entry:
    name: str
    arch: str  # "module:function" in nets/archs, called with `args`
    url: str
    checksum: tuple  # (kind, hex) with kind one of fetch.fetch's keywords
    format: str  # "caffemodel" | "pth" | "keras_h5" | "scratchdream"
    license: str
    size: str  # size of the publisher's file
    about: str
    args: tuple = field(default=())

    @property
    def filename(self):
        return self.url.rsplit("/", 1)[-1]


TV = "https://download.pytorch.org/models/"
KERAS = "https://storage.googleapis.com/tensorflow/keras-applications/"
TV_LICENSE = "no explicit license (torchvision: terms of the training data, ImageNet, apply)"

ZOO = {
    e.name: e
    for e in [
        Entry(
            "googlenet",
            "googlenet:spec",
            "http://dl.caffe.berkeleyvision.org/bvlc_googlenet.caffemodel",
            ("sha1", "405fc5acd08a3bb12de8ee5e23a96bec22f08204"),
            "caffemodel",
            "unrestricted use (BAIR model license)",
            "53,533,754 bytes",
            "BVLC GoogLeNet (Caffe), the original Deep Dream notebook's net",
        ),
        Entry(
            "vgg16",
            "vgg:spec",
            TV + "vgg16-397923af.pth",
            ("sha256", "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0"),
            "pth",
            TV_LICENSE,
            "553,433,881 bytes",
            "VGG16 (torchvision)",
            ("vgg16",),
        ),
        Entry(
            "vgg19",
            "vgg:spec",
            TV + "vgg19-dcbb9e9d.pth",
            ("sha256", "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44"),
            "pth",
            TV_LICENSE,
            "574,673,361 bytes",
            "VGG19 (torchvision)",
            ("vgg19",),
        ),
        Entry(
            "alexnet",
            "alexnet:spec",
            TV + "alexnet-owt-7be5be79.pth",
            ("sha256", "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02"),
            "pth",
            TV_LICENSE,
            "244,408,911 bytes",
            "AlexNet (torchvision)",
        ),
        Entry(
            "squeezenet1_1",
            "squeezenet:spec",
            TV + "squeezenet1_1-b8a52dc0.pth",
            ("sha256", "b8a52dc049b60e4b6ab68ad0df457362afab8b6304b2febdc1650a5dab4d7e7b"),
            "pth",
            TV_LICENSE,
            "4.7 MiB",
            "SqueezeNet 1.1 (torchvision)",
        ),
        # one third-party source only for the full sha256: check the publisher's own 8-hex prefix
        Entry(
            "tv_googlenet",
            "tv_googlenet:spec",
            TV + "googlenet-1378be20.pth",
            ("sha256_prefix", "1378be20"),
            "pth",
            TV_LICENSE,
            "49.7 MiB",
            "GoogLeNet (torchvision, BatchNorm folded, TF-ported weights)",
        ),
        Entry(
            "keras_vgg16",
            "keras:vgg16_spec",
            KERAS + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5",
            ("md5", "64373286793e3c8b2b4e3219cbf3544b"),
            "keras_h5",
            "CC BY 4.0 (ported from the VGG group's release)",
            "528 MB",
            "VGG16 (Keras applications)",
        ),
        Entry(
            "keras_inception_v3",
            "keras:inception_v3_spec",
            KERAS + "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
            ("md5", "9a0d58056eeedaa3f26cb7ebd46da564"),
            "keras_h5",
            "MIT",
            "92 MB",
            "Inception V3 (Keras applications)",
        ),
        Entry(
            "toyworld",
            "",
            "",
            ("", ""),
            "scratchdream",
            "MIT (this project)",
            "< 2 MB",
            "the offline toy-world net, trained here (`make toyworld`)",
        ),
    ]
}


def known_names():
    return list(ZOO)


def entry(name):
    if name not in ZOO:
        raise UsageError(f"unknown network {name!r}; known: {', '.join(ZOO)} (or give a weights .h5 file)")
    return ZOO[name]


def arch_module(name):
    import importlib

    e = entry(name)
    if not e.arch:
        raise UserError(f"{name} has no architecture in the zoo: it is defined by its weights file")
    module, func = e.arch.split(":")
    return importlib.import_module(f"scratchdream.nets.archs.{module}"), func


def arch_function(name, what):
    """The architecture module's `what` for this net ("params_from", "file_keys", "fits"); a module holding
    several nets prefixes them as its builder is named (keras: vgg16_spec -> vgg16_params_from)."""
    module, func = arch_module(name)
    return getattr(module, func[: -len("spec")] + what, None)


def spec_for(name):
    """The architecture of a zoo network as plain data (graph.py's spec), without weights."""
    module, func = arch_module(name)
    spec = getattr(module, func)(*entry(name).args)
    spec["provenance"] = {"source_url": entry(name).url, "license": entry(name).license}
    return spec


def weights_path(name, weights_dir=None):
    from ..weights_io import default_weights_dir

    if name == "toyworld" and weights_dir is None:
        return _toyworld_path()
    return os.path.join(weights_dir or default_weights_dir(), f"{name}.h5")


def _toyworld_path():
    repo = os.path.join(
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "weights"
    )
    return os.path.join(repo, "toyworld.h5")


def ensure_weights(name, weights_dir=None, progress=True):
    """Path of the converted .h5 for a zoo name: returned if present, else fetched, verified, converted, saved."""
    e = entry(name)
    target = weights_path(name, weights_dir)
    if os.path.isfile(target):
        return target
    if name == "toyworld":
        if os.path.isfile(_toyworld_path()):
            return _toyworld_path()
        raise UserError(f"{target} is missing; `make toyworld` regenerates it (a few minutes, offline)")
    folder = os.path.dirname(target)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise UserError(
            f"cannot create the weights folder {folder} ({err.strerror}); choose another with "
            "--weights-dir or $SCRATCHDREAM_WEIGHTS"
        ) from None
    source = os.path.join(folder, e.filename)
    if not os.path.isfile(source):
        from .. import fetch

        kind, value = e.checksum
        try:
            fetch.fetch(e.url, source, progress=progress, **{kind: value})
        except UserError as err:
            raise type(err)(f"{err}; meanwhile NET=toyworld works offline") from None
    from ..weights_io import save_net
    from .convert import convert_file

    net = convert_file(source, net=name)
    save_net(net, target)
    return target


# ---- `scratchdream layers NET [--size HxW]` ---------------------------------------------------------
def open_for_listing(name_or_path, weights_dir=None):
    """(Net, header line): the converted file when there is one, else the zoo's architecture alone."""
    from ..weights_io import load_file
    from .graph import Net

    if os.path.exists(name_or_path) or name_or_path.endswith((".h5", ".hdf5")):
        return load_file(name_or_path), f"{name_or_path}"
    e = entry(name_or_path)
    if e.name == "toyworld":
        path = ensure_weights("toyworld", weights_dir)  # the committed file, or how to regenerate it
        return load_file(path), f"toyworld ({path})"
    path = weights_path(e.name, weights_dir)
    if os.path.isfile(path):
        return load_file(path), f"{e.name} ({path})"
    return Net(spec_for(e.name)), (
        f"{e.name}: architecture only, weights not fetched yet (`scratchdream fetch {e.name}` gets them)"
    )


def layer_table(net, H, W):
    """Rows (name, aliases, kind, (C, H, W) or (F,), parameter count) in forward order."""
    shapes = net.shapes(H, W)
    by_target = {}
    for alias, target in net.aliases.items():
        by_target.setdefault(target, []).append(alias)
    rows = []
    for layer in net.layers:
        n = layer["name"]
        count = sum(int(_prod(s)) for s in net.param_shapes.get(n, {}).values())
        rows.append((n, ", ".join(by_target.get(n, [])), layer["kind"], shapes[n], count))
    return rows


def _prod(shape):
    out = 1
    for v in shape:
        out *= int(v)
    return out
