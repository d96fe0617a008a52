#!/usr/bin/env bash
# Start vLLM's OpenAI-compatible server for the bot's local tier, on 127.0.0.1 only.
# Settings come from the environment (runner/vllm.service sets them from /etc/milestone-bot/vllm.env):
#   MODEL                  the model path or Hugging Face id (already downloaded: the runner has no
#                          business fetching weights at job time)
#   SERVED_MODEL_NAME      the name clients ask for (the config's `model`); default: MODEL
#   MAX_MODEL_LEN          context length in tokens (default 32768)
#   GPU_MEMORY_UTILIZATION share of GPU memory for weights and KV cache (default 0.90)
#   PORT                   default 8000
#   VLLM_API_KEY           if set, clients must send it (the config's api_key_env names where)
#   VENV                   the environment runner/install.sh made (default /opt/milestone-bot/venv)
set -euo pipefail

: "${MODEL:?set MODEL to the model path or id}"
VENV="${VENV:-/opt/milestone-bot/venv}"
args=(
  serve "$MODEL"
  --host 127.0.0.1
  --port "${PORT:-8000}"
  --served-model-name "${SERVED_MODEL_NAME:-$MODEL}"
  --max-model-len "${MAX_MODEL_LEN:-32768}"
  --gpu-memory-utilization "${GPU_MEMORY_UTILIZATION:-0.90}"
)
if [ -n "${VLLM_API_KEY:-}" ]; then
  args+=(--api-key "$VLLM_API_KEY")
fi
exec "$VENV/bin/vllm" "${args[@]}"
