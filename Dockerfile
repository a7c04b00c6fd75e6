# SurroundYou worker: local mode over /input -> /output, or cloud mode with S3_BUCKET/S3_KEY.
# Debian 13 (trixie) slim throughout, so CI can rebuild the same base from Debian's packages
# (container/standin.sh) and test what ships. Three stages:
#   ffmpeg  ffmpeg + ffprobe for audio, built from Debian's source (17 MB, not Debian's 500 MB)
#   venv    the pinned requirements and the surroundyou package (its C loops compiled) in a virtualenv
#   final   Debian's python3, the two results, a non-root user

FROM debian:trixie-slim AS ffmpeg
RUN sed -i 's/^Types: deb$/Types: deb deb-src/' /etc/apt/sources.list.d/debian.sources \
    && apt-get update \
    && apt-get install -y --no-install-recommends dpkg-dev gcc libc6-dev libopus-dev libspeex-dev make nasm pkgconf xz-utils
COPY container/build-ffmpeg.sh /usr/local/bin/
RUN build-ffmpeg.sh

FROM debian:trixie-slim AS venv
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# gcc, libc6-dev and python3-dev compile surroundyou/dsp/*.c; none of them reaches the final image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev python3-dev python3-venv \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/
# What the worker never loads leaves with the stage: the wheels' own test suites (numpy's, h5py's:
# 18 MB) and botocore's models of every AWS service but the worker's clients (S3, SQS) and STS
# (the credential chain's web-identity and role providers): 27 MB.
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt \
    && find /opt/venv -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} + \
    && find /opt/venv/lib/python3*/site-packages/botocore/data -mindepth 1 -maxdepth 1 -type d \
        ! -name s3 ! -name sqs ! -name sts -exec rm -rf {} +
# The package itself (its dependencies are the pins above), compiled into the venv; pip itself is
# not needed at run time.
COPY pyproject.toml /tmp/src/
COPY surroundyou/ /tmp/src/surroundyou/
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps /tmp/src \
    && /opt/venv/bin/pip uninstall --yes --quiet pip

FROM debian:trixie-slim
# libatomic1: pedalboard's native module links it and does not bundle it (slim images lack it).
# libspeex1: ffmpeg's Speex decoder; libopus0: its Opus encoder (--format opus).
# apt-get clean: the downloaded packages (9 MB) would otherwise stay in the layer.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libatomic1 libopus0 libspeex1 python3 \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
COPY --from=ffmpeg /opt/ffmpeg/bin/ffmpeg /opt/ffmpeg/bin/ffprobe /usr/local/bin/
COPY --from=venv /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /app
COPY process_audio.py .
# Compiled once here (pip compiled the package): the root filesystem is read-only at run time.
RUN python -m compileall -q /app

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
ENTRYPOINT ["/opt/venv/bin/python", "/app/process_audio.py"]
