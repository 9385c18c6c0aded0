"""The time to a first result of one runtime, in a fresh process: run by bench/runtimes.py.

Imports the runtime, loads its model file (already converted; TensorFlow builds the Keras model),
runs the first batch of the preprocessed inputs and notes the monotonic clock, then runs the
rest on `--threads` threads so that the peak RSS is that of a whole run. Prints one JSON line:
first_result_monotonic (the caller subtracts the moment it started this interpreter) and
peak_rss_mb. Only NumPy and the runtime are imported before the model, so the time is the
runtime's own (TFLite and TensorFlow import TensorFlow; LiteRT, ONNX Runtime and OpenVINO do not).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runtime", required=True)
    parser.add_argument("--precision", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--model-file", type=Path, help="the converted model (none for tensorflow)")
    parser.add_argument("--inputs", type=Path, required=True, help="preprocessed inputs, (n, 224, 224, 3) float32 .npy")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args()

    import numpy as np

    from runtimes_engines import load
    from runtimes_layout import peak_rss_mb

    inputs = np.load(args.inputs, mmap_mode="r")
    model = load(args.runtime, args.precision, args.model, args.model_file, args.threads)
    model.predict_on_batch(np.asarray(inputs[: args.batch_size]))
    first = time.monotonic()
    for i in range(args.batch_size, len(inputs), args.batch_size):
        model.predict_on_batch(np.asarray(inputs[i : i + args.batch_size]))
    print(json.dumps({"first_result_monotonic": first, "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()
