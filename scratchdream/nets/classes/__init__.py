"""Class names: what each output of a classifier stands for, so a dream can aim at "golden retriever".

    imagenet.txt     the 1000 ILSVRC-2012 classes (WordNet id, then the synset's names), Caffe's order,
                     which every ImageNet net of the zoo (Caffe, torchvision, Keras) was trained in
    places365.txt    the 365 Places365 scene categories, the Places365 authors' order
Each file says where its list comes from. A converted net carries its labels in its weights file (the
spec's "labels": the first name of each class); zoo.class_names(net) falls back on the zoo's list for a
file converted before labels were stored. `find(net, text, labels)` turns --class NAME or INDEX into an
index.
"""

import difflib
import os

from ...errors import UsageError

HERE = os.path.dirname(os.path.abspath(__file__))
LISTS = {"imagenet": "imagenet.txt", "places365": "places365.txt"}
_cache = {}


def synonyms(which):
    """[[name, synonym, ...] for each class] of a list in LISTS, in class order."""
    if which not in _cache:
        with open(os.path.join(HERE, LISTS[which]), encoding="utf-8") as f:
            lines = [line.strip() for line in f if line.strip() and not line.startswith("#")]
        if which == "imagenet":  # "n02099601 golden retriever": the WordNet id, then the names
            lines = [line.split(" ", 1)[1] for line in lines]
        _cache[which] = [[n.strip() for n in line.split(",")] for line in lines]
    return _cache[which]


def names(which):
    """The shown name of each class: the first of its synonyms."""
    return [s[0] for s in synonyms(which)]


def which_list(labels):
    """The name of the list in LISTS that `labels` are the shown names of, or None."""
    return next((w for w in LISTS if labels is not None and list(labels) == names(w)), None)


def find(net, text, labels):
    """--class TEXT -> the class index: a whole number in range, or a name (any synonym, any case);
    labels: the net's class names (zoo.class_names), or None."""
    count = len(labels) if labels else _outputs(net)
    text = str(text).strip()
    if text.lstrip("-").isdigit():
        k = int(text)
        if not 0 <= k < count:
            raise UsageError(f"class {k} is out of range: {net.name} has {count} classes, 0..{count - 1}")
        return k
    if not labels:
        raise UsageError(f"{net.name} has no class names; give the class as an index 0..{count - 1}")
    every = synonyms(which_list(labels)) if which_list(labels) else [[n] for n in labels]
    key = text.lower()
    for k, syns in enumerate(every):
        if key in (s.lower() for s in syns):
            return k
    lowered = {s.lower(): s for syns in every for s in syns}
    close = [lowered[m] for m in difflib.get_close_matches(key, list(lowered), n=5, cutoff=0.6)]
    hint = (
        f"close matches: {', '.join(close)}"
        if close
        else f"`scratchdream layers {net.name} --classes` lists them"
    )
    raise UsageError(f"{net.name} has no class {text!r}; {hint}")


def _outputs(net):
    return net.shapes(*net.spec["input"].get("size", [224, 224]))[logits_layer(net)][0]


def logits_layer(net):
    """The classifier's output before any softmax: the "logits" alias, else the last layer."""
    name = net.aliases.get("logits", net.layer_names[-1])
    layer = net._by_name[name]
    if layer["kind"] == "softmax":
        name = layer["inputs"][0]
    shape = net.shapes(*net.spec["input"].get("size", [224, 224]))[name]
    if len(shape) != 1:
        raise UsageError(f"{net.name} ends in no classifier ({name} is {shape}); --class needs one")
    return name
