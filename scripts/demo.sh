#!/usr/bin/env bash
# `make run`: generate the sample (once), then run the job on it with Spark local[*].
# Uses ImageNet weights when they are on disk; otherwise says loudly that it uses random ones.
set -euo pipefail
fruits="$1" sample="$2" output="$3"

if [ ! -d "$sample/Training" ]; then
  "$fruits" sample --out "$sample" --seed 42
fi

weights=imagenet
if ! "$fruits" weights where | grep -q present && [ -z "${FRUITS_RESNET50_WEIGHTS:-}" ]; then
  weights=random
  cat >&2 <<'MSG'

  ************************************************************************************
  *  ImageNet weights for ResNet50 are not on this machine: this DEMO uses RANDOM     *
  *  weights. The features and the picture are not meaningful. To use ImageNet:       *
  *  'fruits weights download' (needs the internet) or FRUITS_RESNET50_WEIGHTS=FILE.  *
  ************************************************************************************

MSG
fi
"$fruits" run --input "$sample" --output "$output" --weights "$weights" --pca-variance 0.90
