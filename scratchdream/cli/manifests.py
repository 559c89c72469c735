"""What a command's manifest says (scratchdream/manifest.py): its settings, its net and its input files.

dream, lecture and zoom call `for_run` once the net is loaded, and hand the manifest to every picture
they write; `replay` hands them the manifest it read instead, so that the new file says the same.
"""

import os

from .. import __version__, manifest


def for_run(command, settings, args, net, guide=None, net_rec=None):
    """The manifest of a run of `command` with `settings` (dream_settings, lecture_settings, ...), on the
    input args.image, with `net` loaded from args.net (a zoo name or a weights file); `net_rec`, the
    net_record when already known (many pictures with one net hash its file once)."""
    from ..layers.kernel_sets import kernels

    return manifest.make(
        __version__,
        command,
        settings,
        net_rec or net_record(args.net, args.weights_dir, net),
        manifest.file_record(args.image),
        None if guide is None else manifest.file_record(guide),
        kernels=kernels().name,
    )


def net_record(given, weights_dir, net):
    """{"name", "source", "sha256"}: the net's name, the zoo name or weights file it came from (a file by
    its base name), and the sha256 of that weights file."""
    path = weights_file(given, weights_dir)
    source = os.path.basename(path) if path == os.fspath(given) else given
    return {"name": net.name, "source": source, "sha256": manifest.sha256_file(path)}


def weights_file(given, weights_dir):
    """The .h5 file sd.load_net(given, weights_dir) reads: `given` itself, or the zoo name's file."""
    given = os.fspath(given)
    if os.path.exists(given) or given.endswith((".h5", ".hdf5")):
        return given
    from ..fetch import ensure_weights

    return ensure_weights(given, weights_dir)


def dream_settings(options, max_size=None):
    """Every DreamOptions field as plain JSON values (the guide is the manifest's own entry), and the
    command line's --max-size."""
    return {
        "max_size": max_size,
        "layers": [[name, weight] for name, weight in options.layers],
        "channel": options.channel,
        "neuron": None if options.neuron is None else list(options.neuron),
        "octaves": options.octaves,
        "octave_scale": options.octave_scale,
        "steps": options.steps,
        "step_size": options.step_size,
        "jitter": options.jitter,
        "normalize": options.normalize,
        "smooth": options.smooth,
        "tile": options.tile,
        "tile_margin": options.tile_margin,
        "start": options.start,
        "seed": options.seed,
        "notebook": options.notebook,
        "belief": None if options.belief is None else list(options.belief),
    }


def zoom_settings(options, frames, factor):
    """dream's settings but the start (a zoom starts from the image), and the frames and their zoom."""
    settings = {k: v for k, v in dream_settings(options).items() if k not in ("start", "max_size")}
    return {**settings, "frames": frames, "factor": factor}


def lecture_settings(layer, channel, neuron, steps, eta, seed):
    """The lecture's settings as given (layer and neuron None: the net's choice, made again on replay)."""
    return {
        "layer": layer,
        "channel": channel,
        "neuron": None if neuron is None else list(neuron),
        "steps": steps,
        "eta": eta,
        "seed": seed,
    }
