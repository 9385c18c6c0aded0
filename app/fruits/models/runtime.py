"""Which runtime runs a converted model file on the workers: one module per runtime behind one
small interface (`load_model_file(runtime, path, threads)` -> an object with `output_shape` and
`predict_on_batch`), so trying or adopting another runtime is one module and one line here.

`litert` (the default) runs every precision from a .tflite file the driver converted once per lake
(`fruits.pipeline.converted`); workers import no TensorFlow. `tensorflow` is today's path: fp32 as
a Keras model built on each worker, int8 by `tf.lite.Interpreter`. A runtime that fails is an
error: nothing falls back from one runtime to the other.
"""

from __future__ import annotations

from typing import Any

from fruits.config.settings import MODEL_RUNTIMES as RUNTIMES


class RuntimeFailure(RuntimeError):
    """The chosen runtime could not load or run the model file; says which and why."""


def load_model_file(runtime: str, path: str, threads: int) -> Any:
    """The featurizer of the .tflite file at `path`, run by `runtime` on `threads` threads."""
    try:
        if runtime == "litert":
            from fruits.models.litert import LiteRTFeaturizer

            return LiteRTFeaturizer(path, threads)
        if runtime == "tensorflow":
            from fruits.models.tflite import TFLiteFeaturizer

            return TFLiteFeaturizer(path, threads)
    except (ImportError, ValueError, RuntimeError) as exc:
        raise RuntimeFailure(f"runtime {runtime!r} cannot load the model file {path}: {exc} "
                             "(no other runtime is tried; choose one with FRUITS_MODEL_RUNTIME)") from exc
    raise ValueError(f"unknown model runtime {runtime!r}: use {' or '.join(RUNTIMES)}")


def converts_fp32(runtime: str) -> bool:
    """Whether fp32 runs from a converted file (else: the Keras model, built on each worker)."""
    return runtime != "tensorflow"
