# syntax=docker/dockerfile:1
# The TiltRun operator image: `tiltrun operator` on a slim Python, as user 65532.
#
#   make image                  # Docker if a daemon answers, else buildah (docs/install.md)
#   docker build -t tiltrun-operator:dev .
#
# Stage 1 installs the project and its dependencies (all of which ship binary wheels,
# so no compiler is needed) into a virtualenv at /opt/tiltrun, then slims it
# (hack/image/slim.py): what the operator and `tiltrun ci` never import goes (the
# Kubernetes client's asyncio copy, test suites), and bytecode is compiled only for
# the modules they do import. Stage 2 is the bare Python base plus that one folder: no
# pip, no wheels, no build stage. It runs with a read-only root filesystem: Python
# writes no bytecode, and the only scratch space it needs is /tmp (an emptyDir in deploy/).
#
# PYTHON_IMAGE may be any Debian-style Python 3.11 image with the venv module; `make
# image` builds one from Debian's archive when no registry serves python:3.11-slim.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The dependencies first, from pyproject.toml alone: this layer is rebuilt only when they
# change, and pip's cache (a cache mount, never in the image) survives even that.
COPY pyproject.toml README.md ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -m venv /opt/tiltrun \
    && python3 -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > /tmp/requirements.txt \
    && /opt/tiltrun/bin/pip install --no-compile --requirement /tmp/requirements.txt
COPY operator ./operator
COPY hack/image/slim.py /tmp/slim.py
RUN /opt/tiltrun/bin/pip install --no-compile --no-deps . \
    && /opt/tiltrun/bin/python /tmp/slim.py /opt/tiltrun

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="tiltrun-operator" \
      org.opencontainers.image.description="Gates CI on a Kubernetes cluster: is the stack up, and if not, what failed and why." \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/tiltrun/bin:$PATH \
    HOME=/tmp \
    USER=tiltrun
COPY --from=build /opt/tiltrun /opt/tiltrun
# A numeric user, so that Kubernetes can check runAsNonRoot. It has no /etc/passwd
# entry (nor has the arbitrary UID OpenShift picks), so USER above names it for
# getpass.getuser(), which kopf calls for its identity when POD_ID is not set.
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["tiltrun", "operator"]
