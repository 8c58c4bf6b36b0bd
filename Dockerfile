# digest: a newsletter digest generator. Build: docker build -t digest .
# Run:  docker run -v digest-data:/data -v $PWD/feeds.yaml:/config/feeds.yaml:ro \
#         -e SMTP_PASSWORD digest            # the scheduler daemon (`digest run`)
#       docker run ... digest build --preview --out /data/preview
FROM python:3.12-slim AS build
WORKDIR /src
# Dependencies first, in their own layer: they change less often than the code.
COPY pyproject.toml README.md ./
COPY digest ./digest
COPY templates ./templates
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
RUN useradd --create-home --uid 10001 digest \
    && mkdir -p /data /config && chown digest:digest /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels digest && rm -rf /wheels
COPY feeds.yaml /config/feeds.yaml
ENV DIGEST_CONFIG=/config/feeds.yaml \
    DIGEST_DATABASE_URL=sqlite:////data/digest.db \
    PYTHONUNBUFFERED=1
USER digest
WORKDIR /data
VOLUME ["/data"]
ENTRYPOINT ["digest"]
CMD ["run"]
