"""`scratchdream toyworld train | demo | examples`: the toy world's weights, the lecture's demonstration,
and a channel's dataset examples.

train   draw the scenes and train two nets from the seed, robustly (toyworld/robust.py):
        weights/toyworld.h5 (castles mostly against sky, ...) and weights/toyworld_control.h5 (same world,
        backgrounds shuffled across classes), side by side in two processes, one thread each; writes
        the nets' dream settings into both files (`dream_defaults`) and prints the held-out accuracy of
        each. `make toyworld`.
demo    both nets dream on plain 256 x 256 skies, waters, browns and grasses with their own dream settings,
        and the control net judges every dream; prints the table and writes toyworld_hero.png,
        lecture_demo.png, castle_emerging.gif and toyworld_scenes.png into -o DIR (default
        toyworld_demo/, created). `make lecture-demo`. The docs' pictures are regenerated only when asked:
        `scratchdream toyworld demo -o docs/img --force`.
examples  the training scenes that excite one channel most (--layer L --channel C, or --dreamed sky for
        the channel a dream on a plain sky grows most): a strip, toyworld_examples.png (or -o PNG).

Both write through the output transaction (OutputSet): the files appear together when the command
succeeds, and not at all otherwise. train's default (weights/) is the checkout's own files, which it
exists to regenerate; a -o you give follows every command's rule, an existing file there is replaced
only with --force.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

from ..errors import UsageError, UserError
from ..image_io import save_image
from ..outputs import OutputSet
from ..toyworld import demo, scenes, train
from ..weights_io import load_file, repo_weights_dir, save_net
from .flags import command, whole
from .paths import output_path

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEIGHTS = os.path.join(repo_weights_dir(), "toyworld.h5")
CONTROL = os.path.join(repo_weights_dir(), "toyworld_control.h5")
DEMO_DIR = "toyworld_demo"  # demo's default output folder, in the current folder (never docs/img unasked)
# what `demo` writes
DEMO_FILES = ["toyworld_hero.png", "lecture_demo.png", "castle_emerging.gif", "toyworld_scenes.png"]


def add_parser(subs):
    p = command(
        subs,
        "toyworld",
        "the offline toy world: train its network, or run the lecture's demonstration",
        "scratchdream toyworld demo",
    )
    p.add_argument(
        "action",
        choices=["train", "demo", "examples"],
        help="train the two nets, run the demonstration, or show a channel's top training scenes",
    )
    p.add_argument(
        "--seed",
        type=whole(0, None, "random seed"),
        default=0,
        help="seed for scenes, weights and dreams (default 0)",
    )
    p.add_argument(
        "-o",
        "--output",
        help="train: weights file (default weights/toyworld.h5, control beside it); "
        f"demo: output folder (default {DEMO_DIR}/, created); "
        "examples: the PNG (default toyworld_examples.png)",
    )
    p.add_argument(
        "--steps",
        type=whole(1, 1_000_000, "minibatches"),
        help=f"train: minibatches per net (default {train.STEPS})",
    )
    p.add_argument(
        "--jobs",
        type=whole(1, 2, "processes"),
        help="train: processes, 2 trains the net and its control at the same time "
        "on one core each (default: 2 if the machine has 2 cores)",
    )
    add_examples_options(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--no-control", action="store_true", help="train: skip the control net (backgrounds shuffled)"
    )
    which.add_argument("--control-only", action="store_true", help="train: only the control net")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace existing files at the -o you give (the defaults are always regenerated)",
    )


def run(args):
    if args.action == "train":
        return cmd_train(args)
    if args.action == "examples":
        return cmd_examples(args)
    return cmd_demo(args)


def cmd_train(args):

    steps = train.STEPS if args.steps is None else args.steps
    out = args.output or WEIGHTS
    todo = [
        ("toyworld", scenes.DEFAULT_SETTINGS, out),
        ("toyworld_control", scenes.control_settings(), _control_path(out)),
    ]
    if args.no_control:
        todo = todo[:1]
    if args.control_only:
        todo = todo[1:]
    with OutputSet(force=args.force or not args.output) as outs:
        for _, _, path in todo:
            outs.add(path)
        reports = _train_all(args, steps, todo, outs)
    for report in reports:
        print(report)
    return 0


def _train_all(args, steps, todo, outs):
    """Train the nets of `todo` [(name, settings, path)] into their temporary names in `outs`; returns
    what to print once they are committed: the second process's report, then this one's lines."""
    import numba  # loaded only when training (cli.main has checked NUMBA_NUM_THREADS by then)
    from threadpoolctl import threadpool_limits

    child, threads, reports = None, numba.get_num_threads(), []
    if len(todo) == 2 and _processes(args) >= 2:  # one process per net: two cores train both at once
        child, todo = _start_control(args, steps), todo[:1]
    # Every net trains on one thread, here and in the second process: the number of threads changes the order
    # of floating-point sums, so this way the same seed gives the same weights on any machine.
    numba.set_num_threads(1)
    limits = threadpool_limits(1)
    try:
        for name, settings, path in todo:
            reports.append(_train_one(args, steps, name, settings, path, outs.temp(path)))
        if child is not None:
            control = _control_path(todo[0][2])
            reports.insert(0, _finish_control(*child, outs.temp(control), control))
    finally:
        numba.set_num_threads(threads)
        limits.restore_original_limits()
        if child is not None:
            _stop_control(*child)
    return reports


def _train_one(args, steps, name, settings, path, tmp):
    """Train one net, save it to `tmp` (the temporary name of `path`), print how well it does; returns the
    line saying what was written, for after the commit."""
    from ..toyworld import robust

    t, cpu = time.perf_counter(), time.process_time()
    net, history = train.train(settings, seed=args.seed, steps=steps, name=name, robust=robust.ROBUST)
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    acc, confusion = train.evaluate(net, settings)
    net.spec["provenance"] = train.provenance(
        settings, args.seed, steps, train.BATCH, "adam", train.LR, history, acc, seconds, cpu, robust.ROBUST
    )
    net.dream_defaults = dict(train.DREAM_DEFAULTS)  # the settings travel with the weights (weights_io)
    net.belief_prior = train.belief_prior(net)
    save_net(net, tmp)
    print(
        f"{name}: held-out accuracy {acc:.1%} on {confusion.sum()} fresh scenes, "
        f"trained in {seconds / 60:.1f} min ({cpu / 60:.1f} min of CPU) "
        f"(loss {history[0][1]:.3f} -> {history[-1][1]:.3f})"
    )
    print(_confusion_text(settings["classes"], confusion))
    return f"{name}: wrote {path} ({os.path.getsize(tmp) / 1024:.0f} KB)"


def _processes(args):
    """How many processes train: --jobs, or 2 on a machine with 2 cores or more."""
    return min(2, os.cpu_count() or 1) if args.jobs is None else args.jobs


def _start_control(args, steps):
    """Start training the control net in a second process, on one thread like this one. It writes into a
    folder of its own, from where _finish_control takes the file.

    Its progress bars go to a file, not the terminal; its report is printed after ours."""
    folder = tempfile.mkdtemp(prefix="scratchdream-control.")
    cmd = [
        sys.executable,
        "-m",
        "scratchdream",
        "toyworld",
        "train",
        "--control-only",
        "--jobs",
        "1",
        "--seed",
        str(args.seed),
        "--steps",
        str(steps),
        "-o",
        os.path.join(folder, "toyworld.h5"),
    ]
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    report, bars = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    print(
        "training the control net in a second process at the same time; its report follows this one's",
        flush=True,
    )
    return subprocess.Popen(cmd, stdout=report, stderr=bars, env=env), report, bars, folder


def _finish_control(proc, report, bars, folder, tmp, final):
    """Wait for the control net's process and copy the file it wrote to `tmp`, the temporary name of
    `final`; returns its report, naming `final`."""
    code = proc.wait()
    if code != 0:
        bars.seek(0)
        lines = [
            ln for ln in bars.read().decode(errors="replace").replace("\r", "\n").splitlines() if ln.strip()
        ]
        why = lines[-1] if lines else f"exit code {code}"
        raise UserError(f"training the control net failed: {why}")
    written = os.path.join(folder, "toyworld_control.h5")
    shutil.copyfile(written, tmp)
    report.seek(0)
    return report.read().decode(errors="replace").rstrip("\n").replace(written, final)


def _stop_control(proc, report, bars, folder):
    """The second process, if still running (this one failed or was interrupted), unwinds like Ctrl-C;
    then its folder goes."""
    if proc.poll() is None:
        proc.terminate()
        proc.wait()
    shutil.rmtree(folder, ignore_errors=True)


def cmd_demo(args):
    out_dir = args.output or DEMO_DIR
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UserError(f"{out_dir} is a file, not a folder; choose another -o")
    for path in (WEIGHTS, CONTROL):  # both are needed: one line before any folder is made
        _require(path)
    os.makedirs(out_dir, exist_ok=True)
    with OutputSet(inputs=[WEIGHTS, CONTROL], force=args.force) as outs:
        paths = outs.add_dir(out_dir, DEMO_FILES, "-o/--output")
        _demo(args, os.path.dirname(outs.temp(paths[0])))  # add_dir stages all the names in one hidden folder
    print("wrote " + ", ".join(paths))
    return 0


def _demo(args, folder):
    """Run the demonstration on one thread (the same numbers on every machine), writing DEMO_FILES into
    `folder`, and print its table."""
    net, control = _load(WEIGHTS), _load(CONTROL)
    options, control_options = net.dream_defaults, control.dream_defaults  # read and checked by load_file
    if not options or not control_options:
        raise UserError(f"{WEIGHTS} or {CONTROL} carries no dream_defaults; run `make toyworld` to retrain")
    seeds = tuple(args.seed + s for s in demo.SEEDS)
    stamp = demo_manifest(args.seed, net, control)
    with demo.one_thread():
        results, _ = demo.run_demo(net, control, folder, options, control_options, seeds=seeds, stamp=stamp)
    print(demo.table_text(results, seeds))
    demo.sample_sheet(folder, seed=args.seed, stamp=stamp)
    unlisted = sorted(set(os.listdir(folder)) - set(DEMO_FILES))
    if unlisted:  # they would be lost: only the names added to the OutputSet are committed
        raise RuntimeError(f"toyworld demo wrote {unlisted}, which DEMO_FILES does not list")


def demo_manifest(seed, net, control):
    """The manifest of the demo's pictures: the seed, and the sha256 of both nets' weights; no input."""
    from .. import __version__, manifest
    from ..layers.kernel_sets import kernels

    settings = {"seed": seed, "control": manifest.sha256_file(CONTROL) if control is not None else None}
    net_record = {
        "name": net.name,
        "source": os.path.basename(WEIGHTS),
        "sha256": manifest.sha256_file(WEIGHTS),
    }
    return manifest.make(__version__, "toyworld", settings, net_record, None, kernels=kernels().name)


def _load(path):
    return load_file(_require(path))


def _require(path):
    if not os.path.isfile(path):
        raise UserError(f"{path} is missing; run `make toyworld` to train it (offline, about 30 minutes)")
    return path


def _control_path(out):
    stem, ext = os.path.splitext(out)
    return f"{stem}_control{ext or '.h5'}"


def _confusion_text(classes, confusion):
    head = "  true \\ predicted " + " ".join(f"{c[:7]:>7s}" for c in classes)
    rows = [f"  {c:17s}" + " ".join(f"{v:7d}" for v in row) for c, row in zip(classes, confusion)]
    return "\n".join([head] + rows)


# ---- examples: a channel's dataset examples -----------------------------------------------------------
EXAMPLES = "toyworld_examples.png"  # examples' default output, in the current folder


def add_examples_options(p):
    p.add_argument(
        "--net", help="examples: a toy-world weights file (default: the bundled weights/toyworld.h5)"
    )
    p.add_argument("--layer", default="conv3", help="examples: the layer (default %(default)s)")
    p.add_argument(
        "--channel",
        type=whole(0, 65535, "channel"),  # an upper bound: a toy net has at most 128
        help="examples: the channel to show (default: none, give it or --dreamed)",
    )
    p.add_argument(
        "--dreamed",
        choices=scenes.BACKGROUNDS,
        help="examples: show the channel a dream on this plain background grows most (default: none)",
    )


def cmd_examples(args):
    """The strip of the training scenes that excite one channel most (toyworld/examples.py)."""
    from ..toyworld import examples

    if (args.channel is None) == (args.dreamed is None):
        raise UsageError("toyworld examples: give --channel C or --dreamed BACKGROUND (one of them)")
    weights = args.net or WEIGHTS
    with OutputSet(inputs=[weights], force=args.force) as outs:
        out = outs.add(output_path(EXAMPLES, args.output, ".png", ext=".png"))
        net = _load(weights)
        layer = net.resolve(args.layer)
        channel = args.channel
        if channel is None:
            channel = int(examples.grown_channels(net, layer, args.dreamed, seed=args.seed, top=1)[0][0])
        if not 0 <= channel < net.shapes(64, 64)[layer][0]:
            raise UserError(
                f"{layer} has {net.shapes(64, 64)[layer][0]} channels; --channel {channel} is not one"
            )
        picture, classes = examples.examples_strip(net, layer, channel, seed=args.seed, n=examples.SCENES)
        save_image(outs.temp(out), picture, quiet=True)
    counts = ", ".join(f"{c} {classes.count(c)}" for c in dict.fromkeys(classes))
    print(
        f"{net.name} {layer} channel {channel}: its {len(classes)} top training scenes are {counts} -> {out}"
    )
    return 0
