FROM python:3.11-slim

# APP_HOST: inside the container the app must listen on every interface to be reachable
# through the published port (outside Docker it defaults to 127.0.0.1 when AUTH_ENABLED is off).
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATA_DIR=/app/data APP_HOST=0.0.0.0
WORKDIR /app

COPY setup.cfg pyproject.toml README.md run.py ./
COPY mailcow_logs_viewer ./mailcow_logs_viewer
COPY static ./static
COPY templates ./templates
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /app appuser \
    && mkdir -p /app/data && chown appuser /app/data

USER appuser
VOLUME ["/app/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import json, sys, urllib.request; sys.exit(0 if json.load(urllib.request.urlopen('http://127.0.0.1:8080/api/health', timeout=4)).get('status') == 'healthy' else 1)"]
CMD ["python", "run.py"]
