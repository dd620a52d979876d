#!/usr/bin/env bash
# Launch the TRL reference trainer with accelerate + DeepSpeed ZeRO-3 on 1–8 GPUs of one node, or on many nodes.
#
#   training_reference/launch/train.sh grpo training_reference/configs/seed_parity.yaml \
#       model.path=/models/Patho-R1-7B data.source=/data/scale-vqa-built output_dir=runs/seed_parity
#
# Environment (defaults in brackets):
#   NGPUS        GPUs per node [all visible]          NNODES      nodes [1]
#   NODE_RANK    this node's rank [0]                 MASTER_ADDR rank-0 host [127.0.0.1]
#   MASTER_PORT  [29500]                              OFFLOAD=1   ZeRO-3 with optimizer offload to CPU
#   ACCELERATE_CONFIG  another accelerate config file
# Multi-node: run this script once per node with the same NNODES/MASTER_ADDR/MASTER_PORT and its NODE_RANK
# (see slurm.sbatch). Gradient accumulation follows from data.prompts_per_step and the total GPU count, so the
# seed's 32 prompts × 5 rollouts per step hold on any number of GPUs that divides 160 / per-device batch.
# GRPO generates with vLLM colocated on the training GPUs (grpo.use_vllm / vllm_mode: colocate); where vLLM
# is not installed the script falls back to transformers generation (slow) and says so.
set -euo pipefail

METHOD=${1:?usage: train.sh grpo|sft CONFIG [key=value ...]}
CONFIG=${2:?usage: train.sh grpo|sft CONFIG [key=value ...]}
shift 2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${PYTHON:-python}

if [[ -z "${NGPUS:-}" ]]; then
  NGPUS=$("$PYTHON" -c "import torch; print(torch.cuda.device_count())")
fi
if [[ "$NGPUS" -lt 1 ]]; then
  echo "no CUDA device visible; for a CPU smoke run use: scale-vqa train $METHOD --config … grpo.use_cpu=true" >&2
  exit 1
fi
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
MASTER_PORT=${MASTER_PORT:-29500}
if [[ "${OFFLOAD:-0}" == 1 ]]; then DEFAULT_CONFIG="$HERE/zero3_offload.yaml"; else DEFAULT_CONFIG="$HERE/zero3.yaml"; fi
ACCELERATE_CONFIG=${ACCELERATE_CONFIG:-$DEFAULT_CONFIG}

EXTRA=()
if [[ "$METHOD" == grpo ]] && ! "$PYTHON" -c "import vllm" 2>/dev/null; then
  echo "warning: vLLM is not installed: generating with transformers (grpo.use_vllm=false), much slower" >&2
  EXTRA+=(grpo.use_vllm=false)
fi

exec "$PYTHON" -m accelerate.commands.launch \
  --config_file "$ACCELERATE_CONFIG" \
  --num_machines "$NNODES" --machine_rank "$NODE_RANK" \
  --num_processes $((NGPUS * NNODES)) \
  --main_process_ip "$MASTER_ADDR" --main_process_port "$MASTER_PORT" \
  -m scale_vqa train "$METHOD" --config "$CONFIG" "${EXTRA[@]}" "$@"
