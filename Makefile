# Thin wrappers: scripts/dev.py does the work, so a machine without make runs the same commands.
.PHONY: demo test bench lint lock
demo:
	python3 scripts/dev.py demo
test:
	python3 scripts/dev.py test
bench:
	python3 scripts/dev.py bench
lint:
	python3 scripts/dev.py lint
lock:
	python3 scripts/dev.py lock
