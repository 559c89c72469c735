"""Per-net dream defaults (issue 14 item 2): the weights file's `dream_defaults` attribute, read defensively,
shown by `scratchdream layers`, and used by `scratchdream dream` and `zoom`, sd.dream and sd.zoom unless
the user gives the setting (survey: the normalisation and smoothing)."""

import json
import re

import h5py
import pytest
from dream_pictures import sky
from nets_for_tests import tiny_inception_net
from PIL import Image

import scratchdream as sd
from scratchdream import cli
from scratchdream.deepdream import defaults
from scratchdream.deepdream.options import DreamOptions
from scratchdream.errors import UserError
from scratchdream.nets import zoo

TINY = {"layers": ["inc/3x3"], "octaves": 1, "steps": 2, "step_size": 2.5, "jitter": 3}


def _with_attr(path, value):
    """A tiny net's weights file whose root attribute dream_defaults is `value` (a JSON text)."""
    sd.save_net(tiny_inception_net(0), path)
    with h5py.File(path, "a") as f:
        f.attrs["dream_defaults"] = value
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("defaults")
    _with_attr(d / "tiny.h5", json.dumps(TINY))
    sd.save_net(tiny_inception_net(0), d / "plain.h5")
    Image.fromarray(sky(48, 64, seed=0)).save(d / "sky.png")
    return d


def test_the_attribute_is_read_and_written_back(files, tmp_path):
    net = sd.load_net(str(files / "tiny.h5"))
    assert net.dream_defaults == TINY
    sd.save_net(net, tmp_path / "again.h5")
    assert sd.load_net(str(tmp_path / "again.h5")).dream_defaults == TINY
    assert sd.load_net(str(files / "plain.h5")).dream_defaults == {}


@pytest.mark.parametrize(
    "value, says",
    [
        ('{"octaves": 0}', "octaves must be a whole number from 1 to 100"),
        ('{"octaves": "4"}', "octaves must be a whole number"),
        ('{"step_size": 1e9}', "step_size must be a number above 0 and at most 255"),
        ('{"normalize": "max"}', "normalize must be one of mean, std, laplacian"),
        ('{"speed": 3}', "unknown setting 'speed'"),
        ('{"seed": 3}', "unknown setting 'seed'"),
        ('{"layers": "inc/3x3"}', "layers must be a list"),
        ('{"layers": ["nowhere"]}', "layers: 'nowhere' is not a layer of tiny_inception"),
        ('{"layers": ["inc/3x3:0"]}', "the weight must be a number of size"),
        ('{"belief": ["zebra"]}', "belief leaves out 'zebra', which is not a class of tiny_inception"),
        ('{"belief": ["99999"]}', "belief leaves out '99999', which is not a class of tiny_inception"),
        ("[4, 10]", "not a JSON object"),
        ("{octaves: 4", "is not valid JSON"),
    ],
)
def test_damaged_defaults_are_one_line(tmp_path, capsys, value, says):
    path = _with_attr(tmp_path / "bad.h5", value)
    with pytest.raises(UserError) as e:
        sd.load_net(str(path))
    assert says in str(e.value) and "\n" not in str(e.value)
    if says != "is not valid JSON":
        assert "dream defaults damaged" in str(e.value)
    Image.fromarray(sky(32, 32, seed=1)).save(tmp_path / "sky.png")
    argv = ["dream", str(tmp_path / "sky.png"), "--net", str(path), "-o", str(tmp_path / "out.png")]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert says in err and err.count("\n") == 0
    assert not (tmp_path / "out.png").exists()


def _dream(files, capsys, *flags):
    argv = ["dream", str(files / "sky.png"), "--net", str(files / "tiny.h5"), "--force"]
    assert cli.main(argv + ["-o", str(files / "out.png"), *flags]) == 0
    return capsys.readouterr().out


def test_dream_uses_the_nets_defaults_unless_a_flag_is_given(files, capsys):
    out = _dream(files, capsys)
    assert re.search(r"with tiny_inception inc/3x3, 1 octaves x 2 steps", out), out
    out = _dream(files, capsys, "--steps", "3", "--layer", "conv3")
    assert re.search(r"with tiny_inception conv3, 1 octaves x 3 steps", out), out
    out = _dream(
        files, capsys, "--steps", "10", "--octaves", "4"
    )  # flags equal to the CLI's defaults win too
    assert re.search(r"inc/3x3, 4 octaves x 10 steps", out), out


def test_apply_keeps_what_was_given():
    options = DreamOptions(steps=7, layers=["a"])
    merged = defaults.apply(options, {"steps": 3, "octaves": 2, "layers": ["b"]}, given={"steps"})
    assert (merged.steps, merged.octaves, merged.layers) == (7, 2, (("b", 1.0),))
    assert defaults.apply(options, {}, given=()) is options


def test_layers_command_shows_them(files, capsys):
    assert cli.main(["layers", str(files / "tiny.h5"), "--size", "32"]) == 0
    out = capsys.readouterr().out
    assert "dream defaults: layers inc/3x3; octaves 1; steps 2; step_size 2.5; jitter 3" in out
    assert cli.main(["layers", str(files / "plain.h5"), "--size", "32"]) == 0
    assert "dream defaults: -" in capsys.readouterr().out


def test_googlenet_carries_the_2015_notebooks_settings(tmp_path, capsys):
    e = zoo.entry("googlenet")
    assert e.dream_defaults == {
        "layers": ["inception_4c/output"],
        "octaves": 4,
        "octave_scale": 1.4,
        "steps": 10,
        "step_size": 1.5,
        "jitter": 32,
        "normalize": "mean",
    }
    defaults.check_defaults(e.dream_defaults)
    assert cli.main(["layers", "googlenet", "--weights-dir", str(tmp_path)]) == 0
    assert (
        "dream defaults: layers inception_4c/output; octaves 4; octave_scale 1.4" in capsys.readouterr().out
    )


def test_a_zoo_file_converted_without_them_gets_its_entrys(tmp_path):
    net = tiny_inception_net(0)
    net.spec["provenance"] = {"source_url": zoo.entry("googlenet").url}
    sd.save_net(net, tmp_path / "old.h5")
    with h5py.File(tmp_path / "old.h5", "r") as f:
        assert "dream_defaults" not in f.attrs
    loaded = sd.load_net(str(tmp_path / "old.h5"))  # (the tiny net has no inception_4c: no dream here)
    assert loaded.dream_defaults == zoo.entry("googlenet").dream_defaults


def _seen(monkeypatch, module):
    """The DreamOptions that `module.run` (the loop under sd.dream, sd.zoom, survey) is called with."""
    seen = []

    def run(net, img, options, *rest, **more):
        seen.append(options)
        return img

    monkeypatch.setattr(module, "run", run)
    return seen


def test_the_python_api_uses_the_nets_defaults_unless_a_keyword_is_given(files, monkeypatch):
    from scratchdream.deepdream import loop

    net, img = sd.load_net(str(files / "tiny.h5")), sky(32, 32, seed=0)
    seen = _seen(monkeypatch, loop)
    sd.dream(net, img, progress=False)
    sd.dream(net, img, progress=False, steps=5, layers=["conv3"])
    sd.dream(sd.load_net(str(files / "plain.h5")), img, progress=False)
    (a, b, plain) = seen
    assert (a.layers, a.octaves, a.steps, a.step_size, a.jitter) == ((("inc/3x3", 1.0),), 1, 2, 2.5, 3)
    assert (b.layers, b.octaves, b.steps, b.jitter) == ((("conv3", 1.0),), 1, 5, 3)
    assert plain == DreamOptions()


def test_zoom_uses_the_nets_defaults_unless_given(files, monkeypatch, capsys):
    from scratchdream.cli import zoom as zoom_cli
    from scratchdream.deepdream import zoom

    net, img = sd.load_net(str(files / "tiny.h5")), sky(32, 32, seed=0)
    seen = _seen(monkeypatch, zoom)
    zoom.zoom(net, img, frames=2, progress=False, steps=4)
    seen_cli = []
    monkeypatch.setattr(zoom_cli, "run_zoom", lambda net, img, options, *a, **k: seen_cli.append(options))
    monkeypatch.chdir(files)
    cli.main(["zoom", "sky.png", "--net", "tiny.h5", "--frames", "2", "--jitter", "5", "-o", "z.gif"])
    ((api,), (line,)) = seen, seen_cli
    assert (api.layers, api.steps, api.step_size, api.jitter) == ((("inc/3x3", 1.0),), 4, 2.5, 3)
    assert (line.layers, line.steps, line.step_size, line.jitter) == ((("inc/3x3", 1.0),), 2, 2.5, 5)


def test_survey_takes_the_nets_normalisation_and_smoothing(tmp_path, monkeypatch):
    from scratchdream.deepdream import survey

    sd.save_net(tiny_inception_net(0), tmp_path / "tiny.h5")
    with h5py.File(tmp_path / "tiny.h5", "a") as f:
        f.attrs["dream_defaults"] = json.dumps({"normalize": "laplacian", "smooth": 0.5, "octaves": 3})
    net = sd.load_net(str(tmp_path / "tiny.h5"))
    seen = _seen(monkeypatch, survey)
    survey.survey(net, sky(48, 48, seed=0), layers=["conv3"], steps=2)
    ((cell,),) = (seen,)
    assert (cell.normalize, cell.smooth, cell.octaves, cell.steps) == ("laplacian", 0.5, 1, 2)
