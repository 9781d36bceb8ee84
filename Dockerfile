# syntax=docker/dockerfile:1
# One image for both production processes of goalflow:
#   goalflow api --host 0.0.0.0 --port 8000     (the default command)
#   goalflow worker
# Build: docker build -t goalflow:0.1.0 .    (docker-compose.yml does this for you)

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---- build: install the project (pyproject.toml) into a virtualenv -------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/goalflow
WORKDIR /src
# The top-level packages pyproject.toml finds (goalflow_bench, the benchmarks, stays out: a
# development tool), worker.py and the readme: tests/deploy/test_dockerfile.py checks the list.
COPY pyproject.toml README.md ./
COPY goalflow ./goalflow
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY worker.py ./
RUN /opt/goalflow/bin/pip install .

# ---- runtime: the virtualenv only, run as an unprivileged user ------------------------------
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 goalflow \
    && useradd --system --uid 10001 --gid goalflow --home-dir /home/goalflow --create-home \
       --shell /usr/sbin/nologin goalflow \
    && install -d -o goalflow -g goalflow /var/lib/goalflow
COPY --from=build /opt/goalflow /opt/goalflow
ENV PATH=/opt/goalflow/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GOALFLOW_DATA_DIR=/var/lib/goalflow
WORKDIR /home/goalflow
USER 10001:10001
EXPOSE 8000
CMD ["goalflow", "api", "--host", "0.0.0.0", "--port", "8000"]
