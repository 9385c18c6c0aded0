"""A TFLite flatbuffer run as a featurizer by TensorFlow's own interpreter (`tf.lite.Interpreter`):
the `tensorflow` runtime's int8 model, and the ceiling benchmarks' baseline.

Why its own module: the workers that run a converted model need this class and nothing of the
converter, and the converter needs it to check its result; apart, neither imports the other.
`InterpreterFeaturizer` is shared with `fruits.models.litert`, whose interpreter has the same API.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

import numpy as np


class InterpreterFeaturizer:
    """A TFLite-format interpreter behind the one method the featurize UDF calls: predict_on_batch."""

    def __init__(self, interpreter: Any, max_invoke: Optional[int] = None):
        self._interpreter = interpreter
        self._max_invoke = max_invoke  # at most this many images per invoke (None: the whole batch)
        self._input = interpreter.get_input_details()[0]["index"]
        self._output = interpreter.get_output_details()[0]["index"]
        self._batch = 0
        self.output_shape = (None, int(interpreter.get_output_details()[0]["shape"][-1]))

    def predict_on_batch(self, inputs: np.ndarray) -> np.ndarray:
        step = self._max_invoke or len(inputs)
        if len(inputs) > step:
            return np.concatenate([self._invoke(inputs[i : i + step]) for i in range(0, len(inputs), step)])
        return self._invoke(inputs)

    def _invoke(self, inputs: np.ndarray) -> np.ndarray:
        if len(inputs) != self._batch:  # re-planning costs ms: only when the batch size changes
            self._interpreter.resize_tensor_input(self._input, list(inputs.shape))
            self._interpreter.allocate_tensors()
            self._batch = len(inputs)
        self._interpreter.set_tensor(self._input, np.ascontiguousarray(inputs, dtype=np.float32))
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output).copy()


class TFLiteFeaturizer(InterpreterFeaturizer):
    """A .tflite file run by `tf.lite.Interpreter` (imports TensorFlow)."""

    def __init__(self, model_file: str, threads: int):
        import tensorflow as tf

        with warnings.catch_warnings():  # tf.lite.Interpreter announces its move to another package
            warnings.simplefilter("ignore")
            super().__init__(tf.lite.Interpreter(model_path=model_file, num_threads=threads))
