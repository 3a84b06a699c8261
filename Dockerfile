# syntax=docker/dockerfile:1
# The TiltRun operator image: `tiltrun operator` on a slim Python, as user 65532.
#
#   docker build -t tiltrun-operator:dev .
#
# Stage 1 builds the project's wheel and collects the wheels of its dependencies
# (all of which ship binary wheels, so no compiler is needed even here). Stage 2
# installs them from that folder, offline, and keeps neither pip's cache nor the
# wheels. The result runs with a read-only root filesystem: Python writes no
# bytecode, and the only scratch space it needs is /tmp (an emptyDir in deploy/).

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="tiltrun-operator" \
      org.opencontainers.image.description="Gates CI on a Kubernetes cluster: is the stack up, and if not, what failed and why." \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    HOME=/tmp \
    USER=tiltrun
# The wheels are bind-mounted from the build stage, so they never land in a layer.
# pip compiles the bytecode at install time; pip itself is removed afterwards.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels tiltrun-operator \
    && pip uninstall --yes pip setuptools wheel
# A numeric user, so that Kubernetes can check runAsNonRoot. It has no /etc/passwd
# entry (nor has the arbitrary UID OpenShift picks), so USER above names it for
# getpass.getuser(), which kopf calls for its identity when POD_ID is not set.
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["tiltrun", "operator"]
