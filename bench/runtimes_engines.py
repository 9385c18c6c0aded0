"""The featurizer on each runtime the ceiling measures: how its model file is made, and how it is run.

Why apart from ceiling.py: a runtime's model file is made once, in the process that has the Keras
model, and loaded in every process of a layout and in the fresh process that times the first
result; those import this module and their runtime only, not TensorFlow (except the runtimes
that are TensorFlow). Every runtime is behind the one method the job calls: predict_on_batch.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

RUNTIMES = ("tensorflow", "tflite", "litert", "onnxruntime", "openvino")
DEFAULT_RUNTIME = {"fp32": "tensorflow", "int8": "tflite"}
# The model file of each runtime and precision; TFLite and LiteRT run the same flatbuffer.
FILES = {
    ("tflite", "fp32"): "fp32.tflite", ("tflite", "int8"): "int8.tflite",
    ("litert", "fp32"): "fp32.tflite", ("litert", "int8"): "int8.tflite",
    ("onnxruntime", "fp32"): "fp32.onnx", ("onnxruntime", "int8"): "int8.onnx",
    ("openvino", "fp32"): "fp32.xml", ("openvino", "int8"): "int8.xml",
}
SECONDS_FILE = "convert-seconds.json"


def check_runtime(runtime: str, precision: str) -> None:
    """Refuse a pair no runtime here provides: TensorFlow's int8 is TFLite's."""
    if runtime not in RUNTIMES:
        raise ValueError(f"--runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if runtime == "tensorflow" and precision != "fp32":
        raise ValueError("--runtime tensorflow runs fp32 only; for int8 choose tflite, litert, onnxruntime or openvino")


def model_file(runtime: str, precision: str, folder: Path) -> Optional[Path]:
    """Where the runtime's model file lives under `folder`; None for TensorFlow (Keras builds it)."""
    name = FILES.get((runtime, precision))
    return folder / name if name else None


class ModelFiles:
    """The model files of one model under one folder, each made once and kept with its making time.

    Why a cache: TFLite and LiteRT share a file, ONNX Runtime's int8 starts from its fp32 file, and
    `make bench-runtimes` runs the ceiling once per runtime; each conversion is paid once.
    `keras_model` is called only when something must be converted.
    """

    def __init__(self, folder: Path, keras_model: Callable[[], Any], calibration: Callable[[], np.ndarray]):
        self.folder = folder
        self._keras_model = keras_model
        self._calibration = calibration
        folder.mkdir(parents=True, exist_ok=True)

    def seconds(self) -> dict[str, float]:
        path = self.folder / SECONDS_FILE
        return json.loads(path.read_text()) if path.exists() else {}

    def get(self, runtime: str, precision: str) -> tuple[Optional[Path], float]:
        """The model file for `runtime` at `precision` and the seconds its own conversion step took."""
        path = model_file(runtime, precision, self.folder)
        if path is None:
            return None, 0.0
        if not path.exists():
            started = time.perf_counter()
            MAKERS[path.name](self, path)
            self._record(path.name, time.perf_counter() - started)
        return path, self.seconds().get(path.name, 0.0)

    def _record(self, name: str, seconds: float) -> None:
        (self.folder / SECONDS_FILE).write_text(json.dumps({**self.seconds(), name: round(seconds, 1)}, indent=1))

    def saved_model(self) -> Path:
        """The Keras model exported as a SavedModel, the input of every converter."""
        path = self.folder / "saved_model"
        if not path.exists():
            self._keras_model().export(str(path), format="tf_saved_model", verbose=False)
        return path

    def _tflite_fp32(self, path: Path) -> None:  # the job's own converter, as its driver runs it
        from fruits.models.convert import convert_to_tflite

        path.write_bytes(convert_to_tflite(self._keras_model(), self.saved_model()))

    def _tflite_int8(self, path: Path) -> None:
        from fruits.models.convert import convert_to_tflite

        path.write_bytes(convert_to_tflite(self._keras_model(), self.saved_model(), self._calibration()))

    def _onnx_fp32(self, path: Path) -> None:
        # tf2onnx's command line is its supported entry point for a SavedModel.
        command = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(self.saved_model()),
                   "--output", str(path), "--opset", "17"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"tf2onnx failed: {done.stderr.strip().splitlines()[-1:]}")

    def _onnx_int8(self, path: Path) -> None:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

        fp32, _ = self.get("onnxruntime", "fp32")
        calibration = self._calibration()

        class OneByOne(CalibrationDataReader):
            """The calibration images one at a time, as TFLite's converter sees them."""

            def __init__(self, name: str):
                self._feeds = iter([{name: calibration[i : i + 1]} for i in range(len(calibration))])

            def get_next(self) -> Optional[dict]:
                return next(self._feeds, None)

        import onnxruntime as ort

        name = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).get_inputs()[0].name
        quantize_static(str(fp32), str(path), OneByOne(name), quant_format=QuantFormat.QDQ, per_channel=True)

    def _openvino_fp32(self, path: Path) -> None:
        import openvino as ov

        ov.save_model(ov.convert_model(str(self.saved_model())), str(path), compress_to_fp16=False)

    def _openvino_int8(self, path: Path) -> None:
        import nncf
        import openvino as ov

        calibration = self._calibration()
        dataset = nncf.Dataset([calibration[i : i + 1] for i in range(len(calibration))])
        quantized = nncf.quantize(ov.convert_model(str(self.saved_model())), dataset, subset_size=len(calibration))
        ov.save_model(quantized, str(path), compress_to_fp16=False)


MAKERS: dict[str, Callable[[ModelFiles, Path], None]] = {
    "fp32.tflite": ModelFiles._tflite_fp32, "int8.tflite": ModelFiles._tflite_int8,
    "fp32.onnx": ModelFiles._onnx_fp32, "int8.onnx": ModelFiles._onnx_int8,
    "fp32.xml": ModelFiles._openvino_fp32, "int8.xml": ModelFiles._openvino_int8,
}


class OnnxFeaturizer:
    """An ONNX file on ONNX Runtime's CPU provider, `threads` intra-op threads, ops in sequence."""

    def __init__(self, path: Path, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def predict_on_batch(self, inputs: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: np.ascontiguousarray(inputs, dtype=np.float32)})[0]


class OpenVinoFeaturizer:
    """An OpenVINO IR on its CPU plugin: one stream of `threads` threads, float32 where not int8.

    Why the f32 hint: on CPUs with BF16 the plugin otherwise runs fp32 layers in bf16, which is
    another precision than the one measured.
    """

    def __init__(self, path: Path, threads: int):
        import openvino as ov

        config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": "f32"}
        self._request = ov.Core().compile_model(str(path), "CPU", config).create_infer_request()

    def predict_on_batch(self, inputs: np.ndarray) -> np.ndarray:
        self._request.infer({0: np.ascontiguousarray(inputs, dtype=np.float32)})
        return self._request.get_output_tensor(0).data.copy()


def load(runtime: str, precision: str, model: str, path: Optional[Path], threads: int) -> Any:
    """The featurizer of `model` on `runtime` from its model file (TensorFlow: built by Keras), `threads` threads."""
    check_runtime(runtime, precision)
    if runtime == "tensorflow":
        from ceiling import fp32_model

        return fp32_model(model, threads)
    if runtime == "tflite":  # today's int8 path, the job's own class
        from fruits.models.tflite import TFLiteFeaturizer

        return TFLiteFeaturizer(str(path), threads)
    if runtime == "litert":  # the job's default runtime, its own class
        from fruits.models.litert import LiteRTFeaturizer

        return LiteRTFeaturizer(str(path), threads)
    if runtime == "onnxruntime":
        return OnnxFeaturizer(path, threads)
    return OpenVinoFeaturizer(path, threads)
