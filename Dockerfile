# The cdp-operator image. Build from the repository root:
#   docker build -t <registry>/cdp-operator:0.1.0 .
# and set the chart's image.repository/image.tag to match (docs/install.md).
# Runs as a non-root user with a read-only root filesystem (the chart's
# securityContext); nothing is written at runtime except to /tmp.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml ./
COPY operator ./operator
RUN python -m venv /opt/cdp-operator \
 && /opt/cdp-operator/bin/pip install . \
 && /opt/cdp-operator/bin/python -m compileall -q /opt/cdp-operator

FROM python:3.11-slim-bookworm
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="cdp-operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.description="Data plane operator of a Choreo-style internal developer platform"
COPY --from=build /opt/cdp-operator /opt/cdp-operator
ENV PATH=/opt/cdp-operator/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# A numeric non-root user, so runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["cdp-operator"]
CMD ["--log-format=json", "--metrics-address=0.0.0.0", "--metrics-port=8080", "--health-endpoint=http://0.0.0.0:8081/healthz"]
