# One image for every paysync process: workers, beat, Flower, the webhook receiver.
# The product only: the dev tools (devtools/: sandbox, demo) are not copied or installed.
FROM python:3.11-slim
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
