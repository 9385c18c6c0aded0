# `make bench-runtimes`: the featurizer alone on each runtime (bench/runtimes.py, docs/runtimes.md).
# Included by the main Makefile.

##@ Measurements: runtimes

# 320 textures images (8 classes, 240 Training, 80 Test): about 10-15 minutes for both models on 2 cores.
IMAGES ?= 320
MODELS ?= resnet50,efficientnet-lite0

.PHONY: bench-runtimes
bench-runtimes: install ## The model alone on TensorFlow, TFLite, LiteRT, ONNX Runtime, OpenVINO (fp32, int8): speed, RSS, agreement; IMAGES=, MODELS=; out/bench-runtimes/result.json
	$(VENV_PY) -m pip install --quiet -e '.[test,runtimes]'
	$(VENV_PY) bench/runtimes.py --images $(IMAGES) --models $(MODELS)
