# SurroundYou worker: local mode over /input -> /output, or cloud mode with S3_BUCKET/S3_KEY.
# python:3.12-slim: the pinned wheels (pedalboard, numpy, scipy) install without a compiler.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# ffmpeg decodes what pedalboard cannot (AAC, Opus, WMA, AC-3, ...).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY process_audio.py .
COPY surroundyou/ surroundyou/

# A non-root user; /input and /output are mount points for local mode.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin surround \
    && mkdir -p /input /output \
    && chown surround /output
USER 10001

ENV INPUT_DIR=/input \
    OUTPUT_DIR=/output \
    TMPDIR=/tmp

# The only writable place a run needs besides /output: on ECS the task mounts its ephemeral
# storage here (readonlyRootFilesystem), and declaring the volume carries /tmp's
# world-writable, sticky permissions into it; locally: docker run --read-only --tmpfs /tmp.
VOLUME ["/tmp"]

# Exec form: Python is PID 1 and receives SIGTERM from ECS directly.
ENTRYPOINT ["python", "/app/process_audio.py"]
