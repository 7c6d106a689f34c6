# sealbox's image: the server, the keeper, and the session side (`sealbox kube init` / `refresh`).
#   docker build -t sealbox:0.1.0 .
# The manifests in deploy/ run it as uid/gid 10001 with a read-only root filesystem; session pods run
# sealbox's init container as the notebook's own uid, which works because nothing here is private to 10001.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 sealbox \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin sealbox

WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[aws]" && rm -rf /build

WORKDIR /
USER 10001:10001
EXPOSE 8480 8481
ENTRYPOINT ["sealbox"]
CMD ["--help"]
