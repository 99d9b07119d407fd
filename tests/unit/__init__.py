"""Unit tests, one file per library module (and the repository checks); `make test-fast` runs them."""
