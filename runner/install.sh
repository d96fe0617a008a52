#!/usr/bin/env bash
# Idempotent setup of a GPU machine as the bot's self-hosted runner: a Python environment with the
# bot and its `gpu` extra (vLLM), the systemd units, and an env file to fill in. Run as root from a
# checkout of milestone-bot; run it again after an upgrade.
#
#   sudo runner/install.sh            # installs into /opt/milestone-bot
#
# Registering the Actions runner itself (config.sh with your repository's token and the labels
# `self-hosted,gpu`) is a step of runner/README.md: it needs a token only you can make.
set -euo pipefail

PREFIX="${PREFIX:-/opt/milestone-bot}"
SOURCE="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"

id -u milestone-bot >/dev/null 2>&1 || useradd --system --create-home --home-dir "$PREFIX" milestone-bot
install -d -o milestone-bot -g milestone-bot "$PREFIX" "$PREFIX/models" /etc/milestone-bot

if [ ! -x "$PREFIX/venv/bin/python" ]; then
  sudo -u milestone-bot "$PYTHON" -m venv "$PREFIX/venv"
fi
sudo -u milestone-bot "$PREFIX/venv/bin/python" -m pip install --quiet --upgrade pip
sudo -u milestone-bot "$PREFIX/venv/bin/python" -m pip install --quiet "$SOURCE[gpu]"

install -m 0755 "$SOURCE/runner/serve.sh" "$PREFIX/serve.sh"
install -m 0644 "$SOURCE/runner/vllm.service" /etc/systemd/system/milestone-bot-vllm.service
install -m 0644 "$SOURCE/runner/actions-runner.service" /etc/systemd/system/milestone-bot-runner.service
if [ ! -f /etc/milestone-bot/vllm.env ]; then
  cat > /etc/milestone-bot/vllm.env <<'ENV'
# The model for this GPU (runner/README.md has the table). Download it first, e.g.
#   huggingface-cli download Qwen/Qwen2.5-Coder-32B-Instruct-AWQ --local-dir /opt/milestone-bot/models/qwen32b-awq
MODEL=/opt/milestone-bot/models/qwen32b-awq
SERVED_MODEL_NAME=Qwen/Qwen2.5-Coder-32B-Instruct-AWQ
MAX_MODEL_LEN=32768
GPU_MEMORY_UTILIZATION=0.90
PORT=8000
ENV
  chmod 0640 /etc/milestone-bot/vllm.env
fi

systemctl daemon-reload
systemctl enable milestone-bot-vllm.service
echo "installed into $PREFIX; edit /etc/milestone-bot/vllm.env, then: systemctl start milestone-bot-vllm"
echo "then register the runner (runner/README.md) and: systemctl enable --now milestone-bot-runner"
