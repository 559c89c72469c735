"""Crafted checkpoints (tests/hostile_files.py) against every reader, in a child process under memory and CPU
limits (tests/reader_sandbox.py): each must end in one UserError line naming its cause, within a few seconds
and a few hundred MB. Before the fixes of issue 15 each of them crashed the interpreter (SIGSEGV), ran past
its CPU limit, ran out of memory, hung (on a pipe, or in libhdf5), or read numbers from outside the file.

All files are read by one child (one Python start); the outcomes are shared by the parametrised test below.
"""

import os
import re

import hostile_files as hf
import pytest
import reader_sandbox

# name -> (reader, maker, what the one-line error must say; None: the file reads, within the limits)
CASES = {
    # a tuple nested 10^6 deep, hashed as a dict key or set item: C recursion
    "deep_key_zip": ("pth", hf.make_deep_key_zip, "nests values more than 256 deep"),
    "deep_key_legacy": ("pth", hf.make_deep_key_legacy, "nests values more than 256 deep"),
    "deep_set_zip": ("pth", hf.make_deep_set_zip, "nests values more than 256 deep"),
    "deep_frozenset_legacy": ("pth", hf.make_deep_frozenset_legacy, "nests values more than 256 deep"),
    # keys that are not strings: colliding int hashes make a dict quadratic
    "colliding_int_keys": ("pth", hf.make_colliding_int_keys_legacy, "key or set item that is not a string"),
    "colliding_ordered_dict_pairs": ("pth", hf.make_colliding_pairs_zip, r"not a \(string, value\) pair"),
    # billion laughs: 10^10 elements from memo reuse
    "laughs_dict_key": ("pth", hf.make_laughs_key_zip, "more than 1,000,000 elements"),
    "laughs_storage_key": ("pth", hf.make_laughs_storage_key_zip, "more than 1,000,000 elements"),
    "laughs_legacy_protocol": ("pth", hf.make_laughs_protocol_legacy, "more than 1,000,000 elements"),
    "big_string_storage_key": ("pth", hf.make_big_string_storage_key_zip, "unknown persistent id"),
    # zip members that decompress far past the archive
    "opcode_flood_zip": ("pth", hf.make_opcode_flood_zip, r"data.pkl claims \d{9} bytes from \d{6}"),
    "byteorder_bomb_zip": ("pth", hf.make_byteorder_bomb_zip, "byteorder record"),
    "storage_bomb_zip": ("pth", hf.make_storage_bomb_zip, "decompress to more than 32x its size"),
    # protobuf: counts no real net comes near, 2 bytes per object
    "caffe_empty_blobs": ("caffemodel", hf.make_empty_blobs_caffemodel, "more than 16 'blobs' fields"),
    "caffe_empty_layers": ("caffemodel", hf.make_empty_layers_caffemodel, "more than 10,000 layers"),
    "caffe_blobs_in_all": ("caffemodel", hf.make_many_blobs_caffemodel, "more than 10,000 blobs"),
    "caffe_empty_bottoms": ("caffemodel", hf.make_empty_bottoms_caffemodel, "more than 256 'bottom' fields"),
    "caffe_unpacked_floats": ("caffemodel", hf.make_unpacked_floats_caffemodel, None),
    "onnx_empty_nodes": ("onnx", hf.make_empty_nodes_onnx, "more than 20,000 'node' fields"),
    "onnx_many_initializers": ("onnx", hf.make_many_initializers_onnx, "more than 20,000 'initializer'"),
    "onnx_many_node_inputs": ("onnx", hf.make_many_node_inputs_onnx, "more than 256 'input' fields"),
    "onnx_huge_dims": ("onnx", hf.make_huge_dims_onnx, "more bytes than any network has"),
    # these two read in full, within the limits; the model then has no picture input to build on
    "onnx_unpacked_floats": ("onnx", hf.make_unpacked_floats_onnx, "the graph has no input"),
    "onnx_float16_varints": ("onnx", hf.make_float16_varints_onnx, "the graph has no input"),
    # prototxt: messages, size, a pipe
    "prototxt_many_messages": ("prototxt", hf.make_many_messages_prototxt, "more than 100,000 messages"),
    "prototxt_huge": ("prototxt", hf.make_huge_prototxt, "more than any network description"),
    "prototxt_fifo": ("prototxt", hf.make_fifo_prototxt, "not a regular file"),
    # HDF5 datasets whose numbers live outside the file, or nowhere
    "weights_external_storage": ("weights", hf.make_external_storage_weights, "external storage"),
    "weights_virtual_dataset": ("weights", hf.make_virtual_weights, "virtual dataset"),
    "weights_external_link": ("weights", hf.make_external_link_weights, "is an external link"),
    "weights_soft_link": ("weights", hf.make_soft_to_external_link_weights, "is a soft link"),
    "weights_unwritten_chunks": (
        "weights",
        hf.make_unwritten_chunks_weights,
        r"conv3/weight declares 33,030,144 bytes but stores 0",
    ),
    "keras_external_storage": ("keras_h5", hf.make_keras_external_storage, "external storage"),
    "keras_external_link": ("keras_h5", hf.make_keras_external_link, "is an external link"),
    "keras_unwritten_chunks": ("keras_h5", hf.make_keras_unwritten_chunks, "but stores 0"),
    "keras_gzip": ("keras_h5", hf.make_keras_gzip, r"filters \(deflate\)"),
    # a libhdf5 fault, checked before libhdf5 reads the file
    "weights_global_heap_loop": ("weights", hf.make_global_heap_loop_weights, "empty free-space object"),
    "keras_global_heap_loop": ("keras_h5", hf.make_global_heap_loop_keras, "empty free-space object"),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    from nets_for_tests import tiny_inception_net

    import scratchdream as sd

    folder = str(tmp_path_factory.mktemp("hostile"))
    good = os.path.join(folder, "good.h5")
    sd.save_net(tiny_inception_net(seed=1), good)
    jobs = []
    for name, (reader, make, _) in CASES.items():
        sub = os.path.join(folder, name)
        os.mkdir(sub)
        jobs.append((reader, make(sub, good) if reader == "weights" else make(sub)))
    return dict(zip(CASES, reader_sandbox.run(jobs)))


@pytest.mark.parametrize("name", list(CASES))
def test_crafted_file_ends_in_one_line_within_the_limits(outcomes, name):
    outcome, expected = outcomes[name], CASES[name][2]
    if expected is None:
        assert outcome.kind == "ok", outcome
    else:
        assert outcome.kind == "user_error", outcome
        assert "\n" not in outcome.message
        assert re.search(expected, outcome.message), outcome
    assert outcome.cpu < reader_sandbox.CPU_SECONDS / 2, outcome  # far from the limit: linear, small constant
