"""The zoo: the pretrained networks scratchdream knows, where their publishers keep them, how to check them.

Each entry pairs an architecture (an `Arch` record of nets/archs/, holding the functions that build the
spec and map the publisher's tensors onto it) with the publisher's URL and the checksum the publisher
(or, where marked, several independent third parties) gives for the file, the file format, the license
and a one-line description. docs/zoo.md states these facts and where they come from; weights/README.md
lists them for users. `fetch.ensure_weights(name)` turns a name into a converted file on first use.

Labels: none of these files carries class names (a .caffemodel, a state dict and a Keras weights file
hold numbers only), so an entry names its list in nets/classes/ (ImageNet's 1000, Places365's 365) and
`spec_for` puts those names in the spec's labels, which the converted file then keeps.
"""

import os
from dataclasses import dataclass, field

from ..errors import UsageError, UserError
from ..weights_io import default_weights_dir, load_file, repo_weights_dir
from . import classes
from .archs import Arch, alexnet, googlenet, keras, resnet, squeezenet, tv_googlenet, vgg, vgg_caffe
from .graph import Net


@dataclass(frozen=True)
class Entry:
    name: str
    arch: Arch | None  # None: the net is defined by its weights file (toyworld)
    url: str
    checksum: tuple  # (kind, hex) with kind one of fetch.fetch's keywords, or ("none", "") if unpublished
    format: str  # "caffemodel" | "pth" | "keras_h5" | "scratchdream"
    license: str
    size: str  # size of the publisher's file
    about: str
    classes: str | None = None  # the class names of its outputs: a list of nets/classes ("imagenet", ...)
    dream_defaults: dict = field(default_factory=dict)  # deepdream/defaults.py; written at convert time

    @property
    def filename(self):
        return self.url.rsplit("/", 1)[-1]


TV = "https://download.pytorch.org/models/"
KERAS = "https://storage.googleapis.com/tensorflow/keras-applications/"
TV_LICENSE = "no explicit license (torchvision: terms of the training data, ImageNet, apply)"
PLACES = "http://places2.csail.mit.edu/models_places365/"
PLACES_LICENSE = "CC BY (the Places365 authors: credit their paper or the Places project page)"

# google/deepdream dream.ipynb (2015): deepdream(net, img, iter_n=10, octave_n=4, octave_scale=1.4,
# end='inception_4c/output'), make_step(step_size=1.5, jitter=32): the step divided by mean |g|
NOTEBOOK_2015 = {
    "layers": ["inception_4c/output"],
    "octaves": 4,
    "octave_scale": 1.4,
    "steps": 10,
    "step_size": 1.5,
    "jitter": 32,
    "normalize": "mean",
}


def _local(name, what):
    """The entry of a net defined by its weights file, committed in weights/ (no architecture, no URL)."""
    return Entry(name, None, "", ("", ""), "scratchdream", "MIT (this project)", "< 2 MB", what)


ZOO = {
    e.name: e
    for e in [
        Entry(
            "googlenet",
            googlenet.BVLC_GOOGLENET,
            "http://dl.caffe.berkeleyvision.org/bvlc_googlenet.caffemodel",
            ("sha1", "405fc5acd08a3bb12de8ee5e23a96bec22f08204"),
            "caffemodel",
            "unrestricted use (BAIR model license)",
            "53,533,754 bytes",
            "BVLC GoogLeNet (Caffe), the original Deep Dream notebook's net",
            classes="imagenet",
            dream_defaults=NOTEBOOK_2015,
        ),
        Entry(
            "vgg16",
            vgg.VGG16,
            TV + "vgg16-397923af.pth",
            ("sha256", "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0"),
            "pth",
            TV_LICENSE,
            "553,433,881 bytes",
            "VGG16 (torchvision)",
            classes="imagenet",
        ),
        Entry(
            "vgg19",
            vgg.VGG19,
            TV + "vgg19-dcbb9e9d.pth",
            ("sha256", "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44"),
            "pth",
            TV_LICENSE,
            "574,673,361 bytes",
            "VGG19 (torchvision)",
            classes="imagenet",
        ),
        Entry(
            "alexnet",
            alexnet.ALEXNET,
            TV + "alexnet-owt-7be5be79.pth",
            ("sha256", "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02"),
            "pth",
            TV_LICENSE,
            "244,408,911 bytes",
            "AlexNet (torchvision)",
            classes="imagenet",
        ),
        Entry(
            "squeezenet1_1",
            squeezenet.SQUEEZENET1_1,
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
            tv_googlenet.TV_GOOGLENET,
            TV + "googlenet-1378be20.pth",
            ("sha256_prefix", "1378be20"),
            "pth",
            TV_LICENSE,
            "49.7 MiB",
            "GoogLeNet (torchvision, BatchNorm folded, TF-ported weights)",
            classes="imagenet",
        ),
        Entry(
            "resnet18",
            resnet.RESNET18,
            TV + "resnet18-f37072fd.pth",
            ("sha256_prefix", "f37072fd"),
            "pth",
            TV_LICENSE,
            "44.7 MiB",
            "ResNet-18 (torchvision, BatchNorm folded)",
            classes="imagenet",
        ),
        Entry(
            "resnet50",
            resnet.RESNET50,
            TV + "resnet50-0676ba61.pth",
            ("sha256", "0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a"),
            "pth",
            TV_LICENSE,
            "97.8 MiB",
            "ResNet-50 (torchvision IMAGENET1K_V1, BatchNorm folded)",
            classes="imagenet",
        ),
        # the Places365 authors publish no checksum: `fetch` refuses them, `convert` takes a file in hand
        Entry(
            "resnet18_places365",
            resnet.RESNET18_PLACES365,
            PLACES + "resnet18_places365.pth.tar",
            ("none", ""),
            "pth",
            PLACES_LICENSE,
            "not published",
            "ResNet-18 trained on Places365 scenes (the Places365 authors, PyTorch 0.2)",
            classes="places365",
        ),
        Entry(
            "resnet50_places365",
            resnet.RESNET50_PLACES365,
            PLACES + "resnet50_places365.pth.tar",
            ("none", ""),
            "pth",
            PLACES_LICENSE,
            "not published",
            "ResNet-50 trained on Places365 scenes (the Places365 authors, PyTorch 0.2)",
            classes="places365",
        ),
        Entry(
            "alexnet_places365",
            alexnet.ALEXNET_PLACES365,
            PLACES + "alexnet_places365.pth.tar",
            ("none", ""),
            "pth",
            PLACES_LICENSE,
            "not published",
            "AlexNet trained on Places365 scenes (the Places365 authors, PyTorch 0.2)",
            classes="places365",
        ),
        Entry(
            "vgg16_places365",
            vgg_caffe.VGG16_PLACES365,
            PLACES + "vgg16_places365.caffemodel",
            ("none", ""),
            "caffemodel",
            PLACES_LICENSE,
            "not published (about 543 MB: 135.8 M float32 parameters)",
            "VGG16 trained on Places365 scenes (the Places365 authors, Caffe)",
            classes="places365",
        ),
        Entry(
            "keras_vgg16",
            keras.VGG16,
            KERAS + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5",
            ("md5", "64373286793e3c8b2b4e3219cbf3544b"),
            "keras_h5",
            "CC BY 4.0 (ported from the VGG group's release)",
            "528 MB",
            "VGG16 (Keras applications)",
            classes="imagenet",
        ),
        Entry(
            "keras_inception_v3",
            keras.INCEPTION_V3,
            KERAS + "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
            ("md5", "9a0d58056eeedaa3f26cb7ebd46da564"),
            "keras_h5",
            "MIT",
            "92 MB",
            "Inception V3 (Keras applications)",
            classes="imagenet",
        ),
        Entry(
            "keras_vgg16_notop",
            keras.VGG16_NOTOP,
            KERAS + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            ("md5", "6d6bbae143d832006294945121d1f1fc"),
            "keras_h5",
            "CC BY 4.0 (ported from the VGG group's release)",
            "not published",
            "VGG16 without its classifier (Keras applications, include_top=False)",
        ),
        Entry(
            "keras_inception_v3_notop",
            keras.INCEPTION_V3_NOTOP,
            KERAS + "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
            ("md5", "bcbd6486424b2319ff4ef7d526e38f63"),
            "keras_h5",
            "MIT",
            "not published",
            "Inception V3 without its classifier (Keras applications, include_top=False)",
        ),
        _local("toyworld", "the offline toy-world net, trained here (`make toyworld`)"),
        _local(
            "toyworld_control",
            "its control: trained the same way on scenes without the bias (`make toyworld`), the judge",
        ),
    ]
}
LOCAL = ("toyworld", "toyworld_control")  # defined by files committed in weights/, never downloaded


def known_names():
    return list(ZOO)


def entry(name):
    if name not in ZOO:
        raise UsageError(f"unknown network {name!r}; known: {', '.join(ZOO)} (or give a weights .h5 file)")
    return ZOO[name]


def arch(name):
    """The Arch record of a zoo network; the toy-world net has none (its weights file defines it)."""
    e = entry(name)
    if e.arch is None:
        raise UserError(f"{name} has no architecture in the zoo: it is defined by its weights file")
    return e.arch


def class_names(net):
    """The net's class names: its own labels, else its zoo entry's list (a file converted before labels
    were kept); None when neither names them."""
    if net.labels is not None:
        return list(net.labels)
    e = ZOO.get(net.name)
    return classes.names(e.classes) if e is not None and e.classes else None


def spec_for(name):
    """The architecture of a zoo network as plain data (graph.py's spec), without weights."""
    spec = arch(name).spec()
    if entry(name).classes:
        spec["labels"] = classes.names(entry(name).classes)
    spec["provenance"] = {"source_url": entry(name).url, "license": entry(name).license}
    return spec


def weights_path(name, weights_dir=None):
    """Where the converted file of zoo network `name` belongs (it may not be there yet)."""
    if name in LOCAL and weights_dir is None:
        return os.path.join(repo_weights_dir(), f"{name}.h5")
    return os.path.join(weights_dir or default_weights_dir(), f"{name}.h5")


def toyworld_path(weights_dir=None, name="toyworld"):
    """A toy-world net's file (name: one of LOCAL): the one in weights_dir if there is one, else the one
    committed here."""
    for path in (weights_path(name, weights_dir), weights_path(name)):
        if os.path.isfile(path):
            return path
    missing = weights_path(name, weights_dir)
    raise UserError(f"{missing} is missing; `make toyworld` regenerates it (a few minutes, offline)")


def with_dream_defaults(net):
    """net, its dream_defaults filled from its zoo entry when its file has none (converted before zoo
    entries carried them): the entry whose URL the file's provenance names."""
    if not net.dream_defaults:
        url = (net.spec.get("provenance") or {}).get("source_url")
        for e in ZOO.values():
            if url and e.url == url:
                net.dream_defaults = dict(e.dream_defaults)
    return net


# ---- `scratchdream layers NET [--size HxW]` ---------------------------------------------------------
def open_for_listing(name_or_path, weights_dir=None):
    """(Net, header line): the converted file when there is one, else the zoo's architecture alone."""
    if os.path.exists(name_or_path) or name_or_path.endswith((".h5", ".hdf5")):
        return with_dream_defaults(load_file(name_or_path)), f"{name_or_path}"
    e = entry(name_or_path)
    if e.name in LOCAL:
        path = toyworld_path(weights_dir, e.name)  # the committed file, or how to regenerate it
        return load_file(path), f"{e.name} ({path})"
    path = weights_path(e.name, weights_dir)
    if os.path.isfile(path):
        return with_dream_defaults(load_file(path)), f"{e.name} ({path})"
    how = (
        f"download {e.url}, then `scratchdream convert {e.filename}`"
        if e.checksum[0] == "none"  # no published checksum: never downloaded for the user
        else f"`scratchdream fetch {e.name}` gets them"
    )
    net = Net(spec_for(e.name))
    net.dream_defaults = dict(e.dream_defaults)
    return net, f"{e.name}: architecture only, weights not fetched yet ({how})"


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
