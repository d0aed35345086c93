from tests.core.eventlog import events  # noqa: F401  (fixture)
