"""A TFLite flatbuffer run by LiteRT (`ai-edge-litert`): the interpreter alone, a few MB, with
XNNPACK, and no TensorFlow import, so a worker starts in well under a second and stays small."""

from __future__ import annotations

from fruits.models.tflite import InterpreterFeaturizer


class LiteRTFeaturizer(InterpreterFeaturizer):
    """A .tflite file (fp32 or int8) run by `ai_edge_litert.interpreter.Interpreter`."""

    def __init__(self, model_file: str, threads: int):
        from ai_edge_litert.interpreter import Interpreter

        super().__init__(Interpreter(model_path=model_file, num_threads=threads))
