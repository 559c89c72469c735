"""The zoo's plumbing: recognising a file, refusing the wrong one in one line, `scratchdream convert`,
`scratchdream layers`, and ensure_weights (fetch -> verify -> convert -> save) against a local HTTP server."""

import dataclasses
import functools
import hashlib
import http.server
import threading

import numpy as np
import pytest

from scratchdream import cli
from scratchdream.errors import UserError
from scratchdream.fetch import ensure_weights
from scratchdream.nets import zoo
from scratchdream.nets.convert import convert_file


def _squeezenet_file(torch, path, seed=7):
    import torch_nets as tn

    model = tn.randomise(tn.SqueezeNet11(), seed=seed)
    torch.save(model.state_dict(), path)
    return {k: v.numpy() for k, v in model.state_dict().items()}


def test_convert_recognises_by_contents_whatever_the_name(torch, tmp_path):
    sd = _squeezenet_file(torch, tmp_path / "my_backbone.pth")
    net = convert_file(tmp_path / "my_backbone.pth")
    assert net.name == "squeezenet1_1"
    np.testing.assert_array_equal(
        net.params["features.12.expand3x3"]["weight"], sd["features.12.expand3x3.weight"]
    )
    assert (
        net.spec["provenance"]["source_sha256"]
        == hashlib.sha256((tmp_path / "my_backbone.pth").read_bytes()).hexdigest()
    )


def test_a_file_of_no_known_architecture_is_refused_with_the_list(torch, tmp_path):
    torch.save({"encoder.weight": torch.zeros(3, 3)}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="matches none of the known architectures.*vgg16.*squeezenet1_1"):
        convert_file(tmp_path / "other.pth")


def test_a_wrong_shape_names_layer_and_both_shapes(torch, tmp_path):
    import torch_nets as tn

    state = tn.randomise(tn.SqueezeNet11(), seed=8).state_dict()
    state["features.6.squeeze.weight"] = torch.zeros(32, 128, 3, 3)
    torch.save(state, tmp_path / "squeezenet1_1-b8a52dc0.pth")
    with pytest.raises(UserError) as e:
        convert_file(tmp_path / "squeezenet1_1-b8a52dc0.pth")
    msg = str(e.value)
    assert (
        "features.6.squeeze" in msg
        and "(32, 128, 3, 3)" in msg
        and "(32, 128, 1, 1)" in msg
        and "\n" not in msg
    )


def test_net_option_of_another_format_is_refused(torch, tmp_path):
    _squeezenet_file(torch, tmp_path / "s.pth")
    with pytest.raises(UserError, match="expects a caffemodel file"):
        convert_file(tmp_path / "s.pth", net="googlenet")


def test_cmd_convert_writes_once_and_needs_force_to_overwrite(torch, tmp_path, capsys):
    _squeezenet_file(torch, tmp_path / "squeezenet1_1-b8a52dc0.pth")
    out = tmp_path / "sq.h5"
    argv = ["convert", str(tmp_path / "squeezenet1_1-b8a52dc0.pth"), "-o", str(out)]
    assert cli.main(argv) == 0 and out.is_file()
    before = out.read_bytes()
    assert cli.main(argv) == 2  # a usage error, as for dream
    assert "already exists; pass --force" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert cli.main(argv + ["--force"]) == 0


def test_cmd_layers_lists_the_architecture_without_weights(tmp_path, capsys):
    assert cli.main(["layers", "googlenet", "--size", "224", "--weights-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "architecture only" in out[0] and "inception_4c/output" in out[0]
    row = next(line for line in out if line.startswith("inception_4c/output "))
    assert "512x14x14" in row and "concat" in row
    conv = next(line for line in out if line.startswith("conv1/7x7_s2 "))
    assert "64x112x112" in conv and conv.rstrip().endswith(f"{64 * 3 * 49 + 64:,}")


def test_cmd_layers_on_a_converted_file_shows_aliases_and_sizes(torch, tmp_path, capsys):
    _squeezenet_file(torch, tmp_path / "s.pth")
    assert cli.main(["convert", str(tmp_path / "s.pth"), "-o", str(tmp_path / "s.h5")]) == 0
    assert cli.main(["layers", str(tmp_path / "s.h5"), "--size", "101x139"]) == 0
    out = capsys.readouterr().out.splitlines()
    row = next(line for line in out if line.startswith("features.10 "))
    assert "fire7" in row and "384x6x8" in row
    assert cli.main(["layers", "vgg16", "--size", "0x3"]) == 2


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_dir(tmp_path):
    """A local HTTP server over tmp_path/srv; yields (folder, base url, stop())."""
    srv_dir = tmp_path / "srv"
    srv_dir.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(srv_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stopped = []

    def stop():
        if not stopped:
            server.shutdown()
            server.server_close()
            stopped.append(1)

    yield srv_dir, f"http://127.0.0.1:{server.server_address[1]}/", stop
    stop()


def test_ensure_weights_fetches_verifies_converts_once(torch, tmp_path, http_dir, monkeypatch):
    srv, url, stop = http_dir
    state = _squeezenet_file(torch, srv / "squeezenet1_1-b8a52dc0.pth")
    digest = hashlib.sha256((srv / "squeezenet1_1-b8a52dc0.pth").read_bytes()).hexdigest()
    e = dataclasses.replace(
        zoo.ZOO["squeezenet1_1"], url=url + "squeezenet1_1-b8a52dc0.pth", checksum=("sha256", digest)
    )
    monkeypatch.setitem(zoo.ZOO, "squeezenet1_1", e)
    wdir = tmp_path / "weights"
    path = ensure_weights("squeezenet1_1", weights_dir=str(wdir), progress=False)
    assert path == str(wdir / "squeezenet1_1.h5")
    import scratchdream as sd

    net = sd.load_net(path)
    np.testing.assert_array_equal(net.params["classifier.1"]["weight"], state["classifier.1.weight"])
    assert net.spec["provenance"]["matches_published"] is True
    stop()  # a second call needs no network
    assert ensure_weights("squeezenet1_1", weights_dir=str(wdir), progress=False) == path


def test_ensure_weights_refuses_a_wrong_checksum_and_converts_nothing(torch, tmp_path, http_dir, monkeypatch):
    srv, url, _ = http_dir
    _squeezenet_file(torch, srv / "squeezenet1_1-b8a52dc0.pth")
    e = dataclasses.replace(
        zoo.ZOO["squeezenet1_1"], url=url + "squeezenet1_1-b8a52dc0.pth", checksum=("sha256", "0" * 64)
    )
    monkeypatch.setitem(zoo.ZOO, "squeezenet1_1", e)
    wdir = tmp_path / "weights"
    with pytest.raises(UserError) as err:
        ensure_weights("squeezenet1_1", weights_dir=str(wdir), progress=False)
    assert "toyworld" in str(err.value)
    assert not (wdir / "squeezenet1_1.h5").exists() and not (wdir / "squeezenet1_1-b8a52dc0.pth").exists()


def test_ensure_weights_offline_says_toyworld_works(tmp_path, monkeypatch):
    e = dataclasses.replace(zoo.ZOO["googlenet"], url="http://127.0.0.1:9/bvlc_googlenet.caffemodel")
    monkeypatch.setitem(zoo.ZOO, "googlenet", e)
    with pytest.raises(UserError, match="meanwhile net toyworld works offline") as err:
        ensure_weights("googlenet", weights_dir=str(tmp_path), progress=False)
    assert "NET=" not in err.value.worded({"net": "--net"})
    assert "meanwhile --net toyworld works offline" in err.value.worded({"net": "--net"})


def test_unknown_name_lists_the_zoo():
    with pytest.raises(UserError, match="known: googlenet, vgg16"):
        zoo.spec_for("resnet9000")


def test_a_garbage_file_where_the_download_goes_is_named_by_its_checksum(tmp_path):
    """A file already at the download's name is verified before it is converted: garbage there is "not the
    published file", not a wire-format error from the converter (issue 17)."""
    e = zoo.ZOO["googlenet"]
    (tmp_path / e.filename).write_bytes(b"<html>not a caffemodel</html>")
    with pytest.raises(UserError) as err:
        ensure_weights("googlenet", weights_dir=str(tmp_path), progress=False)
    text = str(err.value)
    assert "is not the published file" in text and "delete it" in text and "wire" not in text
    assert not (tmp_path / "googlenet.h5").exists()
