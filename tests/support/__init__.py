"""What the tests share: stacks, drivers, harnesses. Fixtures stay in conftest.py."""
