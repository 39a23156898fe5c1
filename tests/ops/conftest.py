def pytest_configure(config):
    config.addinivalue_line(
        "markers", "pgbouncer: runs through a PgBouncer in transaction mode (skipped without the binary)"
    )
