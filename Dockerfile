# The API and the worker (see compose.yaml): one image, two commands.
#   docker build -t cochlea .
#   docker run cochlea cochlea serve --host 0.0.0.0 --port 8000   (the default command)
#   docker run cochlea cochlea worker
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    COCHLEA_DATA_DIR=/data

WORKDIR /app

# Exact versions first, in their own layer: it changes only when the lock does.
COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY pyproject.toml README.md ./
COPY api ./api
COPY workers ./workers
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 cochlea \
    && mkdir -p /data \
    && chown cochlea /data

USER cochlea
EXPOSE 8000
CMD ["cochlea", "serve", "--host", "0.0.0.0", "--port", "8000"]
