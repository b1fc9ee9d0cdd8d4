# The reference server, configured by the environment (see docs/deploy.rst).
#   docker build -t opensyncparty . && docker run -p 3000:3000 -e JWT_SECRET=... opensyncparty
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip install ".[transports]" \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin party

USER party
ENV HOST=0.0.0.0 \
    PORT=3000 \
    LOG_LEVEL=INFO
EXPOSE 3000

# /health over HTTP, or HTTPS when TLS_CERTFILE is set (the certificate is not checked: it is ours).
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import os, ssl, urllib.request; scheme = 'https' if os.environ.get('TLS_CERTFILE') else 'http'; urllib.request.urlopen(f\"{scheme}://127.0.0.1:{os.environ.get('PORT', '3000')}/health\", timeout=4, context=ssl._create_unverified_context())"]

CMD ["opensyncparty-server"]
