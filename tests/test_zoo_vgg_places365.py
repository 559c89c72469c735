"""vgg16_places365 end to end: a random-weight Caffe VGG16 with 365 outputs, written as the Places365
authors' file is laid out (V2 `layer`, the train net's in-place ReLUs and dropouts, layer settings stored),
at the real layer sizes (fc6's 4096x25088 matrix included), converted without --net, saved and loaded
through HDF5, then held against a plain torch version of deploy_vgg16_places365.prototxt at every layer and
for the input gradient of a channel objective."""

from collections import OrderedDict

import numpy as np
from fixtures_formats import write_caffemodel

import scratchdream as sd
from scratchdream.nets.archs.vgg_caffe import BLOCKS, MEAN_BGR
from scratchdream.nets.convert import convert_file

H, W = 200, 221  # not multiples of 32: Caffe's ceil pooling still gives pool5 7x7, so fc6..prob run too
CONVS = [(f"conv{b}_{i}", width) for b, (width, n) in enumerate(BLOCKS, 1) for i in range(1, n + 1)]


def vgg_weights(seed):
    """{Caffe layer: (weight, bias)} float32, He-normal, biases small."""
    rng = np.random.default_rng(seed)
    shapes, cin = OrderedDict(), 3
    for name, width in CONVS:
        shapes[name], cin = (width, cin, 3, 3), width
    shapes.update(fc6=(4096, 512 * 7 * 7), fc7=(4096, 4096), fc8a=(365, 4096))
    out = OrderedDict()
    for name, shape in shapes.items():
        w = rng.standard_normal(shape, dtype=np.float32) * np.float32((2 / np.prod(shape[1:])) ** 0.5)
        out[name] = (w, rng.normal(0, 0.01, shape[0]).astype(np.float32))
    return out


def caffe_layers(weights):
    """The layers of the .caffemodel, as Caffe snapshots the train net: data, conv + in-place ReLU, pools,
    the fc layers with in-place ReLU and dropout, the loss."""
    layers, prev = [{"name": "data", "type": "Data", "top": ["data", "label"]}], "data"

    def add(name, kind, bottom, top=None, **extra):
        layers.append({"name": name, "type": kind, "bottom": [bottom], "top": [top or name], **extra})

    for name, _ in CONVS:
        p = {"num_output": weights[name][0].shape[0], "pad": 1, "kernel_size": 3, "stride": 1}
        add(name, "Convolution", prev, blobs=list(weights[name]), params={"convolution_param": p})
        add(name.replace("conv", "relu"), "ReLU", name, name)
        prev = name
        block, i = (int(v) for v in name[4:].split("_"))
        if i == BLOCKS[block - 1][1]:
            pool = {"pooling_param": {"pool": 0, "kernel_size": 2, "stride": 2}}
            add(f"pool{block}", "Pooling", prev, params=pool)
            prev = f"pool{block}"
    for name, n in (("fc6", 6), ("fc7", 7)):
        p = {"inner_product_param": {"num_output": 4096}}
        add(name, "InnerProduct", prev, blobs=list(weights[name]), params=p)
        add(f"relu{n}", "ReLU", name, name)
        add(f"drop{n}", "Dropout", name, name, params={"dropout_param": {"dropout_ratio": 0.5}})
        prev = name
    add(
        "fc8a",
        "InnerProduct",
        prev,
        blobs=list(weights["fc8a"]),
        params={"inner_product_param": {"num_output": 365}},
    )
    layers.append({"name": "loss", "type": "SoftmaxWithLoss", "bottom": ["fc8a", "label"], "top": ["loss"]})
    return layers


def torch_forward(weights, x):
    """deploy_vgg16_places365.prototxt in torch, named as our layers: each conv post-ReLU (in place in
    Caffe), pools with ceil_mode (Caffe's rule), fc6/fc7 before their ReLU, relu6/relu7 after."""
    import torch
    import torch.nn.functional as F

    t = {
        n: (torch.from_numpy(w).to(x.dtype), torch.from_numpy(b).to(x.dtype)) for n, (w, b) in weights.items()
    }
    acts, a = {}, x
    for name, _ in CONVS:
        a = acts[name] = F.relu(F.conv2d(a, *t[name], padding=1))
        block, i = (int(v) for v in name[4:].split("_"))
        if i == BLOCKS[block - 1][1]:
            a = acts[f"pool{block}"] = F.max_pool2d(a, 2, 2, ceil_mode=True)
    a = acts["pool5/flatten"] = a.reshape(a.shape[0], -1)
    for name, r in (("fc6", "relu6"), ("fc7", "relu7")):
        acts[name] = F.linear(a, *t[name])
        a = acts[r] = F.relu(acts[name])
    acts["fc8a"] = F.linear(a, *t["fc8a"])
    acts["prob"] = F.softmax(acts["fc8a"], 1)
    return acts


def test_vgg16_places365_caffemodel_matches_torch_at_every_layer_and_gradient(torch, tmp_path):
    import torch_nets as tn

    weights = vgg_weights(seed=0)
    src = write_caffemodel(
        tmp_path / "vgg16_places365.caffemodel", caffe_layers(weights), form="v2", dims="shape"
    )
    net = convert_file(src)  # recognised from the file's layer names, no --net
    assert net.name == "vgg16_places365" and len(net.labels) == 365
    sd.save_net(net, tmp_path / "vgg16_places365.h5")
    net = sd.load_net(tmp_path / "vgg16_places365.h5")
    assert net.spec["provenance"]["matches_published"] is None  # no checksum published
    assert net.resolve("relu4_3") == "conv4_3" and net.resolve("logits") == "fc8a"

    img = tn.smooth_image(H, W, seed=1)
    x = net.preprocess(img)
    bgr = img[:, :, ::-1].astype(np.float32).transpose(2, 0, 1)[None]
    np.testing.assert_allclose(x, bgr - np.float32(MEAN_BGR).reshape(1, 3, 1, 1), rtol=0, atol=1e-4)

    with torch.no_grad():
        acts = torch_forward(weights, torch.from_numpy(x))
    assert acts["pool5"].shape[-2:] == (7, 7)
    errors = tn.check_every_layer(net, x, acts)
    assert len(errors) == len(net.layer_names) == 25

    err64, err32 = tn.check_gradient(
        net,
        x,
        lambda t: torch_forward(weights, t),
        lambda t: torch_forward(weights, t),
        "conv4_3",
        17,
    )
    print(
        f"\nvgg16_places365: max layer rel error {max(errors.values()):.2e}; input gradient float64 "
        f"{err64:.2e}, float32 {err32:.2e}"
    )


def test_the_architecture_matches_the_published_deploy_prototxt(tmp_path):
    """The deploy.prototxt's layers (as published: in-place ReLUs, dropout) against the architecture."""
    from scratchdream.nets import zoo

    lines = ['name: "VGG-Places365"', 'input: "data"'] + [f"input_dim: {d}" for d in (10, 3, 224, 224)]
    prev = "data"

    def layer(name, kind, bottom, top, body=""):
        lines.append(f'layer {{ name: "{name}" type: "{kind}" bottom: "{bottom}" top: "{top}" {body} }}')

    for name, width in CONVS:
        layer(
            name,
            "Convolution",
            prev,
            name,
            f"convolution_param {{ num_output: {width} pad: 1 kernel_size: 3 }}",
        )
        layer(name.replace("conv", "relu"), "ReLU", name, name)
        prev = name
        block, i = (int(v) for v in name[4:].split("_"))
        if i == BLOCKS[block - 1][1]:
            layer(
                f"pool{block}",
                "Pooling",
                prev,
                f"pool{block}",
                "pooling_param { pool: MAX kernel_size: 2 stride: 2 }",
            )
            prev = f"pool{block}"
    for name, n, out in (("fc6", 6, 4096), ("fc7", 7, 4096), ("fc8a", 8, 365)):
        layer(name, "InnerProduct", prev, name, f"inner_product_param {{ num_output: {out} }}")
        if n < 8:
            layer(f"relu{n}", "ReLU", name, name)
            layer(f"drop{n}", "Dropout", name, name, "dropout_param { dropout_ratio: 0.5 }")
        prev = name
    layer("prob", "Softmax", "fc8a", "prob")
    path = tmp_path / "deploy_vgg16_places365.prototxt"
    path.write_text("\n".join(lines) + "\n")
    arch, spec = zoo.arch("vgg16_places365"), zoo.spec_for("vgg16_places365")
    assert arch.check_prototxt(str(path), spec) == 24  # every layer but our flatten
    path.write_text(
        path.read_text().replace(
            'kernel_size: 2 stride: 2 } }\nlayer { name: "conv5_1"',
            'kernel_size: 3 stride: 2 } }\nlayer { name: "conv5_1"',
        )
    )
    import pytest

    from scratchdream.errors import UserError

    with pytest.raises(UserError, match="pool4: the file's layer has kernel"):
        arch.check_prototxt(str(path), spec)
