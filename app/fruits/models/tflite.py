"""A TFLite flatbuffer run as a featurizer: the int8 model a run quantized (fruits.models.quantize).

Why its own module: the workers that run an int8 model need this class and nothing of the
quantizer, and the quantizer needs it to check its result; apart, neither imports the other.
"""

from __future__ import annotations

import warnings

import numpy as np


class TFLiteFeaturizer:
    """A TFLite model behind the one method the featurize UDF calls: predict_on_batch."""

    def __init__(self, model_file: str, threads: int):
        import tensorflow as tf

        with warnings.catch_warnings():  # tf.lite.Interpreter announces its move to another package
            warnings.simplefilter("ignore")
            self._interpreter = tf.lite.Interpreter(model_path=model_file, num_threads=threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._batch = 0
        self.output_shape = (None, int(self._interpreter.get_output_details()[0]["shape"][-1]))

    def predict_on_batch(self, inputs: np.ndarray) -> np.ndarray:
        if len(inputs) != self._batch:  # re-planning costs ms: only when the batch size changes
            self._interpreter.resize_tensor_input(self._input, list(inputs.shape))
            self._interpreter.allocate_tensors()
            self._batch = len(inputs)
        self._interpreter.set_tensor(self._input, np.ascontiguousarray(inputs, dtype=np.float32))
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output).copy()
