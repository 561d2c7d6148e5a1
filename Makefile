# Quick start: `make run` (set-up + a read-only check of this machine), `make test` (set-up + the whole suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup run test lab-deps bench deb clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

# A report with findings is not a failed `make`: exit codes 0-3 (ok/warning/critical/unknown) pass.
run: setup
	@$(BIN)/netwarden check; rc=$$?; [ $$rc -le 3 ] || exit $$rc

# The namespace lab needs iproute2 (ip netns) and nftables (dropped SYNs, filtered ICMP), the
# alerting-rule tests promtool (Debian package prometheus), the service test debootstrap and
# systemd-nspawn (it boots Debian 12 with the .deb); install what is missing when we are root.
lab-deps:
	@if [ "$$(id -u)" = 0 ]; then \
		missing=""; \
		command -v ip >/dev/null || missing="$$missing iproute2"; \
		command -v promtool >/dev/null || missing="$$missing prometheus"; \
		command -v nft >/dev/null || missing="$$missing nftables"; \
		command -v openssl >/dev/null || missing="$$missing openssl"; \
		command -v debootstrap >/dev/null || missing="$$missing debootstrap"; \
		command -v systemd-nspawn >/dev/null || missing="$$missing systemd-container"; \
		if [ -n "$$missing" ]; then apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi; fi

test: setup lab-deps
	$(BIN)/python -m pytest

bench: setup lab-deps
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/census.py
	$(BIN)/python bench/daemon.py
	$(BIN)/python bench/control_socket.py
	$(BIN)/python bench/probe.py

# dist/netwarden_<version>_<arch>.deb: this checkout plus its bundled dependencies (packaging/debian/).
deb: setup
	$(BIN)/python packaging/debian/build_deb.py --out dist

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis
