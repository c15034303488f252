# conducto-nb/python:3.11 (also tagged python:3.11-slim): Debian bookworm's Python 3.11 with pip,
# venv and cloudpickle, built offline FROM a debootstrapped base (Docker Hub is not reachable).
# Built by scripts/images.sh, which passes BASE and a build context holding pip/ (see below).
ARG BASE=conducto-nb/debian:bookworm

FROM ${BASE} AS python
ARG DEBIAN_FRONTEND=noninteractive
# Debian's Python refuses pip installs (PEP 668); in a throwaway image that guard only gets in
# the way of `pip install` in pipeline commands, so it goes.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-pip python3-venv ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && ln -s /usr/bin/python3 /usr/local/bin/python \
 && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED

# pip reaches the registry only with the host's CA bundle and index settings (pip/ in the
# context). They stay in this throwaway stage: the final image gets only the installed files.
FROM python AS pip
COPY pip/ /tmp/pip/
ARG PIP_PACKAGES="cloudpickle"
RUN PIP_CONFIG_FILE=/tmp/pip/pip.conf python -m pip install --no-cache-dir --target /tmp/site \
      --disable-pip-version-check --root-user-action=ignore --no-warn-script-location ${PIP_PACKAGES}

FROM python
COPY --from=pip /tmp/site /usr/local/lib/python3.11/dist-packages
CMD ["python3"]
