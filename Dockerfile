FROM python:3.11-slim

RUN pip install --no-cache-dir --upgrade pip
WORKDIR /app
COPY pyproject.toml README.md ./
COPY crawler ./crawler
COPY jobs ./jobs
COPY config ./config
RUN pip install --no-cache-dir . && useradd --create-home --uid 1000 archiver
USER archiver
WORKDIR /data
ENTRYPOINT ["archiver"]
CMD ["crawl", "--config", "/config/sources.yaml"]
