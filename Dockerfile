# The archiver worker: `archiver serve` under tini, as a non-root user.
#
#   docker build -t archiver .
#   docker run -d --name archiver -p 127.0.0.1:8080:8080 \
#     -v "$PWD/sources.yaml:/config/sources.yaml:ro" -v archiver-data:/data \
#     -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY archiver
#   docker stop -t 60 archiver        # running crawls get scheduler.stop_grace_seconds to finish
#
# Config is read from /config/sources.yaml; a file:// store, the spool and the run locks
# live under /data (the working directory); credentials come only from the environment.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# tini as PID 1: passes SIGTERM on to the worker and reaps orphaned crawl processes
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.* \
    && rm -rf /var/lib/apt/lists/*

RUN pip install --no-cache-dir --upgrade pip==26.3

WORKDIR /app
# the dependencies first, in their own layer, so a code change does not reinstall them
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt
COPY crawler ./crawler
COPY jobs ./jobs
COPY config ./config
RUN pip install --no-cache-dir --no-deps . \
    && useradd --create-home --uid 1000 --user-group archiver \
    && mkdir -p /data /config \
    && chown 1000:1000 /data

ENV ARCHIVER_CONFIG=/config/sources.yaml \
    ARCHIVER_HTTP=0.0.0.0:8080
USER 1000:1000
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["archiver", "healthcheck"]
ENTRYPOINT ["tini", "--", "archiver"]
CMD ["serve", "--config", "/config/sources.yaml"]
