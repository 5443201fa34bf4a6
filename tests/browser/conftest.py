"""Registers the ``browser`` marker (deselect with ``-m "not browser"``)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: loads exported notebooks in headless Chromium (needs setup.sh)")
