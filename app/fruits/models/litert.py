"""A TFLite flatbuffer run by LiteRT (`ai-edge-litert`): the interpreter alone, a few MB, with
XNNPACK, and no TensorFlow import, so a worker starts in well under a second and stays small."""

from __future__ import annotations

from fruits.models.tflite import InterpreterFeaturizer

# Images per invoke: the interpreter's arena grows with the batch (ResNet50 fp32: about 8 MB an
# image, a worker at 490 MB with 32 against 300 MB with 8), while XNNPACK is no faster on 32 than
# on 8 at a time (measured 7-10 images/s either way on one thread here).
INVOKE_IMAGES = 8


class LiteRTFeaturizer(InterpreterFeaturizer):
    """A .tflite file (fp32 or int8) run by `ai_edge_litert.interpreter.Interpreter`, at most
    INVOKE_IMAGES images per invoke whatever the batch."""

    def __init__(self, model_file: str, threads: int):
        from ai_edge_litert.interpreter import Interpreter

        super().__init__(Interpreter(model_path=model_file, num_threads=threads), max_invoke=INVOKE_IMAGES)
