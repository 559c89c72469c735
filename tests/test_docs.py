"""The docs cannot rot: README.md and docs/lecture.md are checked against the code they point at.

- every relative link and every repository path in backticks exists;
- every `file.py` + `function` the docs cite is defined there (read with ast, nothing imported);
- every excerpt in docs/lecture.md is still, line for line, in the file it is quoted from;
- every command in the README's shell blocks runs offline and exits 0, except those in NOT_RUN, each with
  its reason; NOT_RUN must name only commands the README shows, so nothing is skipped silently;
- the README's Python example runs; `--help` works for every subcommand;
- every layer module opens with a docstring giving its forward and backward formulas and shapes;
- the pictures in docs/img/ are small, and the README's stated code size is near the measured one.
"""

import ast
import glob
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
LECTURE = os.path.join(REPO, "docs", "lecture.md")
DOCS = [README, LECTURE]

# README commands that need the network, minutes of CPU, or write into the checkout: not run here.
NOT_RUN = {
    "make dream IMG=sky.jpg": "downloads GoogLeNet (53 MB) on first use",
    'make dream IMG=sky.jpg NET=vgg16 LAYER=conv4_3 ARGS="--octaves 5 --jitter 16"': (
        "downloads VGG16 (553 MB)"
    ),
    "make test": "the whole suite, this file included",
    "make test-fast": "most of the suite, this file included",
    "make lint": "CI runs it (.ci/run)",
    "make bench": "minutes: both full-size nets at three sizes, against torch",
    (
        "scratchdream dream sky.jpg --net googlenet --layer inception_4c/output:1.0 "
        "--layer inception_3b/output:0.5"
    ): "downloads GoogLeNet",
    "scratchdream fetch googlenet": "downloads GoogLeNet",
    "scratchdream dream sky.jpg --net googlenet --belief --octaves 3 -o sky_belief.png": (
        "downloads GoogLeNet"
    ),
    "scratchdream info sky_dream.png": "needs a dream's output (tests/test_replay.py runs info)",
    "scratchdream replay sky_dream.png": "needs a dream's output (tests/test_replay.py runs replay)",
    "scratchdream dream sky.jpg --recipe google2015 --max-memory 2G": "downloads GoogLeNet",
    "scratchdream convert bvlc_googlenet.caffemodel -o weights/googlenet.h5": (
        "needs the downloaded checkpoint"
    ),
    "scratchdream convert model.onnx --net mynet -o weights/mynet.h5": (
        "needs your .onnx model (test_onnx*.py convert some)"
    ),
    "scratchdream layers model.onnx": "needs your .onnx model (test_onnx_encoded.py runs it on one)",
    "scratchdream toyworld train": "trains two nets (minutes) and rewrites weights/toyworld.h5",
    "scratchdream bench --sizes 224,512": "minutes: full-size nets against torch",
    ".venv/bin/python -m pytest -q tests/test_chain.py tests/test_relu.py": (
        "part of the suite this test is in: runs there"
    ),
    "scratchdream video clip.mp4 --net toyworld --blend 0.5 --flow -o clip_dream.mp4": (
        "needs a video: tests/test_video.py runs it on a generated clip"
    ),
    "scratchdream video clip.mp4 --net toyworld --workers 2": (
        "a video and a Dask cluster: tests/test_video_dask.py runs it on a generated clip"
    ),
    "scratchdream dream *.jpg --net toyworld -o dreams/ --workers 2": (
        "a shell glob and a Dask cluster: tests/test_video_dask.py runs it"
    ),
    "make video-gif": "a minute of CPU; rewrites docs/img/video_dream.gif in the checkout",
}
# Modules in scratchdream/layers/ that serve a layer, not layers themselves (no *_forward of their own).
KERNEL_HELPERS = {"geometry": "conv", "kernel_sets": "layer"}


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# ---- parsing the markdown --------------------------------------------------------------------------
FENCE = re.compile(r"^([ \t]*)```(\w*)[ \t]*\n(.*?)^\1```", re.M | re.S)
LINK = re.compile(r"\]\(([^)\s]+)\)")
PY_REF = re.compile(r"\]\(([^)\s]+\.py)\)((?:[ \t,]*(?:and[ \t]+)?`[A-Za-z_][\w.]*`)+)")
TICKED = re.compile(r"`([^`\s]+)`")
REPO_PATH = re.compile(r"^(?:scratchdream|tests|docs|weights|\.ci)/[\w./*-]*$")


def blocks(text, lang=None):
    """(language, dedented body, offset in text) of every fenced code block."""
    out = []
    for m in FENCE.finditer(text):
        indent = len(m.group(1))
        body = "\n".join(line[indent:] for line in m.group(3).splitlines())
        if lang is None or m.group(2) == lang:
            out.append((m.group(2), body, m.start()))
    return out


def prose(text):
    """The text with fenced code blocks blanked out (same length, so offsets still match)."""
    return FENCE.sub(lambda m: " " * len(m.group(0)), text)


def defined_names(path):
    """Top-level functions and classes of a Python file, and Class.method for their methods."""
    tree = ast.parse(_read(path))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}.{n.name}"
                for n in node.body
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            )
    return names


def table_refs(text):
    """(paths, names) from table rows | ... | `a.py`, `b.py` | `f`, `g` |: each name in one of the paths."""
    out = []
    for line in text.splitlines():
        cells = (
            [c.strip() for c in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else []
        )
        for a, b in zip(cells, cells[1:]):
            paths = [p for p in TICKED.findall(a) if p.endswith(".py")]
            names = [n for n in TICKED.findall(b) if re.fullmatch(r"[A-Za-z_][\w.]*", n)]
            if paths and names:
                out.append((paths, names))
    return out


def code_refs(doc):
    """[(path relative to the repo, [names])] for every `[file.py](..) `name`` in the doc's prose and
    tables."""
    text = _read(doc)
    base = os.path.dirname(doc)
    refs = []
    for m in PY_REF.finditer(prose(text)):
        path = os.path.relpath(os.path.normpath(os.path.join(base, m.group(1))), REPO)
        refs.append(([path], TICKED.findall(m.group(2))))
    refs += table_refs(prose(text))
    return refs


# ---- paths and names --------------------------------------------------------------------------------
@pytest.mark.parametrize("doc", DOCS, ids=os.path.basename)
def test_links_exist(doc):
    text = prose(_read(doc))
    links = [t.split("#")[0] for t in LINK.findall(text) if not re.match(r"\w+://|#|mailto:", t)]
    assert links, f"{doc}: found no links at all; has the link syntax changed?"
    missing = [t for t in links if not os.path.exists(os.path.join(os.path.dirname(doc), t))]
    assert not missing, f"{os.path.basename(doc)} links to missing files: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=os.path.basename)
def test_backticked_paths_exist(doc):
    paths = [p for p in TICKED.findall(prose(_read(doc))) if REPO_PATH.match(p)]
    assert paths, f"{doc}: no repository paths in backticks found"
    missing = [
        p
        for p in paths
        if not (glob.glob(os.path.join(REPO, p)) if "*" in p else os.path.exists(os.path.join(REPO, p)))
    ]
    assert not missing, f"{os.path.basename(doc)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=os.path.basename)
def test_cited_functions_exist(doc):
    refs = code_refs(doc)
    if doc == LECTURE:
        assert len(refs) >= 20, (
            f"only {len(refs)} file+function citations found in lecture.md; is the parser broken?"
        )
    problems = []
    for paths, names in refs:
        files = [
            f
            for p in paths
            for f in (glob.glob(os.path.join(REPO, p)) if "*" in p else [os.path.join(REPO, p)])
        ]
        missing_files = [f for f in files if not os.path.isfile(f)]
        if missing_files or not files:
            problems.append(f"{paths}: no such file")
            continue
        known = set().union(*(defined_names(f) for f in files))
        problems += [f"{', '.join(paths)}: no function or class {n!r}" for n in names if n not in known]
    assert not problems, f"{os.path.basename(doc)}:\n  " + "\n  ".join(problems)


def test_tour_names_existing_files():
    """The folder tour (the README's first plain code block) names only files and folders that exist."""
    tour = next(
        body for lang, body, _ in blocks(_read(README)) if lang == "" and body.startswith("scratchdream/")
    )
    roots = [REPO] + [os.path.join(REPO, d) for d in ("scratchdream", "scratchdream/layers", "tests")]
    tokens = re.findall(r"(?<![\w/.<>])([\w]+(?:/[\w]+)*\.(?:py|md)|[\w]+(?:/[\w]+)*/)(?=[\s,]|$)", tour)
    assert len(tokens) > 20
    missing = [t for t in tokens if not any(os.path.exists(os.path.join(r, t)) for r in roots)]
    assert not missing, f"README tour names missing files: {missing}"


def test_excerpts_are_still_in_their_files():
    """Each ```python block of lecture.md quotes the .py file linked last before it, line for line."""
    text = _read(LECTURE)
    checked = 0
    for _, body, start in blocks(text, "python"):
        links = [m for m in LINK.finditer(text[:start]) if m.group(1).endswith(".py")]
        assert links, f"the excerpt at offset {start} has no .py link before it"
        path = os.path.normpath(os.path.join(os.path.dirname(LECTURE), links[-1].group(1)))
        source = {line.strip() for line in _read(path).splitlines()}
        stale = [
            line
            for line in body.splitlines()
            if line.strip() not in ("", "...") and line.strip() not in source
        ]
        assert not stale, (
            f"lecture.md quotes lines that are no longer in {os.path.relpath(path, REPO)}:\n"
            + "\n".join(stale)
        )
        checked += 1
    assert checked >= 10


# ---- layer docstrings ---------------------------------------------------------------------------------
def _layer_modules():
    return sorted(
        os.path.splitext(os.path.basename(p))[0]
        for p in glob.glob(os.path.join(REPO, "scratchdream/layers/*.py"))
        if not os.path.basename(p).startswith("_")
    )


@pytest.mark.parametrize("module", _layer_modules())
def test_layer_module_docstring_gives_formulas_and_shapes(module):
    path = os.path.join(REPO, "scratchdream", "layers", f"{module}.py")
    tree = ast.parse(_read(path))
    doc = ast.get_docstring(tree) or ""
    has_forward = any(
        isinstance(n, ast.FunctionDef) and n.name.endswith("_forward") and not n.name.startswith("_")
        for n in tree.body
    )
    if module in KERNEL_HELPERS:
        assert not has_forward, (
            f"layers/{module}.py defines a *_forward: it is a layer now, drop it from KERNEL_HELPERS"
        )
        assert KERNEL_HELPERS[module] in doc.lower() and "backward" in doc, (
            f"layers/{module}.py: the docstring should say which layer it serves and how backward uses it"
        )
        return
    assert has_forward, (
        f"layers/{module}.py has no *_forward function; a kernel helper? add it to KERNEL_HELPERS"
    )
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    assert first, f"layers/{module}.py: no module docstring saying what the layer computes"
    assert re.search(r"\bforward\b|\by(\[[^\]]*\])?\s*=", doc), (
        f"layers/{module}.py: the docstring has no forward formula"
    )
    assert re.search(r"\bbackward\b|\bdx\b", doc), (
        f"layers/{module}.py: the docstring has no backward formula"
    )
    assert "(N," in doc.replace("(N, ", "(N,"), (
        f"layers/{module}.py: the docstring gives no shapes like (N, C, H, W)"
    )


def test_kernel_helpers_exist():
    assert set(KERNEL_HELPERS) <= set(_layer_modules())


# ---- pictures and size ----------------------------------------------------------------------------------
def test_pictures_are_small():
    pictures = glob.glob(os.path.join(REPO, "docs", "img", "lecture_*"))
    assert pictures, "docs/img/lecture_* is empty: run `make docs-pictures`"
    big = [
        f"{os.path.basename(p)} {os.path.getsize(p) // 1024} KB"
        for p in pictures
        if os.path.getsize(p) > 300 * 1024
    ]
    assert not big, f"pictures over 300 KB: {big}"


# the toy world's pictures: made by `make docs-pictures` (lecture_*) and by `make lecture-demo ARGS="-o
# docs/img --force"` (the rest); video_dream.gif comes from a generated clip (make video-gif) instead
TOY_PICTURES = [
    "lecture_*",
    "toyworld_hero.png",
    "lecture_demo.png",
    "castle_emerging.gif",
    "toyworld_scenes.png",
]


def test_toy_pictures_were_made_with_the_bundled_nets():
    """Every toy-world picture carries the manifest of the run that made it; its nets' sha256 must be the
    bundled files' own, or the pictures show nets that are no longer shipped (remake them)."""
    from scratchdream import manifest

    weights = os.path.join(REPO, "weights")
    want = (
        manifest.sha256_file(os.path.join(weights, "toyworld.h5")),
        manifest.sha256_file(os.path.join(weights, "toyworld_control.h5")),
    )
    pictures = sorted(
        {p for pattern in TOY_PICTURES for p in glob.glob(os.path.join(REPO, "docs", "img", pattern))}
    )
    assert len(pictures) >= 15, pictures
    stale = []
    for path in pictures:
        m = manifest.read(path)
        if (m["net"]["sha256"], m["settings"]["control"]) != want:
            stale.append(os.path.basename(path))
    assert not stale, (
        f"made with other nets than weights/toyworld*.h5 (run make docs-pictures, lecture-demo): {stale}"
    )


def _lines(folder):
    return sum(
        len(_read(p).splitlines())
        for p in glob.glob(os.path.join(REPO, folder, "**", "*.py"), recursive=True)
    )


def test_stated_code_size_is_near_the_truth():
    m = re.search(r"package is ([\d,]+) lines of Python and the tests ([\d,]+)", _read(README))
    assert m, "README: the sentence stating the code size is gone"
    for stated, folder in zip(m.groups(), ("scratchdream", "tests")):
        stated, real = int(stated.replace(",", "")), _lines(folder)
        assert abs(stated - real) <= 0.25 * real, (
            f"README says {folder}/ has {stated} lines; it has {real}: update it"
        )


# ---- the README's commands ------------------------------------------------------------------------------
def readme_commands():
    out = []
    for _, body, _ in blocks(_read(README), "sh"):
        out += [
            line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith("#")
        ]
    return out


def test_not_run_lists_only_commands_the_readme_shows():
    shown = set(readme_commands())
    stale = set(NOT_RUN) - shown
    assert not stale, f"NOT_RUN names commands the README no longer shows: {sorted(stale)}"
    assert len(shown - set(NOT_RUN)) >= 8, (
        "fewer than 8 README commands are run: is the shell-block parser broken?"
    )


def _sky(path, size=(64, 96)):
    from scratchdream.image_io import save_image
    from scratchdream.toyworld import scenes

    save_image(path, scenes.plain_background("sky", size=size[0], width=size[1], seed=1), quiet=True)


@pytest.fixture
def sandbox(tmp_path):
    """A folder that looks like the checkout (links to its folders) with a small sky.jpg in it."""
    for name in ("scratchdream", "tests", "weights", "Makefile", "setup.cfg", "pyproject.toml"):
        os.symlink(os.path.join(REPO, name), tmp_path / name)
    os.symlink(sys.prefix, tmp_path / ".venv")  # the environment running these tests
    bin_dir = tmp_path / "_bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "$@"\n'
    )  # a symlink would leave the venv
    (bin_dir / "python").chmod(0o755)
    _sky(str(tmp_path / "sky.jpg"))
    return tmp_path


def _run_shell(cmd, cwd):
    if cmd.startswith("make "):  # the package is already installed here: -o keeps make from reinstalling
        cmd = "make -o .venv/.runtime -o .venv/.test " + cmd[len("make ") :]
    env = dict(
        os.environ,
        PATH=f"{cwd / '_bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    return subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("cmd", [c for c in readme_commands() if c not in NOT_RUN])
def test_readme_command_runs(cmd, sandbox, monkeypatch, capsys):
    before = set(os.listdir(sandbox))
    if cmd.startswith("scratchdream ") and not re.search(r"[|;&<>$`]", cmd):
        from scratchdream import cli  # in this process: no interpreter start, the kernels already compiled

        monkeypatch.chdir(sandbox)
        code = cli.main(shlex.split(cmd)[1:])
        out, err = capsys.readouterr()
        assert code == 0, f"`{cmd}` exited {code}: {err.strip()[-500:]}"
    else:
        r = _run_shell(cmd, sandbox)
        out = r.stdout
        assert r.returncode == 0, f"`{cmd}` exited {r.returncode}: {r.stderr.strip()[-800:]}"
    made = set(os.listdir(sandbox)) - before
    verb = shlex.split(cmd)[1] if cmd.startswith(("scratchdream ", "make ")) else ""
    if verb in ("dream", "lecture", "zoom"):
        assert made, f"`{cmd}` wrote nothing"
    if "wc -l" in cmd:
        assert int(out.split()[-1]) > 1000


def test_readme_python_example_runs(sandbox, monkeypatch):
    code = [body for _, body, _ in blocks(_read(README), "python")]
    assert len(code) == 1, "the README should have one Python example"
    monkeypatch.chdir(sandbox)
    scope = {}
    exec(compile(code[0], "README.md", "exec"), scope)
    assert (sandbox / "sky_api.png").is_file()
    assert scope["dL_dI"].shape == scope["x"].shape and np.any(scope["dL_dI"] != 0)


def test_every_subcommand_has_help(capsys):
    from scratchdream import cli

    for name in [None] + list(cli.COMMANDS):
        with pytest.raises(SystemExit) as e:
            cli.main(([name] if name else []) + ["--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: scratchdream") and (name is None or name in out.splitlines()[0])


@pytest.mark.parametrize("method", ["forward", "backward"])
def test_lecture_quotes_the_chain_rule_whole(method):
    """docs/lecture.md quotes Net.forward and Net.backward whole: not a line left out, none added."""
    import textwrap

    source = _read(os.path.join(REPO, "scratchdream", "nets", "graph.py"))
    net = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == "Net")
    fn = next(n for n in net.body if isinstance(n, ast.FunctionDef) and n.name == method)
    whole = textwrap.dedent("\n".join(source.splitlines()[fn.lineno - 1 : fn.end_lineno])).strip()
    quoted = [
        body.strip() for _, body, _ in blocks(_read(LECTURE), "python") if body.startswith(f"def {method}(")
    ]
    assert quoted == [whole], (
        f"docs/lecture.md should quote Net.{method} once, whole, as it is in nets/graph.py"
    )


# ---- the worked example: every number in it, recomputed --------------------------------------------------
NUMBER = r"-?\d+(?:\.\d+)?(?:e-?\d+)?"
WORKED = (
    "I w b z a h L dL_dh da mask dz dL_dI eta I_new z_new h_new L_new fd_error z11_step z11_after".split()
)


def worked_example():
    """The numbers of lecture.md's worked example (the ```text block opening with `I =`), by name.

    `name = 6   comment` is a number; `name =   comment` followed by indented rows of numbers a matrix."""
    block = next(body for _, body, _ in blocks(_read(LECTURE), "text") if body.startswith("I ="))
    values, name = {}, None
    for line in block.splitlines():
        m = re.match(rf"^(\w+) = ?({NUMBER})?(?:\s|$)", line)
        if m:
            name = m.group(1)
            values[name] = float(m.group(2)) if m.group(2) else []
        elif re.fullmatch(rf"\s+{NUMBER}(?:\s+{NUMBER})*\s*", line):
            values[name].append([float(t) for t in line.split()])
    return {k: np.array(v, np.float64) for k, v in values.items()}


def worked_by_hand(img, w, b, eta):
    """The example with loops and nothing else: conv (no padding), ReLU, 2x2 max-pool, L = h², one step."""

    def forward(img):
        def conv(p, q):
            return b + sum(w[u, v] * img[p + u, q + v] for u in range(3) for v in range(3))

        z = np.array([[conv(p, q) for q in range(2)] for p in range(2)])
        a = np.maximum(z, 0)
        return z, a, a.max()

    z, a, h = forward(img)
    p, q = np.unravel_index(np.argmax(a), a.shape)  # the max-pool's winner
    da = np.zeros((2, 2))
    da[p, q] = 2 * h  # dL/dh = 2h, all of it to the winner
    mask = (z > 0).astype(float)
    dz = da * mask
    dL_dI = np.zeros((4, 4))
    for p in range(2):
        for q in range(2):
            dL_dI[p : p + 3, q : q + 3] += dz[p, q] * w  # each output sends dz · w back onto its window
    I_new = img + eta * dL_dI
    z_new, _, h_new = forward(I_new)
    z11_step = 2 * z[1, 1]  # if L were z[1,1]² (before the ReLU): dL/dz[1,1] = 2 z[1,1]
    z11_after = z[1, 1] + eta * z11_step * np.sum(w * w)  # its own window moves by eta · dL/dz · w
    return dict(z=z, a=a, h=h, L=h * h, dL_dh=2 * h, da=da, mask=mask, dz=dz, dL_dI=dL_dI, I_new=I_new,
                z_new=z_new, h_new=h_new, L_new=h_new**2, z11_step=z11_step, z11_after=z11_after)  # fmt: skip


def worked_with_layers(kernels, img, w, b, eta):
    """The same with the project's layers (`kernels`: a kernel set) and their backward passes."""
    from scratchdream.layers.geometry import Geometry

    conv_geo, pool_geo = Geometry(3, 3, 1, 1, 0, 0, 0, 0), Geometry(2, 2, 2, 2, 0, 0, 0, 0)

    def forward(img):
        z, conv_cache = kernels.conv.conv_forward(img[None, None], w[None, None], np.array([b]), conv_geo)
        a, mask = kernels.relu.relu_forward(z)
        h, pool_cache = kernels.pool.maxpool_forward(a, pool_geo)
        return z, a, h, (conv_cache, mask, pool_cache)

    z, a, h, (conv_cache, mask, pool_cache) = forward(img)
    dL_dh = 2 * h
    da = kernels.pool.maxpool_backward(dL_dh, pool_cache)
    dz = kernels.relu.relu_backward(da, mask)
    dL_dI = kernels.conv.conv_backward(dz, conv_cache)[0, 0]
    z_new, _, h_new, _ = forward(img + eta * dL_dI)
    out = dict(z=z, a=a, h=h, L=h * h, dL_dh=dL_dh, da=da, mask=mask, dz=dz, dL_dI=dL_dI, z_new=z_new)
    out.update(I_new=img + eta * dL_dI, h_new=h_new, L_new=h_new * h_new)
    return {k: np.asarray(v, np.float64).squeeze() for k, v in out.items()}


def test_worked_example_numbers_are_right():
    """Every number of the worked example, recomputed by hand and by both kernel sets' layers."""
    from gradcheck import numerical_vjp

    from scratchdream.layers.kernel_sets import REFERENCE, fast_kernels

    doc = worked_example()
    assert set(WORKED) <= set(doc), f"the worked example lost {sorted(set(WORKED) - set(doc))}"
    img, w, b, eta = doc["I"], doc["w"], float(doc["b"]), float(doc["eta"])
    results = {"by hand": worked_by_hand(img, w, b, eta)}
    results.update({k.name: worked_with_layers(k, img, w, b, eta) for k in (REFERENCE, fast_kernels())})
    for how, got in results.items():
        for name, value in got.items():
            assert np.allclose(doc[name], value, rtol=0, atol=1e-9), (
                f"{how}: {name} is {value}, the doc says {doc[name]}"
            )
    layers = REFERENCE

    def L(img):
        return worked_with_layers(layers, img, w, b, eta)["L"]

    fd = numerical_vjp(L, img, np.ones(()), h=1e-3)  # central differences of the scalar L
    assert np.abs(fd - doc["dL_dI"]).max() < doc["fd_error"]


def test_lecture_quotes_the_lecture_loop_whole():
    """The slides' algorithm, deepdream/lecture.py `lecture`, is quoted once, whole, as it is in the file."""
    source = _read(os.path.join(REPO, "scratchdream", "deepdream", "lecture.py"))
    fn = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == "lecture")
    whole = "\n".join(source.splitlines()[fn.lineno - 1 : fn.end_lineno]).strip()
    quoted = [
        body.strip() for _, body, _ in blocks(_read(LECTURE), "python") if body.startswith("def lecture(")
    ]
    assert quoted == [whole], "docs/lecture.md should quote deepdream/lecture.py's lecture once, whole"


def exercises():
    """The numbered items of lecture.md's "Exercises" section."""
    section = prose(_read(LECTURE)).split("## Exercises", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\d+\. (.*?)(?=^\d+\. |\Z)", section, re.M | re.S)


def test_five_exercises_each_with_a_command_that_parses():
    """Five exercises; each names its check, and every scratchdream command in it is one the CLI accepts."""
    from scratchdream.cli import build_parser

    items = exercises()
    assert len(items) == 5, f"lecture.md has {len(items)} exercises, not 5"
    for item in items:
        assert "Check:" in item, f"an exercise without its check: {item[:60]!r}"
        commands = [c for c in re.findall(r"`([^`]+)`", item.split("Check:", 1)[1]) if " " in c]
        assert commands, f"the check names no command: {item[:60]!r}"
        for cmd in commands:
            if cmd.startswith("scratchdream "):
                build_parser().parse_args(shlex.split(cmd)[1:])  # exits 2 on an unknown flag
            else:
                test = re.search(r"tests/\w+\.py", cmd)
                assert test and os.path.isfile(os.path.join(REPO, test.group(0))), cmd
