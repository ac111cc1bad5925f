# syntax=docker/dockerfile:1
# The outbound-caller worker, in the style of LiveKit's agent starter: uv with the locked
# dependencies, a non-root user, the model files fetched at build time, `start` as the command.
#   docker build -t outbound-caller .
#   docker run --env-file .env.local -p 8081:8081 outbound-caller
FROM ghcr.io/astral-sh/uv:python3.11-bookworm-slim

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

ARG UID=10001
RUN adduser --disabled-password --gecos "" --home /app --shell /sbin/nologin --uid "${UID}" appuser

RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc g++ python3-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# the dependencies first, so a code change does not reinstall them
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project

COPY agent.py ./
COPY src ./src
RUN uv sync --locked --no-dev && chown -R appuser:appuser /app

USER appuser

# the English turn detector's weights (and the other plugins' files), baked into the image
RUN uv run --no-sync python agent.py download-files

# the framework's health check: GET http://<container>:8081/ answers "OK"
EXPOSE 8081
CMD ["uv", "run", "--no-sync", "python", "agent.py", "start"]
