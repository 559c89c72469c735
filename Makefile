# scratchdream: the two set-up commands are `make dream IMG=sky.jpg` and `make test`.
# Each creates the virtual environment in .venv and installs on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
NET    ?= googlenet
LAYER  ?=
OUT    ?=
ARGS   ?=
FORCE  ?=

.PHONY: dream test test-fast lint bench toyworld lecture-demo docs-pictures video-gif clean

$(VENV)/.runtime: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.test: $(VENV)/.runtime
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,video,flow,dask]'
	touch $@

dream: $(VENV)/.runtime
	@if [ -z "$(IMG)" ]; then echo "make dream: give an image, e.g. make dream IMG=sky.jpg (NET=toyworld works offline)" >&2; exit 2; fi
	$(PY) -m scratchdream dream "$(IMG)" --net $(NET) $(if $(LAYER),--layer $(LAYER)) $(if $(OUT),-o "$(OUT)") $(if $(FORCE),--force) $(ARGS)

test: $(VENV)/.test
	$(PY) -m pytest -q tests

# the gradient checks and unit tests only (tests marked slow in tests/conftest.py are left out)
test-fast: $(VENV)/.test
	$(PY) -m pytest -q -m "not slow" tests

lint: $(VENV)/.test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(VENV)/.test
	$(PY) benchmarks/torch_compare.py $(ARGS)

toyworld: $(VENV)/.runtime
	$(PY) -m scratchdream toyworld train $(ARGS)

# prints the table and writes the pictures into toyworld_demo/ (docs/img/ only with ARGS="-o docs/img --force")
lecture-demo: $(VENV)/.runtime
	$(PY) -m scratchdream toyworld demo $(ARGS)

docs-pictures: $(VENV)/.runtime
	$(PY) docs/make_pictures.py $(ARGS)

# a plain sky from the toy world's generator, to dream on without a photo; make never replaces a sky.jpg you have
sky.jpg: | $(VENV)/.runtime
	$(PY) -c "from scratchdream.toyworld import scenes; from scratchdream.image_io import save_image; \
	save_image('$@.part.jpg', scenes.plain_background('sky', size=192, width=256))"
	mv -n $@.part.jpg $@

# the README's video dream: a generated panning clip, dreamed (docs/make_video_gif.py)
video-gif: $(VENV)/.test
	$(PY) docs/make_video_gif.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
