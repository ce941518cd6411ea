#!/usr/bin/env bash
# Download the few pure-Python wheels (and pydantic-core) that experiments/gpu_check/run.sh needs on
# a GPU machine that has PyTorch, transformers and Lightning but no network.  Run it here, where pip
# reaches PyPI; carry the folder (default .whl/, git-ignored) with the device call.
#   experiments/gpu_check/fetch_wheels.sh [DEST] [PYTHON_VERSION]
set -euo pipefail
dest=${1:-.whl}
py=${2:-3.12}
python=${PYTHON:-python3}
mkdir -p "$dest"
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
# the versions the CPU .venv resolved (2026-11); one version of each, their own needs included
# except those the GPU image already has (anyio, idna, h11, certifi, typing-extensions, pyyaml, sympy)
wheels=(
  hydra-core==1.3.8 omegaconf==2.3.1
  genai-prices==0.2.3 httpx2==2.16.2 httpcore2 truststore pydantic==2.14.4 pydantic-core==2.50.5
  annotated-types==0.8.0 typing-inspection==0.4.5
  math-verify==0.9.0 latex2sympy2_extended==1.11.0
)
"$python" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$py" --implementation cp \
  "${platforms[@]}" -d "$dest" "${wheels[@]}"
# antlr4-python3-runtime 4.9.3 (omegaconf's parser) is published as an sdist only: build its
# pure-Python wheel here
ls "$dest"/antlr4_python3_runtime-4.9.3-*.whl >/dev/null 2>&1 || \
  "$python" -m pip wheel --quiet --no-deps -w "$dest" antlr4-python3-runtime==4.9.3
du -sh "$dest"
ls "$dest"
