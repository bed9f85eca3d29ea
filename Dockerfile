# Harbour: one `harbour serve` process (Slack at /slack/events, Teams at
# /api/messages, /healthz, /metrics). Configuration comes from the environment
# (HARBOUR_*, SLACK_*, CONNECTIONS__*): never bake secrets into the image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A user of its own: Harbour never runs as root.
RUN groupadd --system --gid 10001 harbour \
    && useradd --system --uid 10001 --gid harbour --home-dir /app --shell /usr/sbin/nologin harbour

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY flows ./flows
COPY adapters ./adapters
RUN pip install . \
    && mkdir -p /data /keys \
    && chown harbour:harbour /data /keys

# The embedded store's files (unused with HARBOUR_DATABASE_URL) and the key
# that seals them, each on a volume of its own: back the key up apart from the
# data (or give HARBOUR_KEY from a secret manager instead).
ENV HARBOUR_DATA_DIR=/data \
    HARBOUR_KEY_FILE=/keys/harbour.key \
    PORT=3978
VOLUME ["/data", "/keys"]

USER harbour
EXPOSE 3978

# python's urllib, so the image needs no curl: 200 while the store takes writes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3978'), timeout=4)"]

CMD ["harbour", "serve"]
