# supportbot: a slim image that runs `supportbot run` as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[postgres]"

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SUPPORTBOT_DATABASE_URL=sqlite:////data/supportbot.db \
    SUPPORTBOT_HTTP_HOST=0.0.0.0
COPY --from=build /wheels /wheels
# the postgres extra: PostgreSQL's driver (psycopg 3), so SUPPORTBOT_DATABASE_URL=postgresql://... just works
RUN pip install --no-index --find-links=/wheels "supportbot[postgres]" \
    && rm -rf /wheels \
    && useradd --create-home --uid 10001 supportbot \
    && mkdir /data && chown supportbot /data
USER supportbot
# The instance's own files live here: the SQLite database (unless PostgreSQL), the knowledge-base index
# cache and the heartbeat `supportbot health` reads (beside the SQLite file, else in the working directory).
WORKDIR /data
VOLUME ["/data"]
# 3000: the ops server (GET /healthz, GET /metrics) and, in Slack HTTP mode, POST /slack/events;
# 8080: playground (bind it with SUPPORTBOT_PLAYGROUND_HOST=0.0.0.0 and a SUPPORTBOT_PLAYGROUND_TOKEN
# to reach it from outside the container).
EXPOSE 3000 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["supportbot", "health"]
CMD ["supportbot", "run"]
