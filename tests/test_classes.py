"""Class names (nets/classes/) and dreams towards a class: the shipped lists at well-known indices, the
lookup by index, name or synonym with close matches for a typo, `layers --classes`, and `dream --class`
end to end on the toy-world net (it names its 6 classes) and on a tiny classifier without names."""

import os

import numpy as np
import pytest
from nets_for_tests import TINY_CLASSIFIER, net_from_spec

from scratchdream import cli
from scratchdream.errors import UsageError
from scratchdream.nets import classes, zoo
from scratchdream.nets.graph import Net


def test_imagenet_list_at_well_known_indices():
    names, syns = classes.names("imagenet"), classes.synonyms("imagenet")
    assert len(names) == 1000
    assert names[0] == "tench" and names[207] == "golden retriever" and names[281] == "tabby"
    assert "tabby cat" in syns[281] and names[282] == "tiger cat" and names[999] == "toilet tissue"
    assert names[409] == "analog clock" and names[948] == "Granny Smith"
    path = os.path.join(classes.HERE, "imagenet.txt")
    with open(path, encoding="utf-8") as f:
        wnids = [line.split()[0] for line in f if not line.startswith("#")]
    assert wnids[207] == "n02099601" and wnids[281] == "n02123045"
    assert wnids == sorted(set(wnids))  # synset_words' order is the WordNet ids' order, each once


def test_places365_list_is_the_authors_alphabetical_order():
    names = classes.names("places365")
    assert len(names) == 365 == len(set(names))
    assert names == sorted(names)  # categories_places365.txt lists them alphabetically
    assert names[0] == "airfield" and names[-1] == "zen_garden"
    assert names.index("patio") == 259 and names.index("restaurant_patio") == 286


def test_zoo_nets_carry_their_class_names():
    assert Net(zoo.spec_for("resnet50")).labels[207] == "golden retriever"
    assert Net(zoo.spec_for("vgg16")).labels[281] == "tabby"
    assert Net(zoo.spec_for("alexnet_places365")).labels[0] == "airfield"
    old = Net(dict(zoo.spec_for("vgg16"), labels=None))  # a file converted before labels were kept
    assert zoo.class_names(old)[207] == "golden retriever"


def test_find_by_index_name_or_synonym():
    net = Net(zoo.spec_for("resnet18"))
    names = zoo.class_names(net)
    assert classes.find(net, "207", names) == 207
    assert classes.find(net, "Golden Retriever", names) == 207
    assert classes.find(net, "tabby cat", names) == classes.find(net, "tabby", names) == 281
    with pytest.raises(UsageError, match=r"no class 'golden retreiver'; close matches: golden retriever"):
        classes.find(net, "golden retreiver", names)
    with pytest.raises(UsageError, match=r"class 1000 is out of range: resnet18 has 1000 classes, 0\.\.999"):
        classes.find(net, "1000", names)
    assert classes.logits_layer(net) == "fc"


def test_a_net_without_names_takes_an_index_only():
    net = net_from_spec(TINY_CLASSIFIER)
    assert classes.logits_layer(net) == "fc2"  # the softmax's input: the class scores
    assert classes.find(net, "3", None) == 3
    with pytest.raises(UsageError, match="has no class names; give the class as an index 0..3"):
        classes.find(net, "cat", None)


def test_layers_lists_the_classes(capsys):
    assert cli.main(["layers", "toyworld", "--classes"]) == 0
    out = capsys.readouterr().out
    assert "classes of fc" in out and "    0  castle" in out and "    1  ship" in out


def test_dream_towards_a_class(tmp_path, capsys):
    from dream_pictures import sky
    from PIL import Image

    Image.fromarray(sky(40, 48, seed=1)).save(tmp_path / "s.png")
    argv = ["dream", str(tmp_path / "s.png"), "--net", "toyworld", "--octaves", "1", "--steps", "2"]
    assert cli.main(argv + ["--class", "ship"]) == 0
    assert "toyworld class 1 (ship), 1 octaves x 2 steps" in capsys.readouterr().out
    import scratchdream as sd

    net = sd.load_net("toyworld")
    before, after = (net.forward(net.preprocess(np.asarray(Image.open(tmp_path / n))), upto="fc")[0, 1]
                     for n in ("s.png", "s_dream.png"))  # fmt: skip
    assert after > before  # the ship score went up
    assert cli.main(argv + ["--class", "shipp", "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "toyworld has no class 'shipp'; close matches: ship" in err and not os.path.exists(
        tmp_path / "x.png"
    )
    assert cli.main(argv + ["--class", "ship", "--channel", "2", "-o", str(tmp_path / "y.png")]) == 2
    assert "--class aims at one output" in capsys.readouterr().err
