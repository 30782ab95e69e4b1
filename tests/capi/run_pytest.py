"""Runs the Python package's pytest suite; exit 77 (ctest: skipped) without python3-pytest."""
import sys

try:
    import pytest
except ImportError:
    print("python3-pytest is not installed: skipped (scripts/install-deps.sh installs it)")
    sys.exit(77)

sys.exit(pytest.main([sys.argv[1], "-q", "-p", "no:cacheprovider"]))
