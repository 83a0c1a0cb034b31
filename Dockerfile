# One image for every paysync process: workers, beat, Flower, the webhook receiver, the metrics
# server. The product only: the dev tools (devtools/: sandbox, demo) are not copied or installed,
# except in the `sandbox` stage (docker-compose's sandbox profile), which adds them.
FROM python:3.11-slim AS product
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md celeryconfig.py constraints.txt ./
COPY paysync ./paysync
COPY tasks ./tasks
COPY mappers ./mappers
COPY storage ./storage
RUN pip install -c constraints.txt . && useradd --create-home paysync
USER paysync
CMD ["celery", "-A", "tasks", "worker", "-Q", "celery"]

FROM product AS sandbox
USER root
COPY devtools ./devtools
RUN pip install -c constraints.txt ./devtools
USER paysync
CMD ["paysync", "sandbox", "--host", "0.0.0.0", "--any-host"]

# The default target: the product alone.
FROM product
