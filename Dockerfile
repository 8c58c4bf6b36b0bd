# syntax=docker/dockerfile:1
# digest: a newsletter digest generator. README "Docker" has the commands; in short:
#   docker build -t digest .
#   docker run -d --name digest -v digest-data:/data \
#     -v "$PWD/feeds.yaml:/config/feeds.yaml:ro" -e SMTP_HOST -e SMTP_PASSWORD digest
# Needs BuildKit (the default builder since Docker 23) for RUN --mount.

# 1. The dependencies, as wheels. Only pyproject.toml is copied, so this layer (the slow one)
#    is rebuilt when the dependencies change, not when the code does.
FROM python:3.12-slim-trixie AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml ./
RUN python -c 'import tomllib; t = tomllib.load(open("pyproject.toml", "rb")); \
p = t["project"]; \
print(*t["build-system"]["requires"], sep="\n", file=open("build-requirements.txt", "w")); \
print(*p["dependencies"], *p["optional-dependencies"]["postgres"], sep="\n")' \
      > requirements.txt \
    && pip install --no-cache-dir -r build-requirements.txt \
    && pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt \
    && cp requirements.txt /wheels/

# 2. digest's own wheel (the templates ship inside it), built offline from the code.
FROM deps AS build
COPY README.md ./
COPY templates ./templates
COPY digest ./digest
RUN pip wheel --no-cache-dir --no-index --no-build-isolation --no-deps --wheel-dir /dist .

# 3. The image: the installed wheels, no compiler, no wheel files left behind.
FROM python:3.12-slim-trixie
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 digest \
    && useradd --system --uid 10001 --gid digest --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin digest \
    && mkdir -p /data/outbox /config \
    && chown -R digest:digest /data
RUN --mount=type=bind,from=deps,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels -r /wheels/requirements.txt
# digest is the wheel built above, --no-index: there is no other version to pin.
# hadolint ignore=DL3013
RUN --mount=type=bind,from=deps,source=/wheels,target=/wheels \
    --mount=type=bind,from=build,source=/dist,target=/dist \
    pip install --no-cache-dir --no-index --find-links /wheels --find-links /dist \
      "digest[postgres]" \
    && digest --help > /dev/null
# The default config: the real feeds of the repository's feeds.yaml. Mount your own over it.
COPY feeds.yaml /config/feeds.yaml
# /data holds the SQLite database and the file transport's outbox (feeds.yaml's
# `outbox: ${DIGEST_OUTBOX:-outbox/}`); /config may be mounted read-only.
ENV DIGEST_CONFIG=/config/feeds.yaml \
    DIGEST_DATABASE_URL=sqlite:////data/digest.db \
    DIGEST_OUTBOX=/data/outbox
# Numeric, so that a runtime checking runAsNonRoot can tell without /etc/passwd.
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
# Healthy while `digest run` has written its heartbeat to the database in the last minutes.
HEALTHCHECK --interval=60s --timeout=10s --start-period=120s --retries=3 \
    CMD ["digest", "status", "--check"]
ENTRYPOINT ["digest"]
CMD ["run"]
